"""Priming datasets: behavior-conditioned reasoning traces as prompt/completion records.

Conditions (the paper's): ``all_strategies``, ``only_backtracking``,
``backtracking_verification``, ``backtracking_subgoal``, ``backtracking_backward`` and
``negative_control``; and the controls built from them:

* ``no_positive``: ``all_strategies`` traces whose final answers are all wrong;
* ``empty_cot``: the thoughts removed (``<think> </think>`` then the answer);
* ``dots``: the thoughts replaced by " ." repeated to the same number of tokens.

This module builds the ``llm`` source (an OpenAI-compatible or Anthropic model asked, with
one system prompt per condition in cogstar's own words, to solve each puzzle in that style)
and the controls. Records are JSONL; a broken line is reported with its file and line.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cogstar
from cogstar.llm import Backend, Request
from cogstar.tasks import priming_prompt, user_text

__all__ = [
    "CONDITIONS",
    "CONTROLS",
    "SYSTEM_PROMPTS",
    "PrimingRecord",
    "build_llm_records",
    "dots",
    "empty_cot",
    "read_records",
    "split_completion",
    "write_records",
]

CONDITIONS: tuple[str, ...] = (
    "all_strategies",
    "only_backtracking",
    "backtracking_verification",
    "backtracking_subgoal",
    "backtracking_backward",
    "negative_control",
)
CONTROLS: tuple[str, ...] = ("no_positive", "empty_cot", "dots")

_FORMAT = (
    "Write your reasoning inside <think> </think> tags and then, on the last line, the final "
    "equation alone inside <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>. "
    "Use each given number exactly once and only + - * /. Start your reply with <think>."
)

_STYLE = {
    "verification": (
        "after each result, compare it with the target (or with the value you are aiming for) "
        "in words, e.g. '30 is 6 more than 24'"
    ),
    "backtracking": (
        "when a line of work cannot reach the target, say so and go back to an earlier state or "
        "the original numbers to try a different combination"
    ),
    "subgoal": (
        "name intermediate values worth reaching, e.g. 'if I can make 8 from the rest, 8 * 3 = "
        "24', and work towards them"
    ),
    "backward": (
        "reason from the target back towards the numbers, e.g. '24 / 3 = 8, so I need 8 from "
        "5, 2 and 1'"
    ),
}

_NO = {
    "verification": "do not state whether a result matches or misses the target",
    "backtracking": "never abandon a line of work or try a second approach",
    "subgoal": "do not name intermediate values to aim for",
    "backward": "do not work backwards from the target",
}


def _system(asked: Sequence[str]) -> str:
    parts = ["You solve Countdown puzzles and show how you think."]
    parts += [f"In your reasoning, {_STYLE[b]}." for b in asked]
    parts += [f"{_NO[b].capitalize()}." for b in _STYLE if b not in asked]
    parts.append(_FORMAT)
    return " ".join(parts)


SYSTEM_PROMPTS: dict[str, str] = {
    "all_strategies": _system(["verification", "backtracking", "subgoal", "backward"]),
    "only_backtracking": _system(["backtracking"]),
    "backtracking_verification": _system(["backtracking", "verification"]),
    "backtracking_subgoal": _system(["backtracking", "subgoal"]),
    "backtracking_backward": _system(["backtracking", "backward"]),
    "negative_control": (
        "You solve Countdown puzzles. Give only a direct derivation of a correct solution as "
        "numbered steps, one operation per line, e.g. 'Step 1: 5 + 3 = 8', with no commentary, "
        "no checking and no alternatives. " + _FORMAT
    ),
}


@dataclass(frozen=True)
class PrimingRecord:
    """One SFT example in the paper's priming format."""

    prompt: str
    completion: str
    numbers: list[int]
    target: int
    condition: str
    correct: bool


_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)


