"""Checkpoint evaluation: sample the fixed test set, score it, keep the completions.

    from cogstar.train.evaluate import EvalSettings, evaluate
    result = evaluate("runs/x/ppo/step_000010/actor", test_puzzles, EvalSettings(),
                      out="runs/x/eval/step_000010.jsonl")
    result.accuracy, result.pass_at_k, result.outcomes, result.mean_chars

The paper's protocol is the default: one sample per puzzle at temperature 1.0, at most 1,024
new tokens, accuracy = mean binary score (the reward's check with format score 0). Greedy
decoding and several samples per puzzle (pass@k, unbiased estimator) are options. Every
completion is written to ``out`` (JSONL) for behavior counting.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cogstar
from cogstar.tasks import rl_prompt

__all__ = ["EvalResult", "EvalSettings", "evaluate", "pass_at_k"]


@dataclass(frozen=True)
class EvalSettings:
    samples: int = 1
    temperature: float = 1.0
    greedy: bool = False
    max_new_tokens: int = 1024
    batch_size: int = 64
    k: tuple[int, ...] = (1,)
    seed: int = 0
    dtype: str = "bfloat16"  # on GPU; CPU uses float32


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
        raise ValueError(f"pass@{k} needs at least {k} samples per puzzle, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def evaluate(
    model: Any,
    puzzles: Sequence[cogstar.Puzzle],
    settings: EvalSettings | None = None,
    *,
    tokenizer: Any = None,
    out: str | Path | None = None,
) -> EvalResult:
    """Evaluate a policy (a folder, or a loaded model with ``tokenizer``) on ``puzzles``."""
    import time

    import torch

    from cogstar.train.models import load_policy
    from cogstar.train.ppo.rollout import HFRollout, decode_responses, encode_prompts

    settings = settings or EvalSettings()
    for k in settings.k:
        if k > settings.samples:
            raise ValueError(
                f"eval.k asks for pass@{k} but eval.samples is {settings.samples}; "
                f"sample at least {k} times per puzzle"
            )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if tokenizer is None:
        model, tokenizer = load_policy(
            model, dtype=settings.dtype if device == "cuda" else "float32", device=device
        )
    tokenizer.padding_side = "left"
    engine = HFRollout(
        model,
        tokenizer,
        max_new_tokens=settings.max_new_tokens,
        temperature=settings.temperature,
        greedy=settings.greedy,
    )
    items = [(i, p) for i, p in enumerate(puzzles) for _ in range(settings.samples)]
    torch.manual_seed(settings.seed)
    start = time.perf_counter()
    completions: list[str] = []
    n_tokens: list[int] = []
    dev = next(model.parameters()).device
    for s in range(0, len(items), settings.batch_size):
        chunk = items[s : s + settings.batch_size]
        texts = [rl_prompt(p.numbers, p.target) for _, p in chunk]
        batch = engine.generate(*encode_prompts(tokenizer, texts, dev))
        n_tokens += [int(m.sum().item()) for m in batch.response_mask]
        completions += decode_responses(tokenizer, batch)
    prompts = [rl_prompt(p.numbers, p.target) for _, p in items]
    scores = cogstar.score_batch(
        [pr + c for pr, c in zip(prompts, completions, strict=True)],
        [p.numbers for _, p in items],
        [p.target for _, p in items],
        format_score=0.0,
    )
    values = [scores[i].value for i in range(len(scores))]
    outcomes = Counter(str(scores[i].outcome) for i in range(len(scores)))
    correct_per_puzzle = Counter(i for (i, _), v in zip(items, values, strict=True) if v == 1.0)
    result = EvalResult(
        n=len(puzzles),
        accuracy=sum(values) / max(1, len(values)),
        pass_at_k={
            k: sum(
                pass_at_k(settings.samples, correct_per_puzzle[i], k) for i in range(len(puzzles))
            )
            / max(1, len(puzzles))
            for k in settings.k
        },
        outcomes=dict(sorted(outcomes.items())),
        mean_chars=sum(len(c) for c in completions) / max(1, len(completions)),
        mean_tokens=sum(n_tokens) / max(1, len(n_tokens)),
        seconds=time.perf_counter() - start,
    )
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(out.suffix + f".{os.getpid()}.tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for (i, p), c, v, k in zip(items, completions, values, range(len(items)), strict=True):
                row = {
                    "puzzle": i,
                    "numbers": p.numbers,
                    "target": p.target,
                    "completion": c,
                    "value": v,
                    "outcome": str(scores[k].outcome),
                }
                f.write(json.dumps(row) + "\n")
        os.replace(tmp, out)
        summary = asdict(result)
        out.with_suffix(".summary.json").write_text(json.dumps(summary, indent=2))
    return result
