"""Prompt templates: the structure the reward and the paper's setup depend on."""

from __future__ import annotations

import pytest

import cogstar
from cogstar.tasks import ASSISTANT_PREFIX, chat_messages, priming_prompt, rl_prompt, user_text


def test_rl_prompt_structure() -> None:
    p = rl_prompt([44, 19, 35], 98)
    assert p.count("Assistant:") == 1  # the reward reads what follows the first one
    assert "[44, 19, 35]" in p and "equals 98" in p
    assert "<think> </think>" in p and "<answer> </answer>" in p and "(1 + 2) / 3" in p
    assert p.endswith("Assistant: Let me solve this step by step.\n<think>")
    assert not p.startswith("<")  # no BOS or chat markup for base models


def test_priming_prompt_is_the_rl_prompt_before_think() -> None:
    assert rl_prompt([3, 5], 8) == priming_prompt([3, 5], 8) + "\n<think>"
    assert priming_prompt([3, 5], 8).endswith(ASSISTANT_PREFIX)


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
