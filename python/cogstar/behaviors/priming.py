"""Priming datasets: behavior-conditioned reasoning traces as prompt/completion records.

Conditions (the paper's): ``all_strategies``, ``only_backtracking``,
``backtracking_verification``, ``backtracking_subgoal``, ``backtracking_backward`` and
``negative_control``; and the controls built from them:

* ``no_positive``: ``all_strategies`` traces whose final answers are all wrong;
* ``empty_cot``: the thoughts removed (``<think> </think>`` then the answer);
* ``dots``: the thoughts replaced by " ." repeated to the same number of tokens.

Two sources write the traces: ``synthetic`` (cogstar's offline trace synthesizer,
:func:`cogstar.synthesize_traces`, seeded, with ground-truth behavior counts) and ``llm``
(an OpenAI-compatible or Anthropic model asked, with one system prompt per condition in
cogstar's own words, to solve each puzzle in that style). :func:`build_priming_set` builds any
condition or control from either source::

    from cogstar.behaviors.priming import (
        build_priming_set, dataset_card, priming_puzzles, write_card, write_records,
    )

    puzzles = priming_puzzles(1_000, seed=0)
    records = build_priming_set("only_backtracking", puzzles, seed=0)
    write_records("data/only_backtracking.parquet", records)
    write_card("data/only_backtracking.card.md", dataset_card(records, "only_backtracking"))

Records are JSONL or Parquet (chosen by the file's suffix); a broken line is reported with its
file and line. A dataset card (Markdown with a JSON twin) summarises a set: its size, its
accuracy under the reward, its mean length and the behaviors the rule-based counter finds.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import MISSING, asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import cogstar
from cogstar.behaviors import BEHAVIORS, count_behaviors_batch
from cogstar.llm import Backend, Request
from cogstar.tasks import priming_prompt, user_text

__all__ = [
    "ASKED",
    "CONDITIONS",
    "CONTROLS",
    "SOURCES",
    "SYSTEM_PROMPTS",
    "DatasetCard",
    "PrimingRecord",
    "build_llm_records",
    "build_priming_set",
    "build_synthetic_records",
    "card_markdown",
    "dataset_card",
    "describe",
    "dots",
    "empty_cot",
    "priming_puzzles",
    "read_records",
    "split_completion",
    "write_card",
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
SOURCES: tuple[str, ...] = ("synthetic", "llm")

# The behaviors each condition asks for, in the order its system prompt names them.
ASKED: dict[str, tuple[str, ...]] = {
    "all_strategies": ("verification", "backtracking", "subgoal", "backward"),
    "only_backtracking": ("backtracking",),
    "backtracking_verification": ("backtracking", "verification"),
    "backtracking_subgoal": ("backtracking", "subgoal"),
    "backtracking_backward": ("backtracking", "backward"),
    "negative_control": (),
}

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

_DIRECT = (
    "Give only a direct derivation of a correct solution as numbered steps, one operation per "
    "line, e.g. 'Step 1: 5 + 3 = 8', with no commentary, no checking and no alternatives."
)


def _system(asked: Sequence[str]) -> str:
    parts = ["You solve Countdown puzzles and show how you think."]
    parts += [f"In your reasoning, {_STYLE[b]}." for b in asked]
    parts += [f"{_NO[b].capitalize()}." for b in _STYLE if b not in asked]
    parts.append(_FORMAT)
    return " ".join(parts)


SYSTEM_PROMPTS: dict[str, str] = {
    **{c: _system(ASKED[c]) for c in CONDITIONS if c != "negative_control"},
    "negative_control": f"You solve Countdown puzzles. {_DIRECT} {_FORMAT}",
}


def describe(condition: str) -> str:
    """One paragraph saying what a condition or control asks of its traces."""
    if condition == "negative_control":
        return f"No cognitive behaviors. {_DIRECT.replace('Give only', 'Each trace gives only')}"
    if condition in ASKED:
        asked = ASKED[condition]
        named = asked[0] if len(asked) == 1 else ", ".join(asked[:-1]) + " and " + asked[-1]
        said = "; ".join(f"{_STYLE[b]} ({b})" for b in asked)
        avoided = "; ".join(_NO[b] for b in _STYLE if b not in asked)
        text = f"Asks for {named}. In its reasoning a trace should: {said}."
        if avoided:
            text += f" For the other behaviors: {avoided}."
        return text + " The final answer should be correct."
    if condition == "no_positive":
        return (
            "The all_strategies style (verification, backtracking, subgoal setting and backward "
            "chaining) with every final answer wrong: the behaviors without a correct solution."
        )
    if condition == "empty_cot":
        return (
            "all_strategies records with the thoughts removed: each completion is "
            "'<think> </think>' followed by the original answer."
        )
    if condition == "dots":
        return (
            "all_strategies records with the thoughts replaced by ' .' repeated to the same "
            "number of tokens (of the primed model's tokenizer), followed by the original answer."
        )
    raise ValueError(_unknown(condition))


def _unknown(condition: str) -> str:
    return (
        f"unknown condition {condition!r}; choose one of {', '.join(CONDITIONS)} "
        f"or a control: {', '.join(CONTROLS)}"
    )


def priming_puzzles(
    count: int,
    seed: int,
    *,
    sizes: Sequence[int] = (3, 4),
    exclude: Sequence[Sequence[int]] = (),
) -> list[cogstar.Puzzle]:
    """Puzzles of the paper's priming distribution (what ``generate puzzles --priming`` writes).

    3 or 4 numbers, targets 10 to 25, every number below the target, solvable under classic
    rules (non-negative integer intermediates, exact division); deterministic per seed.
    """
    return cogstar.generate_puzzles(
        count,
        seed=seed,
        sizes=tuple(sizes),
        target_range=(10, 25),
        numbers_below_target=True,
        rules="classic",
        exclude=exclude,
    )


@dataclass(frozen=True)
class PrimingRecord:
    """One SFT example in the paper's priming format.

    ``source`` is ``"synthetic"`` or ``"llm"`` (files written before it existed were all
    LLM-written, so that is the default); ``counts`` holds the synthesizer's ground-truth
    behavior counts of the completion (``None`` for LLM-written records).
    """

    prompt: str
    completion: str
    numbers: list[int]
    target: int
    condition: str
    correct: bool
    source: str = "llm"
    counts: dict[str, int] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        if self.counts is not None and set(self.counts) != set(BEHAVIORS):
            raise ValueError(
                f"counts must have exactly the keys {', '.join(BEHAVIORS)}, "
                f"got {', '.join(sorted(self.counts)) or 'none'}"
            )


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


def _correct(
    prompts: Sequence[str], completions: Sequence[str], puzzles: Sequence[Any]
) -> list[bool]:
    """The reward's verdict (value 1.0) on prompt + completion, in parallel."""
    batch = cogstar.score_batch(
        [p + c for p, c in zip(prompts, completions, strict=True)],
        [p.numbers for p in puzzles],
        [p.target for p in puzzles],
    )
    return [v == 1.0 for v in batch.values]


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
    completions = []
    for reply in replies:
        completion = reply.text.strip()
        if not completion.startswith("<think>"):
            completion = "<think>" + completion
        completions.append(completion)
    prompts = [priming_prompt(p.numbers, p.target) for p in puzzles]
    verdicts = _correct(prompts, completions, puzzles)
    return [
        PrimingRecord(prompt, completion, p.numbers, p.target, condition, correct, source="llm")
        for prompt, completion, p, correct in zip(
            prompts, completions, puzzles, verdicts, strict=True
        )
    ]


