"""A batched sampler for small decoder models on a CPU (``ppo.rollout = "fast"``).

``model.generate`` spends most of a small model's decoding step in Python: module calls, cache
objects, logits processors, stopping criteria. This engine runs the same decoder (Qwen2- and
Llama-style: RMSNorm, rotary positions, grouped-query attention, SwiGLU) straight on the
model's own weight tensors, with

* one prefill over the left-padded prompts and a key/value cache preallocated for the whole
  response (``[rows, kv heads, prompt + max_new_tokens, head dim]`` per layer);
* one forward per decoding step and nothing else per token in Python but the sampling;
* rows dropped from the batch once they have written EOS (the cache is compacted when a
  quarter of the rows still in it have finished), so short answers stop costing;
* HF generate's sampling distribution: ``logits / temperature``, then top-p (HF's
  ``TopPLogitsWarper`` rule: drop the least likely tokens whose mass is at most ``1 - top_p``,
  keep at least one), top-k off, softmax; the draw is one uniform number per row against the
  cumulative distribution (``torch.multinomial`` draws an exponential per vocabulary entry,
  which on a CPU costs more than the model's step); or greedy ``argmax``.

Each call draws from its own generator, seeded by ``(seed, calls)``: a resumed PPO step (the
trainer restores ``calls`` from the checkpoint) samples the same tokens. The rotary embedding
is the model's own module, so every rope variant the model supports (Llama 3's scaling
included) is the model's. A model of another architecture is refused with the setting to use
instead (``rollout = "hf"``). Old log-probs are still recomputed by the actor (see
:mod:`cogstar.train.ppo.rollout`), so the PPO ratio never mixes two implementations.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from cogstar.errors import ConfigError
from cogstar.train.ppo.rollout import Batch, response_mask

__all__ = ["FastRollout", "check_supported", "sample_next"]

SUPPORTED = ("qwen2", "llama")


def check_supported(model: Any, key: str = "ppo.rollout") -> None:
    """Raise :class:`~cogstar.errors.ConfigError` unless the fast engine can run ``model``;
    ``key`` is the setting that chose the engine, named in the error."""
    config = model.config
    kind = getattr(config, "model_type", "?")
    why = None
    if kind not in SUPPORTED:
        why = f"a {kind!r} model (it runs {', '.join(SUPPORTED)} decoders)"
    elif getattr(config, "hidden_act", "silu") != "silu":
        why = f"hidden_act {config.hidden_act!r} (it runs SwiGLU with silu)"
    elif getattr(config, "use_sliding_window", False):
        why = "sliding-window attention"
    elif getattr(config, "mlp_bias", False) or getattr(config, "pretraining_tp", 1) != 1:
        why = "MLP biases or tensor-parallel pretraining slices"
    if why is not None:
        raise ConfigError(
            [
                f'{key}: the "fast" engine cannot run {why}; fix: set {key} = "hf" '
                "(model.generate) for this model"
            ]
        )


@dataclass
class _Layer:
    """One decoder layer's weights: the model's own tensors, but for the query/key/value and
    gate/up projections, each concatenated into one matrix (one matmul instead of three or
    two; made again at every :meth:`FastRollout.sync_weights`)."""

    norm1: Tensor
    eps1: float
    qkv: Tensor
    qkv_bias: Tensor | None
    wo: Tensor
    norm2: Tensor
    eps2: float
    gate_up: Tensor
    down: Tensor


def _rms(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    """RMSNorm as the HF decoders compute it (in fp32, then back to the input dtype)."""
    if x.dtype != torch.float32:
        h = x.to(torch.float32)
        return weight * (h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def _rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


def sample_next(
    logits: Tensor,
    *,
    temperature: float,
    top_p: float,
    greedy: bool,
    generator: torch.Generator | None,
) -> Tensor:
    """The next token of each row of ``logits`` ``[rows, vocab]``, as HF generate picks it."""
    if greedy:
        return logits.argmax(dim=-1)
    scores = logits.float() / temperature
    if top_p < 1.0:
        order = torch.sort(scores, descending=False)
        cumulative = order.values.softmax(dim=-1).cumsum(dim=-1)
        drop = cumulative <= (1 - top_p)
        drop[..., -1] = False  # keep at least the most likely token
        scores = scores.masked_fill(drop.scatter(-1, order.indices, drop), float("-inf"))
    # one uniform per row against the cumulative distribution: an exact draw from the same
    # categorical distribution as torch.multinomial's, without its vocabulary-wide exponentials
    cdf = scores.softmax(dim=-1).cumsum(dim=-1)
    u = torch.rand(cdf.shape[0], 1, generator=generator, device=cdf.device) * cdf[:, -1:]
    return torch.searchsorted(cdf, u).squeeze(-1).clamp(max=cdf.shape[-1] - 1)


class FastRollout:
    """Sampling on the model's own weights with a preallocated cache; see the module docstring."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_p: float = 1.0,
        greedy: bool = False,
        seed: int = 0,
        setting: str = "ppo.rollout",
    ) -> None:
        self.setting = setting  # the config key that chose this engine, for errors
        self.tok = tokenizer
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.greedy = greedy
        self.seed = seed
        self.calls = 0  # generate() calls so far: a resumed run sets it back
        self.model: Any = None
        if model is not None:
            self.sync_weights(model)

    def sync_weights(self, model: Any) -> None:
        """Use ``model``'s weights (the same tensors: nothing is copied)."""
        check_supported(model, self.setting)
        self.model = model
        config = model.config
        self.heads = int(config.num_attention_heads)
        self.kv_heads = int(getattr(config, "num_key_value_heads", self.heads))
        self.head_dim = int(
            getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        )
        core = model.model
        self.embed = core.embed_tokens.weight
        self.final_norm = core.norm.weight
        self.final_eps = float(core.norm.variance_epsilon)
        self.lm_head = model.lm_head.weight
        self.rotary = core.rotary_emb
        self.layers = []
        with torch.no_grad():
            for layer in core.layers:
                attn, mlp = layer.self_attn, layer.mlp
                projections = (attn.q_proj, attn.k_proj, attn.v_proj)
                bias = None
                if attn.q_proj.bias is not None:
                    bias = torch.cat([m.bias for m in projections])
                self.layers.append(
                    _Layer(
                        layer.input_layernorm.weight.detach(),
                        float(layer.input_layernorm.variance_epsilon),
                        torch.cat([m.weight for m in projections]),
                        bias,
                        attn.o_proj.weight.detach(),
                        layer.post_attention_layernorm.weight.detach(),
                        float(layer.post_attention_layernorm.variance_epsilon),
                        torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight]),
                        mlp.down_proj.weight.detach(),
                    )
                )
        self.split = (self.heads * self.head_dim, self.kv_heads * self.head_dim)
        self.inner = int(mlp.gate_proj.weight.shape[0])

    def _generator(self, device: torch.device) -> torch.Generator:
        key = f"{self.seed}:{self.calls}".encode()
        seed = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") >> 1
        return torch.Generator(device=device).manual_seed(seed)

    def _forward(
        self,
        x: Tensor,
        rope: tuple[Tensor, Tensor],
        keys: list[Tensor],
        values: Tensor | list[Tensor],
        start: int,
        mask: Tensor,
    ) -> Tensor:
        """Run the decoder on ``x`` ``[rows, n, hidden]`` at cache columns ``start..start+n``
        (``rope``: the rotary cos and sin at their positions, ``[rows, 1, n, head dim]``),
        writing the keys and values into the cache; ``mask`` ``[rows, 1, n, start+n]`` is True
        where a query may attend. Returns the last position's logits ``[rows, vocab]``."""
        rows, n, _ = x.shape
        cos, sin = rope
        end = start + n
        groups = self.heads // self.kv_heads
        q_dim, kv_dim = self.split
        for i, w in enumerate(self.layers):
            h = _rms(x, w.norm1, w.eps1)
            q, k, v = torch.split(F.linear(h, w.qkv, w.qkv_bias), [q_dim, kv_dim, kv_dim], dim=-1)
            q = _rotate(q.view(rows, n, self.heads, self.head_dim).transpose(1, 2), cos, sin)
            k = k.view(rows, n, self.kv_heads, self.head_dim).transpose(1, 2)
            # keys are cached transposed, [rows, kv heads, head dim, columns], so the scores'
            # matmul reads them in order
            keys[i][:, :, :, start:end] = _rotate(k, cos, sin).transpose(-1, -2)
            values[i][:, :, start:end] = v.view(rows, n, self.kv_heads, self.head_dim).transpose(
                1, 2
            )
            if n == 1:  # one query a row: plain matmuls beat the fused kernel's set-up
                # [rows, kv heads, groups, head dim] @ [rows, kv heads, head dim, end]
                scores = q.view(rows, self.kv_heads, groups, self.head_dim) @ keys[i][..., :end]
                scores = (scores * self.head_dim**-0.5).masked_fill(~mask, float("-inf"))
                attn = (scores.softmax(dim=-1) @ values[i][:, :, :end]).view(
                    rows, self.heads, 1, -1
                )
            else:
                attn = F.scaled_dot_product_attention(
                    q,
                    keys[i][..., :end].transpose(-1, -2),
                    values[i][:, :, :end],
                    attn_mask=mask,
                    enable_gqa=self.kv_heads != self.heads,
                )
            x = x + F.linear(attn.transpose(1, 2).reshape(rows, n, -1), w.wo)
            h = _rms(x, w.norm2, w.eps2)
            gate, up = torch.split(F.linear(h, w.gate_up), self.inner, dim=-1)
            x = x + F.linear(F.silu(gate) * up, w.down)
        last = _rms(x[:, -1], self.final_norm, self.final_eps)
        return F.linear(last, self.lm_head)

    @torch.no_grad()
    def generate(self, prompt_ids: Tensor, prompt_mask: Tensor) -> Batch:
        """Sample a response to each left-padded prompt row (the :class:`Batch` contract of
        :class:`~cogstar.train.ppo.rollout.HFRollout`)."""
        if self.model is None:
            raise ConfigError(
                [f"{self.setting}: no model was handed to the fast engine; fix: call "
                 "sync_weights(model) before generate"]
            )  # fmt: skip
        generator = None if self.greedy else self._generator(prompt_ids.device)
        self.calls += 1
        was_training = self.model.training
        self.model.eval()
        try:
            return self._generate(prompt_ids, prompt_mask, generator)
        finally:
            if was_training:
                self.model.train()

    def _generate(
        self, prompt_ids: Tensor, prompt_mask: Tensor, generator: torch.Generator | None
    ) -> Batch:
        device, dtype = prompt_ids.device, self.embed.dtype
        rows, width = prompt_ids.shape
        total = width + self.max_new_tokens
        eos, pad = self.tok.eos_token_id, self.tok.pad_token_id
        # the prompts a step repeats (its samples per prompt) are prefilled once
        unique, inverse = torch.unique(prompt_ids, dim=0, return_inverse=True)
        first = torch.full((len(unique),), rows, dtype=torch.long, device=device)
        first = first.scatter_reduce(0, inverse, torch.arange(rows, device=device), "amin")
        shape = (len(unique), self.kv_heads, total, self.head_dim)
        key_shape = (len(unique), self.kv_heads, self.head_dim, total)
        keys = [torch.zeros(key_shape, dtype=dtype, device=device) for _ in self.layers]
        values = [torch.zeros(shape, dtype=dtype, device=device) for _ in self.layers]
        valid = torch.ones(rows, total, dtype=torch.bool, device=device)
        valid[:, :width] = prompt_mask.bool()
        positions = (prompt_mask.long().cumsum(-1) - 1).clamp(min=0)

        # the model's rotary module, once for every position this call can reach
        reach = torch.arange(int(positions.max()) + self.max_new_tokens + 1, device=device)
        cos_table, sin_table = (t[0] for t in self.rotary(self.embed[:1][None], reach[None]))

        def rope(at: Tensor) -> tuple[Tensor, Tensor]:  # [rows, n] -> [rows, 1, n, head dim]
            return cos_table[at].unsqueeze(1), sin_table[at].unsqueeze(1)

        # prefill: causal over the prompt, pad keys hidden (a pad query sees itself, so no row
        # of the mask is empty)
        causal = torch.ones(width, width, dtype=torch.bool, device=device).tril()
        eye = torch.eye(width, dtype=torch.bool, device=device)
        mask = (causal & valid[first, None, :width]) | eye
        logits = self._forward(
            self.embed[unique], rope(positions[first]), keys, values, 0, mask.unsqueeze(1)
        )[inverse]
        keys = [k[inverse] for k in keys]
        values = [v[inverse] for v in values]
        out = torch.full((rows, self.max_new_tokens), pad, dtype=torch.long, device=device)
        live = torch.arange(rows, device=device)  # original row of each row still in the cache
        ended = torch.zeros(rows, dtype=torch.bool, device=device)  # wrote EOS already
        position = positions[:, -1]
        steps = 0
        for step in range(self.max_new_tokens):
            token = sample_next(
                logits,
                temperature=self.temperature,
                top_p=self.top_p,
                greedy=self.greedy,
                generator=generator,
            )
            out[live, step] = token
            steps = step + 1
            ended |= token == eos
            if bool(ended.all()) or step + 1 == self.max_new_tokens:
                break
            if int(ended.sum()) * 4 >= len(live):  # compact: drop the finished rows
                keep = (~ended).nonzero().squeeze(-1)
                live, token, position, ended = live[keep], token[keep], position[keep], ended[keep]
                keys = [k[keep] for k in keys]
                values = [v[keep] for v in values]
                valid = valid[keep]
            position = position + 1
            column = width + step
            # rows that ended but are still in the cache run on (cheaper than compacting every
            # step); what they write after EOS is masked out of the response below
            logits = self._forward(
                self.embed[token].unsqueeze(1),
                rope(position.unsqueeze(1)),
                keys,
                values,
                column,
                valid[:, None, None, : column + 1],
            )
        response = out[:, : max(1, steps)]
        resp_mask = response_mask(response, eos, pad)
        response = torch.where(resp_mask > 0, response, torch.full_like(response, pad))
        return Batch(prompt_ids, prompt_mask, response, resp_mask)
