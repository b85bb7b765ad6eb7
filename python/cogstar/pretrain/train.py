"""Continued pretraining: a causal LM on one pool's records, before the same PPO.

    from cogstar.io import read_records
    from cogstar.pretrain.train import PretrainConfig, run_continued_pretraining

    records = read_records("pretrain/data/rich/train.jsonl")
    final = run_continued_pretraining("meta-llama/Llama-3.2-3B", records, "runs/x/pretrain_rich",
                                      PretrainConfig())
    # then: cogstar.train.ppo.trainer.run_ppo(final, puzzles, "runs/x/pretrain_rich/ppo", ...)

Unlike SFT priming (:mod:`cogstar.train.sft`), the loss covers every token: the prompt (preamble and
question) as well as the completion, as pretraining would. The text is tokenized exactly as
priming tokenizes it (TRL's SFTTrainer on prompt/completion records, no BOS, EOS appended),
only with ``completion_only_loss=False``, so the model sees at RL time the same token
boundaries it was trained on.

From the command line (one process, or ``accelerate launch -m cogstar.pretrain.train``)::

    python -m cogstar.pretrain.train MODEL pretrain/data/rich/train.jsonl runs/x/pretrain_rich \
        --valid pretrain/data/rich/test.jsonl --set lr=1e-5 --set global_batch=64

The result (``OUT/final``: model + tokenizer, written atomically) is an ordinary policy folder
for :func:`cogstar.train.ppo.trainer.run_ppo`. Interrupted runs resume from the newest
``OUT/trainer/checkpoint-*``; a finished ``OUT/final`` is not redone. Launch multi-GPU runs with
``accelerate launch`` (see ``configs/accelerate/``); the global batch is kept by gradient
accumulation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import Field

from cogstar.io import Record
from cogstar.train.sft import SFTConfig, stage_cli, train_on_records
from cogstar.train.tracking import Tracking

__all__ = ["PretrainConfig", "main", "run_continued_pretraining"]


class PretrainConfig(SFTConfig):
    """Continued-pretraining hyper-parameters (``[curation.training]`` in a spec): SFT's
    fields, with defaults for one pass, a short warm-up, then cosine decay."""

    SECTION = "curation.training"

    epochs: float = Field(default=1.0, gt=0)
    warmup_ratio: float = Field(default=0.03, ge=0, lt=1)
    save_steps: int = Field(default=100, ge=1)


def run_continued_pretraining(
    model: str | Path,
    records: Sequence[Record],
    out: str | Path,
    config: PretrainConfig | None = None,
    *,
    eval_records: Sequence[Record] | None = None,
    quiet: bool = False,
    on_log: Callable[[dict[str, float]], None] | None = None,
    tracking: Tracking | None = None,
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
        config if config is not None else PretrainConfig(),
        completion_only=False,
        eval_records=eval_records,
        on_log=on_log,
        quiet=quiet,
        empty="no records to pretrain on; build the pool's dataset first "
        "(cogstar.pretrain.budget.build_pool_dataset)",
        tracking=tracking,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cogstar.pretrain.train MODEL RECORDS OUT [--valid FILE] [--config FILE]
    [--set KEY=VALUE]``: continue pretraining from the command line, in one process or under
    ``accelerate launch`` (``accelerate launch -m cogstar.pretrain.train ...``)."""
    return stage_cli(
        argv,
        "python -m cogstar.pretrain.train",
        main.__doc__,
        PretrainConfig,
        run_continued_pretraining,
        "continued-pretraining checkpoint",
    )


if __name__ == "__main__":
    raise SystemExit(main())