def build_synthetic_records(
    condition: str,
    puzzles: Sequence[cogstar.Puzzle],
    *,
    seed: int,
    budget: int | None = None,
    wrong_answer: bool = False,
) -> list[PrimingRecord]:
    """One synthesized trace per puzzle in the style of ``condition`` (offline, seeded).

    ``budget`` is the rough length of a trace in characters (a target, not a hard cap: a
    trace is never cut short of its solution; ``None``: drawn per trace by the synthesizer);
    ``wrong_answer=True`` keeps the behaviors
    but makes the final answer wrong (how ``no_positive`` is built). ``correct`` is the
    reward's verdict on prompt + completion and ``counts`` the synthesizer's ground truth.
    The same puzzles, condition and seed give the same records.
    """
    if condition not in CONDITIONS:
        raise ValueError(
            f"unknown condition {condition!r} for the synthesizer; choose one of "
            f"{', '.join(CONDITIONS)} (controls are built by build_priming_set)"
        )
    traces = cogstar.synthesize_traces(
        puzzles, condition, seed=seed, wrong_answer=wrong_answer, budget=budget
    )
    prompts = [priming_prompt(p.numbers, p.target) for p in puzzles]
    completions = [t.text for t in traces]
    verdicts = _correct(prompts, completions, puzzles)
    return [
        PrimingRecord(
            prompt,
            completion,
            list(p.numbers),
            p.target,
            condition,
            correct,
            source="synthetic",
            counts={b: int(n) for b, n in trace.counts.as_dict().items()},
        )
        for prompt, completion, p, correct, trace in zip(
            prompts, completions, puzzles, verdicts, traces, strict=True
        )
    ]