def split_completion(completion: str) -> tuple[str, str]:
    """``(thoughts, rest)``: the text inside the first ``<think>…</think>`` and what follows."""
    m = _THINK.search(completion)
    if m is None:
        raise ValueError(
            f"completion has no <think>…</think> block: {completion[:80]!r}; priming controls "
            "need the thoughts delimited"
        )
    return m.group(1), completion[m.end() :]


def empty_cot(completion: str) -> str:
    """The ``empty_cot`` control: thoughts removed, answer kept."""
    _, rest = split_completion(completion)
    return "<think> </think>" + rest


def dots(completion: str, count_tokens: Callable[[str], int]) -> str:
    """The ``dots`` control: thoughts replaced by " ." repeated to the same token count.

    ``count_tokens`` is the tokenizer of the model being primed (e.g.
    ``lambda s: len(tok(s, add_special_tokens=False).input_ids)``). The repeat count is the
    one whose token count is closest to the original thoughts' (ties: fewer dots).
    """
    thoughts, rest = split_completion(completion)
    want = count_tokens(thoughts)
    lo, hi = 0, max(1, want)
    while count_tokens(" ." * hi) < want:  # make sure the answer is bracketed
        hi *= 2
    while lo < hi:  # smallest k with count(k) >= want
        mid = (lo + hi) // 2
        if count_tokens(" ." * mid) < want:
            lo = mid + 1
        else:
            hi = mid
    k = lo
    if k > 0 and want - count_tokens(" ." * (k - 1)) <= count_tokens(" ." * k) - want:
        k -= 1
    return "<think>" + " ." * k + " </think>" + rest


def build_llm_records(
    condition: str,
    puzzles: Sequence[cogstar.Puzzle],
    backend: Backend,
    *,
    temperature: float = 0.5,
    max_tokens: int = 1024,
    progress: bool | Callable[[int, int], None] = False,
) -> list[PrimingRecord]:
    """Ask ``backend`` for one trace per puzzle in the style of ``condition``.

    The paper's settings are the defaults (temperature 0.5, 1,024 tokens). Each completion
    is scored with the TinyZero reward on prompt + completion; ``correct`` records the verdict
    (``no_positive`` keeps the incorrect ``all_strategies`` ones). Replies are cached by the
    backend, so a rerun after a crash pays only for what is missing.
    """
    if condition not in SYSTEM_PROMPTS:
        raise ValueError(f"unknown condition {condition!r}; choose one of {', '.join(CONDITIONS)}")
    requests = [
        Request(
            system=SYSTEM_PROMPTS[condition],
            user=user_text(p.numbers, p.target),
            temperature=temperature,
            max_tokens=max_tokens,
        )
        for p in puzzles
    ]
    replies = backend.complete_many(requests, progress=progress)
    records = []
    for puzzle, reply in zip(puzzles, replies, strict=True):
        completion = reply.text.strip()
        if not completion.startswith("<think>"):
            completion = "<think>" + completion
        prompt = priming_prompt(puzzle.numbers, puzzle.target)
        correct = cogstar.score(prompt + completion, puzzle.numbers, puzzle.target).value == 1.0
        records.append(
            PrimingRecord(prompt, completion, puzzle.numbers, puzzle.target, condition, correct)
        )
    return records


def write_records(path: str | Path, records: Iterable[PrimingRecord]) -> int:
    """Write JSONL atomically (a crash leaves the old file or the whole new one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, path)
    return n


def read_records(path: str | Path) -> Iterator[PrimingRecord]:
    """Read JSONL; a broken line raises ``ValueError`` naming the file and line."""
    path = Path(path)
    fields = set(PrimingRecord.__dataclass_fields__)
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                missing = fields - set(data)
                if missing:
                    raise ValueError(f"missing field(s) {', '.join(sorted(missing))}")
                yield PrimingRecord(**{k: data[k] for k in fields})
            except (ValueError, TypeError) as err:
                raise ValueError(
                    f"{path}:{lineno}: not a priming record ({err}); fix or delete that line, "
                    "or rebuild the file"
                ) from None
