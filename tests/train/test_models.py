"""Models and tokenizers: the embedded tiny default, explicit dtypes, faithful tokenizer loading."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

import cogstar  # noqa: E402
from cogstar.errors import DataError  # noqa: E402
from cogstar.tasks import priming_prompt  # noqa: E402
from cogstar.train import models, tiny  # noqa: E402


@pytest.fixture(scope="module")
def tok():  # type: ignore[no-untyped-def]
    return tiny.tiny_tokenizer()


def test_tiny_tokenizer_is_deterministic_and_round_trips(tok) -> None:  # type: ignore[no-untyped-def]
    again = tiny.tiny_tokenizer()
    assert again.get_vocab() == tok.get_vocab()
    text = (
        priming_prompt([3, 5, 7], 26)
        + cogstar.synthesize_trace([3, 5, 7], 26, "all_strategies", seed=1).text
    )
    ids = tok(text)["input_ids"]
    assert tok.decode(ids) == text
    assert len(ids) < len(text) / 2  # the BPE merges pay off on this text
    # numbers below 1000 and the tags are single tokens, longer numbers split; no BOS
    pieces = tok.convert_ids_to_tokens(tok("<think>125</think>")["input_ids"])
    assert pieces == ["<think>", "125", "</think>"]
    assert tok.convert_ids_to_tokens(tok("4760")["input_ids"]) == ["476", "0"]
    assert tok.eos_token == models.EOS and tok.pad_token == models.PAD
    # any text encodes (byte level): no unknown token
    odd = "\u00e9\u2211 \x00 \U0001f600"
    assert tok.decode(tok(odd)["input_ids"]) == odd


def test_tiny_config_and_save_load_round_trip(tok, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from transformers import AutoModelForCausalLM

    cfg = tiny.tiny_config(tok)
    assert cfg.vocab_size == len(tok) and cfg.bos_token_id is None
    model = AutoModelForCausalLM.from_config(cfg)
    assert 0.5e6 < sum(p.numel() for p in model.parameters()) < 2e6
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    for dtype in ("float32", "bfloat16"):
        loaded, ltok = models.load_policy(tmp_path, dtype=dtype)
        assert str(loaded.dtype) == f"torch.{dtype}"
        assert ltok("25 - 5 = 20")["input_ids"] == tok("25 - 5 = 20")["input_ids"]
        assert ltok.padding_side == "left"
    with pytest.raises(ValueError, match="size must be one of tiny, small"):
        tiny.tiny_config(tok, size="huge")
    with pytest.raises(ValueError, match="dtype must be one of float32, bfloat16, float16"):
        models.load_policy(tmp_path, dtype="fp8")


def test_missing_folders_name_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such model folder; rerun the stage"):
        models.load_policy(tmp_path / "sft" / "final", dtype="float32")
    # hub ids with dots are not mistaken for missing folders
    assert models._looks_like_hub_id("Qwen/Qwen2.5-3B")
    assert models._looks_like_hub_id("meta-llama/Llama-3.2-3B")
    assert not models._looks_like_hub_id("runs/x/sft/final")
    assert not models._looks_like_hub_id("./final")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no tokenizer\.json"):
        models.load_tokenizer(tmp_path / "empty")


def test_a_replaced_tokenizer_is_caught_and_the_file_wins(
    tok, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """If AutoTokenizer hands back a tokenizer whose pre-tokenizer was replaced by a default
    (what transformers 5 does for some configs), load_tokenizer notices and wraps the file."""
    import transformers
    from tokenizers import pre_tokenizers

    tok.save_pretrained(tmp_path)
    real = transformers.AutoTokenizer.from_pretrained

    def mangled(*args, **kwargs):  # type: ignore[no-untyped-def]
        t = real(*args, **kwargs)
        t.backend_tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
        return t

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", mangled)
    loaded = models.load_tokenizer(tmp_path)
    assert loaded("x 125 = 5")["input_ids"] == tok("x 125 = 5")["input_ids"]


def test_tiny_corpus_is_behavior_free_and_prose_keeps_the_answers() -> None:
    import random

    from cogstar.tasks import puzzle_share
    from cogstar.train import tiny

    plain = tiny.pretraining_corpus(400, seed=2)
    assert plain == tiny.pretraining_corpus(400, seed=2, prose_share=0.0)  # the default
    mixed = tiny.pretraining_corpus(400, seed=2, prose_share=0.5)
    prose = [d for d in mixed if "Step 1:" not in d]
    assert 120 < len(prose) < 280  # about half retold
    for docs in (plain, mixed):
        counts = cogstar.count_behaviors_batch([d.split("Assistant:")[1] for d in docs])
        assert sum(c.verification + c.backtracking + c.subgoal + c.backward for c in counts) == 0
    # retelling keeps the steps and the answer, so the reward is unchanged
    puzzle = cogstar.generate_puzzles(1, seed=5, sizes=(3,), rules="classic")[0]
    trace = cogstar.synthesize_trace(puzzle.numbers, puzzle.target, "negative_control", seed=1)
    told = tiny.prose_derivation(trace.text, list(puzzle.numbers), puzzle.target, random.Random(0))
    assert str(puzzle.target) in told.split("\n")[1]
    for text in (trace.text, told):
        assert cogstar.score("Assistant: " + text, puzzle.numbers, puzzle.target).value == 1.0
    # every pretraining puzzle comes from the pretrain share: never an RL or a test puzzle
    shares = {puzzle_share(p.numbers, p.target) for p in tiny.pretraining_puzzles(500)}
    assert shares == {tiny.PRETRAIN_SHARE} == {"pretrain"}
    wide = tiny.wide_puzzles(500)
    assert {puzzle_share(p.numbers, p.target) for p in wide} == {"pretrain"}
    assert max(p.target for p in wide) > 25  # wider than the task: copying the target pays
    # about half the documents pose wide puzzles (most of their targets outside 10-25)
    mixed = tiny.pretraining_corpus(400, seed=2, prose_share=0.5, wide_share=0.5)
    targets = [int(d.split("equals ")[1].split(".")[0]) for d in mixed]
    assert 150 < sum(not 10 <= t <= 25 for t in targets) < 250
