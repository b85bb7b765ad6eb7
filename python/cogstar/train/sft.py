"""SFT priming: TRL's SFTTrainer on prompt/completion records, the paper's defaults.

    from cogstar.train.sft import SFTConfig, run_sft
    final = run_sft("Qwen/Qwen2.5-3B", records, "runs/x/all_strategies/sft", SFTConfig())

Loss on the completion tokens only, EOS appended to every completion, no BOS whatever the
tokenizer adds by default (records are tokenized here, see :func:`records_dataset`). Defaults follow the paper: 5 epochs, lr 1e-5, cosine with
10% warm-up, AdamW (0.9, 0.95), weight decay 0.01, global batch 64, max length 2,048.

The result is one folder (``OUT/final``: model + tokenizer, written atomically) that the PPO
stage loads twice: as the actor, and as the critic's backbone with a fresh value head.
Interrupted runs resume from the last ``OUT/trainer/checkpoint-*``. From the command line, in
one process or under ``accelerate launch`` (see ``configs/accelerate/``)::

    python -m cogstar.train.sft MODEL train.jsonl OUT --config sft.toml --set epochs=3
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from cogstar.config import (
    Found,
    Problem,
    StageConfig,
    add_config_arguments,
    config_from_args,
    round_up,
)
from cogstar.errors import ArgumentError, CogstarError, ConfigError
from cogstar.io import Record, publish_dir, read_records
from cogstar.layout import TrainLayout
from cogstar.train.ppo.distributed import fsdp_checkpointing
from cogstar.train.tracking import Tracking, add_tracking_arguments, hf_environment

__all__ = [
    "LengthGroupedBatches",
    "SFTConfig",
    "completion_loss",
    "main",
    "records_dataset",
    "run_sft",
    "stage_cli",
    "train_on_records",
    "train_to_final",
    "trainer_class",
    "trainer_config",
]

Dtype = Literal["float32", "bfloat16", "float16"]


class SFTConfig(StageConfig):
    """SFT hyper-parameters; the defaults are the paper's. ``max_steps > 0`` overrides
    ``epochs``; ``dtype`` is the model's dtype on a GPU (a CPU trains in float32); ``seed``
    (data order, dropout) is derived from ``[experiment].seed`` in a study. ``batching``:
    ``by_length`` draws each batch from records of about the same length
    (:class:`LengthGroupedBatches`), so a batch's padding, and its cost, follow its real
    tokens; ``random`` draws them at random, as TRL does by default.
    ``activation_checkpointing`` recomputes each layer's activations in the backward pass
    (memory for time; see ``cogstar run SPEC --dry-run`` for the plan)."""

    SECTION = "sft"

    epochs: float = Field(default=5.0, gt=0)
    lr: float = Field(default=1e-5, gt=0)
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1)
    weight_decay: float = Field(default=0.01, ge=0)
    adam_beta2: float = Field(default=0.95, gt=0, lt=1)
    global_batch: int = Field(default=64, ge=1)
    micro_batch: int = Field(default=8, ge=1)
    max_length: int = Field(default=2048, ge=2)
    max_steps: int = Field(default=-1, ge=-1)
    save_steps: int = Field(default=50, ge=1)
    seed: int = Field(default=0, ge=0)
    dtype: Dtype = "bfloat16"
    batching: Literal["by_length", "random"] = "by_length"
    activation_checkpointing: bool = True  # TRL's default

    def problems(self) -> list[Problem]:
        found = Found()
        if self.global_batch % self.micro_batch:
            found.add(
                ("global_batch",),
                f"{self.global_batch} is not a multiple of {self.key('micro_batch')} "
                f"({self.micro_batch})",
                f"use a multiple of {self.micro_batch} (e.g. "
                f"{round_up(self.global_batch, self.micro_batch)}) or a micro_batch that "
                "divides it",
            )
        return found

    def check_processes(self, processes: int) -> None:
        """Raise :class:`~cogstar.errors.ConfigError` when the global batch does not split
        into ``processes`` x ``micro_batch`` (only known at launch)."""
        per_step = self.micro_batch * processes
        if self.global_batch % per_step:
            raise ConfigError(
                [
                    f"{self.SECTION}.global_batch: {self.global_batch} is not a multiple of "
                    f"micro_batch ({self.micro_batch}) x processes ({processes}) = {per_step}; "
                    f"fix: use a multiple of {per_step}, or another micro_batch or process count"
                ]
            )

    def steps(self, records: int) -> int:
        """Optimizer steps of a run on ``records`` records."""
        if self.max_steps > 0:
            return self.max_steps
        return max(1, math.ceil(self.epochs * math.ceil(records / self.global_batch)))


class LengthGroupedBatches:
    """A sampler of record indices, ``batch`` at a time, each batch of records of about one
    length: the records are shuffled (seeded by ``seed`` and the epoch), cut into groups of
    ``group`` batches, sorted by length within each group, cut into batches, and the batches
    are shuffled. Deterministic per epoch, so a resumed run skips exactly the batches it saw."""

    def __init__(self, lengths: Sequence[int], batch: int, *, seed: int, group: int = 50) -> None:
        self.lengths, self.batch, self.seed, self.group = list(lengths), batch, seed, group
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        import torch

        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        size = self.batch * self.group
        batches = []
        for start in range(0, len(order), size):
            part = sorted(order[start : start + size], key=lambda i: -self.lengths[i])
            batches += [part[i : i + self.batch] for i in range(0, len(part), self.batch)]
        for b in torch.randperm(len(batches), generator=generator).tolist():
            yield from batches[b]


# The largest fp32 logits [micro_batch, max_length, vocab] SFT builds in full (see trainer_class)
_FULL_LOGITS_BYTES = 256 * 2**20


def completion_loss(logits: Any, labels: Any, items: Any = None) -> tuple[Any, Any]:
    """The summed next-token NLL of ``labels`` (-100 where no loss) under ``logits`` ``[B, L,
    V]``, divided by ``items`` (the labelled tokens of the whole optimizer step; this batch's if
    None); returns ``(loss, log_probs [B, L-1, V])`` for metrics."""
    import torch

    target = labels[:, 1:]
    keep = target != -100
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    picked = logp.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    items = keep.sum() if items is None else items
    return -(picked * keep).sum() / torch.as_tensor(items).clamp(min=1), logp


def _common_prefix(ids: Any, mask: Any) -> int:
    """How many leading columns hold, in every row, row 0's (real) token."""
    same = ((ids == ids[:1]) & (mask > 0)).all(dim=0)
    return int(same.long().cumprod(dim=0).sum())


