"""Budgeting rewrites into priming-format records, and continued pretraining on the tiny model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

import cogstar  # noqa: E402
from cogstar.behaviors.priming import split_completion  # noqa: E402
from cogstar.errors import ConfigError  # noqa: E402
from cogstar.io import read_records, write_records  # noqa: E402
from cogstar.pretrain import Rewrite  # noqa: E402
from cogstar.pretrain.budget import (  # noqa: E402
    budget_records,
    build_pool_dataset,
    split,
    to_record,
)
from cogstar.pretrain.train import (  # noqa: E402
    PretrainConfig,
    main,
    run_continued_pretraining,
)
from cogstar.tasks import priming_prompt  # noqa: E402
from cogstar.train import models, tiny  # noqa: E402
from cogstar.train.sft import records_dataset as _dataset  # noqa: E402
from cogstar.train.sft import trainer_config  # noqa: E402
from cogstar.train.tiny import packaged_dir  # noqa: E402


def _rewrites(n: int, pool: str = "rich") -> list[Rewrite]:
    out = []
    for i in range(n):
        a, b = 3 + i, 7 + 2 * i
        thoughts = f"I add {a} and {b}: {a} + {b} = {a + b}." + " I check it again." * (i % 4)
        out.append(Rewrite(f"d{i}", pool, f"What is {a} + {b}?", thoughts, str(a + b)))
    return out


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped tiny model, or (where it is not built) a random one of the same shape."""
    shipped = packaged_dir()
    if (shipped / "model.safetensors").exists():
        return shipped
    from transformers import AutoModelForCausalLM

    out = tmp_path_factory.mktemp("tiny")
    tok = tiny.tiny_tokenizer()
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(tiny.tiny_config(tok)).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tok(base: Path) -> Any:
    return models.load_tokenizer(base)


def _counter(tok: Any) -> Any:
    return lambda s: len(tok(s, add_special_tokens=False)["input_ids"])


# -- format and budget ------------------------------------------------------------------------


def test_a_rewrite_becomes_a_priming_record_in_the_countdown_template() -> None:
    rw = Rewrite("d", "minimized", "Make 5 from 2 and 3.", "2 + 3 = 5", "2 + 3")
    rec = to_record(rw)
    # the same template as the Countdown priming prompt, with the question as the user's text
    template = priming_prompt([1, 2], 3)
    head, tail = template.split("\nUser: ")
    assert rec.prompt == f"{head}\nUser: Make 5 from 2 and 3.\n" + tail[tail.index("Assistant:") :]
    assert rec.prompt.endswith("Assistant: Let me solve this step by step.\n")
    assert rec.completion == "<think>\n2 + 3 = 5\n</think>\n<answer>2 + 3</answer>"
    assert (rec.condition, rec.source, rec.numbers, rec.correct) == (
        "pretrain_minimized",
        "llm",
        [],
        False,
    )
    assert split_completion(rec.completion) == ("\n2 + 3 = 5\n", "\n<answer>2 + 3</answer>")
    # the reward reads it as a well-formed response: an answer after "Assistant:", on the last line
    score = cogstar.score(rec.prompt + rec.completion, [2, 3], 5, mode="strict")
    assert str(score.outcome) == "correct" and score.answer == "2 + 3"


def test_budget_is_respected_and_deterministic(tok: Any) -> None:
    records = [to_record(r) for r in _rewrites(40)]
    count = _counter(tok)
    sizes = {id(r): count(r.prompt + r.completion) for r in records}
    budget = sum(sizes.values()) // 3
    chosen = budget_records(records, budget, count, seed=1)
    used = sum(sizes[id(r)] for r in chosen)
    assert used <= budget and budget - used < min(sizes.values())  # greedy: nothing else fits
    assert budget_records(records, budget, count, seed=1) == chosen
    assert budget_records(records, budget, count, seed=2) != chosen
    assert [records.index(r) for r in chosen] == sorted(records.index(r) for r in chosen)
    with pytest.warns(UserWarning, match="short of the budget"):
        assert budget_records(records, 10 * budget, count) == records
    assert budget_records(records, 0, count) == []


def test_split_sizes_and_determinism() -> None:
    records = [to_record(r) for r in _rewrites(40)]
    train, test = split(records, 0.1, seed=3)
    assert (len(train), len(test)) == (36, 4)
    assert sorted(map(records.index, train + test)) == list(range(40))
    assert split(records, 0.1, seed=3) == (train, test)
    assert split(records, 0.1, seed=4) != (train, test)
    assert len(split(records[:5], 0.05)[1]) == 1  # a non-zero fraction holds out at least one
    assert split(records, 0.0) == (records, [])
    with pytest.raises(ValueError, match=r"test_fraction must be in \[0, 1\)"):
        split(records, 1.0)


