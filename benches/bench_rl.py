"""Benchmarks of the RL loop on the tiny model, the old path beside the new one in one run.

What is measured (every row names exactly that; ratios in benches/README.md compare rows of
the same run):
- rollouts: ``HFRollout`` (``model.generate``) and ``FastRollout`` sampling responses to the
  same prompts (4 samples of each puzzle, as PPO draws them) at 64 and 256 rows and 128 and
  256 new tokens, on a policy SFT-primed on ``all_strategies`` traces here (it writes long
  answers, as the primed cells of the sweep do); extra_info has the response tokens and
  tokens/s, and, for the fast engine, the fraction of the machine's measured matmul
  throughput it reaches (``torch.matmul`` on the decoder's own shapes at the same rows, timed
  in the same run);
- one PPO step (``run_ppo`` from start-up to its last checkpoint, divided by its steps) at the
  headline sweep's shape (16 prompts x 4 samples, 128 tokens, 4 steps, a checkpoint at step
  4) and at the demo's (32 x 4, 200 tokens, 2 steps, the shipped base), ``rollout = "hf"``
  and ``"fast"``, and ``"fast"`` with ``share_prompts = false`` (every sample's prompt run
  again in the log-prob, value and update passes); extra_info has the per-phase means;
- SFT on the ``all_strategies`` priming set (400 records, as in the sweep): one epoch at
  batch 16, ``batching = "random"`` and ``"by_length"``, and ``"by_length"`` without
  activation checkpointing, with the shared preamble run once (the default there), run in
  every row, and with TRL's loss; extra_info has real tokens/s;
- the peak resident memory of one log-prob pass (a subprocess each, RSS sampled every 0.5 ms
  during the pass, growth over its start): every position's logits and fp32 log-softmax over
  the vocabulary against ``token_logprobs`` (response positions only, the fp32 softmax in
  chunks), on a random Qwen2 model with a 32k vocabulary, 8 rows of 640 + 640 tokens.

Run:  python3 -m pytest benches/bench_rl.py --benchmark-only -o addopts="" -p no:randomly
(about 6 minutes on 2 cores; nothing else should run meanwhile).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pytest_benchmark")
torch = pytest.importorskip("torch")

import cogstar  # noqa: E402
from cogstar.behaviors.priming import build_priming_set, priming_puzzles  # noqa: E402
from cogstar.io import Record, read_jsonl  # noqa: E402
from cogstar.tasks import in_share, rl_prompt  # noqa: E402
from cogstar.train import models, tiny  # noqa: E402
from cogstar.train.ppo.fast_rollout import FastRollout  # noqa: E402
from cogstar.train.ppo.rollout import HFRollout, encode_prompts  # noqa: E402

ENGINES = {"hf": HFRollout, "fast": FastRollout}


def _puzzles(n: int) -> list[cogstar.Puzzle]:
    pool = priming_puzzles(4 * n + 200, seed=11, sizes=(3,))
    return in_share(pool, "rl")[:n]


@pytest.fixture(scope="module")
def priming_set() -> list[Record]:
    """The sweep's all_strategies set: 400 traces of the tiny model's task, budget 200."""
    return build_priming_set("all_strategies", _puzzles(400), seed=0, budget=200)


@pytest.fixture(scope="module")
def primed(tmp_path_factory: pytest.TempPathFactory, priming_set: list[Record]) -> Path:
    """The shipped base SFT-primed on that set (75 steps, the sweep's recipe)."""
    from cogstar.train.sft import SFTConfig, run_sft

    config = SFTConfig(epochs=3, lr=1e-3, global_batch=16, micro_batch=16, max_length=512,
                       save_steps=1000, dtype="float32")  # fmt: skip
    return run_sft(tiny.packaged_dir(), priming_set, tmp_path_factory.mktemp("sft"), config,
                   quiet=True)  # fmt: skip


def _flops_per_token(model: Any, context: int) -> float:
    """Multiply-adds x 2 of one decoded token: every projection, the LM head, and attention
    over ``context`` cached positions."""
    c = model.config
    head = c.hidden_size // c.num_attention_heads
    linear = sum(
        p.numel() for n, p in model.named_parameters() if p.dim() == 2 and "embed" not in n
    )
    linear += c.vocab_size * c.hidden_size if c.tie_word_embeddings else 0
    return 2.0 * (linear + c.num_hidden_layers * 2 * c.num_attention_heads * head * context)


def _matmul_probe(model: Any, rows: int) -> float:
    """GFLOP/s of ``torch.matmul`` on the decoder's own weight shapes at ``rows`` rows."""
    shapes = [tuple(p.shape) for n, p in model.named_parameters() if p.dim() == 2]
    x = {s[1]: torch.randn(rows, s[1]) for s in shapes}
    weights = [torch.randn(s[1], s[0]) for s in shapes]
    for w in weights:
        torch.matmul(x[w.shape[0]], w)
    start, repeats = time.perf_counter(), 50
    for _ in range(repeats):
        for w in weights:
            torch.matmul(x[w.shape[0]], w)
    seconds = time.perf_counter() - start
    flops = repeats * sum(2.0 * rows * w.shape[0] * w.shape[1] for w in weights)
    return flops / seconds / 1e9


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize(("rows", "new_tokens"), [(64, 128), (256, 128), (64, 256), (256, 256)])
def test_rollout(benchmark, primed: Path, engine: str, rows: int, new_tokens: int) -> None:
    model, tok = models.load_policy(primed, dtype="float32")
    texts = [rl_prompt(p.numbers, p.target) for p in _puzzles(rows // 4) for _ in range(4)]
    ids, mask = encode_prompts(tok, texts, "cpu")
    sampler = ENGINES[engine](model, tok, max_new_tokens=new_tokens)
    benchmark.group = f"rollout: {rows} rows x {new_tokens} new tokens"
    torch.manual_seed(0)
    sampler.generate(ids[:8], mask[:8])  # warm-up
    batch = benchmark.pedantic(sampler.generate, args=(ids, mask), rounds=2, iterations=1)
    tokens = int(batch.response_mask.sum())
    seconds = benchmark.stats.stats.median
    benchmark.extra_info.update(
        response_tokens=tokens, tokens_per_s=round(tokens / seconds), prompt_tokens=int(mask.sum())
    )
    if engine == "fast":
        context = ids.shape[1] + new_tokens / 2
        achieved = (tokens * _flops_per_token(model, int(context))) / seconds / 1e9
        probe = _matmul_probe(model, rows)
        benchmark.extra_info.update(
            decode_gflops=round(achieved, 1),
            matmul_probe_gflops=round(probe, 1),
            fraction_of_matmul=round(achieved / probe, 3),
        )


SHAPES = {
    # the headline sweep: 16 prompts x 4 samples, <= 128 tokens, from the primed model
    "headline": dict(steps=4, prompts_per_step=16, samples_per_prompt=4, max_response_tokens=128,
                     actor_lr=5e-5, critic_lr=5e-4, actor_minibatch_prompts=8,
                     critic_minibatch_prompts=8, micro_batch=32, save_every=4),
    # tools/tiny_demo.py: 32 x 4, <= 200 tokens, from the shipped base
    "demo": dict(steps=2, prompts_per_step=32, samples_per_prompt=4, max_response_tokens=200,
                 actor_lr=1e-4, critic_lr=1e-3, actor_minibatch_prompts=16,
                 critic_minibatch_prompts=16, micro_batch=32, save_every=2),
}  # fmt: skip


@pytest.mark.parametrize("rollout", ["hf", "fast", "fast-unshared"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_ppo_step(benchmark, primed: Path, tmp_path: Path, shape: str, rollout: str) -> None:
    from cogstar.train.ppo.config import PPOConfig
    from cogstar.train.ppo.trainer import run_ppo

    engine, _, unshared = rollout.partition("-")
    settings: dict[str, Any] = {**SHAPES[shape], "rollout": engine, "share_prompts": not unshared}
    config = PPOConfig(**settings, dtype="float32")
    policy = primed if shape == "headline" else tiny.packaged_dir()
    puzzles = _puzzles(512)
    benchmark.group = f"one PPO step, {shape} shape (start-up and checkpoints included)"

    def train() -> Path:
        out = tmp_path / "ppo"
        shutil.rmtree(out, ignore_errors=True)
        return run_ppo(policy, puzzles, out, config)

    benchmark.pedantic(train, rounds=1, iterations=1)
    total = benchmark.stats.stats.median
    rows = read_jsonl(tmp_path / "ppo" / "metrics.jsonl")
    phases = {
        k: round(sum(r["seconds"][k] for r in rows) / len(rows), 3) for k in rows[0]["seconds"]
    }
    outside = total - sum(phases.values()) * len(rows)
    benchmark.extra_info.update(
        seconds_per_step=round(total / config.steps, 3),
        phases=phases,
        startup_and_checkpoints_s=round(outside, 3),
        response_tokens=round(sum(r["response_tokens"] for r in rows) / len(rows), 1),
    )


@pytest.mark.parametrize(
    ("batching", "checkpointing", "loss"),
    [
        ("random", True, "plain"),
        ("by_length", True, "plain"),
        ("by_length", False, "plain"),
        ("by_length", False, "unshared"),
        ("by_length", False, "trl"),
    ],
    ids=[
        "random",
        "by_length",
        "by_length-no-checkpointing",
        "by_length-no-checkpointing-unshared-preamble",
        "by_length-no-checkpointing-trl-loss",
    ],
)
def test_sft_epoch(
    benchmark,
    priming_set: list[Record],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    batching: str,
    checkpointing: bool,
    loss: str,
) -> None:
    from cogstar.train import sft
    from cogstar.train.sft import SFTConfig, run_sft

    if loss == "trl":  # no logits budget: TRL's tiled LM-head loss, as before cogstar's own
        monkeypatch.setattr(sft, "_FULL_LOGITS_BYTES", 0)
    if loss == "unshared":  # no common prefix found: every row runs the preamble itself
        monkeypatch.setattr(sft, "_common_prefix", lambda ids, mask: 0)

    config = SFTConfig(
        epochs=1,
        lr=1e-3,
        global_batch=16,
        micro_batch=16,
        max_length=512,
        save_steps=1000,
        dtype="float32",
        batching=batching,
        activation_checkpointing=checkpointing,
    )  # type: ignore[arg-type]
    _, tok = models.load_policy(tiny.packaged_dir(), dtype="float32")
    real = sum(len(tok(r.prompt + r.completion, add_special_tokens=False)["input_ids"]) + 1
               for r in priming_set)  # fmt: skip
    log: list[dict[str, float]] = []
    benchmark.group = "SFT, one epoch of the all_strategies priming set (400 records)"

    def train() -> Path:
        out = tmp_path / f"{batching}-{checkpointing}-{loss}"
        shutil.rmtree(out, ignore_errors=True)
        log.clear()
        return run_sft(tiny.packaged_dir(), priming_set, out, config, log=log, quiet=True)

    benchmark.pedantic(train, rounds=1, iterations=1)
    runtime = next(e["train_runtime"] for e in log if "train_runtime" in e)
    benchmark.extra_info.update(
        real_tokens=real,
        train_seconds=round(runtime, 2),
        real_tokens_per_s=round(real / runtime),
    )


_PASS = textwrap.dedent(
    """
    import json, sys, threading, time, psutil, torch
    from transformers import AutoModelForCausalLM, Qwen2Config
    from cogstar.train.ppo.rollout import Batch, token_logprobs
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=32000, hidden_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, intermediate_size=256)
    model = AutoModelForCausalLM.from_config(config).eval()
    prompt = torch.randint(0, 32000, (8, 640)); response = torch.randint(0, 32000, (8, 640))
    batch = Batch(prompt, torch.ones_like(prompt), response, torch.ones(8, 640))
    me = psutil.Process()
    start = peak = me.memory_info().rss
    running = True
    def watch():
        global peak
        while running:
            peak = max(peak, me.memory_info().rss)
            time.sleep(0.0005)
    watcher = threading.Thread(target=watch); watcher.start()
    with torch.no_grad():
        if sys.argv[1] == "full":  # every position's fp32 log-softmax over the vocabulary
            attn = batch.attention_mask
            logits = model(input_ids=batch.input_ids, attention_mask=attn).logits
            logp = torch.log_softmax(logits[:, 639:-1].float(), dim=-1)
            lp = logp.gather(-1, response.unsqueeze(-1)).squeeze(-1)
        else:
            lp = token_logprobs(model, batch)[0]
    running = False; watcher.join()
    print(json.dumps({"rss_growth_mib": (peak - start) / 2**20, "logprob_sum": float(lp.sum())}))
    """
)


@pytest.mark.parametrize("path", ["full", "lean"])
def test_logprob_pass_peak_memory(benchmark, path: str) -> None:
    benchmark.group = "one log-prob pass: 8 rows x 1,280 tokens, 32k vocabulary (peak RSS)"
    env = {**os.environ, "OMP_NUM_THREADS": "2"}

    def run() -> dict[str, float]:
        done = subprocess.run([sys.executable, "-c", _PASS, path], capture_output=True,
                              text=True, env=env, check=True)  # fmt: skip
        return json.loads(done.stdout.strip().splitlines()[-1])

    found = benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update({k: round(v, 1) for k, v in found.items()})
