"""The offline CPU demonstration of issue 4: tiny base -> SFT on all_strategies -> PPO.

    python tools/tiny_demo.py OUT_DIR [--base DIR]

Prints held-out accuracy before SFT, after SFT and after PPO, with timings. Everything is
generated locally; about ten minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from cogstar.evaluate import EvalSettings, evaluate
from cogstar.ppo.trainer import PPOSettings, run_ppo
from cogstar.priming import build_priming_set, priming_puzzles
from cogstar.sft import SFTSettings, run_sft
from cogstar.tasks import is_heldout
from cogstar.tiny import base_dir


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--base", type=Path, default=None)
    ap.add_argument("--ppo-steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--test", type=int, default=128)
    ap.add_argument("--budget", type=int, default=300)
    ap.add_argument("--sft-lr", type=float, default=1e-3)
    ap.add_argument("--sft-epochs", type=float, default=2)
    ap.add_argument("--actor-lr", type=float, default=5e-5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {}
    t0 = time.time()
    base = args.base or base_dir()
    # held-out test puzzles, disjoint from the SFT and RL puzzles
    pool = priming_puzzles(8000, seed=11, sizes=(3,))
    held = [p for p in pool if is_heldout(p.numbers, p.target)]
    test = list({(tuple(p.numbers), p.target): p for p in held}.values())[: args.test]
    rest = [p for p in pool if not is_heldout(p.numbers, p.target)]
    sft_puzzles, rl_puzzles = rest[:1000], rest[1000:]
    ev = EvalSettings(samples=1, temperature=1.0, max_new_tokens=256, batch_size=64)
    t = time.time()
    r0 = evaluate(base, test, ev, out=out / "eval_base.jsonl")
    report["base"] = {
        "accuracy": r0.accuracy,
        "outcomes": r0.outcomes,
        "s": round(time.time() - t, 1),
    }
    print("base", report["base"], flush=True)
    records = build_priming_set("all_strategies", sft_puzzles, seed=0, budget=args.budget)
    t = time.time()
    sft = run_sft(
        base,
        records,
        out / "sft",
        SFTSettings(
            epochs=args.sft_epochs,
            lr=args.sft_lr,
            global_batch=32,
            micro_batch=16,
            max_length=512,
            save_steps=1000,
        ),
    )
    report["sft_s"] = round(time.time() - t, 1)
    r1 = evaluate(sft, test, ev, out=out / "eval_sft.jsonl")
    report["sft"] = {"accuracy": r1.accuracy, "outcomes": r1.outcomes, "mean_chars": r1.mean_chars}
    print("sft", report["sft"], report["sft_s"], flush=True)
    settings = PPOSettings(
        steps=args.ppo_steps,
        prompts_per_step=16,
        samples_per_prompt=4,
        max_response_tokens=256,
        actor_lr=args.actor_lr,
        critic_lr=5e-4,
        actor_minibatch_prompts=8,
        critic_minibatch_prompts=8,
        micro_batch=32,
        save_every=10,
        kl_coef=0.001,
    )
    t = time.time()
    last = run_ppo(
        sft,
        rl_puzzles,
        out / "ppo",
        settings,
        on_step=lambda m: print(
            m["step"],
            round(m["reward"], 3),
            round(m["accuracy"], 3),
            round(m["seconds"]["rollout"], 1),
            flush=True,
        ),
    )
    report["ppo_s"] = round(time.time() - t, 1)
    metrics = [json.loads(x) for x in (out / "ppo" / "metrics.jsonl").read_text().splitlines()]
    report["ppo_s_per_step"] = round(report["ppo_s"] / max(1, len(metrics)), 2)  # type: ignore[operator]
    report["rollout_tokens_per_s"] = round(
        sum(m["rollout_tokens_per_s"] for m in metrics) / len(metrics)
    )
    r2 = evaluate(last / "actor", test, ev, out=out / "eval_ppo.jsonl")
    report["ppo"] = {"accuracy": r2.accuracy, "outcomes": r2.outcomes, "mean_chars": r2.mean_chars}
    report["total_s"] = round(time.time() - t0, 1)
    print(json.dumps(report, indent=2))
    (out / "report.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
