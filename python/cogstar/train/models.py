"""Policies and tokenizers from a hub id or a local folder.

    from cogstar.train.models import load_policy, load_tokenizer

    model, tok = load_policy("Qwen/Qwen2.5-3B", dtype="bfloat16")     # users with hub access
    model, tok = load_policy("runs/x/sft/final", dtype="float32")    # a checkpoint of ours

The dtype is always passed explicitly (transformers 5 otherwise follows the checkpoint's).

Tokenizers are loaded so that a folder's own ``tokenizer.json`` is what encodes text:
transformers 5's ``AutoTokenizer`` may build the architecture's tokenizer class and replace
a custom pre-tokenizer or decoder with that class's defaults. :func:`load_tokenizer` checks
the loaded tokenizer against the raw ``tokenizer.json`` on probe strings and, if they differ,
wraps the file as it is.

The embedded tiny model (its tokenizer, architecture and weights) is in
:mod:`cogstar.train.tiny`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cogstar.errors import ArgumentError, DataError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "DTYPES",
    "EOS",
    "PAD",
    "cached_prefix",
    "load_policy",
    "load_tokenizer",
    "token_counter",
    "torch_dtype",
]

EOS = "<|endoftext|>"
PAD = "<|pad|>"
DTYPES = ("float32", "bfloat16", "float16")

# Probe strings: prompt text, tags, numbers, operators and odd spacing.
_PROBES = (
    "Assistant: Let me solve this step by step.\n<think> 25 - 5 = 20, 20 * 3 = 60 </think>",
    "<answer>(1 + 2) / 3</answer>\n  [44, 19, 35] -> 98\u00d7\u00e9",
)


def torch_dtype(dtype: str) -> Any:
    """The ``torch.dtype`` named by ``dtype`` (one of :data:`DTYPES`)."""
    import torch

    if dtype not in DTYPES:
        raise ArgumentError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return getattr(torch, dtype)


def _same_encoding(tok: PreTrainedTokenizerBase, raw: Any) -> bool:
    return all(
        tok(p, add_special_tokens=False)["input_ids"] == raw.encode(p, add_special_tokens=False).ids
        for p in _PROBES
    )


@functools.lru_cache(maxsize=8)  # one tokenizer load per model, however many callers
def token_counter(source: str | Path) -> Callable[[str], int]:
    """A function giving a text's length in ``source``'s tokens (no special tokens added)."""
    tok = load_tokenizer(source)
    return lambda text: len(tok(text, add_special_tokens=False)["input_ids"])


def load_tokenizer(source: str | Path) -> PreTrainedTokenizerBase:
    """Load a tokenizer so that a folder's own ``tokenizer.json`` decides the encoding.

    A local folder with ``tokenizer.json``: loaded with ``AutoTokenizer`` and compared on
    probe strings with the raw file; if they differ (transformers replaced part of it), the
    file itself is wrapped. A hub id goes through ``AutoTokenizer``. Either way the result has
    a pad token and pads on the left (see :func:`_ready`).
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    path = Path(source)
    if path.is_dir():
        file = path / "tokenizer.json"
        if not file.exists():
            raise DataError(
                f"{path}: no tokenizer.json; save the tokenizer with save_pretrained() into the "
                "model folder, or pass a hub id"
            )
        from tokenizers import Tokenizer

        raw = Tokenizer.from_file(str(file))
        try:
            tok = AutoTokenizer.from_pretrained(str(path))
        except (ValueError, OSError, KeyError):
            tok = None
        if tok is None or not _same_encoding(tok, raw):
            cfg: dict[str, Any] = {}
            cfg_file = path / "tokenizer_config.json"
            if cfg_file.exists():
                cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
            tok = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
                tokenizer_object=raw,
                eos_token=cfg.get("eos_token", EOS),
                pad_token=cfg.get("pad_token", PAD),
            )
    else:
        tok = AutoTokenizer.from_pretrained(str(source))
    return _ready(tok, source)


def _ready(tok: PreTrainedTokenizerBase, source: str | Path) -> PreTrainedTokenizerBase:
    """The one rule for special tokens, applied wherever a tokenizer is loaded: a pad token
    (EOS where the tokenizer has none, as Llama-3's), padding on the left (generation's
    side; SFT switches to the right for its own batches). No stage adds a BOS: every
    caller encodes with ``add_special_tokens=False``."""
    if tok.eos_token is None:
        raise DataError(f"{source}: the tokenizer has no EOS token; every stage ends on one")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok


def _looks_like_hub_id(source: str) -> bool:
    """``name`` or ``org/name`` (hub ids may contain dots, e.g. ``Qwen/Qwen2.5-3B``); a
    path that starts with ``.``, ``/`` or ``~``, or has more parts, is a local folder."""
    return not source.startswith((".", "/", "~")) and source.count("/") <= 1


def load_policy(
    source: str | Path, *, dtype: str, device: str | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A causal LM and its tokenizer from a hub id or a local folder, in ``dtype``.

    A missing local folder raises ``FileNotFoundError`` naming it; a hub id (``org/name``,
    see :func:`_looks_like_hub_id`) goes to the hub.
    """
    from transformers import AutoModelForCausalLM

    path = Path(source).expanduser()
    if not path.exists() and not _looks_like_hub_id(str(source)):
        raise DataError(
            f"{path}: no such model folder; rerun the stage that writes it, or give a hub id"
        )
    tok = load_tokenizer(source)
    model: PreTrainedModel = AutoModelForCausalLM.from_pretrained(
        str(source), dtype=torch_dtype(dtype)
    )
    if device is not None:
        model.to(device)  # type: ignore[arg-type]  # in place for modules
    return model, tok


def cached_prefix(
    model: Any, head: dict[str, Any], rows: Any, tail: dict[str, Any]
) -> tuple[Any, Any]:
    """``model``'s outputs on ``head`` (prefixes, run once with a key/value cache) and on
    ``tail`` (the rest of each row, on the cache of prefix ``rows[i]``).

    How PPO runs each distinct prompt once for its samples and SFT the preamble every row
    shares: the cache is copied out to the rows, and autograd flows back through the copy
    into the one prefix pass. Not under activation checkpointing (HF turns the cache off).
    """
    import inspect

    out = model(**head, use_cache=True)
    cache = getattr(out, "cache", None) or out.past_key_values  # renamed in transformers 5
    cache.batch_select_indices(rows)
    forward = getattr(model, "forward", model)
    keyword = "cache" if "cache" in inspect.signature(forward).parameters else "past_key_values"
    return out, model(**tail, use_cache=True, **{keyword: cache})
