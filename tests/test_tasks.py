"""Prompt templates: the structure the reward and the paper's setup depend on."""

from __future__ import annotations

import pytest

import cogstar
from cogstar.tasks import (
    ASSISTANT_PREFIX,
    chat_messages,
    is_heldout,
    priming_prompt,
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
