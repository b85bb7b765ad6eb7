"""The critic: the policy checkpoint's backbone with a scalar value head.

Initialised from the same checkpoint as the actor (the paper's setup): the transformer body
is loaded with ``AutoModel`` (no LM head) and a zero-initialised ``Linear(hidden, 1)`` reads
the last hidden state. Saved as a normal model folder plus ``value_head.pt``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from cogstar.train.ppo.rollout import Batch, after_prompt

__all__ = ["Critic", "load_critic"]


class Critic(nn.Module):
    def __init__(self, backbone: Any) -> None:
        super().__init__()
        self.backbone = backbone
        hidden = backbone.config.hidden_size
        self.value_head = nn.Linear(hidden, 1, dtype=torch.float32)
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor, prompt_len: int | None = None
    ) -> Tensor:
        """Values ``[B, L]`` of the state after each token; with ``prompt_len`` only those
        before each response token (positions ``P-1 … L-2``, ``[B, L-P]``)."""
        position_ids = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)
        h = self.backbone(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids
        ).last_hidden_state
        values = self._head(h)
        if prompt_len is not None:
            values = values[:, prompt_len - 1 : -1]
        return values

    def response_values(self, batch: Batch, *, share_prompts: bool = False) -> Tensor:
        """Values ``[B, T]`` of the states before each response token of ``batch``;
        ``share_prompts`` computes each distinct prompt once
        (:func:`~cogstar.train.ppo.rollout.after_prompt`)."""
        h = after_prompt(self.backbone, batch, "last_hidden_state") if share_prompts else None
        if h is None:
            values: Tensor = self(batch.input_ids, batch.attention_mask, batch.prompt_ids.shape[1])
            return values
        return self._head(h)[:, :-1]

    def _head(self, h: Tensor) -> Tensor:
        # the head's dtype: fp32 normally, bf16 when a DeepSpeed engine has cast the model
        values: Tensor = self.value_head(h.to(self.value_head.weight.dtype)).float().squeeze(-1)
        return values

    def save(self, out: str | Path, state_dict: dict[str, Tensor] | None = None) -> None:
        """Write the backbone as a model folder and the head as ``value_head.pt``.

        ``state_dict`` (the whole critic's, e.g. gathered from FSDP shards) replaces the
        module's own tensors.
        """
        out = Path(out)
        if state_dict is None:
            self.backbone.save_pretrained(out)
            torch.save(self.value_head.state_dict(), out / "value_head.pt")
            return
        body = {
            k[len("backbone.") :]: v for k, v in state_dict.items() if k.startswith("backbone.")
        }
        head = {
            k[len("value_head.") :]: v for k, v in state_dict.items() if k.startswith("value_head.")
        }
        self.backbone.save_pretrained(out, state_dict=body)
        torch.save({k: v.detach().cpu() for k, v in head.items()}, out / "value_head.pt")


def load_critic(source: str | Path, *, dtype: str) -> Critic:
    """A critic from a policy checkpoint (fresh head) or a saved critic (its head too)."""
    from transformers import AutoModel

    from cogstar.train.models import torch_dtype

    backbone = AutoModel.from_pretrained(str(source), dtype=torch_dtype(dtype))
    critic = Critic(backbone)
    head = Path(source) / "value_head.pt"
    if head.exists():
        critic.value_head.load_state_dict(torch.load(head, weights_only=True))
    return critic
