"""Where the PPO trainer meets Accelerate: precision, engines, generation and checkpoints.

One training loop runs on a laptop CPU, one GPU, DDP, FSDP and DeepSpeed ZeRO-3. What
differs between them lives here:

* **Precision.** On a GPU, ``dtype = "bfloat16"`` means bf16 autocast over fp32 master
  weights: the actor and the critic are loaded in fp32, Accelerate runs their forward passes
  under ``torch.autocast`` and the optimizers step fp32 tensors. The frozen reference policy
  is kept in the compute dtype (it is never updated). On CPU the run is fp32 unless the
  launcher asks for bf16 (``ACCELERATE_MIXED_PRECISION=bf16``), which runs the same
  autocast path on CPU.
* **Engines.** DDP and FSDP prepare the actor and critic on one ``Accelerator``. DeepSpeed
  gives one engine per model and an ``Accelerator`` holds one engine for ``backward``, so
  under DeepSpeed the actor, the critic and the reference each get their own
  ``Accelerator`` and ``DeepSpeedPlugin`` (Accelerate's multi-model API), all three sharded
  by the same ZeRO config.
* **Generation.** Rollouts run on the unwrapped actor; under ZeRO-3 its parameters are
  gathered for the rollout (TRL's ``unwrap_model_for_generation``), and under FSDP every
  process runs the same number of decoding steps (``synced_gpus``), since each forward pass
  all-gathers shards.
* **Checkpoints.** The resumable state (weights, optimizers, RNG) is written by
  ``Accelerator.save_state``, which knows how to save FSDP shards and DeepSpeed engines; the
  exported ``actor/`` and ``critic/`` folders are gathered full state dicts.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cogstar.errors import ArgumentError

__all__ = [
    "DEFAULT_ZERO3",
    "Precision",
    "deepspeed_config",
    "deepspeed_launched",
    "fsdp_checkpointing",
    "fsdp_launched",
    "full_parameters",
    "precision",
]

#: ZeRO-3 settings used when the launch config names no DeepSpeed JSON file; the batch
#: sizes, clipping and precision are filled in by :func:`deepspeed_config`.
DEFAULT_ZERO3: dict[str, Any] = {
    "zero_optimization": {
        "stage": 3,
        "overlap_comm": True,
        "contiguous_gradients": True,
        "stage3_gather_16bit_weights_on_model_save": True,
        "offload_optimizer": {"device": "none"},
        "offload_param": {"device": "none"},
    },
}


@dataclass(frozen=True)
class Precision:
    """How a run computes and stores numbers."""

    mixed: str  # Accelerate's mixed_precision: "no", "bf16" or "fp16"
    trained: str  # dtype the actor and critic weights (and optimizer) are kept in
    frozen: str  # dtype of the reference policy

    def describe(self) -> str:
        if self.mixed == "no":
            return f"{self.trained} throughout"
        return f"{self.mixed} autocast, {self.trained} master weights, {self.frozen} reference"


def precision(dtype: str, on_gpu: bool, environ: dict[str, str] | None = None) -> Precision:
    """The precision of a PPO run whose settings name ``dtype``.

    On a GPU ``bfloat16``/``float16`` select autocast over fp32 master weights and
    ``float32`` selects plain fp32. On CPU the run is fp32 unless the launcher asked for
    mixed precision (``ACCELERATE_MIXED_PRECISION``), which then autocasts on CPU.
    """
    env = os.environ if environ is None else environ
    if dtype not in ("bfloat16", "float16", "float32", "auto"):
        raise ArgumentError(
            f"ppo.dtype must be bfloat16, float16, float32 or auto, got {dtype!r}; change it"
        )
    if on_gpu:
        compute = "bfloat16" if dtype == "auto" else dtype
        mixed = {"bfloat16": "bf16", "float16": "fp16", "float32": "no"}[compute]
        return Precision(mixed, "float32", compute)
    launched = env.get("ACCELERATE_MIXED_PRECISION", "no").lower()
    if launched == "bf16":
        return Precision("bf16", "float32", "float32")
    return Precision("no", "float32", "float32")


def deepspeed_launched(environ: dict[str, str] | None = None) -> bool:
    """Whether ``accelerate launch`` was given a DeepSpeed config."""
    env = os.environ if environ is None else environ
    return env.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"


def fsdp_launched(environ: dict[str, str] | None = None) -> bool:
    """Whether ``accelerate launch`` was given an FSDP config."""
    env = os.environ if environ is None else environ
    return env.get("ACCELERATE_USE_FSDP", "false").lower() == "true"


def fsdp_checkpointing(environ: dict[str, str] | None = None) -> bool:
    """Whether an FSDP launch checkpoints activations itself (``fsdp_activation_checkpointing:
    true`` in its config); the model must then not be asked to do it too."""
    env = os.environ if environ is None else environ
    flag = env.get("FSDP_ACTIVATION_CHECKPOINTING", "false").lower()
    return fsdp_launched(environ) and flag in ("true", "1", "yes")


def full_parameters(model: Any) -> Any:
    """``(name, tensor)`` for every parameter of ``model``, whole: a parameter that FSDP2
    shards (a ``DTensor``) is gathered one at a time, so at most one full parameter exists
    beyond the shards. A collective under FSDP: every process must iterate it to the end."""
    for name, param in model.named_parameters():
        full = getattr(param, "full_tensor", None)
        yield name, (full() if callable(full) else param).detach()


def deepspeed_config(
    base: dict[str, Any] | None,
    *,
    micro_batch: int,
    accumulation: int,
    processes: int,
    grad_clip: float | None,
    mixed: str,
    source: str = "the DeepSpeed config",
) -> dict[str, Any]:
    """A DeepSpeed config for one of the PPO models, from the user's (or :data:`DEFAULT_ZERO3`).

    The trainer sets what it owns: the micro-batch (``ppo.micro_batch``), how many
    micro-batches make one update (``accumulation``), the global batch, gradient clipping
    (``None`` for the frozen reference) and bf16/fp16. An ``optimizer`` or ``scheduler``
    section in the user's file is refused: the trainer brings its own AdamW per model, with
    the learning rates of ``[ppo]``.
    """
    config = copy.deepcopy(DEFAULT_ZERO3 if base is None else base)
    for section in ("optimizer", "scheduler"):
        if section in config:
            raise ArgumentError(
                f"{source}: remove the {section!r} section; cogstar's PPO makes its own AdamW "
                "per model (ppo.actor_lr, ppo.critic_lr)"
            )
    if micro_batch < 1 or accumulation < 1 or processes < 1:
        raise ArgumentError("micro_batch, accumulation and processes must be positive")
    config["train_micro_batch_size_per_gpu"] = micro_batch
    config["gradient_accumulation_steps"] = accumulation
    config["train_batch_size"] = micro_batch * accumulation * processes
    if grad_clip is not None:
        config["gradient_clipping"] = grad_clip
    else:
        config.pop("gradient_clipping", None)
    config["bf16"] = {"enabled": mixed == "bf16"}
    config["fp16"] = {"enabled": mixed == "fp16"}
    zero = config.setdefault("zero_optimization", {})
    if int(zero.get("stage", 0)) == 3:
        # the exported actor/ and critic/ folders need full weights gathered at save time
        zero["stage3_gather_16bit_weights_on_model_save"] = True
    return config


def user_deepspeed_config(
    environ: dict[str, str] | None = None,
) -> tuple[dict[str, Any] | None, str]:
    """The DeepSpeed JSON named by the launch config, or ``None`` for :data:`DEFAULT_ZERO3`."""
    env = os.environ if environ is None else environ
    path = env.get("ACCELERATE_DEEPSPEED_CONFIG_FILE", "")
    if not path or path == "none":
        return None, "the default ZeRO-3 config"
    file = Path(path)
    try:
        return json.loads(file.read_text(encoding="utf-8")), str(file)
    except FileNotFoundError:
        raise ArgumentError(
            f"{file}: DeepSpeed config file not found (named by the accelerate launch config's "
            "deepspeed_config_file); fix the path"
        ) from None
    except json.JSONDecodeError as err:
        raise ArgumentError(
            f"{file}:{err.lineno}: not valid JSON ({err.msg}); fix the file"
        ) from None


def deepspeed_plugins(
    *,
    micro_batch: int,
    actor_accumulation: int,
    critic_accumulation: int,
    processes: int,
    grad_clip: float,
    mixed: str,
) -> dict[str, Any]:
    """One ``DeepSpeedPlugin`` per model: ``actor``, ``critic`` and ``reference``."""
    from accelerate.utils import DeepSpeedPlugin  # type: ignore[import-untyped]

    base, source = user_deepspeed_config()

    def plugin(accumulation: int, clip: float | None) -> Any:
        config = deepspeed_config(
            base,
            micro_batch=micro_batch,
            accumulation=accumulation,
            processes=processes,
            grad_clip=clip,
            mixed=mixed,
            source=source,
        )
        return DeepSpeedPlugin(hf_ds_config=config)

    return {
        "actor": plugin(actor_accumulation, grad_clip),
        "critic": plugin(critic_accumulation, grad_clip),
        "reference": plugin(1, None),
    }


def generation_model(model: Any, accelerator: Any) -> Any:
    """A context manager yielding the actor ready for ``generate`` (ZeRO-3: gathered)."""
    if deepspeed_launched():
        from trl.models.utils import unwrap_model_for_generation

        return unwrap_model_for_generation(model, accelerator)
    return contextlib.nullcontext(accelerator.unwrap_model(model))


def full_state_dict(model: Any, accelerator: Any) -> dict[str, Any]:
    """The model's full state dict (gathered from FSDP shards or ZeRO-3 partitions).

    A collective under FSDP and ZeRO-3: every process must call it. Only the main
    process's result is complete.
    """
    state: dict[str, Any] = accelerator.get_state_dict(model)
    return state
