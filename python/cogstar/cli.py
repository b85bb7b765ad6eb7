"""The ``cogstar`` command line.

    cogstar solve 25 50 75 100 3 6 --target 952 --rules classic --all
    cogstar score --numbers 44 19 35 --target 98 "Assistant: <answer>44 + 19 + 35</answer>"
    cogstar score rollouts.jsonl              # lines of {"text", "numbers", "target"}
    cogstar generate puzzles --count 1000 --seed 0 --out puzzles.jsonl
    cogstar generate puzzles --count 1000 --seed 0 --priming --out priming_puzzles.jsonl

Nothing here imports torch, so every command starts instantly.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

import cogstar

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


class UsageError(Exception):
    """A mistake in the command's input, reported without a traceback."""


def _solve(args: argparse.Namespace) -> int:
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


def _read_jsonl(path: Path) -> tuple[list[str], list[list[int]], list[int]]:
    texts, numbers, targets = [], [], []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                texts.append(str(row["text"]))
                numbers.append([int(n) for n in row["numbers"]])
                targets.append(int(row["target"]))
            except (ValueError, KeyError, TypeError) as err:
                raise UsageError(
                    f"{path}:{lineno}: expected a JSON object with text, numbers and target "
                    f"({type(err).__name__}: {err})"
                ) from None
    return texts, numbers, targets


def _score(args: argparse.Namespace) -> int:
    source = args.text_or_file
    path = Path(source) if source not in (None, "-") else None
    if path is not None and path.suffix == ".jsonl":
        if not path.exists():
            raise UsageError(f"{path}: no such file")
        texts, numbers, targets = _read_jsonl(path)
        batch = cogstar.score_batch(texts, numbers, targets, mode=args.mode)
        table = Table(title=f"{path} ({len(batch)} responses, mode={args.mode})")
        table.add_column("outcome")
        table.add_column("count", justify="right")
        table.add_column("share", justify="right")
        for outcome, n in Counter(str(o) for o in batch.outcomes).most_common():
            table.add_row(outcome, str(n), f"{n / len(batch):.1%}")
        console.print(table)
        console.print(
            f"accuracy {batch.accuracy:.4f}, mean reward {sum(batch.values) / max(1, len(batch)):.4f}"
        )
        return 0
    if args.numbers is None or args.target is None:
        raise UsageError(
            "scoring one response needs --numbers and --target (or give a .jsonl file)"
        )
    text = sys.stdin.read() if source in (None, "-") else source
    s = cogstar.score(text, args.numbers, args.target, mode=args.mode)
    console.print(
        f"value {s.value}  outcome {s.outcome}  answer {s.answer!r}  result {s.result}",
        highlight=False,
    )
    return 0


def _generate(args: argparse.Namespace) -> int:
    options: dict[str, object] = {"sizes": tuple(args.sizes)}
    if args.priming:
        options |= {"target_range": (10, 25), "numbers_below_target": True, "rules": "classic"}
    puzzles = cogstar.generate_puzzles(args.count, seed=args.seed, **options)  # type: ignore[arg-type]
    lines = (json.dumps({"numbers": p.numbers, "target": p.target}) for p in puzzles)
    if args.out is None:
        for line in lines:
            print(line)
    else:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(out.suffix + ".tmp")
        tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        tmp.replace(out)
        err_console.print(f"wrote {len(puzzles)} puzzles to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cogstar",
        description="Countdown tools of cogstar: solve puzzles, score responses, generate data.",
    )
    parser.add_argument("--version", action="version", version=f"cogstar {cogstar.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    solve = sub.add_parser("solve", help="solve a puzzle (first, all, or count of solutions)")
    solve.add_argument("numbers", type=int, nargs="+", help="the puzzle's numbers")
    solve.add_argument("--target", type=int, required=True)
    solve.add_argument("--rules", choices=["rational", "classic"], default="rational")
    group = solve.add_mutually_exclusive_group()
    group.add_argument("--all", action="store_true", help="every distinct solution")
    group.add_argument("--limit", type=int, default=1, help="at most this many solutions")
    group.add_argument("--count", action="store_true", help="only count distinct solutions")
    solve.set_defaults(run=_solve)

    score = sub.add_parser(
        "score", help="score one response (argument or stdin) or a JSONL file of responses"
    )
    score.add_argument(
        "text_or_file", nargs="?", help="response text, '-' for stdin, or FILE.jsonl"
    )
    score.add_argument("--numbers", type=int, nargs="+")
    score.add_argument("--target", type=int)
    score.add_argument("--mode", choices=["tinyzero", "strict"], default="tinyzero")
    score.set_defaults(run=_score)

    generate = sub.add_parser("generate", help="generate data")
    what = generate.add_subparsers(dest="what", required=True)
    puzzles = what.add_parser("puzzles", help="seeded Countdown puzzles as JSONL")
    puzzles.add_argument("--count", type=int, required=True)
    puzzles.add_argument("--seed", type=int, required=True)
    puzzles.add_argument("--sizes", type=int, nargs="+", default=[3, 4])
    puzzles.add_argument(
        "--priming", action="store_true", help="the priming distribution (targets 10-25, classic)"
    )
    puzzles.add_argument("--out", help="output file (default: stdout)")
    puzzles.set_defaults(run=_generate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (UsageError, ValueError, cogstar.CogstarError) as err:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
