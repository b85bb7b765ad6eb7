"""Priming sets: behavior-conditioned reasoning traces as prompt/completion records, and the
priming stage of a study (:class:`PrimingConfig`, :func:`run_priming`).

Conditions (the paper's): ``all_strategies``, ``only_backtracking``,
``backtracking_verification``, ``backtracking_subgoal``, ``backtracking_backward`` and
``negative_control``; and the controls built from them:

* ``no_positive``: ``all_strategies`` attempts whose final answers are all wrong. Synthetic
  ones search, check, backtrack, set subgoals and work backwards exactly as the correct traces
  do, then end on a line that reaches the target with true arithmetic but uses the numbers
  wrongly (one left out, or one used more often than given), check it (``19, exactly the
  target.``) and give it as the answer; only a puzzle that allows neither slip (under 1%) ends
  on a near miss;
* ``empty_cot``: the thoughts removed (``<think> </think>`` then the answer);
* ``dots``: the thoughts replaced by " ." repeated to the same number of tokens.

Two sources write the traces: ``synthetic`` (cogstar's offline trace synthesizer,
:func:`cogstar.synthesize_traces`, seeded, with ground-truth behavior counts) and ``llm``
(an OpenAI-compatible or Anthropic model asked, with one system prompt per condition in
cogstar's own words, to solve each puzzle in that style). :func:`build_priming_set` builds any
condition or control from either source::

    from cogstar.behaviors.cards import dataset_card, write_card
    from cogstar.behaviors.priming import build_priming_set, priming_puzzles
    from cogstar.io import write_records

    puzzles = priming_puzzles(1_000, seed=0)
    records = build_priming_set("only_backtracking", puzzles, seed=0)
    write_records("data/only_backtracking.parquet", records)
    write_card("data/only_backtracking.card.md", dataset_card(records, "only_backtracking"))

Records are :class:`cogstar.io.Record`, JSONL or Parquet (chosen by the file's suffix).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Literal

from pydantic import Field

import cogstar
from cogstar.behaviors import BEHAVIORS
from cogstar.config import Found, Problem, StageConfig
from cogstar.errors import ArgumentError
from cogstar.io import RECORD_SOURCES, Record, write_records
from cogstar.llm import Backend, BackendConfig, Request, make_backend
from cogstar.tasks import Posed, in_share, priming_prompt, score_puzzles, user_text

if TYPE_CHECKING:
    from cogstar.behaviors.cards import DatasetCard
    from cogstar.layout import CellLayout

__all__ = [
    "ASKED",
    "CONDITIONS",
    "CONTROLS",
    "LLM_MAX_TOKENS",
    "SOURCES",
    "SYSTEM_PROMPTS",
    "PrimingConfig",
    "build_llm_records",
    "build_priming_set",
    "build_synthetic_records",
    "describe",
    "dots",
    "empty_cot",
    "priming_puzzles",
    "run_priming",
    "split_completion",
    "stage_puzzles",
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
SOURCES: tuple[str, ...] = RECORD_SOURCES
# An LLM's traces: the paper's sampling (temperature 0.5, at most 1,024 tokens).
LLM_TEMPERATURE = 0.5
LLM_MAX_TOKENS = 1024

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
            "chaining) in attempts that end on a wrong final answer: the behaviors without a "
            "correct solution. Every answer is wrong by design. Synthetic traces end on a line "
            "that reaches the target with true arithmetic but leaves a number out or uses one "
            "more often than given, checked against the target and given as the answer as a "
            "correct trace would (a near miss where a puzzle allows neither)."
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
    raise ArgumentError(_unknown(condition))


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


_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)


def split_completion(completion: str) -> tuple[str, str]:
    """``(thoughts, rest)``: the text inside the first ``<think>…</think>`` and what follows."""
    m = _THINK.search(completion)
    if m is None:
        raise ArgumentError(
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


def _correct(completions: Sequence[str], puzzles: Sequence[Posed]) -> list[bool]:
    """The reward's verdict (value 1.0) on each completion of its puzzle's priming prompt."""
    return [v == 1.0 for v in score_puzzles(completions, puzzles).values]


def build_llm_records(
    condition: str,
    puzzles: Sequence[cogstar.Puzzle],
    backend: Backend,
    *,
    temperature: float = LLM_TEMPERATURE,
    max_tokens: int = LLM_MAX_TOKENS,
    progress: bool | Callable[[int, int], None] = False,
) -> list[Record]:
    """Ask ``backend`` for one trace per puzzle in the style of ``condition``.

    The paper's settings are the defaults (temperature 0.5, 1,024 tokens). Each completion
    is scored with the TinyZero reward on prompt + completion; ``correct`` records the verdict
    (``no_positive`` keeps the incorrect ``all_strategies`` ones). Replies are cached by the
    backend, so a rerun after a crash pays only for what is missing.
    """
    if condition not in SYSTEM_PROMPTS:
        raise ArgumentError(
            f"unknown condition {condition!r}; choose one of {', '.join(CONDITIONS)}"
        )
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
    verdicts = _correct(completions, puzzles)
    return [
        Record(prompt, completion, p.numbers, p.target, condition, correct, source="llm")
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
) -> list[Record]:
    """One synthesized trace per puzzle in the style of ``condition`` (offline, seeded).

    ``budget`` is the rough length of a trace in characters (a target, not a hard cap: a
    trace is never cut short of its solution; ``None``: drawn per trace by the synthesizer);
    ``wrong_answer=True`` keeps the behaviors
    but makes the final answer wrong (how ``no_positive`` is built: the last line reaches the
    target but leaves a number out or uses one more often than given, and is checked and
    answered as if it were right; a near miss where the puzzle allows neither). ``correct`` is the
    reward's verdict on prompt + completion and ``counts`` the synthesizer's ground truth.
    The same puzzles, condition and seed give the same records.
    """
    if condition not in CONDITIONS:
        raise ArgumentError(
            f"unknown condition {condition!r} for the synthesizer; choose one of "
            f"{', '.join(CONDITIONS)} (controls are built by build_priming_set)"
        )
    traces = cogstar.synthesize_traces(
        puzzles, condition, seed=seed, wrong_answer=wrong_answer, budget=budget
    )
    prompts = [priming_prompt(p.numbers, p.target) for p in puzzles]
    completions = [t.text for t in traces]
    verdicts = _correct(completions, puzzles)
    return [
        Record(
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
) -> list[Record]:
    """The priming set of ``condition`` (one of :data:`CONDITIONS` or :data:`CONTROLS`).

    ``source="synthetic"`` synthesizes one trace per puzzle (``seed``; ``budget``: rough
    characters per trace); ``source="llm"`` asks ``backend`` (``progress`` is its progress bar or
    callback; ``seed`` plays no part, the backend's cache makes reruns reproducible).

    The controls are built from ``all_strategies`` traces of the same source and puzzles:

    * ``no_positive``: synthetic: the traces with ``wrong_answer=True`` (one per puzzle, every
      answer wrong, the same attempt as ``all_strategies`` up to its last line, which reaches
      the target from the numbers used wrongly); llm: the model's ``all_strategies`` replies,
      **keeping only the incorrect ones**, so the set is usually smaller than ``puzzles``;
    * ``empty_cot``: thoughts removed; ``dots``: thoughts replaced by " ." to the same token
      count, which needs ``tokenizer_count`` (the primed model's token counter). LLM replies
      without a closed ``<think>…</think>`` block are dropped from these two.

    Control records carry their control's name as ``condition``; synthetic ``empty_cot`` and
    ``dots`` records have all-zero ground-truth counts (no thoughts are left).
    """
    if source not in SOURCES:
        raise ArgumentError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    if condition not in CONDITIONS and condition not in CONTROLS:
        raise ArgumentError(_unknown(condition))
    if condition == "dots" and tokenizer_count is None:
        raise ArgumentError(
            "the dots control needs tokenizer_count, the primed model's token counter, e.g. "
            "tokenizer_count=lambda s: len(tok(s, add_special_tokens=False).input_ids) "
            "(on the command line: --tokenizer MODEL)"
        )
    if source == "llm":
        if backend is None:
            raise ArgumentError(
                "source='llm' needs a backend, e.g. backend=OpenAIBackend(model='gpt-4o-mini') "
                "from cogstar.llm (or use source='synthetic', which needs none)"
            )
        if budget is not None:
            raise ArgumentError(
                "budget (rough characters per trace) applies to the synthetic source only; an LLM's "
                "length is set by build_llm_records(max_tokens=...)"
            )

    def base(name: str, wrong_answer: bool = False) -> list[Record]:
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
    verdicts = _correct(completions, originals)
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


# -- the priming stage ---------------------------------------------------------------------


class PrimingConfig(StageConfig):
    """How a study builds each cell's priming set.

    ``count`` training and ``validation`` held-back traces, one per puzzle of the priming
    distribution (the puzzles are fixed by ``[data].seed``; the synthesizer's draws by
    ``seed``, which a study derives from ``[experiment].seed``); ``budget`` is the rough
    length of a synthetic trace in characters; ``source = "llm"`` asks ``backend`` instead.
    """

    SECTION = "priming"

    source: Literal["synthetic", "llm"] = "synthetic"
    count: int = Field(default=1000, ge=1)
    validation: int = Field(default=200, ge=0)
    budget: int = Field(default=1200, ge=1)  # rough characters per synthesized trace
    seed: int = Field(default=0, ge=0)
    backend: BackendConfig | None = None  # required when source = "llm"

    def problems(self) -> list[Problem]:
        found = Found()
        if self.source == "llm" and self.backend is None:
            found.add(
                ("backend",),
                'priming.source = "llm" needs an LLM backend and none is given',
                'add [priming.backend] with provider = "anthropic" and model = '
                '"claude-3-5-sonnet-20241022", or use source = "synthetic"',
            )
        return found


def stage_puzzles(
    config: PrimingConfig, *, seed: int, sizes: Sequence[int]
) -> list[cogstar.Puzzle]:
    """The puzzles of a study's priming sets: ``count + validation`` of the priming
    distribution drawn with ``seed`` (the study's ``[data].seed``, so every replicate primes
    on the same puzzles), from the ``pretrain`` share of the puzzle space
    (:func:`cogstar.tasks.puzzle_share`): never an RL or a test puzzle."""
    want = config.count + config.validation
    pool = priming_puzzles(want * 2 + 64, seed=seed, sizes=tuple(sizes))
    return in_share(pool, "pretrain")[:want]


def run_priming(
    config: PrimingConfig,
    condition: str,
    puzzles: Sequence[cogstar.Puzzle],
    layout: CellLayout,
    *,
    count_tokens: Callable[[str], int] | None = None,
) -> DatasetCard:
    """The stage: build ``condition``'s set on ``puzzles`` and write its training and
    validation records and its card where ``layout`` says; returns the card.
    ``count_tokens`` is the primed model's token counter (the ``dots`` control needs it)."""
    from cogstar.behaviors.cards import dataset_card, write_card

    backend = None
    if config.source == "llm":
        assert config.backend is not None  # problems() refuses llm without one
        backend = make_backend(config.backend, layout.priming_cache)
    try:
        records = build_priming_set(
            condition,
            puzzles,
            source=config.source,
            seed=config.seed,
            backend=backend,
            tokenizer_count=count_tokens,
            budget=config.budget if config.source == "synthetic" else None,
        )
    finally:
        if backend is not None:
            backend.close()
    n_valid = min(config.validation, len(records) // 5)
    train, valid = records[n_valid:], records[:n_valid]
    write_records(layout.priming_train, train)
    write_records(layout.priming_valid, valid)
    card = dataset_card(train, condition)
    write_card(layout.priming_card, card)
    return card
