"""verl: the reward functions fed what verl's reward managers pass (the decoded response only,
the ground truth as read back from Parquet, numpy inside), and the data layout written by
``cogstar generate puzzles --format verl``."""

from __future__ import annotations

from pathlib import Path

import pytest

import cogstar
from cogstar.cli import main
from cogstar.errors import ArgumentError, DataError
from cogstar.integrations.verl import compute_score, compute_score_batch, write_verl
from rollouts import make_completions

pd = pytest.importorskip("pandas")


def _written(tmp_path: Path, style: str = "base") -> object:
    out = tmp_path / f"{style}.parquet"
    assert main(["generate", "puzzles", "--count", "40", "--seed", "3", "--format", "verl",
                 "--style", style, "--out", str(out)]) == 0  # fmt: skip
    return pd.read_parquet(out)


def test_the_data_layout_is_verls(tmp_path: Path) -> None:
    frame = _written(tmp_path)
    assert list(frame.columns) == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    row = frame.iloc[0]
    assert row["data_source"] == "countdown" and row["ability"] == "math"
    truth = row["reward_model"]["ground_truth"]
    assert row["reward_model"]["style"] == "rule" and set(truth) == {"numbers", "target"}
    assert type(truth["numbers"]).__module__ == "numpy"  # what verl's reward gets
    (message,) = row["prompt"]
    assert message["role"] == "user" and message["content"].endswith("<think>")
    assert row["extra_info"]["split"] == "train" and frame.iloc[5]["extra_info"]["index"] == 5
    chat = _written(tmp_path, "chat").iloc[0]["prompt"]
    assert [m["role"] for m in chat] == ["system", "user"]


def test_compute_score_on_the_response_alone_equals_the_full_text_score(tmp_path: Path) -> None:
    frame = _written(tmp_path)
    items = [x for x in make_completions(200, seed=5) if "Assistant:" in x[0]]
    responses, truths, want = [], [], []
    for k, (_, completion, numbers, target) in enumerate(items):
        # the row's own puzzle when the response was made for another: a correct answer
        # becomes wrong_numbers, still scored the same both ways
        truth = frame.iloc[k % len(frame)]["reward_model"]["ground_truth"] if k % 3 == 0 else {
            "numbers": pd.Series(numbers).to_numpy(), "target": target}  # fmt: skip
        prompt = cogstar.tasks.rl_prompt(list(truth["numbers"]), int(truth["target"]))
        full = cogstar.score(prompt + completion, list(truth["numbers"]), int(truth["target"]))
        responses.append(completion)
        truths.append(truth)
        want.append({"score": full.value, "acc": float(str(full.outcome) == "correct"),
                     "outcome": str(full.outcome)})  # fmt: skip
    got = [compute_score("countdown", r, t, {"split": "train"}) for r, t in
           zip(responses, truths, strict=True)]  # fmt: skip
    assert got == want
    batch = compute_score_batch(
        ["countdown"] * len(responses), responses, truths, [None] * len(truths)
    )
    assert batch == want
    assert {w["outcome"] for w in want} >= {"correct", "wrong_numbers", "wrong_value"}


def test_bad_ground_truth_and_suffix() -> None:
    with pytest.raises(ArgumentError, match="ground_truth must be a mapping with 'numbers'"):
        compute_score("countdown", "x", {"answer": 3})
    with pytest.raises(DataError, match="verl reads its data as Parquet"):
        write_verl("train.jsonl", [])
