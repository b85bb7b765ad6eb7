"""The base model a study starts from: the embedded tiny model, or any hub id or folder.

from cogstar.train.base import ModelConfig, base_model, base_key
base_model(ModelConfig())                       # the tiny model shipped in the package
base_model(ModelConfig(source="Qwen/Qwen2.5-3B"))   # a hub id (users with hub access)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from cogstar.config import Found, Problem, StageConfig

__all__ = ["ModelConfig", "base_key", "base_model"]


class ModelConfig(StageConfig):
    """``source``: ``tiny`` (the embedded model; ``tiny_size = "small"`` is pretrained
    locally on first use and cached), else a hub id or a local model folder."""

    SECTION = "model"

    source: str = "tiny"
    tiny_size: Literal["tiny", "small"] = "tiny"

    def problems(self) -> list[Problem]:
        found = Found()
        if self.source.startswith((".", "/", "~")) and not Path(self.source).expanduser().exists():
            found.add(
                ("source",),
                f"no model folder {self.source!r}",
                'give an existing folder, a hub id (e.g. "Qwen/Qwen2.5-3B") or "tiny"',
            )
        return found


def base_key(config: ModelConfig) -> str:
    """What a stage that starts from this base depends on: for the tiny model its size and
    version (not where cogstar is installed, so a reinstall elsewhere redoes nothing), else
    the hub id or folder as written."""
    if config.source != "tiny":
        return config.source
    from cogstar.train.tiny import TINY_VERSION

    return f"tiny-{config.tiny_size}-v{TINY_VERSION}"


def base_model(config: ModelConfig, *, progress: bool = False) -> Path | str:
    """The starting checkpoint: the tiny model's folder (pretrained now if its size is not
    shipped or cached), or the spec's hub id / folder."""
    if config.source != "tiny":
        return config.source
    from cogstar.train.tiny import base_dir

    return base_dir(size=config.tiny_size, progress=progress)
