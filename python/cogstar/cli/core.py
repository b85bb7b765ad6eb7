"""``cogstar solve``, ``cogstar score`` and ``cogstar generate puzzles``: the core from a shell."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from rich.table import Table

import cogstar
from cogstar.behaviors.priming import priming_puzzles
from cogstar.cli.common import console, err_console
from cogstar.errors import UsageError
from cogstar.io import (
    Completion,
    puzzle_row,
    read_completion_lines,
    read_completions,
    write_puzzles,
)
from cogstar.tasks import rl_prompt

__all__ = ["generate_puzzles", "score", "serve_reward", "solve"]


def _with_prompt(row: Completion) -> str:
    """A completion row without its prompt, behind the RL prompt of its puzzle (the prompt
    cogstar's evaluation and PPO give every model)."""
    assert row.numbers is not None and row.target is not None
    return rl_prompt(row.numbers, row.target) + row.completion


def solve(args: argparse.Namespace) -> int:
    limit = None if args.all else args.limit
    if args.count:
        n = cogstar.count_solutions(args.numbers, args.target, rules=args.rules)
        console.print(n)
        return 0
    solutions = cogstar.solve(args.numbers, args.target, rules=args.rules, limit=limit)
    if not solutions:
        err_console.print(
            f"no solution for {args.numbers} -> {args.target} under {args.rules} rules"
        )
        return 1
    for s in solutions:
        console.print(s, highlight=False)
    return 0


def score(args: argparse.Namespace) -> int:
    source = args.text_or_file
    one_text = args.numbers is not None or args.target is not None
    path = Path(source) if source not in (None, "-") else None
    if path is not None and path.suffix.lower() in (".jsonl", ".parquet"):
        return _score_rows(read_completions(path, require_puzzle=True), str(path), args)
    if source in (None, "-") and not one_text:  # JSON lines on stdin
        rows = read_completion_lines(sys.stdin, "<stdin>", require_puzzle=True)
        return _score_rows(rows, "<stdin>", args)
    if args.numbers is None or args.target is None:
        raise UsageError(
            "scoring one response needs --numbers and --target (or give a .jsonl/.parquet "
            "file, or JSON lines on stdin)"
        )
    text = sys.stdin.read() if source in (None, "-") else source
    s = cogstar.score(text, args.numbers, args.target, mode=args.mode)
    if args.json:
        print(json.dumps({"value": s.value, "outcome": str(s.outcome), "answer": s.answer,
                          "result": s.result}))  # fmt: skip
        return 0
    console.print(
        f"value {s.value}  outcome {s.outcome}  answer {s.answer!r}  result {s.result}",
        highlight=False,
    )
    return 0


def _score_rows(rows: list[Completion], where: str, args: argparse.Namespace) -> int:
    """Score completion rows: a row without its prompt is scored as the completion of its
    puzzle's RL prompt (as cogstar's evaluation rows are), one with it on the whole text."""
    batch = cogstar.score_batch(
        [_with_prompt(r) if r.prompt is None else r.text for r in rows],
        [r.numbers or [] for r in rows],
        [r.target or 0 for r in rows],
        mode=args.mode,
    )
    counts = Counter(str(o) for o in batch.outcomes)
    mean = sum(batch.values) / max(1, len(batch))
    if args.json:
        if args.per_item:
            for i in range(len(batch)):
                s = batch[i]
                print(json.dumps({"value": s.value, "outcome": str(s.outcome), "answer": s.answer}))
        print(json.dumps({"source": where, "n": len(batch), "mode": args.mode,
                          "accuracy": batch.accuracy, "mean_reward": mean,
                          "outcomes": dict(counts.most_common())}))  # fmt: skip
        return 0
    table = Table(title=f"{where} ({len(batch)} responses, mode={args.mode})")
    table.add_column("outcome")
    table.add_column("count", justify="right")
    table.add_column("share", justify="right")
    for outcome, n in counts.most_common():
        table.add_row(outcome, str(n), f"{n / len(batch):.1%}")
    console.print(table)
    console.print(f"accuracy {batch.accuracy:.4f}, mean reward {mean:.4f}")
    return 0


def generate_puzzles(args: argparse.Namespace) -> int:
    if args.priming:
        puzzles = priming_puzzles(args.count, args.seed, sizes=args.sizes)
    else:
        puzzles = cogstar.generate_puzzles(args.count, seed=args.seed, sizes=tuple(args.sizes))
    if args.format == "verl":
        from cogstar.integrations.verl import write_verl

        if args.out is None:
            raise UsageError("--format verl writes Parquet: give --out FILE.parquet")
        n = write_verl(args.out, puzzles, split=args.split, style=args.style)
        err_console.print(f"wrote {n} verl rows ({args.style} prompts) to {args.out}")
        return 0
    if args.out is None:
        for p in puzzles:
            print(json.dumps(puzzle_row(p)))
        return 0
    write_puzzles(args.out, puzzles)
    err_console.print(f"wrote {len(puzzles)} puzzles to {args.out}")
    return 0


def serve_reward(args: argparse.Namespace) -> int:
    import importlib.util

    missing = [m for m in ("starlette", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(
            f"the reward server needs the serve extra ({', '.join(missing)} missing): "
            'pip install -e ".[serve]"'
        )
    from cogstar.integrations.openrlhf import serve

    err_console.print(
        f"serving the Countdown reward ({args.mode}) on http://{args.host}:{args.port}"
    )
    serve(args.host, args.port, args.mode)
    return 0
