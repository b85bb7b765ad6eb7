"""The GRPO ablation: the same prompts, data and reward through TRL's GRPOTrainer (no critic).

    from cogstar.train.grpo import GRPOConfig, run_grpo
    run_grpo("runs/x/sft/final", train_puzzles, "runs/x/grpo", GRPOConfig())

It shares PPO's knobs where they mean the same thing (prompts per step, samples per prompt,
temperature, response length, actor lr, KL coefficient), so the two algorithms can be
compared on equal terms; GRPO's group-normalised advantages replace the critic.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field

import cogstar
from cogstar.config import Found, Problem, StageConfig, divisor_at_most
from cogstar.errors import ConfigError
from cogstar.integrations.trl import countdown_reward
from cogstar.layout import TrainLayout
from cogstar.tasks import rl_prompt
from cogstar.train.tracking import Tracking, hf_environment

__all__ = ["GRPOConfig", "run_grpo"]


class GRPOConfig(StageConfig):
    """GRPO hyper-parameters, named as PPO's where they mean the same; ``seed`` (sampling,
    data order) is derived from ``[experiment].seed`` in a study."""

    SECTION = "grpo"

    steps: int = Field(default=250, ge=0)
    prompts_per_step: int = Field(default=256, ge=1)
    samples_per_prompt: int = Field(default=4, ge=2)  # a group needs two samples to compare
    temperature: float = Field(default=1.0, gt=0)
    max_response_tokens: int = Field(default=1024, ge=1)
    actor_lr: float = Field(default=1e-6, gt=0)
    kl_coef: float = Field(default=0.001, ge=0)
    micro_batch: int = Field(default=16, ge=1)
    reward_mode: Literal["tinyzero", "strict"] = "tinyzero"
    save_every: int = Field(default=10, ge=1)
    seed: int = Field(default=0, ge=0)
    dtype: Literal["float32", "bfloat16", "float16"] = "bfloat16"

    def problems(self) -> list[Problem]:
        found = Found()
        per_step = self.prompts_per_step * self.samples_per_prompt
        if per_step % self.micro_batch:
            found.add(
                ("micro_batch",),
                f"{self.micro_batch} does not divide prompts_per_step x samples_per_prompt "
                f"({per_step})",
                f"use a divisor of {per_step} (e.g. {divisor_at_most(per_step, self.micro_batch)})",
            )
        return found


def run_grpo(
    model: str | Path,
    puzzles: Sequence[cogstar.Puzzle],
    out: str | Path,
    config: GRPOConfig | None = None,
    *,
    tracking: Tracking | None = None,
) -> Path:
    """Train with TRL's GRPOTrainer; returns ``out/final``. A finished run is not redone.
    ``tracking``: experiment trackers for the trainer's logs (:mod:`cogstar.train.tracking`)."""
    import torch
    from datasets import Dataset  # type: ignore[import-untyped]
    from trl.trainer.grpo_config import GRPOConfig as TRLGRPOConfig
    from trl.trainer.grpo_trainer import GRPOTrainer

    from cogstar.train.models import load_policy
    from cogstar.train.sft import train_to_final

    config = config if config is not None else GRPOConfig()
    out = Path(out)
    layout = TrainLayout(out)
    if layout.final.exists():
        return layout.final
    on_gpu = torch.cuda.is_available()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    per_step = config.prompts_per_step * config.samples_per_prompt
    if per_step % (config.micro_batch * world):
        raise ConfigError(
            [
                f"grpo.micro_batch: prompts_per_step x samples_per_prompt ({per_step}) is not "
                f"a multiple of micro_batch x processes ({config.micro_batch * world}); fix: "
                "change one of them"
            ]
        )
    policy, tok = load_policy(model, dtype=config.dtype if on_gpu else "float32")
    data = Dataset.from_dict(
        {
            "prompt": [rl_prompt(p.numbers, p.target) for p in puzzles],
            "numbers": [p.numbers for p in puzzles],
            "target": [p.target for p in puzzles],
        }
    )
    args = TRLGRPOConfig(
        output_dir=str(layout.trainer),
        max_steps=config.steps,
        learning_rate=config.actor_lr,
        lr_scheduler_type="constant",
        per_device_train_batch_size=config.micro_batch,
        gradient_accumulation_steps=per_step // (config.micro_batch * world),
        num_generations=config.samples_per_prompt,
        temperature=config.temperature,
        max_completion_length=config.max_response_tokens,
        beta=config.kl_coef,
        save_strategy="steps",
        save_steps=config.save_every,
        logging_steps=1,
        report_to=list(tracking.trackers) if tracking else [],
        run_name=tracking.run_name if tracking else None,
        seed=config.seed,
        bf16=on_gpu and config.dtype == "bfloat16",
        use_cpu=not on_gpu,
    )
    with hf_environment(tracking or Tracking()):
        trainer = GRPOTrainer(
            model=policy,
            reward_funcs=countdown_reward(config.reward_mode),
            args=args,
            train_dataset=data,
            processing_class=tok,
        )
        return train_to_final(trainer, tok, out)
