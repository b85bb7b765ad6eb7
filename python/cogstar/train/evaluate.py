"""Checkpoint evaluation: sample the fixed test set, score it, keep the completions.

    from cogstar.train.evaluate import EvalConfig, evaluate
    result = evaluate("runs/x/ppo/step_000010/actor", test_puzzles, EvalConfig(),
                      out="runs/x/eval/step_000010.jsonl")
    result.accuracy, result.pass_at_k, result.outcomes, result.mean_chars

The paper's protocol is the default: one sample per puzzle at temperature 1.0, at most 1,024
new tokens, accuracy = mean binary score (the reward's check with format score 0). Greedy
decoding and several samples per puzzle (pass@k, unbiased estimator) are options. Every
completion is written to ``out`` as a completion row (:mod:`cogstar.io`: the puzzle, the prompt,
the completion, its value and outcome) for behavior counting and ``cogstar score``, and the
summary beside it (``step_XXXXXX.summary.json``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

import cogstar
from cogstar import io
from cogstar.config import Found, Problem, StageConfig
from cogstar.errors import ArgumentError
from cogstar.tasks import rl_prompt, score_puzzles

__all__ = ["EvalConfig", "EvalResult", "evaluate", "pass_at_k", "summary_path"]


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
    out = Path(out)
    return out.with_name(out.name.removesuffix(".jsonl") + ".summary.json")


@dataclass
class EvalResult:
    n: int
    accuracy: float
    pass_at_k: dict[int, float]
    outcomes: dict[str, int]
    mean_chars: float
    mean_tokens: float
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


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
    from cogstar.train.ppo.fast_rollout import FastRollout
    from cogstar.train.ppo.rollout import HFRollout, decode_responses, encode_prompts

    config = config if config is not None else EvalConfig()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if tokenizer is None:
        model, tokenizer = load_policy(
            model, dtype=config.dtype if device == "cuda" else "float32", device=device
        )
    tokenizer.padding_side = "left"
    engine: HFRollout | FastRollout
    if config.rollout == "fast":
        engine = FastRollout(
            model,
            tokenizer,
            max_new_tokens=config.max_new_tokens,
            temperature=config.temperature,
            greedy=config.greedy,
            seed=config.seed,
            setting="eval.rollout",
        )
    else:
        engine = HFRollout(
            model,
            tokenizer,
            max_new_tokens=config.max_new_tokens,
            temperature=config.temperature,
            greedy=config.greedy,
        )
    items = [(i, p) for i, p in enumerate(puzzles) for _ in range(config.samples)]
    torch.manual_seed(config.seed)
    start = time.perf_counter()
    completions: list[str] = []
    n_tokens: list[int] = []
    dev = next(model.parameters()).device
    for s in range(0, len(items), config.batch_size):
        chunk = items[s : s + config.batch_size]
        texts = [rl_prompt(p.numbers, p.target) for _, p in chunk]
        batch = engine.generate(*encode_prompts(tokenizer, texts, dev))
        n_tokens += [int(m.sum().item()) for m in batch.response_mask]
        completions += decode_responses(tokenizer, batch)
    prompts = [rl_prompt(p.numbers, p.target) for _, p in items]  # stored with each row
    scores = score_puzzles(completions, [p for _, p in items], format_score=0.0)
    values = [scores[i].value for i in range(len(scores))]
    outcomes = [str(scores[i].outcome) for i in range(len(scores))]
    correct_per_puzzle = Counter(i for (i, _), v in zip(items, values, strict=True) if v == 1.0)
    result = EvalResult(
        n=len(puzzles),
        accuracy=sum(values) / max(1, len(values)),
        pass_at_k={
            k: sum(pass_at_k(config.samples, correct_per_puzzle[i], k) for i in range(len(puzzles)))
            / max(1, len(puzzles))
            for k in config.k
        },
        outcomes=dict(sorted(Counter(outcomes).items())),
        mean_chars=sum(len(c) for c in completions) / max(1, len(completions)),
        mean_tokens=sum(n_tokens) / max(1, len(n_tokens)),
        seconds=time.perf_counter() - start,
    )
    if out is not None:
        rows = (
            {
                "puzzle": i,
                "numbers": list(p.numbers),
                "target": p.target,
                "prompt": prompt,
                "completion": c,
                "tokens": t,
                "value": v,
                "outcome": o,
            }
            for (i, p), prompt, c, t, v, o in zip(
                items, prompts, completions, n_tokens, values, outcomes, strict=True
            )
        )
        io.write_jsonl(out, rows)
        io.atomic_write_json(summary_path(out), asdict(result))
    return result
