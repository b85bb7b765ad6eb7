"""Checkpoint evaluation: sample the fixed test set, score it, keep the completions.

    from cogstar.train.evaluate import EvalConfig, evaluate
    result = evaluate("runs/x/ppo/step_000010/actor", test_puzzles, EvalConfig(),
                      out="runs/x/eval/step_000010.jsonl")
    result.accuracy, result.pass_at_k, result.outcomes, result.mean_chars

The paper's protocol is the default: one sample per puzzle at temperature 1.0, at most 1,024
new tokens, accuracy = mean binary score (the reward's check with format score 0). Greedy
decoding and several samples per puzzle (pass@k, unbiased estimator) are options. Every
completion is written to ``out`` as a completion row (:mod:`cogstar.io`: the puzzle, the prompt,
the completion, its value, outcome, token count and whether it was cut off at
``max_new_tokens``) for behavior counting and ``cogstar score``, and the summary beside it
(``step_XXXXXX.summary.json``). With ``also_greedy`` a greedy pass over the same puzzles is
written beside them (``step_XXXXXX.greedy.jsonl``) and summarized under ``greedy``.

Besides accuracy, a summary says whether the model still writes coherently, which a priming
study must know before RL starts: the share of truncated responses, the share of written
``a op b = c`` steps whose arithmetic is right (``written_steps``), and the share of answers
that use exactly the puzzle's numbers (``numbers_exact``).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

import cogstar
from cogstar import io
from cogstar._core import Outcome
from cogstar.config import Found, Problem, StageConfig
from cogstar.errors import ArgumentError
from cogstar.layout import beside_completions
from cogstar.tasks import rl_prompt, score_puzzles

__all__ = [
    "EvalConfig",
    "EvalResult",
    "evaluate",
    "greedy_path",
    "numbers_exact",
    "pass_at_k",
    "summary_path",
    "written_steps",
]


class EvalConfig(StageConfig):
    """How each checkpoint is evaluated on the test set: ``samples`` per puzzle at
    ``temperature`` (or ``greedy``), at most ``max_new_tokens``, ``batch_size`` prompts at a
    time, pass@k for each ``k``; ``dtype`` on a GPU (a CPU runs float32); ``rollout`` the
    sampler (``fast``: :mod:`cogstar.train.ppo.fast_rollout`; ``hf``: ``model.generate``, any
    model). ``seed`` (the sampling) is derived from ``[experiment].seed`` in a study. ``every`` is the study's
    schedule: evaluate the checkpoint every that many RL steps (and at step 0 and the last
    step); it decides which evaluations exist, not what one of them computes."""

    SECTION = "eval"
    NOT_HASHED = frozenset({"every"})

    samples: int = Field(default=1, ge=1)
    temperature: float = Field(default=1.0, ge=0)
    greedy: bool = False
    also_greedy: bool = False
    max_new_tokens: int = Field(default=1024, ge=1)
    batch_size: int = Field(default=64, ge=1)
    k: list[int] = Field(default_factory=lambda: [1], min_length=1)
    seed: int = Field(default=0, ge=0)
    dtype: Literal["float32", "bfloat16", "float16"] = "bfloat16"
    rollout: Literal["fast", "hf"] = "fast"
    every: int = Field(default=10, ge=1)

    def problems(self) -> list[Problem]:
        found = Found()
        for i, k in enumerate(self.k):
            if k < 1:
                found.add(("k", i), f"pass@{k} is not defined", "use k >= 1")
        top = max(self.k)
        if top > self.samples:
            found.add(
                ("k",),
                f"pass@{top} needs {top} samples per puzzle but {self.key('samples')} is "
                f"{self.samples}",
                f"set {self.key('samples')} to at least {top}, or drop the larger k",
            )
        return found


def summary_path(out: str | Path) -> Path:
    """Where :func:`evaluate` writes the summary of the completions it writes to ``out``."""
    return beside_completions(out, "summary")


def greedy_path(out: str | Path) -> Path:
    """Where :func:`evaluate` writes the greedy pass's completions (``also_greedy``)."""
    return beside_completions(out, "greedy")


