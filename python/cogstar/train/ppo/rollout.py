"""Rollouts: sample responses to prompts, and the log-probabilities/values PPO needs.

One interface, two engines: :class:`HFRollout` (``model.generate``; CPU and small GPU runs)
and the vLLM engine in :mod:`cogstar.train.ppo.vllm_engine` (GPU, optional extra). Engines only
sample; old log-probs are always recomputed by the actor with :func:`token_logprobs`, so the
PPO ratio never mixes two numerical implementations.

Shapes: prompts are left-padded ``[B, P]``; responses right-padded ``[B, T]`` with a mask that
covers every token up to and including the first EOS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from cogstar.errors import ArgumentError
from cogstar.train.models import cached_prefix

__all__ = [
    "Batch",
    "HFRollout",
    "RolloutEngine",
    "after_prompt",
    "decode_responses",
    "encode_prompts",
    "response_mask",
    "token_logprobs",
    "truncated_rows",
]


@dataclass
class Batch:
    """Prompts and sampled responses, on one device."""

    prompt_ids: Tensor  # [B, P], left-padded
    prompt_mask: Tensor  # [B, P]
    response_ids: Tensor  # [B, T], right-padded
    response_mask: Tensor  # [B, T], float, 1 up to and including EOS

    @property
    def input_ids(self) -> Tensor:
        return torch.cat([self.prompt_ids, self.response_ids], dim=1)

    @property
    def attention_mask(self) -> Tensor:
        return torch.cat([self.prompt_mask, self.response_mask.long()], dim=1)


class RolloutEngine(Protocol):
    def generate(self, prompt_ids: Tensor, prompt_mask: Tensor) -> Batch: ...

    def sync_weights(self, model: Any) -> None: ...


def response_mask(response_ids: Tensor, eos_id: int, pad_id: int) -> Tensor:
    """1.0 on tokens up to and including the first EOS, 0.0 after (and on trailing pads)."""
    is_eos = response_ids == eos_id
    # positions strictly after the first EOS
    after = (torch.cumsum(is_eos.long(), dim=1) - is_eos.long()) > 0
    mask = ~after
    if pad_id != eos_id:
        mask &= response_ids != pad_id
    return mask.float()


class HFRollout:
    """Sampling with ``model.generate`` (temperature, optional top-p), on the model's device."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
        greedy: bool = False,
        synced_gpus: bool = False,
    ) -> None:
        self.model = model  # may be None until the first sync_weights
        self.synced_gpus = synced_gpus  # FSDP: every process runs as many decoding steps
        self.tok = tokenizer
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.greedy = greedy

    def sync_weights(self, model: Any) -> None:
        self.model = model  # same object: nothing to copy

    @torch.no_grad()
    def generate(self, prompt_ids: Tensor, prompt_mask: Tensor) -> Batch:
        was_training = self.model.training
        self.model.eval()
        kwargs: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "pad_token_id": self.tok.pad_token_id,
            "eos_token_id": self.tok.eos_token_id,
        }
        if self.synced_gpus:
            kwargs["synced_gpus"] = True
        if self.greedy:
            kwargs |= {"do_sample": False}
        else:
            kwargs |= {
                "do_sample": True,
                "temperature": self.temperature,
                "top_p": self.top_p,
                "top_k": 0,
            }
        out = self.model.generate(input_ids=prompt_ids, attention_mask=prompt_mask, **kwargs)
        if was_training:
            self.model.train()
        response = out[:, prompt_ids.shape[1] :]
        if response.shape[1] == 0:
            response = torch.full(
                (prompt_ids.shape[0], 1), self.tok.pad_token_id, device=prompt_ids.device
            )
        mask = response_mask(response, self.tok.eos_token_id, self.tok.pad_token_id)
        response = torch.where(mask > 0, response, torch.full_like(response, self.tok.pad_token_id))
        return Batch(prompt_ids, prompt_mask, response, mask)


def encode_prompts(
    tokenizer: Any, texts: list[str], device: Any, max_tokens: int | None = None
) -> tuple[Tensor, Tensor]:
    """Left-padded prompt ids and mask, no special tokens added (no BOS)."""
    enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    if max_tokens is not None and enc["input_ids"].shape[1] > max_tokens:
        raise ArgumentError(
            f"a prompt has {enc['input_ids'].shape[1]} tokens, over ppo.max_prompt_tokens "
            f"({max_tokens}); raise the limit"
        )
    return enc["input_ids"].to(device), enc["attention_mask"].to(device)


def truncated_rows(batch: Batch, eos_id: int, max_new_tokens: int) -> list[bool]:
    """Whether each response was cut off: ``max_new_tokens`` tokens and no EOS among them."""
    ended = (batch.response_ids == eos_id).any(dim=1)
    full = batch.response_mask.sum(dim=1) >= max_new_tokens
    return (full & ~ended).tolist()


def decode_responses(tokenizer: Any, batch: Batch) -> list[str]:
    """The response texts, EOS and padding dropped, every other token kept.

    Not ``skip_special_tokens=True``: a tokenizer may register ``<think>`` or ``<answer>`` as
    special tokens, and the reward must see them.
    """
    drop = {tokenizer.eos_token_id, tokenizer.pad_token_id}
    texts = []
    for ids, mask in zip(batch.response_ids.tolist(), batch.response_mask.tolist(), strict=True):
        kept = [t for t, m in zip(ids, mask, strict=True) if m > 0 and t not in drop]
        texts.append(tokenizer.decode(kept, skip_special_tokens=False))
    return texts


