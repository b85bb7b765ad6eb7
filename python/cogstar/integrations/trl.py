"""The Countdown reward for TRL's trainers (GRPO, RLOO and any that take reward functions).

    from trl import GRPOTrainer
    from cogstar.integrations.trl import countdown_reward

    trainer = GRPOTrainer(model=..., reward_funcs=[countdown_reward()], train_dataset=data)

The dataset needs ``numbers`` and ``target`` columns beside ``prompt`` (TRL passes extra
columns to reward functions). Prompts and completions may be standard (strings) or
conversational (lists of messages); the completion alone is scored, as if the standard
prompt preceded it. Through TRL's ``log_metric`` hook the function logs
``countdown/accuracy`` and the share of each outcome (``countdown/outcome/correct``, ...), and
through ``log_extra`` each completion's outcome in the completions table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import cogstar
from cogstar.integrations import completion_text
from cogstar.tasks import OUTCOMES

__all__ = ["RewardFunc", "countdown_reward"]


class RewardFunc(Protocol):
    """What TRL calls: keyword arguments, one reward per completion."""

    __name__: str

    def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        numbers: Sequence[Sequence[int]],
        target: Sequence[int],
        **kwargs: Any,
    ) -> list[float | None]: ...


def countdown_reward(mode: str = "tinyzero", *, format_score: float = 0.1) -> RewardFunc:
    """A TRL reward function for Countdown (``mode``: ``tinyzero`` or ``strict``)."""

    def countdown(
        prompts: Sequence[Any],
        completions: Sequence[Any],
        numbers: Sequence[Sequence[int]],
        target: Sequence[int],
        log_metric: Callable[[str, float], None] | None = None,
        log_extra: Callable[[str, list[Any]], None] | None = None,
        **_: Any,
    ) -> list[float | None]:
        texts = [completion_text(c) for c in completions]
        scores = cogstar.score_completions(
            texts, numbers, target, mode=mode, format_score=format_score
        )
        outcomes = [str(o) for o in scores.outcomes]
        if log_metric is not None and outcomes:
            log_metric("countdown/accuracy", scores.accuracy)
            counts = Counter(outcomes)
            for name in OUTCOMES:  # every outcome every time: TRL averages over calls
                log_metric(f"countdown/outcome/{name}", counts[name] / len(outcomes))
        if log_extra is not None:
            log_extra("countdown_outcome", outcomes)
        rewards: list[float | None] = [*scores.values]
        return rewards

    countdown.__name__ = f"countdown_{mode}"
    return countdown
