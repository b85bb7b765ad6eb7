"""The PPO arithmetic as small pure tensor functions (no models, no I/O).

Shapes: ``B`` responses, ``T`` response tokens (right-padded); ``mask`` is 1.0 on real response
tokens and 0.0 on padding. Every function is unit-tested against hand-computed numbers in
``tests/test_ppo_core.py``; the trainer only composes them.

    rewards = token_rewards(scores, logprobs, ref_logprobs, mask, kl_coef=0.001)
    adv, ret = gae(rewards, values, mask, gamma=1.0, lam=1.0)
    adv = masked_whiten(adv, mask)
    loss_pi, clipfrac = policy_loss(new_logprobs, old_logprobs, adv, mask, clip=0.2)
    loss_v, vclipfrac = value_loss(new_values, old_values, ret, mask, clip=0.5)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = [
    "entropy_from_logits",
    "explained_variance",
    "gae",
    "last_token_index",
    "masked_mean",
    "masked_var",
    "masked_whiten",
    "policy_loss",
    "token_rewards",
    "value_loss",
]

# Sums over processes (e.g. ``accelerator.reduce(t, "sum")``); identity on one process.
Reduce = Callable[[Tensor], Tensor]


def _identity(t: Tensor) -> Tensor:
    return t


def masked_mean(x: Tensor, mask: Tensor, reduce: Reduce = _identity) -> Tensor:
    """Mean of ``x`` over positions where ``mask`` is 1 (across processes with ``reduce``)."""
    total = reduce((x * mask).sum())
    count = reduce(mask.sum())
    return total / count.clamp(min=1.0)


def masked_var(
    x: Tensor, mask: Tensor, reduce: Reduce = _identity, unbiased: bool = True
) -> Tensor:
    """Variance of ``x`` over masked positions; Bessel-corrected unless ``unbiased=False``."""
    mean = masked_mean(x, mask, reduce)
    sq = reduce((((x - mean) ** 2) * mask).sum())
    n = reduce(mask.sum())
    if unbiased:
        return sq / (n - 1).clamp(min=1.0)
    return sq / n.clamp(min=1.0)


def masked_whiten(
    x: Tensor, mask: Tensor, reduce: Reduce = _identity, shift_mean: bool = True
) -> Tensor:
    """``(x - mean) / sqrt(var + 1e-8)`` with statistics over masked positions of every process.

    Padding positions come back as 0. ``shift_mean=False`` only rescales (for rewards).
    """
    mean = masked_mean(x, mask, reduce)
    var = masked_var(x, mask, reduce)
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        out = out + mean
    return out * mask


def last_token_index(mask: Tensor) -> Tensor:
    """Index of each row's last real token (``[B]``); 0 for an empty row."""
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    return (positions * (mask > 0)).amax(dim=1)


def token_rewards(
    scores: Tensor, logprobs: Tensor, ref_logprobs: Tensor, mask: Tensor, kl_coef: float
) -> tuple[Tensor, Tensor]:
    """Per-token rewards: ``-kl_coef * k1`` on every token, the scalar score on the last one.

    ``k1 = logprob - ref_logprob`` (the sampled-token estimator of KL(policy || reference)).
    Returns ``(rewards [B, T], kl [B, T])``, both zero on padding.
    """
    kl = (logprobs - ref_logprobs) * mask
    rewards = -kl_coef * kl
    last = last_token_index(mask)
    rows = torch.arange(rewards.shape[0], device=rewards.device)
    has_token = mask.sum(dim=1) > 0
    rewards[rows, last] += torch.where(has_token, scores, torch.zeros_like(scores))
    return rewards * mask, kl


def gae(
    rewards: Tensor, values: Tensor, mask: Tensor, gamma: float = 1.0, lam: float = 1.0
) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimation over each row's real tokens.

    ``delta_t = r_t + gamma * V_{t+1} - V_t`` (``V`` past the last real token is 0);
    ``A_t = delta_t + gamma * lam * A_{t+1}``; returns are ``A + V``. With gamma = lam = 1 the
    advantage telescopes to ``sum_{k >= t} r_k - V_t``. Returns ``(advantages, returns)``.
    """
    values = values * mask
    rewards = rewards * mask
    b, t = rewards.shape
    adv = torch.zeros_like(rewards)
    next_adv = torch.zeros(b, dtype=rewards.dtype, device=rewards.device)
    next_value = torch.zeros(b, dtype=rewards.dtype, device=rewards.device)
    for i in reversed(range(t)):
        m = mask[:, i]
        delta = rewards[:, i] + gamma * next_value - values[:, i]
        a = delta + gamma * lam * next_adv
        # padding carries nothing backwards and gets no advantage
        adv[:, i] = a * m
        next_adv = torch.where(m > 0, a, next_adv)
        next_value = torch.where(m > 0, values[:, i], next_value)
    returns = (adv + values) * mask
    return adv, returns


def policy_loss(
    logprobs: Tensor,
    old_logprobs: Tensor,
    advantages: Tensor,
    mask: Tensor,
    clip: float = 0.2,
    reduce: Reduce = _identity,
) -> tuple[Tensor, Tensor]:
    """PPO's clipped surrogate: ``mean(max(-A r, -A clip(r, 1-e, 1+e)))``, ``r = exp(lp - old)``.

    Returns ``(loss, clip_fraction)``: the fraction of tokens where the clipped term was used.
    """
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - clip, 1.0 + clip)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask, reduce)
    clipfrac = masked_mean((clipped > unclipped).float(), mask, reduce)
    return loss, clipfrac


def value_loss(
    values: Tensor,
    old_values: Tensor,
    returns: Tensor,
    mask: Tensor,
    clip: float = 0.5,
    reduce: Reduce = _identity,
) -> tuple[Tensor, Tensor]:
    """Clipped value loss: ``0.5 * mean(max((V - R)^2, (V_old + clip(V - V_old, ±c) - R)^2))``.

    Returns ``(loss, clip_fraction)``.
    """
    v_clipped = old_values + torch.clamp(values - old_values, -clip, clip)
    loss_unclipped = (values - returns) ** 2
    loss_clipped = (v_clipped - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(loss_unclipped, loss_clipped), mask, reduce)
    clipfrac = masked_mean((loss_clipped > loss_unclipped).float(), mask, reduce)
    return loss, clipfrac


def entropy_from_logits(logits: Tensor) -> Tensor:
    """Entropy of the categorical distribution at each position (``[..., V] -> [...]``)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(dim=-1)


def explained_variance(values: Tensor, returns: Tensor, mask: Tensor) -> Tensor:
    """``1 - Var(R - V) / Var(R)`` over masked positions (1 is a perfect critic)."""
    var_r = masked_var(returns, mask)
    return 1.0 - masked_var(returns - values, mask) / var_r.clamp(min=1e-8)
