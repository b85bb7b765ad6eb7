"""The offline CPU demonstration of issue 4: tiny base -> SFT on all_strategies -> PPO.

    python tools/tiny_demo.py OUT_DIR [--base DIR]

Prints held-out accuracy (greedy, and one sample at T = 1.0) before SFT, after SFT and after
PPO, with timings, and writes them to OUT_DIR/report.json. Everything is generated locally.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from cogstar.behaviors.priming import build_priming_set, priming_puzzles
from cogstar.tasks import in_share
from cogstar.train.evaluate import EvalConfig, evaluate
from cogstar.train.ppo.config import PPOConfig
from cogstar.train.ppo.trainer import run_ppo
from cogstar.train.sft import SFTConfig, run_sft
from cogstar.train.tiny import base_dir


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--base", type=Path, default=None)
    ap.add_argument("--ppo-steps", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--test", type=int, default=128)
    ap.add_argument("--budget", type=int, default=250)
    ap.add_argument("--sft-lr", type=float, default=1e-3)
    ap.add_argument("--sft-epochs", type=float, default=4)
    ap.add_argument("--actor-lr", type=float, default=1e-4)
    ap.add_argument("--critic-lr", type=float, default=1e-3)
    ap.add_argument("--prompts", type=int, default=32, help="PPO prompts per step")
    ap.add_argument("--samples", type=int, default=4, help="PPO samples per prompt")
    ap.add_argument("--max-tokens", type=int, default=200, help="PPO response limit")
    ap.add_argument("--entropy-coef", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0, help="PPO seed")
    ap.add_argument("--sft", type=Path, default=None, help="reuse this SFT model (skip SFT)")
    ap.add_argument("--skip-base", action="store_true", help="do not evaluate the base")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {}
    t0 = time.time()
    base = args.base or base_dir()
    # test puzzles from the test share, SFT from the pretrain share, RL from the rl share
    pool = priming_puzzles(8000, seed=11, sizes=(3,))
    held = in_share(pool, "test")
    test = list({(tuple(p.numbers), p.target): p for p in held}.values())[: args.test]
    sft_puzzles, rl_puzzles = in_share(pool, "pretrain")[:1000], in_share(pool, "rl")
    sampled = EvalConfig(samples=1, temperature=1.0, max_new_tokens=256, batch_size=64)
    greedy = EvalConfig(greedy=True, max_new_tokens=256, batch_size=64)

    def held_out(model: Path, name: str) -> dict[str, object]:
        t = time.time()
        g = evaluate(model, test, greedy, out=out / f"eval_{name}_greedy.jsonl")
        s = evaluate(model, test, sampled, out=out / f"eval_{name}_sampled.jsonl")
        row = {
            "greedy": g.accuracy,
            "sampled": s.accuracy,
            "outcomes_sampled": s.outcomes,
            "mean_chars_sampled": s.mean_chars,
            "eval_s": round(time.time() - t, 1),
        }
        print(name, row, flush=True)
        return row

    report["test_puzzles"] = len(test)
    if not args.skip_base:
        report["base"] = held_out(base, "base")
    if args.sft is not None:
        sft = args.sft
    else:
        records = build_priming_set("all_strategies", sft_puzzles, seed=0, budget=args.budget)
        t = time.time()
        sft = run_sft(
            base,
            records,
            out / "sft",
            SFTConfig(
                epochs=args.sft_epochs,
                lr=args.sft_lr,
                global_batch=16,
                micro_batch=16,
                max_length=512,
                save_steps=1000,
            ),
        )
        report["sft_s"] = round(time.time() - t, 1)
    report["sft"] = held_out(sft, "sft")
    settings = PPOConfig(
        steps=args.ppo_steps,
        prompts_per_step=args.prompts,
        samples_per_prompt=args.samples,
        max_response_tokens=args.max_tokens,
        actor_lr=args.actor_lr,
        critic_lr=args.critic_lr,
        actor_minibatch_prompts=args.prompts // 2,
        critic_minibatch_prompts=args.prompts // 2,
        micro_batch=32,
        save_every=10,
        kl_coef=0.001,
        entropy_coef=args.entropy_coef,
        seed=args.seed,
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
    report["ppo_steps"] = len(metrics)
    report["ppo"] = held_out(last / "actor", "ppo")
    report["total_s"] = round(time.time() - t0, 1)
    print(json.dumps(report, indent=2))
    (out / "report.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
