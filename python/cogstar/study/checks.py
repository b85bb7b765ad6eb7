"""What a study checks before it spends compute, where the spec alone cannot decide.

* **Room for the primed answers** (:func:`check_room`): a primed model imitates its priming
  set, so if RL or evaluation stops generating before most of that set's completions end, a
  perfect imitation is cut off before its ``<answer>`` and scores 0, and the study compares
  truncation, not behaviors. The runner builds every cell's priming set first (cheap next to
  training) and refuses a spec whose ``ppo.max_response_tokens`` or ``eval.max_new_tokens``
  is below the 99th percentile of a set's completion lengths, counted in the primed model's
  own tokens.
* **Puzzles the base never saw** (:func:`check_puzzles_unseen`): a base cogstar pretrained
  records which share of the puzzle space its text was written on
  (:func:`cogstar.train.tiny.pretraining_share`); RL or test puzzles from that share would
  reward recall instead of search, so the run is refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

from cogstar import io
from cogstar.errors import ConfigError
from cogstar.tasks import check_unseen

__all__ = ["ROOM_QUANTILE", "check_puzzles_unseen", "check_room", "completion_tokens"]

# The share of a priming set's completions that must fit in the response budget.
ROOM_QUANTILE = 0.99


def completion_tokens(
    completions: Sequence[str], count_tokens: Callable[[str], int], quantile: float = ROOM_QUANTILE
) -> int:
    """The ``quantile`` of the completions' lengths in tokens (nearest rank; 0 when none)."""
    if not completions:
        return 0
    lengths = sorted(count_tokens(c) for c in completions)
    return lengths[max(0, math.ceil(quantile * len(lengths)) - 1)]


def check_room(
    condition: str,
    records: Sequence[io.Record],
    count_tokens: Callable[[str], int],
    *,
    rl_key: str,
    rl_tokens: int,
    eval_tokens: int,
    where: Path | str,
) -> int:
    """Refuse a response budget that would cut off the answers a primed model imitates.

    ``rl_key`` names the RL budget as a spec writes it (``ppo.max_response_tokens`` or
    ``grpo.max_completion_tokens``). Returns the measured 99th percentile.
    """
    need = completion_tokens([r.completion for r in records], count_tokens)
    short = [
        (k, v) for k, v in ((rl_key, rl_tokens), ("eval.max_new_tokens", eval_tokens)) if v < need
    ]
    if short:
        keys = ", ".join(k for k, _ in short)
        said = " and ".join(f"{k} is {v}" for k, v in short)
        raise ConfigError(
            [
                f"{where}: {keys}: 99% of the {condition} priming set's completions need up to "
                f"{need} tokens of the model's tokenizer, but {said}, so a model that imitates "
                "its priming would be cut off before its answer and score 0 (the study would "
                f"compare truncation, not behaviors); fix: set {rl_key} and eval.max_new_tokens "
                f"to at least {need}, or write shorter traces (priming.budget)"
            ],
            "spec",
        )
    return need


def check_puzzles_unseen(files: Sequence[Path], seen_share: str | None, fix: str) -> None:
    """Refuse RL or test puzzle files with puzzles from the base's pretraining share;
    ``fix`` says what rebuilds a file that cannot be read."""
    for path in files:
        check_unseen(io.read_puzzles(path, fix), str(path), seen_share)