def prefix_shared_logits(model: Any, forward: dict[str, Any], keep: int) -> Any:
    """``model(**forward).logits`` of the last ``keep`` positions, with the leading tokens
    that every row shares (the prompt's preamble, a sixth of a priming sequence on the tiny
    model) run once and their key/value cache copied to every row; autograd flows back
    through the copy. Equal to one pass over the batch up to float rounding. Right-padded
    rows only (TRL's collator); anything but ids, mask and positions runs the plain pass."""
    import torch

    from cogstar.train.models import cached_prefix

    ids = forward["input_ids"]
    mask = forward.get("attention_mask")
    if mask is None:
        mask = torch.ones_like(ids)
    shared = min(_common_prefix(ids, mask), ids.shape[1] - keep)
    plain = set(forward) - {"input_ids", "attention_mask", "position_ids"}
    if shared < 2 or ids.shape[0] == 1 or plain:
        return model(**forward, use_cache=False, logits_to_keep=keep).logits
    head = {k: v[:1, :shared] for k, v in forward.items()} | {"logits_to_keep": 1}
    tail = {k: v[:, shared:] for k, v in forward.items()} | {"attention_mask": mask}
    rows = torch.zeros(ids.shape[0], dtype=torch.long, device=ids.device)
    return cached_prefix(model, head, rows, tail | {"logits_to_keep": keep})[1].logits


