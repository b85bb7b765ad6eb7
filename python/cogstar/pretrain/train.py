"""Continued pretraining: a causal LM on one pool's records, before the same PPO.

    from cogstar.pretrain.train import ContinuedPretrainingSettings, run_continued_pretraining
    from cogstar.behaviors.priming import read_records

    records = list(read_records("pretrain/data/rich/train.jsonl"))
    final = run_continued_pretraining("meta-llama/Llama-3.2-3B", records, "runs/x/pretrain_rich",
                                      ContinuedPretrainingSettings())
    # then: cogstar.train.ppo.trainer.run_ppo(final, puzzles, "runs/x/pretrain_rich/ppo", ...)

Unlike SFT priming (:mod:`cogstar.train.sft`), the loss covers every token: the prompt (preamble and
question) as well as the completion, as pretraining would. The text is tokenized exactly as
priming tokenizes it (TRL's SFTTrainer on prompt/completion records, no BOS, EOS appended),
only with ``completion_only_loss=False``, so the model sees at RL time the same token
boundaries it was trained on.

From the command line (one process, or ``accelerate launch -m cogstar.pretrain.train``)::

    python -m cogstar.pretrain.train MODEL pretrain/data/rich/train.jsonl runs/x/pretrain_rich \
        --valid pretrain/data/rich/test.jsonl --lr 1e-5 --global-batch 64

The result (``OUT/final``: model + tokenizer, written atomically) is an ordinary policy folder
for :func:`cogstar.train.ppo.trainer.run_ppo`. Interrupted runs resume from the newest
``OUT/trainer/checkpoint-*``; a finished ``OUT/final`` is not redone. Launch multi-GPU runs with
``accelerate launch`` (see ``configs/accelerate/``); the global batch is kept by gradient
accumulation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cogstar.behaviors.priming import PrimingRecord
from cogstar.train.sft import (
    SFTSettings,
    settings_cli,
    train_on_records,
    trainer_config,
)

__all__ = ["ContinuedPretrainingSettings", "main", "run_continued_pretraining"]


@dataclass(frozen=True)
class ContinuedPretrainingSettings(SFTSettings):
    """Continued-pretraining hyper-parameters: SFT's fields, with defaults for one pass, a short
    warm-up, then cosine decay."""

    epochs: float = 1.0
    warmup_ratio: float = 0.03
    save_steps: int = 100

    def check(self, world_size: int = 1) -> None:
        """Raise ``ValueError`` when the batch sizes do not divide or a value is out of range."""
        per_step = self.micro_batch * world_size
        if self.micro_batch < 1 or self.global_batch % per_step:
            raise ValueError(
                f"pretrain.global_batch ({self.global_batch}) must be a positive multiple of "
                f"pretrain.micro_batch ({self.micro_batch}) x processes ({world_size}) = "
                f"{per_step}; change one of them"
            )
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(
                f"pretrain.warmup_ratio must be in [0, 1), got {self.warmup_ratio}; it is a "
                "fraction of the total steps"
            )
        if self.max_length < 2:
            raise ValueError(f"pretrain.max_length must be at least 2, got {self.max_length}")


def _config(settings: ContinuedPretrainingSettings, out: Path, **overrides: Any) -> Any:
    """The SFTConfig of a continued-pretraining run: the loss covers every token."""
    return trainer_config(settings, out, completion_only=False, **overrides)


def run_continued_pretraining(
    model: str | Path,
    records: Sequence[PrimingRecord],
    out: str | Path,
    settings: ContinuedPretrainingSettings | None = None,
    *,
    eval_records: Sequence[PrimingRecord] | None = None,
    quiet: bool = False,
    on_log: Callable[[dict[str, float]], None] | None = None,
) -> Path:
    """Continue pretraining ``model`` (hub id or folder) on ``records``; returns ``out/final``.

    ``eval_records`` (e.g. the pool's test split) adds an evaluation loss at each epoch's end.
    ``on_log`` is called with each trainer log entry (loss, learning rate, …, and ``step``);
    ``quiet`` turns off the trainer's own progress output.
    """
    return train_on_records(
        model,
        records,
        out,
        settings or ContinuedPretrainingSettings(),
        completion_only=False,
        eval_records=eval_records,
        on_log=on_log,
        quiet=quiet,
        empty="no records to pretrain on; build the pool's dataset first "
        "(cogstar.pretrain.budget.build_pool_dataset)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cogstar.pretrain.train MODEL RECORDS OUT [--valid FILE] [--epochs 1 ...]``:
    continue pretraining from the command line, in one process or under ``accelerate launch``
    (``accelerate launch -m cogstar.pretrain.train ...``)."""
    return settings_cli(
        argv,
        "python -m cogstar.pretrain.train",
        main.__doc__,
        ContinuedPretrainingSettings,
        run_continued_pretraining,
        "continued-pretraining checkpoint",
    )


if __name__ == "__main__":
    raise SystemExit(main())
