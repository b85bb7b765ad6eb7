"""Prompt templates: the structure the reward and the paper's setup depend on."""

from __future__ import annotations

import pytest

import cogstar
from cogstar.errors import DataError
from cogstar.tasks import (
    ASSISTANT_PREFIX,
    DataConfig,
    chat_messages,
    check_unseen,
    in_share,
    is_heldout,
    make_puzzles,
    priming_prompt,
    puzzle_share,
    rl_prompt,
    user_text,
)


def test_rl_prompt_structure() -> None:
    p = rl_prompt([44, 19, 35], 98)
    assert p.count("Assistant:") == 1  # the reward reads what follows the first one
    assert "[44, 19, 35]" in p and "equals 98" in p
    assert "<think> </think>" in p and "<answer> </answer>" in p and "(1 + 2) / 3" in p
    assert p.endswith("Assistant: Let me solve this step by step.\n<think>")
    assert not p.startswith("<")  # no BOS or chat markup for base models


def test_priming_prompt_is_the_rl_prompt_before_think() -> None:
    # the primed model sees at RL time exactly the text it was trained on
    assert rl_prompt([3, 5], 8) == priming_prompt([3, 5], 8) + "<think>"
    assert priming_prompt([3, 5], 8).endswith(ASSISTANT_PREFIX + "\n")


def test_heldout_share_is_stable_and_about_one_in_eight() -> None:
    puzzles = cogstar.generate_puzzles(4000, seed=5, sizes=(3, 4), rules="classic")
    held = [p for p in puzzles if is_heldout(p.numbers, p.target)]
    assert 0.09 < len(held) / len(puzzles) < 0.16
    # the order of the numbers does not matter, and the answer never changes
    p = held[0]
    assert is_heldout(list(reversed(p.numbers)), p.target)
    assert is_heldout([3, 5, 7], 11) == is_heldout([7, 3, 5], 11)


# the tiny model's task: every 3-number puzzle with a target from 10 to 25
TINY_TASK = dict(
    sizes=(3,), value_range=(1, 24), target_range=(10, 25), numbers_below_target=True,
    rules="classic",
)  # fmt: skip


def test_the_puzzle_space_is_cut_in_three_stable_shares() -> None:
    pool = cogstar.generate_puzzles(300_000, seed=1, **TINY_TASK)  # type: ignore[arg-type]
    space = {(tuple(sorted(p.numbers)), p.target) for p in pool}
    assert len(space) == 3261  # all of it
    shares = {name: 0 for name in ("test", "rl", "pretrain")}
    for numbers, target in space:
        shares[puzzle_share(list(numbers), target)] += 1
        assert puzzle_share(list(reversed(numbers)), target) == puzzle_share(list(numbers), target)
    # one bucket in 8, two in 8 and five in 8 (the README quotes these counts)
    assert shares == {"test": 404, "rl": 817, "pretrain": 2040}


def test_generated_data_trains_on_the_rl_share_and_tests_on_the_test_share() -> None:
    config = DataConfig(train=300, test=400, seed=1, **TINY_TASK)  # type: ignore[arg-type]
    train, test = make_puzzles(config)
    assert len(test) == 400 and len(train) == 300
    assert {puzzle_share(p.numbers, p.target) for p in test} == {"test"}
    assert {puzzle_share(p.numbers, p.target) for p in train} == {"rl"}
    assert len({(tuple(sorted(p.numbers)), p.target) for p in test}) == 400
    with pytest.raises(
        DataError, match=r"only 404 distinct test puzzles .* lower data.test to 404"
    ):
        make_puzzles(DataConfig(train=10, test=500, **TINY_TASK))  # type: ignore[arg-type]


def test_puzzles_from_the_base_models_pretraining_share_are_refused() -> None:
    pool = cogstar.generate_puzzles(200, seed=4, **TINY_TASK)  # type: ignore[arg-type]
    seen = in_share(pool, "pretrain")
    check_unseen(in_share(pool, "rl"), "train.jsonl", "pretrain")  # nothing seen: no error
    check_unseen(seen, "train.jsonl", None)  # a base of unknown pretraining: no check
    with pytest.raises(DataError) as err:
        check_unseen(pool, "data/train.jsonl", "pretrain")
    message = str(err.value)
    assert message.startswith(f"data/train.jsonl: {len(seen)} of 200 puzzles are in the base")
    assert "reward recall" in message and 'data.source = "generate"' in message


def test_a_correct_completion_scores_one_in_both_modes() -> None:
    completion = "<think> 44 + 19 = 63, 63 + 35 = 98, which is the target. </think>\n<answer> 44 + 19 + 35 </answer>"
    text = priming_prompt([44, 19, 35], 98) + completion
    assert cogstar.score(text, [44, 19, 35], 98).value == 1.0
    assert cogstar.score(text, [44, 19, 35], 98, mode="strict").value == 1.0
    # The example answer inside the prompt's instructions is never what gets scored.
    assert cogstar.score(rl_prompt([1, 2, 3], 1), [1, 2, 3], 1).outcome == cogstar.Outcome.NO_ANSWER


def test_chat_form_shares_the_user_text() -> None:
    messages = chat_messages([7, 3], 21)
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert messages[1]["content"] == user_text([7, 3], 21)
    assert messages[2]["content"].endswith("<think>")


@pytest.mark.parametrize(("numbers", "target"), [([], 5), ([1, 2], 2.5), ([1, 2], True)])
def test_bad_puzzles_are_refused(numbers: list[int], target: object) -> None:
    with pytest.raises(ValueError):
        rl_prompt(numbers, target)  # type: ignore[arg-type]