def _chunk_logprobs(
    logits: Tensor, tokens: Tensor, temperature: float, with_entropy: bool, entropy_grad: bool
) -> tuple[Tensor, Tensor]:
    """Log-probabilities of ``tokens`` and the entropy, from one chunk of logits (fp32 here
    only); the entropy carries no gradient unless ``entropy_grad``."""
    logp = torch.log_softmax(logits.float() / temperature, dim=-1)
    lp = logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    if not with_entropy:
        return lp, lp.new_zeros(())
    source = logp if entropy_grad else logp.detach()
    return lp, -(source.exp() * source).sum(dim=-1)


def _distinct_prompts(batch: Batch) -> tuple[Tensor, Tensor] | None:
    """``(first, inverse)``: one row index for each distinct prompt of ``batch``, and each
    row's distinct prompt; None when no prompt repeats."""
    rows = torch.cat([batch.prompt_ids, batch.prompt_mask.to(batch.prompt_ids.dtype)], dim=1)
    _, inverse = torch.unique(rows, dim=0, return_inverse=True)
    distinct = int(inverse.max()) + 1
    if distinct == rows.shape[0]:
        return None
    order = torch.arange(rows.shape[0], device=rows.device)
    first = torch.full((distinct,), rows.shape[0], dtype=torch.long, device=rows.device)
    return first.scatter_reduce(0, inverse, order, reduce="amin"), inverse


def after_prompt(model: Any, batch: Batch, field: str, **kwargs: Any) -> Tensor | None:
    """``field`` of ``model``'s output at positions ``P-1 .. L-1`` (``[B, T+1, ...]``: the
    last prompt token, then every response token), each distinct prompt computed once.

    The PPO batch holds ``samples_per_prompt`` responses to each prompt; a full pass computes
    every prompt that many times. Here the distinct prompts run once with a key/value cache,
    the cache is copied out to their rows (autograd flows back through the copy into the one
    prompt pass), and the responses run on it. Equal to the full pass up to float rounding.
    Returns None when no prompt of ``batch`` repeats (the full pass costs the same).
    ``kwargs`` go to the response pass (``logits_to_keep=0`` for a causal LM).
    """
    distinct = _distinct_prompts(batch)
    if distinct is None:
        return None
    first, inverse = distinct
    prompt_mask = batch.prompt_mask[first]
    mask = batch.attention_mask
    head, tail = cached_prefix(
        model,
        {
            "input_ids": batch.prompt_ids[first],
            "attention_mask": prompt_mask,
            "position_ids": (prompt_mask.cumsum(dim=1) - 1).clamp(min=0),
            **({"logits_to_keep": 1} if "logits_to_keep" in kwargs else {}),
        },
        inverse,
        {
            "input_ids": batch.response_ids,
            "attention_mask": mask,
            "position_ids": (mask.cumsum(dim=1) - 1).clamp(min=0)[:, batch.prompt_ids.shape[1] :],
            **kwargs,
        },
    )
    return torch.cat([getattr(head, field)[:, -1:][inverse], getattr(tail, field)], dim=1)


def token_logprobs(
    model: Any,
    batch: Batch,
    temperature: float = 1.0,
    with_entropy: bool = False,
    chunk: int = 128,
    *,
    entropy_grad: bool = True,
    share_prompts: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Log-probabilities of the response tokens under ``model`` (logits / temperature).

    Returns ``(logprobs [B, T], entropy [B, T] or None)``; the entropy carries a gradient
    only with ``entropy_grad`` (an entropy bonus of 0 needs none). Lean on memory: the model
    computes logits only where a response token is predicted (``logits_to_keep``, positions
    ``P-1 .. L-2``), and the fp32 log-softmax runs ``chunk`` positions at a time, so the fp32
    ``[B, T, vocab]`` tensor never exists whole; under autograd each chunk is recomputed in
    the backward pass instead of kept (activation checkpointing of the softmax alone).
    ``share_prompts`` computes each distinct prompt once (:func:`after_prompt`).
    """
    from torch.utils.checkpoint import checkpoint

    width = batch.response_ids.shape[1]
    shared = after_prompt(model, batch, "logits", logits_to_keep=0) if share_prompts else None
    if shared is not None:
        logits = shared[:, :-1]
    else:
        attn = batch.attention_mask
        logits = model(
            input_ids=batch.input_ids,
            attention_mask=attn,
            position_ids=(attn.cumsum(dim=1) - 1).clamp(min=0),
            logits_to_keep=width + 1,
        ).logits[:, :-1]  # [B, T, V]: position P-1+t predicts response token t
    grad = torch.is_grad_enabled() and logits.requires_grad
    lps, ents = [], []
    for start in range(0, width, chunk):
        part = logits[:, start : start + chunk]
        tokens = batch.response_ids[:, start : start + chunk]
        args = (part, tokens, temperature, with_entropy, entropy_grad)
        if grad:
            lp, ent = checkpoint(_chunk_logprobs, *args, use_reentrant=False)
        else:
            lp, ent = _chunk_logprobs(*args)
        lps.append(lp)
        ents.append(ent)
    return torch.cat(lps, dim=1), (torch.cat(ents, dim=1) if with_entropy else None)