@dataclass
class EvalResult:
    n: int
    accuracy: float
    pass_at_k: dict[int, float]
    outcomes: dict[str, int]
    mean_chars: float
    mean_tokens: float
    seconds: float
    samples: int = 1
    truncated: float = 0.0  # share of responses cut off at max_new_tokens
    greedy: dict[str, float] | None = None  # the greedy pass: accuracy, truncated, mean_tokens
    written_steps: dict[str, Any] = field(default_factory=dict)  # count, correct (share)
    numbers_exact: float | None = None  # share of answers using exactly the puzzle's numbers
    extra: dict[str, Any] = field(default_factory=dict)


# "a op b = c" as a trace writes a step; the operands are whole numbers, the result may not be
_STEP = re.compile(
    r"(?<![\d.])(\d{1,9})\s*([-+*/])\s*(\d{1,9})\s*=\s*(\d{1,9}(?:\.\d{1,6})?)(?![\d])"
)


def written_steps(completions: Sequence[str]) -> dict[str, Any]:
    """The ``a op b = c`` steps written in ``completions``: how many, and the share whose
    arithmetic is right (``None`` when none is written). A model that copies the shape of
    its priming traces without their arithmetic shows here before it shows in accuracy."""
    from fractions import Fraction

    count = right = 0
    for text in completions:
        for a, op, b, c in _STEP.findall(text):
            x, y = Fraction(int(a)), Fraction(int(b))
            value: Fraction | None
            if op == "/":
                value = x / y if y else None
            else:
                value = x + y if op == "+" else x - y if op == "-" else x * y
            count += 1
            right += value is not None and value == Fraction(c)
    return {"count": count, "correct": right / count if count else None}


# outcomes of a response without an answer on its last line: no numbers to compare
_NO_ANSWER = {str(Outcome.NO_ANSWER), str(Outcome.ANSWER_NOT_LAST_LINE), str(Outcome.NO_ASSISTANT)}


