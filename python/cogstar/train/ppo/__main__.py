"""Run PPO from the command line (single process, or under ``accelerate launch``).

    cogstar generate puzzles --count 100000 --seed 0 --out data/train.jsonl
    python -m cogstar.train.ppo runs/x/sft/final runs/x/ppo --puzzles data/train.jsonl \\
        --config ppo.toml --set steps=20
    accelerate launch --config_file configs/accelerate/fsdp_4gpu.yaml \\
        -m cogstar.train.ppo runs/x/sft/final runs/x/ppo --puzzles data/train.jsonl

The config is :class:`cogstar.train.ppo.config.PPOConfig`, read by the loader ``cogstar run``
uses: a TOML file with its keys (or a ``[ppo]`` table, so a whole spec works), or the resolved
``ppo/config.json`` a run writes; ``--set KEY=VALUE`` overrides one key. Rerunning the same
command resumes from the last checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cogstar.config import add_config_arguments, config_from_args
from cogstar.errors import CogstarError
from cogstar.io import read_puzzles
from cogstar.train.ppo.config import PPOConfig
from cogstar.train.tracking import Tracking, add_tracking_arguments


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m cogstar.train.ppo", description=__doc__.split("\n")[0]
    )
    ap.add_argument("model", help="policy folder (e.g. the SFT stage's final/)")
    ap.add_argument("out", help="run folder: checkpoints, metrics.jsonl")
    ap.add_argument(
        "--puzzles", type=Path, required=True, help='puzzle rows: {"numbers": [...], "target": N}'
    )
    add_config_arguments(ap, PPOConfig)
    add_tracking_arguments(ap)
    args = ap.parse_args(argv)
    try:
        config = config_from_args(PPOConfig, args)
        puzzles = read_puzzles(args.puzzles, "make one with `cogstar generate puzzles`")
    except CogstarError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from cogstar.train.ppo.trainer import run_ppo  # imports torch

    last = run_ppo(args.model, puzzles, args.out, config, tracking=Tracking.from_args(args))
    print(f"last checkpoint: {last}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
