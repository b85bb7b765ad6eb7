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
    """What TRL trains on from our records: prompt tokens masked, EOS closing the completion."""
    from trl import SFTConfig, SFTTrainer

    from cogstar.train.sft import records_dataset as _dataset

    records = build_priming_set("negative_control", priming_puzzles(2, seed=2))
    model, tok = models.load_policy(tiny_dir, dtype="float32")
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(
            output_dir="/tmp/unused", completion_only_loss=True, report_to=[], use_cpu=True
        ),
        train_dataset=_dataset(records, tok),
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


def test_batches_grouped_by_length_cost_their_real_tokens_and_keep_the_loss(
    tiny_dir: Path,
) -> None:
    """``batching = "by_length"``: the trainer's batches hold records of about one length, so
    they carry far less padding; and padding never changes a batch's loss (the loss of a
    batch padded to its longest record equals the loss of the same batch padded to 2048)."""
    from cogstar.train.sft import records_dataset, trainer_class, trainer_config

    records = build_priming_set("all_strategies", priming_puzzles(64, seed=3))
    model, tok = models.load_policy(tiny_dir, dtype="float32")
    pads = {}
    for batching in ("random", "by_length"):
        config = SFTConfig(global_batch=8, micro_batch=8, max_length=1024, batching=batching)
        trainer = trainer_class(config)(
            model=model,
            args=trainer_config(config, tiny_dir / "unused", completion_only=True),
            train_dataset=records_dataset(records, tok),
            processing_class=tok,
        )
        batches = list(trainer.get_train_dataloader())
        pads[batching] = sum(int((b["attention_mask"] == 0).sum()) for b in batches)
        if batching == "by_length":
            batch = batches[0]
    assert pads["by_length"] * 5 < pads["random"]
    collate = trainer.data_collator
    rows = [trainer.train_dataset[i] for i in range(4)]
    tight = collate(rows)
    collate.pad_to_multiple_of = 2048
    wide = collate(rows)
    assert wide["input_ids"].shape[1] == 2048 > tight["input_ids"].shape[1]
    with torch.no_grad():
        losses = [model(**{k: v for k, v in b.items() if k != "completion_mask"}).loss
                  for b in (tight, wide)]  # fmt: skip
    assert losses[0].item() == pytest.approx(losses[1].item(), rel=1e-5)
    assert batch["input_ids"].shape[0] == 8


def test_activation_checkpointing_is_asked_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On by default (TRL's choice); off when the config says so, and off when an FSDP launch
    checkpoints activations itself (transformers refuses to be asked both ways)."""
    from cogstar.train.sft import trainer_config

    def asked(config: SFTConfig) -> bool:
        return bool(trainer_config(config, tmp_path, completion_only=True).activation_checkpointing)

    assert asked(SFTConfig()) is True
    assert asked(SFTConfig(activation_checkpointing=False)) is False
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    monkeypatch.setenv("FSDP_ACTIVATION_CHECKPOINTING", "true")
    assert asked(SFTConfig()) is False
    monkeypatch.setenv("FSDP_ACTIVATION_CHECKPOINTING", "false")
    assert asked(SFTConfig()) is True


@pytest.mark.parametrize("recompute", [True, False])
def test_the_plain_loss_equals_trls_loss_and_gradients(
    tiny_dir: Path, monkeypatch: pytest.MonkeyPatch, recompute: bool
) -> None:
    """With a small vocabulary SFT takes the log-softmax over the model's logits instead of
    TRL's tiled LM head: on the same batch both give the same loss, gradients and token
    accuracy; above the logits budget (here set to 0) TRL's own loss runs. Without
    activation checkpointing the plain loss also runs the shared preamble once."""
    from cogstar.train import sft

    records = build_priming_set("all_strategies", priming_puzzles(8, seed=4))
    config = SFTConfig(
        global_batch=4, micro_batch=4, max_length=512, activation_checkpointing=recompute
    )
    results = {}
    for path, budget in (("plain", sft._FULL_LOGITS_BYTES), ("trl", 0)):
        monkeypatch.setattr(sft, "_FULL_LOGITS_BYTES", budget)
        model, tok = models.load_policy(tiny_dir, dtype="float32")
        trainer = sft.trainer_class(config)(
            model=model,
            args=sft.trainer_config(config, tiny_dir / "unused", completion_only=True),
            train_dataset=sft.records_dataset(records, tok),
            processing_class=tok,
        )
        assert trainer._plain_loss() == (path == "plain")
        batch = next(iter(trainer.get_train_dataloader()))
        assert sft._common_prefix(batch["input_ids"], batch["attention_mask"]) > 20
        loss = trainer.compute_loss(model, dict(batch))
        loss.backward()
        grads = [p.grad.clone() for p in model.parameters()]
        results[path] = (loss.item(), grads, trainer._metrics["train"]["mean_token_accuracy"])
    (plain, g_plain, acc_plain), (trl, g_trl, acc_trl) = results["plain"], results["trl"]
    assert plain == pytest.approx(trl, rel=1e-5) and plain > 0
    for a, b in zip(g_plain, g_trl, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)
    assert acc_plain == pytest.approx(acc_trl)


def test_completion_loss_counts_only_labelled_tokens() -> None:
    from cogstar.train.sft import completion_loss

    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7)
    labels = torch.tensor([[-100, -100, 3, 4, -100], [-100, 1, 2, 6, 0]])
    expected = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, 7), labels[:, 1:].reshape(-1), ignore_index=-100
    )
    loss, logp = completion_loss(logits, labels)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert logp.shape == (2, 4, 7)
    # over the labelled tokens of a whole optimizer step (here twice as many) it halves
    assert completion_loss(logits, labels, 12)[0].item() == pytest.approx(expected.item() / 2)


def test_a_shared_prefix_runs_once_with_the_same_logits_and_gradients(tiny_dir: Path) -> None:
    from cogstar.train import sft

    model, _ = models.load_policy(tiny_dir, dtype="float32")
    torch.manual_seed(0)
    ids = torch.randint(5, 300, (3, 30))
    ids[:, :12] = ids[0, :12]  # a 12-token preamble in every row
    ids[1, 12] = ids[0, 12]  # row 1 shares one more, row 2 does not
    mask = torch.ones_like(ids)
    mask[1, 25:] = 0  # right padding
    ids[1, 25:] = 1
    assert sft._common_prefix(ids, mask) == 12
    out = []
    for shared in (False, True):
        model.zero_grad()
        forward = {"input_ids": ids, "attention_mask": mask}
        if shared:
            logits = sft.prefix_shared_logits(model, forward, 10)
        else:
            logits = model(**forward, use_cache=False, logits_to_keep=10).logits
        real = mask[:, -10:] > 0
        logits[real].logsumexp(-1).sum().backward()
        out.append((logits.detach(), [p.grad.clone() for p in model.parameters()]))
    (full, g_full), (part, g_part) = out
    assert part.shape == full.shape == (3, 10, full.shape[-1])
    real = mask[:, -10:] > 0
    torch.testing.assert_close(part[real], full[real], atol=1e-5, rtol=1e-5)
    for a, b in zip(g_part, g_full, strict=True):  # summed in another order: rounding only
        assert ((a - b).norm() / b.norm().clamp(min=1e-12)).item() < 1e-5
    # no prefix to share, or one row: the plain pass
    assert sft._common_prefix(torch.tensor([[1, 2], [3, 2]]), torch.ones(2, 2)) == 0
