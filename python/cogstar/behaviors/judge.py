"""Counting the four behaviors with an LLM judge.

A judge model reads one response per prompt, one prompt per behavior (as in the paper:
four requests per response), and answers with the number of distinct instances inside
``<count>N</count>``; a reply without that tag counts 0. The definitions and examples below
are cogstar's own wording of the behaviors in Gandhi et al. (2025).

    from cogstar.behaviors.judge import judge_counts
    from cogstar.llm import OpenAIBackend

    judge = OpenAIBackend(model="gpt-4o-mini", cache_dir="runs/cache/judge")
    counts = judge_counts(texts, numbers, targets, judge, progress=True)
    counts[0]   # {'verification': 3, 'backtracking': 1, 'subgoal': 0, 'backward': 0}
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from cogstar.behaviors import BEHAVIORS
from cogstar.errors import ArgumentError
from cogstar.llm import Backend, Request

__all__ = ["DEFINITIONS", "judge_counts", "judge_requests", "parse_count"]

DEFINITIONS: dict[str, str] = {
    "verification": (
        "Verification: the reasoning checks a value it has computed against the target or "
        "against an intermediate goal it set itself, and says how it compares. Count each such "
        "check. For example, with target 24: '6 * 5 = 30, which overshoots 24' is one check; "
        "'so (8 - 2) * 4 = 24, and 24 is the target' is another. A computation that is never "
        "compared with anything does not count."
    ),
    "backtracking": (
        "Backtracking: the reasoning gives up on the line it is following and starts again "
        "from an earlier state or from the original numbers, instead of building on the value "
        "it just reached. Count each abandonment. For example, with numbers 7, 3, 9 and target "
        "12: '7 * 3 = 21, too big. Let me try something else: 9 + 3 = 12' abandons one line. "
        "The first attempt does not count, and listing several pairwise results side by side is "
        "exploration, not backtracking."
    ),
    "subgoal": (
        "Subgoal setting: the reasoning names an intermediate value, other than the target, "
        "that it then tries to reach, breaking the task into smaller steps. Count each distinct "
        "intermediate target. For example, with target 36 and numbers 4, 9, 2, 5: 'if I can "
        "make 9 from the rest, then 4 * 9 = 36' names one subgoal. Wanting to get close to the "
        "target, or restating the task, does not count."
    ),
    "backward": (
        "Backward chaining: the reasoning starts from the target (or from a subgoal) and works "
        "back towards the given numbers, deriving what would still be needed. Count each "
        "derived quantity. For example, with target 50 and numbers 25, 3, 1: '50 / 25 = 2, so "
        "we need 2 from 3 and 1' is one backward step; 'we are 8 short of the target, so we "
        "need 8 more' is another. Working forward from the numbers does not count."
    ),
}

_INSTRUCTIONS = (
    "You are analysing how a language model reasoned about a Countdown puzzle: combine the "
    "given numbers with +, -, * and /, each number used once, to reach the target.\n\n"
    "{definition}\n\n"
    "Numbers: {numbers}\nTarget: {target}\n\n"
    "Reasoning to analyse:\n<response>\n{response}\n</response>\n\n"
    "Count the distinct instances of this behavior in the reasoning above. Think briefly if "
    "you need to, then give the count as a whole number inside <count></count> tags, for "
    "example <count>2</count>. If the behavior never occurs, answer <count>0</count>."
)

_COUNT = re.compile(r"<count>\s*(\d{1,6})\s*</count>", re.IGNORECASE)


def parse_count(reply: str) -> int:
    """The judge's answer: the last ``<count>N</count>`` in the reply; 0 when there is none."""
    found = _COUNT.findall(reply)
    return int(found[-1]) if found else 0


def judge_requests(
    text: str,
    numbers: Sequence[int] | None,
    target: int | None,
    *,
    max_tokens: int = 512,
) -> dict[str, Request]:
    """One judge request per behavior for one response."""
    shown_numbers = "unknown" if numbers is None else ", ".join(str(n) for n in numbers)
    shown_target = "unknown" if target is None else str(target)
    return {
        behavior: Request(
            user=_INSTRUCTIONS.format(
                definition=DEFINITIONS[behavior],
                numbers=shown_numbers,
                target=shown_target,
                response=text,
            ),
            temperature=0.0,
            max_tokens=max_tokens,
        )
        for behavior in BEHAVIORS
    }


def judge_counts(
    texts: Sequence[str],
    numbers: Sequence[Sequence[int] | None],
    targets: Sequence[int | None],
    backend: Backend,
    *,
    progress: bool | Callable[[int, int], None] = False,
) -> list[dict[str, int]]:
    """Count the four behaviors in each response with an LLM judge (4 requests each).

    Replies are cached by the backend, so an interrupted run resumes where it stopped.
    """
    if not len(texts) == len(numbers) == len(targets):
        raise ArgumentError(
            f"texts, numbers and targets must have one entry per response; got "
            f"{len(texts)}, {len(numbers)} and {len(targets)}"
        )
    requests: list[Request] = []
    for text, nums, target in zip(texts, numbers, targets, strict=True):
        per = judge_requests(text, nums, target)
        requests.extend(per[b] for b in BEHAVIORS)
    replies = backend.complete_many(requests, progress=progress)
    counts = []
    for i in range(len(texts)):
        chunk = replies[i * len(BEHAVIORS) : (i + 1) * len(BEHAVIORS)]
        counts.append({b: parse_count(r.text) for b, r in zip(BEHAVIORS, chunk, strict=True)})
    return counts
