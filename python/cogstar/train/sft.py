"""SFT priming: TRL's SFTTrainer on prompt/completion records, the paper's defaults.

    from cogstar.train.sft import SFTSettings, run_sft
    final = run_sft("Qwen/Qwen2.5-3B", records, "runs/x/all_strategies/sft", SFTSettings())

Loss on the completion tokens only, EOS appended to every completion, no BOS (TRL tokenizes
with ``add_special_tokens=False``). Defaults follow the paper: 5 epochs, lr 1e-5, cosine with
10% warm-up, AdamW (0.9, 0.95), weight decay 0.01, global batch 64, max length 2,048.

The result is one folder (``OUT/final``: model + tokenizer, written atomically) that the PPO
stage loads twice: as the actor, and as the critic's backbone with a fresh value head.
Interrupted runs resume from the last ``OUT/trainer/checkpoint-*``. Launch multi-GPU runs
with ``accelerate launch`` (see ``configs/accelerate/``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cogstar.behaviors.priming import PrimingRecord

__all__ = [
    "SFTSettings",
    "records_dataset",
    "run_sft",
    "settings_cli",
    "train_on_records",
    "train_to_final",
    "trainer_config",
]


@dataclass(frozen=True)
class SFTSettings:
    """SFT hyper-parameters; the defaults are the paper's."""

    epochs: float = 5.0
    lr: float = 1e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    adam_beta2: float = 0.95
    global_batch: int = 64
    micro_batch: int = 8
    max_length: int = 2048
    max_steps: int = -1  # > 0 overrides epochs (smoke tests)
    save_steps: int = 50
    seed: int = 0
    dtype: str = "bfloat16"  # the model's dtype on GPU; CPU runs use float32

    def check(self, world_size: int = 1) -> None:
        per_step = self.micro_batch * world_size
        if self.global_batch % per_step:
            raise ValueError(
                f"sft.global_batch ({self.global_batch}) must be a multiple of sft.micro_batch "
                f"({self.micro_batch}) x processes ({world_size}) = {per_step}; change one of them"
            )


def records_dataset(records: Sequence[PrimingRecord]) -> Any:
    """A ``datasets.Dataset`` of prompt/completion pairs, as TRL's SFTTrainer takes them."""
    from datasets import Dataset  # type: ignore[import-untyped]

    return Dataset.from_dict(
        {"prompt": [r.prompt for r in records], "completion": [r.completion for r in records]}
    )


def trainer_config(
    settings: SFTSettings, out: Path, *, completion_only: bool, **overrides: Any
) -> Any:
    """The SFTConfig of a run on prompt/completion records: loss on the completion only
    (priming) or on every token (continued pretraining); one record per sequence."""
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
        "completion_only_loss": completion_only,
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


