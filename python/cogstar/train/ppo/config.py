"""PPO's config: the paper's defaults (see PAPER.md), its own checks, and nothing that imports
torch, so a spec can be read and checked without the training stack."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cogstar.config import Found, Problem, StageConfig, divisor_at_most
from cogstar.errors import ConfigError

__all__ = ["PPOConfig"]


class PPOConfig(StageConfig):
    """PPO hyper-parameters; the defaults are the paper's.

    Each step samples ``samples_per_prompt`` responses to ``prompts_per_step`` puzzles; the
    actor and the critic are updated on mini-batches of ``actor_minibatch_prompts`` and
    ``critic_minibatch_prompts`` prompts (with all their samples), ``micro_batch`` sequences
    per forward/backward (memory, not maths). The paper's verl run updated the actor on 128
    prompts (512 responses, 2 updates a step) and the critic on 128 responses (32 prompts, 8
    updates a step); both optimizers are AdamW with ``weight_decay`` 0.01, as verl's. ``dtype`` is the GPU compute dtype (autocast
    over fp32 master weights; a CPU runs fp32); ``rollout`` is the sampling engine (``fast``:
    cogstar's batched sampler for Qwen2/Llama-style models, :mod:`~cogstar.train.ppo.fast_rollout`;
    ``hf``: ``model.generate``, any model; ``vllm``: a colocated vLLM engine on GPU,
    ``vllm_gpu_memory`` its share of the GPU; under FSDP or ZeRO-3 the weights are gathered
    for it once a step). ``activation_checkpointing`` recomputes the actor's and the critic's
    layers in the backward pass (an FSDP launch config can ask for the same).
    ``share_prompts`` computes each distinct prompt once per micro-batch instead of once per
    sample, and the responses on its key/value cache (on one process without activation
    checkpointing; elsewhere the full pass runs): the same log-probs and values up to float
    rounding. On the tiny model it halves a forward and backward pass of 8 prompts x 4
    samples, but whole PPO steps gained little (``benches/README.md``). ``seed`` (sampling, mini-batch order, the puzzle order; the
    value head starts at zero) is derived from ``[experiment].seed`` in a study.
    """

    SECTION = "ppo"

    steps: int = Field(default=250, ge=0)
    prompts_per_step: int = Field(default=256, ge=1)
    samples_per_prompt: int = Field(default=4, ge=1)
    temperature: float = Field(default=1.0, gt=0)
    max_prompt_tokens: int = Field(default=256, ge=1)
    max_response_tokens: int = Field(default=1024, ge=1)
    actor_lr: float = Field(default=1e-6, gt=0)
    critic_lr: float = Field(default=1e-5, gt=0)
    actor_minibatch_prompts: int = Field(default=128, ge=1)
    critic_minibatch_prompts: int = Field(default=32, ge=1)
    micro_batch: int = Field(default=16, ge=1)
    ppo_epochs: int = Field(default=1, ge=1)
    clip: float = Field(default=0.2, gt=0)
    value_clip: float = Field(default=0.5, gt=0)
    entropy_coef: float = Field(default=0.001, ge=0)
    kl_coef: float = Field(default=0.001, ge=0)
    gamma: float = Field(default=1.0, ge=0, le=1)
    lam: float = Field(default=1.0, ge=0, le=1)
    grad_clip: float = Field(default=1.0, gt=0)
    weight_decay: float = Field(default=0.01, ge=0)
    reward_mode: Literal["tinyzero", "strict"] = "tinyzero"
    save_every: int = Field(default=10, ge=1)
    seed: int = Field(default=0, ge=0)
    dtype: Literal["float32", "bfloat16", "float16"] = "bfloat16"
    rollout: Literal["fast", "hf", "vllm"] = "fast"
    vllm_gpu_memory: float = Field(default=0.3, gt=0, lt=1)
    activation_checkpointing: bool = False
    share_prompts: bool = True

    def problems(self) -> list[Problem]:
        found = Found()
        prompts = self.prompts_per_step
        for key in ("actor_minibatch_prompts", "critic_minibatch_prompts"):
            mb = getattr(self, key)
            if prompts % mb:
                found.add(
                    (key,),
                    f"{mb} does not divide {self.key('prompts_per_step')} ({prompts}), so an "
                    "update would see a partial group of samples",
                    f"use a divisor of {prompts} (e.g. {divisor_at_most(prompts, mb)}) or change "
                    f"{self.key('prompts_per_step')}",
                )
        return found

    def minibatch_rows(self, model: str, processes: int) -> int:
        """Sequences in one ``model`` ("actor" or "critic") mini-batch on each process;
        gradients are averaged across processes, so an update sees the configured prompts."""
        if model == "actor":
            prompts = self.actor_minibatch_prompts
        else:
            prompts = self.critic_minibatch_prompts
        return prompts // processes * self.samples_per_prompt

    def check_launch(self, processes: int, *, deepspeed: bool, sharded: bool) -> None:
        """The rules that depend on how the run is launched (known only then): raise
        :class:`~cogstar.errors.ConfigError` listing what does not fit."""
        lines = []

        def bad(key: str, what: str, fix: str) -> None:
            lines.append(f"ppo.{key}: {what}; fix: {fix}")

        for key in ("prompts_per_step", "actor_minibatch_prompts", "critic_minibatch_prompts"):
            value = getattr(self, key)
            if value % processes:
                bad(
                    key,
                    f"{value} is not a multiple of the number of processes ({processes}): each "
                    "takes an equal share of the prompts",
                    f"use a multiple of {processes}, or launch another number of processes",
                )
        if deepspeed:
            for name in ("actor", "critic"):
                rows = self.minibatch_rows(name, processes)
                if rows % self.micro_batch:
                    bad(
                        "micro_batch",
                        f"under DeepSpeed {self.micro_batch} must divide the {name} mini-batch "
                        f"each process sees ({rows} sequences)",
                        f"use a divisor of {rows}",
                    )
        if self.rollout == "fast" and sharded:
            bad(
                "rollout",
                '"fast" runs on one device or under DDP, not under FSDP or DeepSpeed (it reads '
                "whole weight tensors at every decoding step)",
                'use rollout = "vllm" (gathers the weights once a step) or "hf"',
            )
        if lines:
            raise ConfigError(lines)
