"""SFT priming on the tiny model: a few real TRL steps, completion-only loss, resume, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from cogstar.behaviors.priming import build_priming_set, priming_puzzles  # noqa: E402
from cogstar.train import models, tiny  # noqa: E402
from cogstar.train.sft import SFTConfig, run_sft  # noqa: E402


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("tiny")
    tok = tiny.tiny_tokenizer()
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(tiny.tiny_config(tok)).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def test_sft_trains_the_completion_and_saves_a_loadable_checkpoint(
    tiny_dir: Path, tmp_path: Path
) -> None:
    records = build_priming_set("all_strategies", priming_puzzles(16, seed=1), budget=300)
    log: list[dict[str, float]] = []
    settings = SFTConfig(
        max_steps=3, global_batch=4, micro_batch=2, lr=1e-3, max_length=512, save_steps=2
    )
    final = run_sft(tiny_dir, records, tmp_path / "sft", settings, log=log)
    assert (final / "tokenizer.json").exists()
    before, _ = models.load_policy(tiny_dir, dtype="float32")
    after, tok = models.load_policy(final, dtype="float32")
    changed = [
        not torch.equal(a, b)
        for a, b in zip(before.state_dict().values(), after.state_dict().values(), strict=True)
    ]
    assert all(changed), "every parameter tensor should have moved"
    losses = [e["loss"] for e in log if "loss" in e]
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    assert tok.padding_side == "left" and tok.bos_token is None
    # a finished stage is not redone
    again = run_sft(tiny_dir, records, tmp_path / "sft", settings, log=(log2 := []))
    assert again == final and log2 == []


def test_sft_uses_completion_only_loss_with_eos(tiny_dir: Path) -> None:
    """The TRL tokenization we rely on: prompt tokens masked, EOS closing the completion."""
    from trl import SFTConfig, SFTTrainer

    from cogstar.train.sft import records_dataset as _dataset

    records = build_priming_set("negative_control", priming_puzzles(2, seed=2))
    model, tok = models.load_policy(tiny_dir, dtype="float32")
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(
            output_dir="/tmp/unused", completion_only_loss=True, report_to=[], use_cpu=True
        ),
        train_dataset=_dataset(records),
        processing_class=tok,
    )
    row = trainer.train_dataset[0]
    prompt_ids = tok(records[0].prompt, add_special_tokens=False)["input_ids"]
    n = len(prompt_ids)
    assert row["input_ids"][:n] == prompt_ids  # no BOS in front
    assert row["labels"][:n] == [-100] * n  # no loss on the prompt
    assert row["labels"][n:] == row["input_ids"][n:]  # loss on every completion token
    assert row["input_ids"][-1] == tok.eos_token_id  # EOS appended


def test_sft_settings_errors(tiny_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"sft.global_batch: 10 is not a multiple of sft.micro"):
        SFTConfig(global_batch=10, micro_batch=4)
    with pytest.raises(ValueError, match="no priming records"):
        run_sft(tiny_dir, [], tmp_path / "x")