def train_on_records(
    model: str | Path,
    records: Sequence[PrimingRecord],
    out: str | Path,
    settings: SFTSettings,
    *,
    completion_only: bool,
    eval_records: Sequence[PrimingRecord] | None = None,
    log: list[dict[str, float]] | None = None,
    on_log: Callable[[dict[str, float]], None] | None = None,
    quiet: bool = False,
    empty: str = "no records to train on",
) -> Path:
    """Train ``model`` on prompt/completion ``records`` with TRL's SFTTrainer; returns
    ``out/final`` (the stage behind :func:`run_sft` and continued pretraining).

    A finished run (``out/final`` exists) is not redone; ``empty`` is the error for no records.
    ``log`` collects the trainer's log entries and ``on_log`` gets each (with its ``step``);
    ``quiet`` turns off the trainer's own progress output.
    """
    import torch
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback
    from trl.trainer.sft_trainer import SFTTrainer

    from cogstar.train.models import load_policy

    out = Path(out)
    final = out / "final"
    if final.exists():
        return final
    if not records:
        raise ValueError(empty)
    settings.check(int(os.environ.get("WORLD_SIZE", "1")))
    dtype = settings.dtype if torch.cuda.is_available() else "float32"
    policy, tok = load_policy(model, dtype=dtype)
    tok.padding_side = "right"  # training pads on the right
    config = trainer_config(
        settings,
        out,
        completion_only=completion_only,
        eval_strategy="epoch" if eval_records else "no",
        disable_tqdm=quiet,
    )

    class _Log(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if not logs:
                return
            entry = {k: float(v) for k, v in logs.items() if isinstance(v, int | float)}
            entry["step"] = float(state.global_step)
            if log is not None:
                log.append(entry)
            if on_log is not None:
                on_log(entry)

    trainer = SFTTrainer(
        model=policy,
        args=config,
        train_dataset=records_dataset(records),
        eval_dataset=records_dataset(eval_records) if eval_records else None,
        processing_class=tok,
        callbacks=[_Log()],
    )
    if quiet:  # without tqdm the trainer prints every log entry instead
        trainer.remove_callback(PrinterCallback)
    return train_to_final(trainer, tok, out)


def run_sft(
    model: str | Path,
    records: Sequence[PrimingRecord],
    out: str | Path,
    settings: SFTSettings | None = None,
    *,
    eval_records: Sequence[PrimingRecord] | None = None,
    log: list[dict[str, float]] | None = None,
    on_log: Callable[[dict[str, float]], None] | None = None,
    quiet: bool = False,
) -> Path:
    """Prime ``model`` (hub id or folder) on ``records``, loss on the completions only;
    returns ``out/final`` (see :func:`train_on_records` for the options)."""
    return train_on_records(
        model,
        records,
        out,
        settings or SFTSettings(),
        completion_only=True,
        eval_records=eval_records,
        log=log,
        on_log=on_log,
        quiet=quiet,
        empty="no priming records to train on; build the priming set first",
    )


def train_to_final(trainer: Any, tokenizer: Any, out: Path) -> Path:
    """Train a transformers/TRL ``trainer`` (resuming from the newest ``out/trainer/checkpoint-*``)
    and write model + tokenizer to ``out/final`` atomically (a temp folder renamed into place)."""
    final = out / "final"
    checkpoints = sorted((out / "trainer").glob("checkpoint-*"), key=lambda p: int(p.name[11:]))
    trainer.train(resume_from_checkpoint=str(checkpoints[-1]) if checkpoints else None)
    if trainer.accelerator.is_main_process:
        tmp = out / f"final.tmp{os.getpid()}"
        trainer.save_model(str(tmp))
        tokenizer.padding_side = "left"  # generation pads on the left
        tokenizer.save_pretrained(str(tmp))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    trainer.accelerator.wait_for_everyone()
    return final


def settings_cli(
    argv: Sequence[str] | None,
    prog: str,
    description: str | None,
    settings_type: type[SFTSettings],
    train: Callable[..., Path],
    done: str,
) -> int:
    """``prog MODEL RECORDS OUT [--valid FILE] [--quiet] [--<field> value ...]``: run ``train``
    from the command line, one option per settings field, in one process or under
    ``accelerate launch``; only the first process prints ``done`` and the result."""
    import argparse
    import dataclasses

    from cogstar.behaviors.priming import read_records

    ap = argparse.ArgumentParser(prog=prog, description=description)
    ap.add_argument("model", help="hub id or folder of the model to train")
    ap.add_argument("records", type=Path, help="training records (JSONL or Parquet)")
    ap.add_argument("out", type=Path, help="output folder (the model goes to OUT/final)")
    ap.add_argument("--valid", type=Path, default=None, help="evaluation records")
    ap.add_argument("--quiet", action="store_true", help="no trainer progress output")
    names = [f.name for f in dataclasses.fields(settings_type)]
    defaults = settings_type()
    for name in names:
        value = getattr(defaults, name)
        ap.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    args = ap.parse_args(argv)
    settings = settings_type(**{n: getattr(args, n) for n in names})
    valid = list(read_records(args.valid)) if args.valid else None
    records = list(read_records(args.records))
    final = train(args.model, records, args.out, settings, eval_records=valid, quiet=args.quiet)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"{done}: {final}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cogstar.train.sft MODEL RECORDS OUT [--valid FILE] [--epochs 5 ...]``: prime a
    model from the command line, in one process or under ``accelerate launch``."""
    return settings_cli(
        argv, "python -m cogstar.train.sft", main.__doc__, SFTSettings, run_sft, "primed model"
    )


if __name__ == "__main__":
    raise SystemExit(main())
