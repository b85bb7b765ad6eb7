"""The GRPO ablation: a two-step run through TRL on the tiny model (its reward function is
tested in tests/integrations/test_trl.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

import cogstar  # noqa: E402
from cogstar.train import tiny  # noqa: E402
from cogstar.train.grpo import GRPOConfig, run_grpo  # noqa: E402


def test_grpo_runs_through_trl(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    tok = tiny.tiny_tokenizer()
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(tiny.tiny_config(tok)).save_pretrained(tmp_path / "p")
    tok.save_pretrained(tmp_path / "p")
    puzzles = cogstar.generate_puzzles(16, seed=3, sizes=(3,), rules="classic")
    settings = GRPOConfig(
        steps=2, prompts_per_step=2, samples_per_prompt=4, max_response_tokens=16, micro_batch=4
    )
    final = run_grpo(tmp_path / "p", puzzles, tmp_path / "grpo", settings)
    assert (final / "config.json").exists()
    assert run_grpo(tmp_path / "p", puzzles, tmp_path / "grpo", settings) == final
    with pytest.raises(ValueError, match=r"grpo.micro_batch: 5 does not divide"):
        GRPOConfig(micro_batch=5)
