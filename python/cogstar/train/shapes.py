"""The sizes of a decoder-only model (Llama, Qwen2 and the like), without loading it.

    from cogstar.train.shapes import model_shape
    shape = model_shape("meta-llama/Llama-3.2-3B")   # from the config shipped with cogstar
    shape.parameters()                                # 3,212,749,824

A shape comes from the model's ``config.json``: a local folder's own, the embedded tiny
model's, or, for a hub id, the copy shipped in ``cogstar/data/shapes/`` (the real models'
published configs, so memory can be planned with no network). Other hub ids are read with
``AutoConfig`` (hub access needed). The same files build the random-initialised models of
``tools/gpu_check.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from cogstar.errors import ConfigError

__all__ = ["ModelShape", "model_shape", "shipped_config", "shipped_shapes"]


@dataclass(frozen=True)
class ModelShape:
    """A Llama/Qwen2-style decoder: RMSNorm, grouped-query attention (``qkv_bias`` for
    Qwen2), a SwiGLU MLP, embeddings tied to the LM head or not."""

    name: str
    vocab: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    head_dim: int
    tied: bool
    qkv_bias: bool

    @property
    def kv_dim(self) -> int:
        """Width of the keys (and of the values) of one token in one layer."""
        return self.kv_heads * self.head_dim

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    def layer_parameters(self) -> int:
        """Parameters of one decoder layer."""
        h, q, kv = self.hidden, self.q_dim, self.kv_dim
        attention = h * q + 2 * h * kv + q * h
        if self.qkv_bias:
            attention += q + 2 * kv
        mlp = 3 * h * self.intermediate
        return attention + mlp + 2 * h  # two RMSNorm weights

    def backbone_parameters(self) -> int:
        """Embeddings, the layers and the final norm (what the critic's backbone holds)."""
        return self.vocab * self.hidden + self.layers * self.layer_parameters() + self.hidden

    def parameters(self) -> int:
        """Parameters of the causal LM (an LM head of its own unless tied)."""
        return self.backbone_parameters() + (0 if self.tied else self.vocab * self.hidden)

    def layer_tensors(self) -> int:
        """Parameter tensors of one layer: four projections (and three biases), three MLP
        matrices, two norms."""
        return 9 + 3 * self.qkv_bias

    def tensors(self) -> int:
        """Parameter tensors of the causal LM (a tied LM head is not a tensor of its own)."""
        return 2 + self.layers * self.layer_tensors() + (0 if self.tied else 1)

    def critic_tensors(self) -> int:
        """The critic's: the backbone's and the value head's weight and bias."""
        return 2 + self.layers * self.layer_tensors() + 2

    def critic_parameters(self) -> int:
        """The PPO critic: the backbone and a ``Linear(hidden, 1)`` value head."""
        return self.backbone_parameters() + self.hidden + 1

    @classmethod
    def from_config(cls, config: dict[str, Any], name: str) -> ModelShape:
        """From a ``config.json`` dictionary; a key it lacks is named in the error."""
        try:
            hidden = int(config["hidden_size"])
            heads = int(config["num_attention_heads"])
            return cls(
                name=name,
                vocab=int(config["vocab_size"]),
                hidden=hidden,
                layers=int(config["num_hidden_layers"]),
                heads=heads,
                kv_heads=int(config.get("num_key_value_heads") or heads),
                intermediate=int(config["intermediate_size"]),
                head_dim=int(config.get("head_dim") or hidden // heads),
                tied=bool(config.get("tie_word_embeddings", False)),
                qkv_bias=config.get("model_type") == "qwen2"
                or bool(config.get("attention_bias", False)),
            )
        except KeyError as err:
            raise ConfigError(
                f"{name}: config.json has no {err.args[0]!r}; cogstar plans memory for "
                "Llama/Qwen2-style decoders only"
            ) from None


def _shipped_name(hub_id: str) -> str:
    return hub_id.replace("/", "--") + ".json"


def shipped_shapes() -> list[str]:
    """The hub ids whose configs ship with cogstar."""
    folder = resources.files("cogstar.data") / "shapes"
    names = sorted(f.name for f in folder.iterdir() if f.name.endswith(".json"))
    return [n.removesuffix(".json").replace("--", "/") for n in names]


def shipped_config(hub_id: str) -> dict[str, Any] | None:
    """The shipped ``config.json`` of ``hub_id``, or None if cogstar does not ship it."""
    file = resources.files("cogstar.data") / "shapes" / _shipped_name(hub_id)
    if not file.is_file():
        return None
    config: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
    return config


def model_shape(source: str | Path, tiny_size: str = "tiny") -> ModelShape:
    """The shape of ``source``: ``"tiny"`` (with ``tiny_size``), a local folder, a hub id
    whose config ships with cogstar, or any other hub id (read with ``AutoConfig``)."""
    name = str(source)
    if name == "tiny":
        from cogstar.train.tiny import TINY_SIZES, packaged_dir

        config = _read_config(packaged_dir() / "config.json")
        hidden, layers, heads, kv, inter = TINY_SIZES[tiny_size]
        config.update(
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=kv,
            intermediate_size=inter,
        )
        return ModelShape.from_config(config, f"tiny ({tiny_size})")
    path = Path(name).expanduser()
    if path.is_dir():
        return ModelShape.from_config(_read_config(path / "config.json"), name)
    shipped = shipped_config(name)
    if shipped is not None:
        return ModelShape.from_config(shipped, name)
    try:
        from transformers import AutoConfig

        return ModelShape.from_config(AutoConfig.from_pretrained(name).to_dict(), name)
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"{name}: cannot read the model's config ({type(err).__name__}); cogstar ships the "
            f"configs of {', '.join(shipped_shapes())}. Give a local model folder, or run with "
            "hub access"
        ) from None


def _read_config(file: Path) -> dict[str, Any]:
    from cogstar.io import read_json

    config: dict[str, Any] = read_json(file, "give a model folder saved with save_pretrained()")
    return config