def build_priming_set(
    condition: str,
    puzzles: Sequence[cogstar.Puzzle],
    *,
    source: str = "synthetic",
    seed: int = 0,
    backend: Backend | None = None,
    tokenizer_count: Callable[[str], int] | None = None,
    budget: int | None = None,
    progress: bool | Callable[[int, int], None] = False,
) -> list[PrimingRecord]:
    """The priming set of ``condition`` (one of :data:`CONDITIONS` or :data:`CONTROLS`).

    ``source="synthetic"`` synthesizes one trace per puzzle (``seed``; ``budget``: rough
    characters per trace); ``source="llm"`` asks ``backend`` (``progress`` is its progress bar or
    callback; ``seed`` plays no part, the backend's cache makes reruns reproducible).

    The controls are built from ``all_strategies`` traces of the same source and puzzles:

    * ``no_positive``: synthetic: the traces with ``wrong_answer=True`` (one per puzzle, every
      answer wrong); llm: the model's ``all_strategies`` replies, **keeping only the incorrect
      ones**, so the set is usually smaller than ``puzzles``;
    * ``empty_cot``: thoughts removed; ``dots``: thoughts replaced by " ." to the same token
      count, which needs ``tokenizer_count`` (the primed model's token counter). LLM replies
      without a closed ``<think>…</think>`` block are dropped from these two.

    Control records carry their control's name as ``condition``; synthetic ``empty_cot`` and
    ``dots`` records have all-zero ground-truth counts (no thoughts are left).
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    if condition not in CONDITIONS and condition not in CONTROLS:
        raise ValueError(_unknown(condition))
    if condition == "dots" and tokenizer_count is None:
        raise ValueError(
            "the dots control needs tokenizer_count, the primed model's token counter, e.g. "
            "tokenizer_count=lambda s: len(tok(s, add_special_tokens=False).input_ids) "
            "(on the command line: --tokenizer MODEL)"
        )
    if source == "llm":
        if backend is None:
            raise ValueError(
                "source='llm' needs a backend, e.g. backend=OpenAIBackend(model='gpt-4o-mini') "
                "from cogstar.llm (or use source='synthetic', which needs none)"
            )
        if budget is not None:
            raise ValueError(
                "budget (rough characters per trace) applies to the synthetic source only; an LLM's "
                "length is set by build_llm_records(max_tokens=...)"
            )

    def base(name: str, wrong_answer: bool = False) -> list[PrimingRecord]:
        if source == "synthetic":
            return build_synthetic_records(
                name, puzzles, seed=seed, budget=budget, wrong_answer=wrong_answer
            )
        assert backend is not None
        return build_llm_records(name, puzzles, backend, progress=progress)

    if condition in CONDITIONS:
        return base(condition)
    if condition == "no_positive":
        if source == "synthetic":
            records = base("all_strategies", wrong_answer=True)
        else:
            records = [r for r in base("all_strategies") if not r.correct]
        return [replace(r, condition="no_positive") for r in records]

    originals = base("all_strategies")
    if source == "llm":
        originals = [r for r in originals if _THINK.search(r.completion)]
    if condition == "empty_cot":
        completions = [empty_cot(r.completion) for r in originals]
    else:
        assert tokenizer_count is not None
        completions = [dots(r.completion, tokenizer_count) for r in originals]
    verdicts = _correct([r.prompt for r in originals], completions, originals)
    zero = dict.fromkeys(BEHAVIORS, 0)
    return [
        replace(
            r,
            completion=completion,
            condition=condition,
            correct=correct,
            counts=None if r.counts is None else dict(zero),
        )
        for r, completion, correct in zip(originals, completions, verdicts, strict=True)
    ]


# -- files ----------------------------------------------------------------------------------

_SUFFIXES = (".jsonl", ".parquet")


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise ValueError(
            f"{path}: unknown file type {path.suffix or '(no suffix)'!r}; priming records are "
            "written and read as .jsonl or .parquet"
        )
    return suffix


def _required_fields() -> set[str]:
    return {
        name
        for name, f in PrimingRecord.__dataclass_fields__.items()
        if f.default is MISSING and f.default_factory is MISSING
    }


def _record(data: dict[str, Any]) -> PrimingRecord:
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object, got {type(data).__name__}")
    missing = _required_fields() - set(data)
    if missing:
        raise ValueError(f"missing field(s) {', '.join(sorted(missing))}")
    fields = set(PrimingRecord.__dataclass_fields__)
    kwargs = {k: v for k, v in data.items() if k in fields}
    if kwargs.get("source", "llm") is None:  # a Parquet column that some rows lack
        del kwargs["source"]
    return PrimingRecord(**kwargs)


def _parquet_schema() -> Any:
    import pyarrow as pa  # type: ignore[import-untyped]

    return pa.schema(
        [
            ("prompt", pa.string()),
            ("completion", pa.string()),
            ("numbers", pa.list_(pa.int64())),
            ("target", pa.int64()),
            ("condition", pa.string()),
            ("correct", pa.bool_()),
            ("source", pa.string()),
            ("counts", pa.struct([(b, pa.int64()) for b in BEHAVIORS])),
        ]
    )


def write_records(path: str | Path, records: Iterable[PrimingRecord]) -> int:
    """Write records atomically (a crash leaves the old file or the whole new one).

    The suffix chooses the format: ``.jsonl`` (one JSON object per line) or ``.parquet``
    (one row per record, ``counts`` as a struct of the four behaviors).
    """
    path = Path(path)
    kind = _format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    n = 0
    try:
        if kind == ".jsonl":
            with tmp.open("w", encoding="utf-8") as f:
                for record in records:
                    f.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")
                    n += 1
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq  # type: ignore[import-untyped]

            rows = [asdict(r) for r in records]
            n = len(rows)
            pq.write_table(pa.Table.from_pylist(rows, schema=_parquet_schema()), tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return n


def read_records(path: str | Path) -> Iterator[PrimingRecord]:
    """Read ``.jsonl`` or ``.parquet`` records.

    A broken line raises ``ValueError`` naming the file and line (for Parquet: the row);
    files written before ``source`` and ``counts`` existed still read. An unknown suffix
    raises at once, before iteration.
    """
    path = Path(path)
    if _format(path) == ".jsonl":
        return _read_jsonl(path)
    return _read_parquet(path)


def _read_jsonl(path: Path) -> Iterator[PrimingRecord]:
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = _record(json.loads(line))
            except (ValueError, TypeError) as err:
                raise ValueError(
                    f"{path}:{lineno}: not a priming record ({err}); fix or delete that line, "
                    "or rebuild the file"
                ) from None
            yield record


def _read_parquet(path: Path) -> Iterator[PrimingRecord]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as err:
        raise ValueError(
            f"{path}: not a readable Parquet file ({err}); rebuild it, e.g. with "
            "`cogstar generate priming --out FILE.parquet`"
        ) from None
    for row, data in enumerate(rows, 1):
        try:
            record = _record(data)
        except (ValueError, TypeError) as err:
            raise ValueError(
                f"{path}: row {row}: not a priming record ({err}); rebuild the file"
            ) from None
        yield record


# -- dataset cards --------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetCard:
    """What a priming set holds, measured on its records.

    ``mean_counts`` and ``share_with`` (fraction of records with at least one instance) come
    from the rule-based counter on the completions; ``truth_counts`` is the mean of the
    records' ground-truth counts when every record has them (synthetic sets).
    """

    condition: str
    size: int
    accuracy: float
    mean_chars: float
    mean_counts: dict[str, float]
    share_with: dict[str, float]
    truth_counts: dict[str, float] | None
    sources: list[str]
    description: str
    generation: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else 0.0


def _generation(records: Sequence[PrimingRecord], condition: str) -> str:
    sources = sorted({r.source for r in records})
    parts = []
    if "synthetic" in sources:
        parts.append(
            "Synthesized offline by cogstar's trace synthesizer (cogstar.synthesize_traces), "
            "one seeded trace per puzzle; each record stores the synthesizer's ground-truth "
            "behavior counts."
        )
    if "llm" in sources:
        parts.append(
            "Written by an LLM prompted with cogstar's system prompt for the condition "
            "(cogstar.behaviors.priming.SYSTEM_PROMPTS), one reply per puzzle."
        )
    if condition in CONTROLS:
        parts.append(f"The {condition} control is built from all_strategies traces.")
    parts.append(
        "Prompts are cogstar.tasks.priming_prompt; 'correct' is the TinyZero reward (value 1.0) "
        "on prompt + completion."
    )
    return " ".join(parts)


def dataset_card(
    records: Sequence[PrimingRecord], condition: str, *, generation: str | None = None
) -> DatasetCard:
    """Measure a priming set: size, accuracy, mean length, behaviors (rule-based counter).

    ``generation`` is a sentence on how the set was made (e.g. the command line); by default
    it is written from the records' sources.
    """
    records = list(records)
    counted = count_behaviors_batch(
        [r.completion for r in records],
        [r.numbers for r in records],
        [r.target for r in records],
        judge="rules",
    )
    per = [c.as_dict() for c in counted]
    truth = None
    if records and all(r.counts is not None for r in records):
        truth = {b: _mean([float(r.counts[b]) for r in records if r.counts]) for b in BEHAVIORS}
    return DatasetCard(
        condition=condition,
        size=len(records),
        accuracy=_mean([float(r.correct) for r in records]),
        mean_chars=_mean([float(len(r.completion)) for r in records]),
        mean_counts={b: _mean([float(c[b]) for c in per]) for b in BEHAVIORS},
        share_with={b: _mean([float(c[b] > 0) for c in per]) for b in BEHAVIORS},
        truth_counts=truth,
        sources=sorted({r.source for r in records}),
        description=describe(condition),
        generation=generation if generation is not None else _generation(records, condition),
    )


def card_markdown(card: DatasetCard) -> str:
    """The card as Markdown: title, a table of the numbers, what it asks for, how it was made."""
    lines = [
        f"# Priming set: {card.condition}",
        "",
        "| | |",
        "|---|---|",
        f"| records | {card.size:,} |",
        f"| accuracy (reward 1.0) | {card.accuracy:.1%} |",
        f"| mean completion length | {card.mean_chars:,.1f} characters |",
        f"| source | {', '.join(card.sources) or '-'} |",
        "",
        "| behavior | mean count (rules) | share with ≥ 1 | mean count (ground truth) |",
        "|---|---:|---:|---:|",
    ]
    for b in BEHAVIORS:
        truth = "-" if card.truth_counts is None else f"{card.truth_counts[b]:.2f}"
        lines.append(f"| {b} | {card.mean_counts[b]:.2f} | {card.share_with[b]:.1%} | {truth} |")
    lines += [
        "",
        "## What it asks for",
        "",
        card.description,
        "",
        "## How it was generated",
        "",
        card.generation,
        "",
    ]
    return "\n".join(lines)


def write_card(path: str | Path, card: DatasetCard) -> tuple[Path, Path]:
    """Write the card as Markdown at ``path`` and its JSON twin beside it (suffix ``.json``).

    ``data/x.card.md`` gives ``data/x.card.md`` and ``data/x.card.json``. Returns both paths.
    """
    md = Path(path)
    js = md.with_suffix(".json")
    if js == md:
        raise ValueError(f"{md}: a card's Markdown file needs a suffix other than .json, e.g. .md")
    md.parent.mkdir(parents=True, exist_ok=True)
    for target, text in (
        (md, card_markdown(card)),
        (js, json.dumps(card.to_dict(), indent=2, ensure_ascii=False) + "\n"),
    ):
        tmp = target.with_suffix(target.suffix + f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    return md, js