def numbers_exact(outcomes: Sequence[str]) -> float | None:
    """The share of answers that use exactly the puzzle's numbers (the reward checks the
    numbers before it evaluates, so every outcome of an answer but ``wrong_numbers`` passed
    that check); ``None`` when no response gave an answer."""
    answered = [o for o in outcomes if o not in _NO_ANSWER]
    if not answered:
        return None
    return sum(o != str(Outcome.WRONG_NUMBERS) for o in answered) / len(answered)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples with ``c`` correct: ``1 - C(n-c, k) / C(n, k)``."""
    if k > n:
        raise ArgumentError(f"pass@{k} needs at least {k} samples per puzzle, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def evaluate(
    model: Any,
    puzzles: Sequence[cogstar.Puzzle],
    config: EvalConfig | None = None,
    *,
    tokenizer: Any = None,
    out: str | Path | None = None,
) -> EvalResult:
    """Evaluate a policy (a folder, or a loaded model with ``tokenizer``) on ``puzzles``."""
    import time

    import torch

    from cogstar.train.models import load_policy

    config = config if config is not None else EvalConfig()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if tokenizer is None:
        model, tokenizer = load_policy(
            model, dtype=config.dtype if device == "cuda" else "float32", device=device
        )
    tokenizer.padding_side = "left"
    torch.manual_seed(config.seed)
    start = time.perf_counter()
    items = [(i, p) for i, p in enumerate(puzzles) for _ in range(config.samples)]
    sampled = _sample(model, tokenizer, items, config, greedy=config.greedy)
    scores = score_puzzles(sampled.completions, [p for _, p in items], format_score=0.0)
    values = [scores[i].value for i in range(len(scores))]
    outcomes = [str(scores[i].outcome) for i in range(len(scores))]
    correct_per_puzzle = Counter(i for (i, _), v in zip(items, values, strict=True) if v == 1.0)
    greedy = None
    if config.also_greedy and not config.greedy:
        once = [(i, p) for i, p in enumerate(puzzles)]
        g = _sample(model, tokenizer, once, config, greedy=True)
        g_scores = score_puzzles(g.completions, puzzles, format_score=0.0)
        g_values = [g_scores[i].value for i in range(len(g_scores))]
        g_outcomes = [str(g_scores[i].outcome) for i in range(len(g_scores))]
        greedy = {
            "accuracy": sum(g_values) / max(1, len(g_values)),
            "truncated": sum(g.truncated) / max(1, len(g.truncated)),
            "mean_tokens": sum(g.tokens) / max(1, len(g.tokens)),
        }
        if out is not None:
            io.write_jsonl(greedy_path(out), _rows(once, g, g_values, g_outcomes))
    result = EvalResult(
        n=len(puzzles),
        accuracy=sum(values) / max(1, len(values)),
        pass_at_k={
            k: sum(pass_at_k(config.samples, correct_per_puzzle[i], k) for i in range(len(puzzles)))
            / max(1, len(puzzles))
            for k in config.k
        },
        outcomes=dict(sorted(Counter(outcomes).items())),
        mean_chars=sum(len(c) for c in sampled.completions) / max(1, len(sampled.completions)),
        mean_tokens=sum(sampled.tokens) / max(1, len(sampled.tokens)),
        seconds=time.perf_counter() - start,
        samples=config.samples,
        truncated=sum(sampled.truncated) / max(1, len(sampled.truncated)),
        greedy=greedy,
        written_steps=written_steps(sampled.completions),
        numbers_exact=numbers_exact(outcomes),
    )
    if out is not None:
        io.write_jsonl(out, _rows(items, sampled, values, outcomes))
        io.atomic_write_json(summary_path(out), asdict(result))
    return result


@dataclass
class _Sampled:
    completions: list[str]
    tokens: list[int]
    truncated: list[bool]


def _sample(
    model: Any,
    tokenizer: Any,
    items: Sequence[tuple[int, cogstar.Puzzle]],
    config: EvalConfig,
    *,
    greedy: bool,
) -> _Sampled:
    """One response to each item's RL prompt, ``config.batch_size`` prompts at a time."""
    from cogstar.train.ppo.fast_rollout import FastRollout
    from cogstar.train.ppo.rollout import (
        HFRollout,
        decode_responses,
        encode_prompts,
        truncated_rows,
    )

    engine: HFRollout | FastRollout
    if config.rollout == "fast":
        engine = FastRollout(
            model,
            tokenizer,
            max_new_tokens=config.max_new_tokens,
            temperature=config.temperature,
            greedy=greedy,
            seed=config.seed,
            setting="eval.rollout",
        )
    else:
        engine = HFRollout(
            model,
            tokenizer,
            max_new_tokens=config.max_new_tokens,
            temperature=config.temperature,
            greedy=greedy,
        )
    out = _Sampled([], [], [])
    dev = next(model.parameters()).device
    for s in range(0, len(items), config.batch_size):
        chunk = items[s : s + config.batch_size]
        texts = [rl_prompt(p.numbers, p.target) for _, p in chunk]
        batch = engine.generate(*encode_prompts(tokenizer, texts, dev))
        out.tokens += [int(m.sum().item()) for m in batch.response_mask]
        out.truncated += truncated_rows(batch, tokenizer.eos_token_id, config.max_new_tokens)
        out.completions += decode_responses(tokenizer, batch)
    return out


def _rows(
    items: Sequence[tuple[int, cogstar.Puzzle]],
    sampled: _Sampled,
    values: Sequence[float],
    outcomes: Sequence[str],
) -> Iterator[dict[str, Any]]:
    """Completion rows (:mod:`cogstar.io`), the prompt stored with each."""
    for (i, p), c, t, cut, v, o in zip(
        items,
        sampled.completions,
        sampled.tokens,
        sampled.truncated,
        values,
        outcomes,
        strict=True,
    ):
        yield {
            "puzzle": i,
            "numbers": list(p.numbers),
            "target": p.target,
            "prompt": rl_prompt(p.numbers, p.target),
            "completion": c,
            "tokens": t,
            "truncated": cut,
            "value": v,
            "outcome": o,
        }
