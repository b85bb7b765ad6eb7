"""How a spec's ``[launch]`` runs a training stage: processes, sharding and checkpointing.

    from cogstar.study.launch import launch_of
    launch = launch_of(spec.launch)   # read from the Accelerate config or torchrun's args

The memory plan (:mod:`cogstar.study.memory`) divides each stage's state by what the launch
shards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cogstar.errors import ConfigError

if TYPE_CHECKING:
    from cogstar.study.spec import LaunchSpec

__all__ = ["Launch", "Sharding", "launch_of"]

Sharding = Literal["single", "ddp", "fsdp", "zero1", "zero2", "zero3"]


@dataclass(frozen=True)
class Launch:
    """How a training stage's processes hold a model: ``gpus`` processes (one per GPU) and
    what they shard; ``checkpointing``: the launch itself checkpoints activations (FSDP)."""

    gpus: int = 1
    sharding: Sharding = "single"
    checkpointing: bool = False
    gpu_memory_gb: float | None = None
    source: str = "one process"

    def shards(self, part: Literal["weights", "grads", "optimizer"]) -> int:
        """Over how many GPUs ``part`` of a trained model is split."""
        split = {
            "fsdp": ("weights", "grads", "optimizer"),
            "zero3": ("weights", "grads", "optimizer"),
            "zero2": ("grads", "optimizer"),
            "zero1": ("optimizer",),
        }.get(self.sharding, ())
        return self.gpus if part in split else 1

    @property
    def deepspeed(self) -> bool:
        return self.sharding.startswith("zero")

    def describe(self) -> str:
        kind = {"single": "one process", "ddp": "DDP", "fsdp": "FSDP full-shard"}.get(
            self.sharding, f"ZeRO-{self.sharding[-1]}"
        )
        return f"{self.gpus} GPU{'s' * (self.gpus > 1)}, {kind}"


def _read_yaml(path: Path) -> dict[str, object]:
    import yaml  # type: ignore[import-untyped]  # accelerate's own dependency

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err}); fix the Accelerate config") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: an Accelerate config must be a mapping of settings")
    return data


def _zero_stage(config: dict[str, object], path: Path) -> int:
    ds = config.get("deepspeed_config") or {}
    assert isinstance(ds, dict)
    if "zero_stage" in ds:
        return int(ds["zero_stage"])
    file = ds.get("deepspeed_config_file")
    if isinstance(file, str) and file:
        target = Path(file)
        try:
            data = json.loads(target.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(
                f"{path}: its deepspeed_config_file {file} cannot be read ({err}); fix the path"
            ) from None
        return int(data.get("zero_optimization", {}).get("stage", 0))
    return 3  # cogstar's default ZeRO-3 (cogstar.train.ppo.distributed.DEFAULT_ZERO3)


def launch_of(spec: LaunchSpec) -> Launch:
    """The processes and sharding of ``[launch]``: the Accelerate config's
    ``distributed_type``, ``num_processes`` and FSDP activation checkpointing, or
    ``torchrun``'s ``--nproc_per_node`` (DDP)."""
    memory = spec.gpu_memory_gb
    if spec.launcher == "none":
        return Launch(spec.gpus or 1, "single", gpu_memory_gb=memory)
    if spec.launcher == "torchrun":
        args = list(spec.args)
        count = None
        for i, arg in enumerate(args):
            if arg in ("--nproc_per_node", "--nproc-per-node") and i + 1 < len(args):
                count = args[i + 1]
            elif arg.startswith(("--nproc_per_node=", "--nproc-per-node=")):
                count = arg.split("=", 1)[1]
        gpus = int(count) if count is not None and count.isdigit() else spec.gpus or 1
        return Launch(gpus, "ddp" if gpus > 1 else "single", False, memory, "torchrun")
    path = Path(str(spec.accelerate_config)).expanduser()
    config = _read_yaml(path)
    gpus = int(str(config.get("num_processes", spec.gpus or 1)))
    kind = str(config.get("distributed_type", "NO")).upper()
    checkpointing = False
    sharding: Sharding = "ddp" if gpus > 1 else "single"
    if kind == "FSDP":
        sharding = "fsdp"
        fsdp = config.get("fsdp_config") or {}
        assert isinstance(fsdp, dict)
        checkpointing = bool(fsdp.get("fsdp_activation_checkpointing", False))
    elif kind == "DEEPSPEED":
        stage = _zero_stage(config, path)
        sharding = {1: "zero1", 2: "zero2", 3: "zero3"}.get(stage, "ddp")  # type: ignore[assignment]
    return Launch(gpus, sharding, checkpointing, memory, str(path))
