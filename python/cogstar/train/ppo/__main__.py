"""Run PPO from the command line (single process, or under ``accelerate launch``).

    cogstar generate puzzles --count 100000 --seed 0 --out data/train.jsonl
    python -m cogstar.train.ppo runs/x/sft/final runs/x/ppo --puzzles data/train.jsonl
    accelerate launch --config_file configs/accelerate/fsdp_4gpu.yaml \\
        -m cogstar.train.ppo runs/x/sft/final runs/x/ppo --puzzles data/train.jsonl

Every field of :class:`cogstar.train.ppo.trainer.PPOSettings` is an option (``--steps 250``,
``--prompts-per-step 256``, …). Rerunning the same command resumes from the last checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import cogstar
from cogstar.train.ppo.trainer import PPOSettings, run_ppo


def _puzzles(path: Path) -> list[cogstar.Puzzle]:
    out = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                out.append(cogstar.Puzzle([int(n) for n in row["numbers"]], int(row["target"])))
            except (ValueError, KeyError, TypeError) as err:
                raise SystemExit(
                    f'{path}:{lineno}: expected {{"numbers": [...], "target": N}} ({err}); '
                    "fix the line or regenerate the file with `cogstar generate puzzles`"
                ) from None
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m cogstar.train.ppo", description=__doc__.split("\n")[0]
    )
    ap.add_argument("model", help="policy folder (e.g. the SFT stage's final/)")
    ap.add_argument("out", help="run folder: checkpoints, metrics.jsonl")
    ap.add_argument("--puzzles", type=Path, required=True, help="JSONL of numbers/target")
    for f in dataclasses.fields(PPOSettings):
        kind = type(f.default)
        ap.add_argument(
            "--" + f.name.replace("_", "-"),
            type=kind,
            default=f.default,
            help=f"default {f.default}",
        )
    args = ap.parse_args(argv)
    settings = PPOSettings(
        **{f.name: getattr(args, f.name) for f in dataclasses.fields(PPOSettings)}
    )
    if not args.puzzles.exists():
        raise SystemExit(f"{args.puzzles}: no such file; make one with `cogstar generate puzzles`")
    last = run_ppo(args.model, _puzzles(args.puzzles), args.out, settings)
    print(f"last checkpoint: {last}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