def test_pool_dataset_on_disk(base: Path, tok: Any, tmp_path: Path) -> None:
    rewrites = _rewrites(30, "rich")
    count = _counter(tok)
    total = sum(count(to_record(r).prompt + to_record(r).completion) for r in rewrites)
    ds = build_pool_dataset(
        rewrites, "rich", tmp_path, budget_tokens=total // 2, tokenizer_source=base,
        test_fraction=0.2, seed=0,
    )  # fmt: skip
    train, test = list(read_records(ds.train)), list(read_records(ds.test))
    assert (len(train), len(test)) == (ds.train_records, ds.test_records)
    assert len(test) == round(0.2 * (len(train) + len(test)))
    assert ds.train_tokens + ds.test_tokens <= total // 2
    assert ds.train_tokens == sum(count(r.prompt + r.completion) for r in train)
    assert ds.dropped_by_budget == 30 - len(train) - len(test) > 0
    card = json.loads(ds.card.read_text())
    assert card["train"]["tokens"] == ds.train_tokens and card["short_of_budget"] is False
    assert card["dropped_by_budget"] == ds.dropped_by_budget
    ids = json.loads((tmp_path / "rich" / "ids.json").read_text())
    by_id = {r.id: to_record(r) for r in rewrites}
    assert [by_id[i] for i in ids["train"]] == train and [by_id[i] for i in ids["test"]] == test
    # the records round-trip through the priming files
    write_records(tmp_path / "again.jsonl", train)
    assert list(read_records(tmp_path / "again.jsonl")) == train
    # the same inputs give the same files
    again = build_pool_dataset(
        rewrites, "rich", tmp_path / "2", budget_tokens=total // 2, tokenizer_source=base,
        test_fraction=0.2, seed=0,
    )  # fmt: skip
    assert again.train.read_bytes() == ds.train.read_bytes()
    with pytest.raises(ValueError, match="pool\\(s\\) minimized given to the 'rich' dataset"):
        build_pool_dataset(
            _rewrites(2, "minimized"), "rich", tmp_path, budget_tokens=100,
            tokenizer_source=base,
        )  # fmt: skip


# -- continued pretraining ------------------------------------------------------------------------

SETTINGS = PretrainConfig(
    max_steps=3, global_batch=4, micro_batch=2, lr=1e-3, max_length=512, save_steps=2
)


def test_loss_covers_the_prompt_too(base: Path, tmp_path: Path) -> None:
    """The TRL tokenization: no BOS, EOS appended, and every token (prompt included) a label."""
    from trl import SFTTrainer

    records = [to_record(r) for r in _rewrites(2)]
    model, tok = models.load_policy(base, dtype="float32")
    config = trainer_config(SETTINGS, tmp_path, completion_only=False)
    assert config.completion_only_loss is False and config.packing is False
    trainer = SFTTrainer(
        model=model, args=config, train_dataset=_dataset(records, tok), processing_class=tok
    )
    row = trainer.train_dataset[0]
    prompt_ids = tok(records[0].prompt, add_special_tokens=False)["input_ids"]
    text_ids = tok(records[0].prompt + records[0].completion, add_special_tokens=False)["input_ids"]
    assert row["input_ids"] == [*text_ids, tok.eos_token_id]  # no BOS, EOS closes the text
    assert row["input_ids"][: len(prompt_ids)] == prompt_ids
    assert row["labels"] == row["input_ids"]  # the loss covers prompt and completion
    batch = next(iter(trainer.get_train_dataloader()))
    shown = batch["labels"][batch["attention_mask"].bool()]
    assert (shown != -100).all() and (
        batch["labels"][~batch["attention_mask"].bool()] == -100
    ).all()


