"""Checkpoint evaluation: scoring, pass@k, saved completions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

import cogstar  # noqa: E402
from cogstar.train import tiny  # noqa: E402
from cogstar.train.evaluate import (  # noqa: E402
    EvalConfig,
    evaluate,
    numbers_exact,
    pass_at_k,
    written_steps,
)


def test_pass_at_k_estimator() -> None:
    assert pass_at_k(4, 0, 1) == 0.0
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(1 - 3 / 6)  # 1 - C(3,2)/C(4,2)
    assert pass_at_k(4, 3, 2) == 1.0
    with pytest.raises(ValueError, match="pass@5 needs at least 5 samples"):
        pass_at_k(4, 1, 5)


def test_evaluate_scores_and_saves_every_completion(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    tok = tiny.tiny_tokenizer()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(tiny.tiny_config(tok))
    puzzles = cogstar.generate_puzzles(6, seed=1, sizes=(3,))
    settings = EvalConfig(samples=2, max_new_tokens=16, batch_size=4, k=(1, 2))
    out = tmp_path / "eval" / "step_000000.jsonl"
    result = evaluate(model, puzzles, settings, tokenizer=tok, out=out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 12 and result.n == 6
    assert sum(result.outcomes.values()) == 12
    # an untrained model answers nothing: accuracy 0, and the saved values agree
    assert result.accuracy == 0.0 == sum(r["value"] for r in rows)
    assert set(result.pass_at_k) == {1, 2}
    assert 0 < result.mean_tokens <= 16
    assert json.loads(out.with_suffix(".summary.json").read_text())["n"] == 6
    with pytest.raises(ValueError, match=r"eval.k: pass@3 needs 3 samples .* eval\.samples is 2"):
        EvalConfig(samples=2, k=[3])


def test_decoding_keeps_tags_even_when_a_tokenizer_calls_them_special() -> None:
    from cogstar.train.ppo.rollout import Batch, decode_responses

    tok = tiny.tiny_tokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["<answer>", "</answer>"]})
    text = "</think>\n<answer>1 + 2</answer>"
    ids = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id, tok.pad_token_id]
    row = torch.tensor([ids])
    mask = torch.tensor([[1.0] * (len(ids) - 1) + [0.0]])
    batch = Batch(row[:, :1], torch.ones(1, 1, dtype=torch.long), row, mask)
    assert decode_responses(tok, batch) == [text]


def test_a_greedy_pass_beside_the_samples_and_truncation_recorded(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    tok = tiny.tiny_tokenizer()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(tiny.tiny_config(tok))
    puzzles = cogstar.generate_puzzles(5, seed=1, sizes=(3,))
    config = EvalConfig(samples=2, max_new_tokens=8, batch_size=4, also_greedy=True)
    out = tmp_path / "step_000000.jsonl"
    result = evaluate(model, puzzles, config, tokenizer=tok, out=out)
    sampled = [json.loads(line) for line in out.read_text().splitlines()]
    greedy = [json.loads(line) for line in (tmp_path / "step_000000.greedy.jsonl").open()]
    assert len(sampled) == 10 and len(greedy) == 5
    assert [r["puzzle"] for r in greedy] == [0, 1, 2, 3, 4]
    # a random model rarely ends within 8 tokens: the rows say which ones were cut off
    cut = [r["truncated"] for r in sampled]
    assert result.truncated == pytest.approx(sum(cut) / len(cut))
    assert all(r["tokens"] == 8 for r in sampled if r["truncated"])
    summary = json.loads((tmp_path / "step_000000.summary.json").read_text())
    assert summary["greedy"]["accuracy"] == 0.0 and summary["samples"] == 2
    assert summary["greedy"]["truncated"] == pytest.approx(sum(r["truncated"] for r in greedy) / 5)


def test_written_steps_counts_true_and_false_arithmetic() -> None:
    texts = [
        "<think>\n12 + 5 = 17. 17 * 2 = 34, too big.\n9 / 3 = 3\n</think>",
        "4 - 9 = 5 and 7 / 2 = 3.5 and 1.5 + 2 = 3.5",  # 4 - 9 = 5 is false
        "no arithmetic here",
    ]
    # "1.5 + 2" is not a step between whole numbers: only the "5 + 2"-free ones count
    assert written_steps(texts) == {"count": 5, "correct": 4 / 5}
    assert written_steps(["nothing"]) == {"count": 0, "correct": None}


def test_numbers_exact_is_over_answers_only() -> None:
    outcomes = ["correct", "wrong_value", "wrong_numbers", "no_answer", "unparsable"]
    assert numbers_exact(outcomes) == pytest.approx(3 / 4)
    assert numbers_exact(["no_answer", "answer_not_last_line"]) is None
