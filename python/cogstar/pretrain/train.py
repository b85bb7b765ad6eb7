"""Continued pretraining: a causal LM on one pool's records, before the same PPO.

    from cogstar.pretrain.train import ContinuedPretrainingSettings, run_continued_pretraining
    from cogstar.priming import read_records

    records = list(read_records("pretrain/data/rich/train.jsonl"))
    final = run_continued_pretraining("meta-llama/Llama-3.2-3B", records, "runs/x/pretrain_rich",
                                      ContinuedPretrainingSettings())
    # then: cogstar.ppo.trainer.run_ppo(final, puzzles, "runs/x/pretrain_rich/ppo", ...)

Unlike SFT priming (:mod:`cogstar.sft`), the loss covers every token: the prompt (preamble and
question) as well as the completion, as pretraining would. The text is tokenized exactly as
priming tokenizes it (TRL's SFTTrainer on prompt/completion records, no BOS, EOS appended),
only with ``completion_only_loss=False``, so the model sees at RL time the same token
boundaries it was trained on.

From the command line (one process, or ``accelerate launch -m cogstar.pretrain.train``)::

    python -m cogstar.pretrain.train MODEL pretrain/data/rich/train.jsonl runs/x/pretrain_rich \
        --valid pretrain/data/rich/test.jsonl --lr 1e-5 --global-batch 64

The result (``OUT/final``: model + tokenizer, written atomically) is an ordinary policy folder
for :func:`cogstar.ppo.trainer.run_ppo`. Interrupted runs resume from the newest
``OUT/trainer/checkpoint-*``; a finished ``OUT/final`` is not redone. Launch multi-GPU runs with
``accelerate launch`` (see ``configs/accelerate/``); the global batch is kept by gradient
accumulation.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cogstar.priming import PrimingRecord
from cogstar.sft import SFTSettings

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


def _dataset(records: Sequence[PrimingRecord]) -> Any:
    from datasets import Dataset  # type: ignore[import-untyped]

    return Dataset.from_dict(
        {"prompt": [r.prompt for r in records], "completion": [r.completion for r in records]}
    )


def _config(settings: ContinuedPretrainingSettings, out: Path, **overrides: Any) -> Any:
    """The SFTConfig of a continued-pretraining run (loss on every token)."""
    import torch
    from trl.trainer.sft_config import SFTConfig

    on_gpu = torch.cuda.is_available()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    options: dict[str, Any] = {
        "output_dir": str(out / "trainer"),
        "num_train_epochs": settings.epochs,
        "max_steps": settings.max_steps,
        "learning_rate": settings.lr,
        "lr_scheduler_type": "cosine",
        "warmup_steps": settings.warmup_ratio,  # a float below 1 is a ratio of the total steps
        "weight_decay": settings.weight_decay,
        "adam_beta1": 0.9,
        "adam_beta2": settings.adam_beta2,
        "per_device_train_batch_size": settings.micro_batch,
        "gradient_accumulation_steps": settings.global_batch // (settings.micro_batch * world),
        "max_length": settings.max_length,
        "completion_only_loss": False,  # the whole text is pretraining text
        "packing": False,  # one record per sequence, as priming and RL see it
        "save_strategy": "steps",
        "save_steps": settings.save_steps,
        "save_total_limit": 2,
        "logging_steps": 1,
        "report_to": [],
        "seed": settings.seed,
        "bf16": on_gpu and settings.dtype == "bfloat16",
        "use_cpu": not on_gpu,
        "dataloader_num_workers": 0,
    }
    options.update(overrides)
    return SFTConfig(**options)


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
    import torch
    from transformers import TrainerCallback
    from trl.trainer.sft_trainer import SFTTrainer

    from cogstar.models import load_policy
    from cogstar.sft import train_to_final

    settings = settings or ContinuedPretrainingSettings()
    out = Path(out)
    final = out / "final"
    if final.exists():
        return final
    if not records:
        raise ValueError(
            "no records to pretrain on; build the pool's dataset first "
            "(cogstar.pretrain.budget.build_pool_dataset)"
        )
    settings.check(int(os.environ.get("WORLD_SIZE", "1")))
    dtype = settings.dtype if torch.cuda.is_available() else "float32"
    policy, tok = load_policy(model, dtype=dtype)
    tok.padding_side = "right"  # training pads on the right
    config = _config(
        settings,
        out,
        eval_strategy="epoch" if eval_records else "no",
        disable_tqdm=quiet,
    )

    class _Log(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs and on_log is not None:
                entry = {k: float(v) for k, v in logs.items() if isinstance(v, int | float)}
                entry["step"] = float(state.global_step)
                on_log(entry)

    trainer = SFTTrainer(
        model=policy,
        args=config,
        train_dataset=_dataset(records),
        eval_dataset=_dataset(eval_records) if eval_records else None,
        processing_class=tok,
        callbacks=[_Log()],
    )
    if quiet:  # without tqdm the trainer prints every log entry instead
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    return train_to_final(trainer, tok, out)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cogstar.pretrain.train MODEL RECORDS OUT [--valid FILE] [--epochs 1 ...]``:
    continue pretraining from the command line, in one process or under ``accelerate launch``
    (``accelerate launch -m cogstar.pretrain.train ...``)."""
    import argparse
    import dataclasses

    from cogstar.priming import read_records

    ap = argparse.ArgumentParser(prog="python -m cogstar.pretrain.train", description=main.__doc__)
    ap.add_argument("model", help="hub id or folder of the model to train")
    ap.add_argument(
        "records", type=Path, help="training records (JSONL or Parquet), e.g. train.jsonl"
    )
    ap.add_argument("out", type=Path, help="output folder (the model goes to OUT/final)")
    ap.add_argument("--valid", type=Path, default=None, help="evaluation records, e.g. test.jsonl")
    ap.add_argument("--quiet", action="store_true", help="no trainer progress output")
    names = [f.name for f in dataclasses.fields(ContinuedPretrainingSettings)]
    defaults = ContinuedPretrainingSettings()
    for name in names:
        value = getattr(defaults, name)
        ap.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    args = ap.parse_args(argv)
    settings = ContinuedPretrainingSettings(**{n: getattr(args, n) for n in names})
    valid = list(read_records(args.valid)) if args.valid else None
    final = run_continued_pretraining(
        args.model,
        list(read_records(args.records)),
        args.out,
        settings,
        eval_records=valid,
        quiet=args.quiet,
    )
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"continued-pretraining checkpoint: {final}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