def trainer_class(config: SFTConfig) -> type:
    """TRL's ``SFTTrainer`` with two changes.

    - ``batching = "by_length"`` draws its batches with :class:`LengthGroupedBatches`.
    - When a micro-batch's fp32 logits fit in 256 MiB (a small vocabulary such as the tiny
      model's), the loss is the plain log-softmax over the model's logits, computed only
      from the first position that predicts a completion token on. TRL's default
      recomputes the LM head in tiles to spare memory on large vocabularies, which on the
      tiny model costs about a quarter of each SFT step on a CPU for nothing (the same loss
      and gradients to float rounding; ``benches/bench_rl.py``). Anything else TRL's loss
      handles (MoE auxiliary loss, label smoothing, DFT, sequence parallelism, a custom
      loss) keeps TRL's path.
    """
    from trl.trainer.sft_trainer import SFTTrainer

    class Trainer(SFTTrainer):
        def _get_train_sampler(self, train_dataset: Any = None) -> Any:
            if config.batching != "by_length":
                return super()._get_train_sampler(train_dataset)
            data: Any = train_dataset if train_dataset is not None else self.train_dataset
            lengths = [len(ids) for ids in data["input_ids"]]
            per_step = self.args.per_device_train_batch_size * self.args.gradient_accumulation_steps
            return LengthGroupedBatches(lengths, per_step, seed=self.args.seed)

        def _plain_loss(self) -> bool:
            args: Any = self.args
            model: Any = self.model
            head = model.get_output_embeddings()
            vocab = head.weight.shape[0] if head is not None else 0
            logits_bytes = args.per_device_train_batch_size * (args.max_length or 0) * vocab * 4
            return (
                0 < logits_bytes <= _FULL_LOGITS_BYTES
                and getattr(args, "loss_type", "nll") in ("nll", "chunked_nll")
                and not getattr(self, "aux_loss_enabled", False)
                and getattr(self, "compute_loss_func", None) is None
                and getattr(self, "label_smoother", None) is None
                and not getattr(
                    getattr(self.accelerator, "parallelism_config", None), "sp_enabled", False
                )
            )

        def compute_loss(
            self,
            model: Any,
            inputs: Any,
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            if return_outputs or "labels" not in inputs or not self._plain_loss():
                trl: Any = super()
                return trl.compute_loss(model, inputs, return_outputs, num_items_in_batch)
            import torch

            labels = inputs["labels"]
            forward = {k: v for k, v in inputs.items() if k != "labels"}
            # logits only from the first position that predicts a labelled token (prompts
            # are a third or more of a priming sequence)
            labelled = (labels != -100).any(dim=0).nonzero()
            first = int(labelled[0]) if len(labelled) else labels.shape[1] - 1
            labels = labels[:, max(first - 1, 0) :]
            if self.accelerator.num_processes == 1 and not self.args.gradient_checkpointing:
                logits = prefix_shared_logits(model, forward, labels.shape[1])
            else:
                logits = model(**forward, use_cache=False, logits_to_keep=labels.shape[1]).logits
            loss, logp = completion_loss(logits, labels, num_items_in_batch)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * self.accelerator.num_processes  # DDP averages the gradients
            metrics = getattr(self, "_metrics", None)
            if metrics is not None:  # TRL's token accuracy (not its entropy: a tenth of a step)
                with torch.no_grad():
                    keep = labels[:, 1:] != -100
                    right = (logp.argmax(-1) == labels[:, 1:]) & keep
                    n = self.accelerator.gather_for_metrics(keep.sum()).sum()
                    hits = self.accelerator.gather_for_metrics(right.sum()).sum()
                    mode = metrics["train" if model.training else "eval"]
                    mode["mean_token_accuracy"].append((hits / n).item() if n > 0 else 0.0)
            return loss

    return Trainer


def records_dataset(records: Sequence[Record], tokenizer: Any) -> Any:
    """A ``datasets.Dataset`` of pre-tokenized prompt/completion records for TRL's SFTTrainer.

    One rule for every tokenizer: no special tokens added (a Llama-3 tokenizer would otherwise
    put ``<|begin_of_text|>`` in front, which PPO and evaluation prompts never have), EOS
    appended, and ``completion_mask`` 1 from where ``prompt + completion`` leaves the prompt's
    own tokens. Given ``input_ids``, TRL tokenizes nothing itself and builds the labels from
    the mask (under ``completion_only_loss``).
    """
    from datasets import Dataset  # type: ignore[import-untyped]

    eos = tokenizer.eos_token_id
    if eos is None:
        raise ArgumentError("the tokenizer has no EOS token; SFT appends one to every completion")
    ids: list[list[int]] = []
    masks: list[list[int]] = []
    for r in records:
        prompt = tokenizer(r.prompt, add_special_tokens=False)["input_ids"]
        full = tokenizer(r.prompt + r.completion, add_special_tokens=False)["input_ids"] + [eos]
        shared = next(
            (i for i, (a, b) in enumerate(zip(prompt, full, strict=False)) if a != b),
            min(len(prompt), len(full)),
        )
        ids.append(full)
        masks.append([0] * shared + [1] * (len(full) - shared))
    return Dataset.from_dict({"input_ids": ids, "completion_mask": masks})


def trainer_config(
    config: SFTConfig,
    out: Path,
    *,
    completion_only: bool,
    tracking: Tracking | None = None,
    **overrides: Any,
) -> Any:
    """The SFTConfig of a run on prompt/completion records: loss on the completion only
    (priming) or on every token (continued pretraining); one record per sequence."""
    import torch
    from trl.trainer.sft_config import SFTConfig as TRLSFTConfig

    on_gpu = torch.cuda.is_available()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    options: dict[str, Any] = {
        "output_dir": str(TrainLayout(out).trainer),
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps,
        "learning_rate": config.lr,
        "lr_scheduler_type": "cosine",
        "warmup_steps": config.warmup_ratio,  # a float below 1 is a ratio of the total steps
        "weight_decay": config.weight_decay,
        "adam_beta1": 0.9,
        "adam_beta2": config.adam_beta2,
        "per_device_train_batch_size": config.micro_batch,
        "gradient_accumulation_steps": config.global_batch // (config.micro_batch * world),
        "max_length": config.max_length,
        "completion_only_loss": completion_only,
        # recompute each layer in the backward pass; an FSDP launch that checkpoints
        # activations itself must not be asked twice (transformers refuses both). The old
        # name: transformers 5 reads it as activation_checkpointing, 4.x knows only it.
        "gradient_checkpointing": config.activation_checkpointing and not fsdp_checkpointing(),
        "packing": False,  # one record per sequence, as priming and RL see it
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": 2,
        "logging_steps": 1,
        "report_to": list(tracking.trackers) if tracking else [],
        "run_name": tracking.run_name if tracking else None,
        "seed": config.seed,
        "bf16": on_gpu and config.dtype == "bfloat16",
        "use_cpu": not on_gpu,
        "dataloader_num_workers": 0,
    }
    options.update(overrides)
    return TRLSFTConfig(**options)


def train_on_records(
    model: str | Path,
    records: Sequence[Record],
    out: str | Path,
    config: SFTConfig,
    *,
    completion_only: bool,
    eval_records: Sequence[Record] | None = None,
    log: list[dict[str, float]] | None = None,
    on_log: Callable[[dict[str, float]], None] | None = None,
    quiet: bool = False,
    empty: str = "no records to train on",
    tracking: Tracking | None = None,
) -> Path:
    """Train ``model`` on prompt/completion ``records`` with TRL's SFTTrainer; returns
    ``out/final`` (the stage behind :func:`run_sft` and continued pretraining).

    A finished run (``out/final`` exists) is not redone; ``empty`` is the error for no records.
    ``log`` collects the trainer's log entries and ``on_log`` gets each (with its ``step``);
    ``quiet`` turns off the trainer's own progress output; ``tracking`` names experiment
    trackers for the trainer's logs (:mod:`cogstar.train.tracking`).
    """
    import torch
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback

    from cogstar.train.models import load_policy

    out = Path(out)
    final = TrainLayout(out).final
    if final.exists():
        return final
    if not records:
        raise ArgumentError(empty)
    config.check_processes(int(os.environ.get("WORLD_SIZE", "1")))
    dtype = config.dtype if torch.cuda.is_available() else "float32"
    policy, tok = load_policy(model, dtype=dtype)
    tok.padding_side = "right"  # training pads on the right
    args = trainer_config(
        config,
        out,
        completion_only=completion_only,
        tracking=tracking,
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

    with hf_environment(tracking or Tracking()):
        trainer = trainer_class(config)(
            model=policy,
            args=args,
            train_dataset=records_dataset(records, tok),
            eval_dataset=records_dataset(eval_records, tok) if eval_records else None,
            processing_class=tok,
            callbacks=[_Log()],
        )
        if quiet:  # without tqdm the trainer prints every log entry instead
            trainer.remove_callback(PrinterCallback)
        return train_to_final(trainer, tok, out)


def run_sft(
    model: str | Path,
    records: Sequence[Record],
    out: str | Path,
    config: SFTConfig | None = None,
    *,
    eval_records: Sequence[Record] | None = None,
    log: list[dict[str, float]] | None = None,
    on_log: Callable[[dict[str, float]], None] | None = None,
    quiet: bool = False,
    tracking: Tracking | None = None,
) -> Path:
    """Prime ``model`` (hub id or folder) on ``records``, loss on the completions only;
    returns ``out/final`` (see :func:`train_on_records` for the options)."""
    return train_on_records(
        model,
        records,
        out,
        config if config is not None else SFTConfig(),
        completion_only=True,
        eval_records=eval_records,
        log=log,
        on_log=on_log,
        quiet=quiet,
        empty="no priming records to train on; build the priming set first",
        tracking=tracking,
    )


def train_to_final(trainer: Any, tokenizer: Any, out: Path) -> Path:
    """Train a transformers/TRL ``trainer`` (resuming from the newest ``out/trainer/checkpoint-*``)
    and write model + tokenizer to ``out/final`` atomically (a temp folder renamed into place)."""
    layout = TrainLayout(out)
    checkpoints = layout.checkpoints()
    trainer.train(resume_from_checkpoint=str(checkpoints[-1]) if checkpoints else None)
    if trainer.accelerator.is_main_process:
        tmp = out / f".final.tmp{os.getpid()}"
        trainer.save_model(str(tmp))
        tokenizer.padding_side = "left"  # generation pads on the left
        tokenizer.save_pretrained(str(tmp))
        publish_dir(tmp, layout.final)
    trainer.accelerator.wait_for_everyone()
    return layout.final


def stage_cli(
    argv: Sequence[str] | None,
    prog: str,
    description: str | None,
    config_type: type[SFTConfig],
    train: Callable[..., Path],
    done: str,
) -> int:
    """``prog MODEL RECORDS OUT [--valid FILE] [--quiet] [--config FILE] [--set KEY=VALUE]``:
    run ``train`` from the command line with the config that ``--config`` and ``--set``
    describe, in one process or under ``accelerate launch``; only the first process prints
    ``done`` and the result."""
    import argparse

    ap = argparse.ArgumentParser(prog=prog, description=description)
    ap.add_argument("model", help="hub id or folder of the model to train")
    ap.add_argument("records", type=Path, help="training records (JSONL or Parquet)")
    ap.add_argument("out", type=Path, help="output folder (the model goes to OUT/final)")
    ap.add_argument("--valid", type=Path, default=None, help="evaluation records")
    ap.add_argument("--quiet", action="store_true", help="no trainer progress output")
    add_config_arguments(ap, config_type)
    add_tracking_arguments(ap)
    args = ap.parse_args(argv)
    try:
        config = config_from_args(config_type, args)
        records = read_records(args.records)
        valid = read_records(args.valid) if args.valid else None
    except CogstarError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    final = train(
        args.model,
        records,
        args.out,
        config,
        eval_records=valid,
        quiet=args.quiet,
        tracking=Tracking.from_args(args),
    )
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"{done}: {final}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cogstar.train.sft MODEL RECORDS OUT [--valid FILE] [--config FILE]
    [--set KEY=VALUE]``: prime a model from the command line, in one process or under
    ``accelerate launch``."""
    return stage_cli(
        argv, "python -m cogstar.train.sft", main.__doc__, SFTConfig, run_sft, "primed model"
    )


if __name__ == "__main__":
    raise SystemExit(main())
