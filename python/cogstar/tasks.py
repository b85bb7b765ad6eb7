"""Countdown prompts: the base-model template, its priming (SFT) form, and the chat form.

The contract (see the paper's setup): a preamble in which a User asks and the Assistant
reasons and then answers; a user line with the numbers as a Python list and the target,
the four operations, each number once, work inside ``<think> </think>`` and the final
expression inside ``<answer> </answer>`` with an example; then ``Assistant: Let me solve
this step by step.`` and a newline. The priming (SFT) prompt stops there and its completion
starts with ``<think>``; the RL prompt adds ``<think>`` itself, which the model continues. So
a primed model sees at RL time exactly the text it was trained on. The wording is cogstar's
own.

Base models get no chat template and no BOS token; instruct models get the same user text
through their chat template (``chat_messages``), with the assistant turn prefilled.

The reward reads what follows the first ``Assistant:``, so the preamble never writes
that marker itself (it says "Assistant" without a colon).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = [
    "ASSISTANT_PREFIX",
    "HELDOUT_EVERY",
    "chat_messages",
    "is_heldout",
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
    """The SFT prompt: ends with "step by step." and a newline; the completion starts ``<think>``."""
    return f"{PREAMBLE}\nUser: {user_text(numbers, target)}\nAssistant: {ASSISTANT_PREFIX}\n"


def rl_prompt(numbers: Sequence[int], target: int) -> str:
    """The RL / evaluation prompt for base models: the model continues after ``<think>``."""
    return f"{priming_prompt(numbers, target)}<think>"


def chat_messages(numbers: Sequence[int], target: int) -> list[dict[str, str]]:
    """The instruct-model form: same user text, assistant turn prefilled up to ``<think>``.

    Render with ``tokenizer.apply_chat_template(messages, continue_final_message=True)``.
    """
    return [
        {"role": "system", "content": PREAMBLE},
        {"role": "user", "content": user_text(numbers, target)},
        {"role": "assistant", "content": f"{ASSISTANT_PREFIX}\n<think>"},
    ]


# One puzzle in this many is reserved for testing, whoever generates it with whatever seed.
HELDOUT_EVERY = 8


def is_heldout(numbers: Sequence[int], target: int, every: int = HELDOUT_EVERY) -> bool:
    """Whether a puzzle belongs to the reserved test share of the puzzle space.

    Decided by a hash of the sorted numbers and the target, so it is the same for every
    seed and every process. Training text (the tiny model's pretraining, priming sets, RL
    prompts) leaves these puzzles out and test sets draw only from them, so a small puzzle
    space can be sampled heavily without the test set leaking into training.
    """
    key = ",".join(str(n) for n in sorted(_check(numbers, target))) + f"|{int(target)}"
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % every == 0
