"""The GRPO ablation: the same prompts, data and reward through TRL's GRPOTrainer (no critic).

    from cogstar.train.grpo import GRPOSettings, run_grpo
    run_grpo("runs/x/sft/final", train_puzzles, "runs/x/grpo", GRPOSettings())

It shares PPO's knobs where they mean the same thing (prompts per step, samples per prompt,
temperature, response length, actor lr, KL coefficient), so the two algorithms can be
compared on equal terms; GRPO's group-normalised advantages replace the critic.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cogstar
from cogstar.tasks import rl_prompt

__all__ = ["GRPOSettings", "countdown_reward", "run_grpo"]


@dataclass(frozen=True)
class GRPOSettings:
    steps: int = 250
    prompts_per_step: int = 256
    samples_per_prompt: int = 4
    temperature: float = 1.0
    max_response_tokens: int = 1024
    actor_lr: float = 1e-6
    kl_coef: float = 0.001
    micro_batch: int = 16
    reward_mode: str = "tinyzero"
    save_every: int = 10
    seed: int = 0
    dtype: str = "bfloat16"


def countdown_reward(mode: str = "tinyzero") -> Any:
    """A TRL reward function: ``score_batch`` on prompt + completion, batched."""

    def reward(
        prompts: list[str],
        completions: list[str],
        numbers: list[list[int]],
        target: list[int],
        **_: Any,
    ) -> list[float]:
        scores = cogstar.score_batch(
            [p + c for p, c in zip(prompts, completions, strict=True)], numbers, target, mode=mode
        )
        return [scores[i].value for i in range(len(scores))]

    reward.__name__ = f"countdown_{mode}"
    return reward


def run_grpo(
    model: str | Path,
    puzzles: Sequence[cogstar.Puzzle],
    out: str | Path,
    settings: GRPOSettings | None = None,
) -> Path:
    """Train with TRL's GRPOTrainer; returns ``out/final``. A finished run is not redone."""
    import torch
    from datasets import Dataset  # type: ignore[import-untyped]
    from trl.trainer.grpo_config import GRPOConfig
    from trl.trainer.grpo_trainer import GRPOTrainer

    from cogstar.train.models import load_policy
    from cogstar.train.sft import train_to_final

    settings = settings or GRPOSettings()
    out = Path(out)
    final = out / "final"
    if final.exists():
        return final
    on_gpu = torch.cuda.is_available()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    per_step = settings.prompts_per_step * settings.samples_per_prompt
    if per_step % (settings.micro_batch * world):
        raise ValueError(
            f"prompts_per_step x samples_per_prompt ({per_step}) must be a multiple of "
            f"micro_batch x processes ({settings.micro_batch * world}); change one of them"
        )
    policy, tok = load_policy(model, dtype=settings.dtype if on_gpu else "float32")
    data = Dataset.from_dict(
        {
            "prompt": [rl_prompt(p.numbers, p.target) for p in puzzles],
            "numbers": [p.numbers for p in puzzles],
            "target": [p.target for p in puzzles],
        }
    )
    config = GRPOConfig(
        output_dir=str(out / "trainer"),
        max_steps=settings.steps,
        learning_rate=settings.actor_lr,
        lr_scheduler_type="constant",
        per_device_train_batch_size=settings.micro_batch,
        gradient_accumulation_steps=per_step // (settings.micro_batch * world),
        num_generations=settings.samples_per_prompt,
        temperature=settings.temperature,
        max_completion_length=settings.max_response_tokens,
        beta=settings.kl_coef,
        save_strategy="steps",
        save_steps=settings.save_every,
        logging_steps=1,
        report_to=[],
        seed=settings.seed,
        bf16=on_gpu and settings.dtype == "bfloat16",
        use_cpu=not on_gpu,
    )
    trainer = GRPOTrainer(
        model=policy,
        reward_funcs=countdown_reward(settings.reward_mode),
        args=config,
        train_dataset=data,
        processing_class=tok,
    )
    return train_to_final(trainer, tok, out)