def test_continued_pretraining_trains_resumes_and_feeds_ppo(base: Path, tmp_path: Path) -> None:
    records = [to_record(r) for r in _rewrites(12)]
    out = tmp_path / "cpt"
    log: list[dict[str, float]] = []
    final = run_continued_pretraining(base, records, out, SETTINGS, quiet=True, on_log=log.append)
    assert final == out / "final" and (final / "tokenizer.json").exists()
    losses = [e["loss"] for e in log if "loss" in e]
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    before, _ = models.load_policy(base, dtype="float32")
    after, tok = models.load_policy(final, dtype="float32")
    changed = [
        not torch.equal(a, b)
        for a, b in zip(before.state_dict().values(), after.state_dict().values(), strict=True)
    ]
    assert all(changed), "every parameter tensor should have moved"
    assert tok.padding_side == "left"

    # a finished run is not redone
    again: list[dict[str, float]] = []
    assert run_continued_pretraining(base, records, out, SETTINGS, on_log=again.append) == final
    assert again == []

    # a run interrupted after step 2 resumes from that checkpoint: only step 3 is trained again
    saved = sorted(p.name for p in (out / "trainer").glob("checkpoint-*"))
    assert saved == ["checkpoint-2", "checkpoint-3"]
    shutil.rmtree(final)
    shutil.rmtree(out / "trainer" / "checkpoint-3")
    resumed: list[dict[str, float]] = []
    run_continued_pretraining(base, records, out, SETTINGS, quiet=True, on_log=resumed.append)
    assert [e["step"] for e in resumed if "loss" in e] == [3.0]

    # the checkpoint is a policy that the PPO stage starts from
    from cogstar.train.ppo.config import PPOConfig
    from cogstar.train.ppo.trainer import run_ppo

    ppo = PPOConfig(
        steps=1, prompts_per_step=2, samples_per_prompt=2, max_response_tokens=16,
        actor_minibatch_prompts=2, critic_minibatch_prompts=2, micro_batch=4,
    )  # fmt: skip
    puzzles = cogstar.generate_puzzles(4, seed=3, sizes=(3,), rules="classic")
    step = run_ppo(final, puzzles, tmp_path / "ppo", ppo)
    assert step.name == "step_000001"


def test_settings_and_input_errors(base: Path, tmp_path: Path) -> None:
    # the messages name the key as a spec writes it (the drifted copy said "pretrain.")
    with pytest.raises(
        ValueError,
        match=r"curation.training.global_batch: 10 is not a multiple of "
        r"curation.training.micro_batch \(4\)",
    ):
        PretrainConfig(global_batch=10, micro_batch=4)
    with pytest.raises(
        ConfigError, match=r"curation.training.global_batch: 8 .* x processes \(3\)"
    ):
        PretrainConfig(global_batch=8, micro_batch=2).check_processes(3)
    with pytest.raises(ValueError, match=r"warmup_ratio\n.*less than 1"):
        PretrainConfig(warmup_ratio=1.5)
    with pytest.raises(ValueError, match="no records to pretrain on"):
        run_continued_pretraining(base, [], tmp_path / "x")


def test_command_line(base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_records(tmp_path / "train.jsonl", [to_record(r) for r in _rewrites(4)])
    write_records(tmp_path / "test.jsonl", [to_record(r) for r in _rewrites(2)])
    argv = [str(base), str(tmp_path / "train.jsonl"), str(tmp_path / "out"), "--quiet"]
    config = tmp_path / "cpt.toml"
    config.write_text("[curation.training]\nmax_steps = 1\nglobal_batch = 2\nmicro_batch = 2\n")
    argv += ["--valid", str(tmp_path / "test.jsonl"), "--config", str(config)]
    argv += ["--set", "max_length=256", "--set", "curation.training.lr=1e-3"]
    assert main(argv) == 0
    assert "checkpoint: " in capsys.readouterr().out
    assert (tmp_path / "out" / "final" / "model.safetensors").exists()


def test_rewrite_budget_train_end_to_end_offline(base: Path, tmp_path: Path) -> None:
    """Documents -> scripted local LLM -> records under a budget -> a trained checkpoint."""
    import re

    from cogstar.llm import OpenAIBackend
    from cogstar.pretrain import Document
    from cogstar.pretrain.rewrite import read_rewrites, rewrite_documents
    from loopback import openai_server

    def reply(user: str) -> str:
        a, b = map(int, re.findall(r"\d+", user.split("<document>")[1])[:2])
        return (
            f"<question>What is {a} * {b}?</question><thoughts>I multiply: {a} * {b} = {a * b}. "
            f"I check: {a * b} / {b} = {a}, which agrees.</thoughts><answer>{a * b}</answer>"
        )

    docs = [Document(f"d{i}", f"Multiply {i + 2} by {i + 5}.") for i in range(10)]
    with openai_server(reply) as (url, _):
        backend = OpenAIBackend(model="writer", base_url=url, api_key_env=None)
        stats = rewrite_documents(docs, "rich", tmp_path / "rich.jsonl", backend=backend)
    assert stats.done == 10
    ds = build_pool_dataset(
        read_rewrites(tmp_path / "rich.jsonl"), "rich", tmp_path / "data",
        budget_tokens=10_000, tokenizer_source=base, test_fraction=0.2, seed=0,
    )  # fmt: skip
    assert (ds.train_records, ds.test_records, ds.dropped_by_budget) == (8, 2, 0)
    settings = PretrainConfig(max_steps=2, global_batch=4, micro_batch=4, lr=1e-3)
    final = run_continued_pretraining(
        base, list(read_records(ds.train)), tmp_path / "cpt", settings, quiet=True,
        eval_records=list(read_records(ds.test)),
    )  # fmt: skip
    models.load_policy(final, dtype="float32")
