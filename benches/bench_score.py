"""Benchmarks of TinyZero Countdown reward scoring as seen from Python (pytest-benchmark).

What is measured (every row names exactly that):
- the pure-Python reference (tests/reference_tinyzero.py) on a 5,000-item subsample (every
  20th) of the 100,000 rollouts; its per-item time is in extra_info["per_item_us"];
- `cogstar.score_batch` on all 100,000 rollouts (about 1.3 KB each, every kind of answer:
  tests/rollouts.py, seed 20240601), with as many threads as rayon gets (all cores unless
  RAYON_NUM_THREADS says otherwise; the row's extra_info records which);
- `cogstar.score` called once per rollout in a Python loop over the same 100,000 (one thread);
- `cogstar.score_completions` on the completions alone of the same rollouts (those whose prompt
  has an assistant marker, 97%): all at once, and a batch of 1,024 (the paper's PPO step)
  scored as a trainer scores it, straight after sampling (warm in cache); the reference on the
  same rollouts' full texts is the row to compare with;
- one 10 MB response: `cogstar.score` on three shapes (10 MB of reasoning lines then a correct
  answer; a 10 MB last line of 524,288 answers; 10 MB of unary minus), and the reference on the
  first.

Run:  pytest benches/bench_score.py --benchmark-only --benchmark-columns=min,median,mean,rounds
For a single-threaded batch:  RAYON_NUM_THREADS=1 pytest benches/bench_score.py -k score_batch
(rayon reads it once per process, so it cannot be switched inside one run).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

pytest.importorskip("pytest_benchmark")

_TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(_TESTS))

import reference_tinyzero as reference  # noqa: E402
import rollouts as rollout_corpus  # noqa: E402

N_ROLLOUTS = 100_000
SEED = 20240601
REFERENCE_STRIDE = 20  # the reference scores every 20th rollout: 5,000 of them
TEN_MB_CASES = ["10mb_reasoning_then_correct", "10mb_of_answers_on_last_line", "10mb_unary_minus"]


def _threads() -> str:
    return os.environ.get("RAYON_NUM_THREADS") or f"default ({os.cpu_count()} cores)"


def _per_item_us(benchmark, items: int) -> None:
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["per_item_us"] = round(stats.stats.median / items * 1e6, 3)


@pytest.fixture(scope="module")
def cogstar():
    pytest.importorskip("cogstar._core")
    import cogstar

    return cogstar


@pytest.fixture(scope="module")
def rollouts():
    items = rollout_corpus.make_responses(N_ROLLOUTS, SEED)
    return [t for t, _, _ in items], [n for _, n, _ in items], [g for _, _, g in items]


@pytest.fixture(scope="module")
def completions():
    items = [
        x for x in rollout_corpus.make_completions(N_ROLLOUTS, SEED)
        if "Assistant:" in x[0] or "<|im_start|>assistant" in x[0]
    ]  # fmt: skip
    return [c for _, c, _, _ in items], [n for *_, n, _ in items], [t for *_, t in items]


@pytest.fixture(scope="module")
def ten_mb_cases():
    return {c.name: c for c in rollout_corpus.make_adversarial() if c.name in TEN_MB_CASES}


# ------------------------------------------------------------------------------------------
# 100,000 realistic rollouts
# ------------------------------------------------------------------------------------------


def test_reference_python_5000_of_100k_rollouts(benchmark, rollouts) -> None:
    texts, numbers, targets = (x[::REFERENCE_STRIDE] for x in rollouts)
    benchmark.group = "score 5,000 of the 100,000 rollouts (pure-Python reference)"
    benchmark.extra_info["items"] = len(texts)

    def score_all() -> list:
        return [
            reference.reference_score(t, n, g)
            for t, n, g in zip(texts, numbers, targets, strict=True)
        ]

    results = benchmark.pedantic(score_all, rounds=3, iterations=1)
    _per_item_us(benchmark, len(texts))
    assert len(results) == len(texts)


def test_cogstar_score_batch_100k_rollouts(benchmark, cogstar, rollouts) -> None:
    texts, numbers, targets = rollouts
    benchmark.group = "score 100,000 rollouts"
    benchmark.extra_info["items"] = len(texts)
    benchmark.extra_info["rayon_threads"] = _threads()
    batch = benchmark(cogstar.score_batch, texts, numbers, targets)
    _per_item_us(benchmark, len(texts))
    assert len(batch) == len(texts)


def test_cogstar_score_loop_100k_rollouts(benchmark, cogstar, rollouts) -> None:
    texts, numbers, targets = rollouts
    benchmark.group = "score 100,000 rollouts"
    benchmark.extra_info["items"] = len(texts)
    score = cogstar.score

    def score_all() -> list:
        return [score(t, n, g) for t, n, g in zip(texts, numbers, targets, strict=True)]

    results = benchmark.pedantic(score_all, rounds=5, iterations=1)
    _per_item_us(benchmark, len(texts))
    assert len(results) == len(texts)


def test_cogstar_score_completions_100k(benchmark, cogstar, completions) -> None:
    texts, numbers, targets = completions
    benchmark.group = "score 100,000 rollouts"
    benchmark.extra_info["items"] = len(texts)
    benchmark.extra_info["rayon_threads"] = _threads()
    batch = benchmark(cogstar.score_completions, texts, numbers, targets)
    _per_item_us(benchmark, len(texts))
    assert len(batch) == len(texts)


def test_cogstar_score_completions_batch_of_1024(benchmark, cogstar, completions) -> None:
    texts, numbers, targets = (x[:1024] for x in completions)
    benchmark.group = "score one PPO step's 1,024 completions"
    benchmark.extra_info["items"] = len(texts)
    benchmark.extra_info["rayon_threads"] = _threads()
    batch = benchmark(cogstar.score_completions, texts, numbers, targets)
    _per_item_us(benchmark, len(texts))
    assert len(batch) == len(texts)


def test_cogstar_score_batch_of_1024(benchmark, cogstar, completions) -> None:
    """The same 1,024 with their prompts, through ``score_batch`` (the old path)."""
    texts, numbers, targets = (x[:1024] for x in completions)
    from cogstar.tasks import rl_prompt

    full = [rl_prompt(n, t) + c for c, n, t in zip(texts, numbers, targets, strict=True)]
    benchmark.group = "score one PPO step's 1,024 completions"
    benchmark.extra_info["items"] = len(full)
    benchmark.extra_info["rayon_threads"] = _threads()
    batch = benchmark(cogstar.score_batch, full, numbers, targets)
    _per_item_us(benchmark, len(full))
    assert len(batch) == len(full)


# ------------------------------------------------------------------------------------------
# One 10 MB response
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", TEN_MB_CASES)
def test_cogstar_score_one_10mb_response(benchmark, cogstar, ten_mb_cases, name: str) -> None:
    case = ten_mb_cases[name]
    benchmark.group = f"one 10 MB response: {name}"
    got = benchmark(cogstar.score, case.text, case.numbers, case.target)
    assert str(got.outcome) == case.outcome


def test_reference_python_one_10mb_response(benchmark, ten_mb_cases) -> None:
    name = "10mb_reasoning_then_correct"
    case = ten_mb_cases[name]
    benchmark.group = f"one 10 MB response: {name}"
    got = benchmark.pedantic(
        reference.reference_score,
        args=(case.text, case.numbers, case.target),
        rounds=5,
        iterations=1,
    )
    assert got.outcome == case.outcome
