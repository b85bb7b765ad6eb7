"""Countdown prompts: the base-model template, its priming (SFT) form, and the chat form.

The contract (see the paper's setup): a preamble in which a User asks and the Assistant
reasons and then answers; a user line with the numbers as a Python list and the target,
the four operations, each number once, work inside ``<think> </think>`` and the final
expression inside ``<answer> </answer>`` with an example; then ``Assistant: Let me solve
this step by step.`` The RL prompt continues with a newline and ``<think>``, which the
model continues. The priming prompt stops after "step by step." and its completion starts
with ``<think>``. The wording is cogstar's own.

Base models get no chat template and no BOS token; instruct models get the same user text
through their chat template (``chat_messages``), with the assistant turn prefilled.

The reward reads what follows the first ``Assistant:``, so the preamble never writes
that marker itself (it says "Assistant" without a colon).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ASSISTANT_PREFIX",
    "chat_messages",
    "priming_prompt",
    "rl_prompt",
    "user_text",
]

PREAMBLE = (
    "A conversation between User and Assistant. The User poses a problem, and the Assistant "
    "first works it out step by step in its head and then gives the User the answer."
)

ASSISTANT_PREFIX = "Let me solve this step by step."


def _check(numbers: Sequence[int], target: int) -> list[int]:
    nums = [int(n) for n in numbers]
    if not nums:
        raise ValueError("a Countdown prompt needs at least one number")
    if isinstance(target, bool) or int(target) != target:
        raise ValueError(f"target must be an integer, got {target!r}")
    return nums


def user_text(numbers: Sequence[int], target: int) -> str:
    """The user's request: numbers as a Python list, the target, the rules, the format."""
    nums = _check(numbers, target)
    return (
        f"Using the numbers {nums}, create an equation that equals {target}. You may use "
        "+, -, * and /, and each number must be used exactly once. Show your reasoning "
        "inside <think> </think> tags, then give the final equation inside <answer> </answer> "
        "tags, for example <answer> (1 + 2) / 3 </answer>."
    )


def priming_prompt(numbers: Sequence[int], target: int) -> str:
    """The SFT prompt: ends right after "step by step."; the completion starts with ``<think>``."""
    return f"{PREAMBLE}\nUser: {user_text(numbers, target)}\nAssistant: {ASSISTANT_PREFIX}"


def rl_prompt(numbers: Sequence[int], target: int) -> str:
    """The RL / evaluation prompt for base models: the model continues after ``<think>``."""
    return f"{priming_prompt(numbers, target)}\n<think>"


def chat_messages(numbers: Sequence[int], target: int) -> list[dict[str, str]]:
    """The instruct-model form: same user text, assistant turn prefilled up to ``<think>``.

    Render with ``tokenizer.apply_chat_template(messages, continue_final_message=True)``.
    """
    return [
        {"role": "system", "content": PREAMBLE},
        {"role": "user", "content": user_text(numbers, target)},
        {"role": "assistant", "content": f"{ASSISTANT_PREFIX}\n<think>"},
    ]
