"""The ``cogstar`` command line.

    cogstar solve 25 50 75 100 3 6 --target 952 --rules classic --all
    cogstar score --numbers 44 19 35 --target 98 "Assistant: <answer>44 + 19 + 35</answer>"
    cogstar score rollouts.jsonl              # lines of {"text", "numbers", "target"}
    cogstar generate puzzles --count 1000 --seed 0 --out puzzles.jsonl
    cogstar generate puzzles --count 1000 --seed 0 --priming --out priming_puzzles.jsonl
    cogstar generate priming --condition only_backtracking --count 1000 --out data/ob.parquet
    cogstar generate priming --condition all_strategies --count 1000 --out data/as.jsonl \
        --source llm --model gpt-4o-mini
    cogstar classify data/ob.parquet --per-item      # behavior counts (rule-based counter)
    cogstar classify rollouts.jsonl --judge llm --model gpt-4o-mini --json
    cogstar run experiments/priming_sweep.toml        # the whole study, resumable
    cogstar run experiments/priming_sweep.toml --dry-run --set ppo.steps=40
    cogstar report runs/priming_sweep --paper llama   # tables, figures, summary.json

Nothing here imports torch, so every command starts instantly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

import cogstar
from cogstar.behaviors import BEHAVIORS, count_behaviors_batch
from cogstar.behaviors.priming import (
    CONDITIONS,
    CONTROLS,
    DatasetCard,
    build_priming_set,
    dataset_card,
    priming_puzzles,
    write_card,
    write_records,
)
from cogstar.errors import CogstarError, UsageError
from cogstar.llm import AnthropicBackend, Backend, OpenAIBackend
from cogstar.study.report import build_report

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


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
    if args.priming:
        puzzles = priming_puzzles(args.count, args.seed, sizes=args.sizes)
    else:
        puzzles = cogstar.generate_puzzles(args.count, seed=args.seed, sizes=tuple(args.sizes))
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


@contextmanager
def _progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A Rich progress bar on stderr, driven by a backend's ``(done, total)`` callback."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _backend(args: argparse.Namespace, what: str) -> Backend:
    """The LLM backend the ``--provider/--model/--base-url/--api-key-env`` options describe."""
    if not args.model:
        raise UsageError(
            f"{what} needs --model, e.g. --model gpt-4o-mini (or the name a local "
            "OpenAI-compatible server serves, with --base-url http://127.0.0.1:8000/v1 "
            "--api-key-env none)"
        )
    options: dict[str, Any] = {"cache_dir": args.cache_dir, "max_concurrency": args.concurrency}
    if args.base_url:
        options["base_url"] = args.base_url
    if args.api_key_env is not None:
        none = args.api_key_env.lower() in ("", "none")
        options["api_key_env"] = None if none else args.api_key_env
    cls = OpenAIBackend if args.provider == "openai" else AnthropicBackend
    return cls(model=args.model, **options)


def _token_counter(name: str) -> Callable[[str], int]:
    """The token counter of a Hugging Face tokenizer (for the ``dots`` control)."""
    try:
        from transformers import AutoTokenizer
    except ImportError as err:
        raise UsageError(
            f"--tokenizer needs the transformers package ({err}); install cogstar's dependencies"
        ) from None
    try:
        tok = AutoTokenizer.from_pretrained(name)
    except OSError as err:
        raise UsageError(f"--tokenizer {name}: cannot load that tokenizer ({err})") from None

    def count(text: str) -> int:
        return len(tok(text, add_special_tokens=False).input_ids)

    return count


def _card_table(card: DatasetCard, title: str) -> Table:
    truth = card.truth_counts
    table = Table(title=title)
    table.add_column("")
    table.add_column("mean (rules)", justify="right")
    table.add_column("share with >= 1", justify="right")
    if truth is not None:
        table.add_column("mean (ground truth)", justify="right")
    pad = [""] * (2 if truth is not None else 1)
    table.add_row("records", f"{card.size:,}", *pad)
    table.add_row("accuracy", f"{card.accuracy:.1%}", *pad)
    table.add_row("completion chars", f"{card.mean_chars:,.1f}", *pad, end_section=True)
    for b in BEHAVIORS:
        row = [b, f"{card.mean_counts[b]:.2f}", f"{card.share_with[b]:.1%}"]
        if truth is not None:
            row.append(f"{truth[b]:.2f}")
        table.add_row(*row)
    return table


def _card_paths(out: Path) -> tuple[Path, Path]:
    return out.with_suffix(".card.md"), out.with_suffix(".card.json")


def _generate_priming(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix.lower() not in (".jsonl", ".parquet"):
        raise UsageError(
            f"--out {out}: unknown file type {out.suffix or '(no suffix)'!r}; use .jsonl or "
            ".parquet"
        )
    if args.count < 1:
        raise UsageError(f"--count must be at least 1, got {args.count}")
    llm = args.source == "llm"
    if llm and args.budget is not None:
        raise UsageError(
            "--budget (rough characters per trace) applies to --source synthetic only; an LLM's "
            "length is its max_tokens (1,024, the paper's setting)"
        )
    if args.condition == "dots" and args.tokenizer is None:
        raise UsageError(
            "the dots control needs the primed model's tokenizer: pass --tokenizer MODEL "
            "(a Hugging Face name or path, e.g. --tokenizer Qwen/Qwen2.5-3B)"
        )
    count_tokens = None if args.tokenizer is None else _token_counter(args.tokenizer)
    puzzles = priming_puzzles(args.count, args.seed)
    if llm:
        with (
            _backend(args, "--source llm") as backend,
            _progress(f"{args.condition} ({backend.model})") as update,
        ):
            records = build_priming_set(
                args.condition,
                puzzles,
                source="llm",
                backend=backend,
                tokenizer_count=count_tokens,
                progress=update,
            )
        how = (
            f"Written by {args.provider} model {args.model} (temperature 0.5, at most 1,024 "
            f"tokens) with cogstar's system prompt for the condition, for {args.count} puzzles "
            f"of the priming distribution (seed {args.seed})."
        )
    else:
        with err_console.status(f"synthesizing {args.count} {args.condition} traces"):
            records = build_priming_set(
                args.condition,
                puzzles,
                source="synthetic",
                seed=args.seed,
                tokenizer_count=count_tokens,
                budget=args.budget,
            )
        budget = (
            "lengths drawn per trace"
            if args.budget is None
            else f"length budget about {args.budget} characters"
        )
        how = (
            f"Synthesized offline by cogstar.synthesize_traces (seed {args.seed}, {budget}), "
            f"one trace per puzzle of the priming distribution (seed {args.seed}); each record "
            "stores the synthesizer's ground-truth behavior counts."
        )
    if args.condition in CONTROLS:
        how += f" The {args.condition} control is built from all_strategies traces."
    command = [
        "cogstar generate priming",
        f"--condition {args.condition}",
        f"--count {args.count}",
        f"--source {args.source}",
        f"--seed {args.seed}",
    ]
    if args.budget is not None:
        command.append(f"--budget {args.budget}")
    if args.tokenizer is not None:
        command.append(f"--tokenizer {args.tokenizer}")
    if llm:
        command += [f"--provider {args.provider}", f"--model {args.model}"]
    how += (
        " 'correct' is the TinyZero reward (value 1.0) on cogstar.tasks.priming_prompt + "
        f"completion. Command: `{' '.join(command)}`."
    )
    card = dataset_card(records, args.condition, generation=how)
    n = write_records(out, records)
    md, js = write_card(_card_paths(out)[0], card)
    console.print(_card_table(card, f"{args.condition} ({out})"))
    err_console.print(f"wrote {n} records to {out}, card to {md} and {js}", highlight=False)
    if n == 0:
        err_console.print(
            "[yellow]warning:[/] the set is empty (for --source llm no_positive keeps only the "
            "model's incorrect answers)"
        )
    return 0


_TEXT_FIELDS = ("completion", "text", "response")
_ITEM_HELP = (
    "a JSON object with a text field (completion, text or response) and optional numbers "
    "(a list of integers) and target (an integer)"
)


def _item(row: object) -> tuple[str, list[int] | None, int | None]:
    if not isinstance(row, dict):
        raise TypeError(f"got {type(row).__name__}")
    field = next((f for f in _TEXT_FIELDS if f in row), None)
    if field is None:
        raise ValueError("no completion, text or response field")
    if not isinstance(row[field], str):
        raise TypeError(f"{field} is {type(row[field]).__name__}, not a string")
    numbers = row.get("numbers")
    target = row.get("target")
    if numbers is not None and (
        not isinstance(numbers, list) or not all(isinstance(n, int) for n in numbers)
    ):
        raise TypeError(f"numbers must be a list of integers, got {numbers!r}")
    if target is not None and (isinstance(target, bool) or not isinstance(target, int)):
        raise TypeError(f"target must be an integer, got {target!r}")
    return row[field], numbers, target


def _read_items(path: Path) -> list[tuple[str, list[int] | None, int | None]]:
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".parquet"):
        raise UsageError(
            f"{path}: classify reads .jsonl or .parquet files, not {path.suffix or '(no suffix)'!r}"
        )
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    items = []
    if suffix == ".jsonl":
        with path.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    items.append(_item(json.loads(line)))
                except (ValueError, TypeError) as err:
                    raise UsageError(
                        f"{path}:{lineno}: expected {_ITEM_HELP} ({type(err).__name__}: {err}); "
                        "fix or delete that line"
                    ) from None
        return items
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    try:
        rows = pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as err:
        raise UsageError(f"{path}: not a readable Parquet file ({err})") from None
    for row, data in enumerate(rows, 1):
        try:
            items.append(_item(data))
        except (ValueError, TypeError) as err:
            raise UsageError(
                f"{path}: row {row}: expected {_ITEM_HELP} ({type(err).__name__}: {err})"
            ) from None
    return items


def _classify(args: argparse.Namespace) -> int:
    path = Path(args.file)
    # Check the judge's options before reading anything (a missing --model fails at once).
    backend = _backend(args, "--judge llm") if args.judge == "llm" else None
    try:
        items = _read_items(path)
        if not items:
            raise UsageError(f"{path}: no items to classify")
        texts = [t for t, _, _ in items]
        numbers = [n for _, n, _ in items]
        targets = [t for _, _, t in items]
        if backend is not None:
            with _progress(f"judge {backend.model}") as update:
                counted = count_behaviors_batch(
                    texts, numbers, targets, judge="llm", backend=backend, progress=update
                )
        else:
            counted = count_behaviors_batch(texts, numbers, targets, judge="rules")
    finally:
        if backend is not None:
            backend.close()
    per = [c.as_dict() for c in counted]
    n = len(per)
    mean = {b: sum(c[b] for c in per) / n for b in BEHAVIORS}
    share = {b: sum(c[b] > 0 for c in per) / n for b in BEHAVIORS}
    if args.json:
        out: dict[str, Any] = {
            "file": str(path),
            "judge": args.judge,
            "n": n,
            "mean": mean,
            "share_with_any": share,
        }
        if args.per_item:
            out["items"] = [
                {"index": i, "numbers": nums, "target": tgt, **{b: c[b] for b in BEHAVIORS}}
                for i, (c, nums, tgt) in enumerate(zip(per, numbers, targets, strict=True))
            ]
        sys.stdout.write(json.dumps(out) + "\n")
        return 0
    if args.per_item:
        items_table = Table(title=f"{path}: per item")
        items_table.add_column("#", justify="right")
        items_table.add_column("numbers")
        items_table.add_column("target", justify="right")
        for b in BEHAVIORS:
            items_table.add_column(b, justify="right")
        for i, (c, nums, tgt) in enumerate(zip(per, numbers, targets, strict=True)):
            items_table.add_row(
                str(i),
                "-" if nums is None else " ".join(map(str, nums)),
                "-" if tgt is None else str(tgt),
                *(str(c[b]) for b in BEHAVIORS),
            )
        console.print(items_table)
    table = Table(title=f"{path} ({n} items, judge={args.judge})")
    table.add_column("behavior")
    table.add_column("mean count", justify="right")
    table.add_column("share with >= 1", justify="right")
    table.add_column("total", justify="right")
    for b in BEHAVIORS:
        table.add_row(b, f"{mean[b]:.3f}", f"{share[b]:.1%}", str(sum(c[b] for c in per)))
    console.print(table)
    return 0


def _quiet_libraries() -> None:
    """Keep transformers/datasets/TRL chatter out of the live display."""
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore", module="transformers|trl|accelerate|datasets|torch")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


def _run(args: argparse.Namespace) -> int:
    from cogstar.study.progress import Reporter
    from cogstar.study.runner import run_experiment
    from cogstar.study.spec import load_spec, plan, render_plan

    if args.dry_run:
        spec = load_spec(args.spec, args.set)
        render_plan(plan(spec), console)
        return 0
    mode = "json" if args.json_log else "quiet" if args.quiet else "rich"
    _quiet_libraries()
    try:
        run_dir = run_experiment(
            args.spec,
            overrides=args.set,
            cells=args.cell,
            force=args.force,
            report=Reporter(mode, console),
            make_report=not args.no_report,
        )
    except KeyboardInterrupt:
        err_console.print(
            "[yellow]stopped.[/] Finished stages and checkpoints are kept; run the same "
            "command again to continue from where it stopped."
        )
        return 130
    if mode != "json":
        console.print(f"run directory: {run_dir}")
    return 0


def _tiny_pretrain(args: argparse.Namespace) -> int:
    from cogstar.train.tiny import pretrain

    out = pretrain(
        args.out, steps=args.steps, size=args.size, seed=args.seed, prose_share=args.prose_share
    )
    console.print(f"wrote {out}")
    return 0


def _report(args: argparse.Namespace) -> int:
    paper = None if args.paper == "none" else args.paper
    build_report(args.run_dir, console, paper=paper, figures=not args.no_figures)
    return 0


def _llm_options(parser: argparse.ArgumentParser, cache_dir: str) -> None:
    group = parser.add_argument_group("LLM backend")
    group.add_argument("--provider", choices=["openai", "anthropic"], default="openai")
    group.add_argument("--model", help="model name, e.g. gpt-4o-mini")
    group.add_argument(
        "--base-url", help="API base URL (default: the provider's; e.g. a local vLLM server)"
    )
    group.add_argument(
        "--api-key-env",
        help="environment variable holding the API key (default: OPENAI_API_KEY or "
        "ANTHROPIC_API_KEY); 'none' for a local server without keys",
    )
    group.add_argument("--cache-dir", default=cache_dir, help=f"reply cache (default: {cache_dir})")
    group.add_argument("--concurrency", type=int, default=8, help="requests in flight")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cogstar",
        description="Countdown tools of cogstar: solve puzzles, score responses, generate data, "
        "classify behaviors.",
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

    priming = what.add_parser(
        "priming",
        help="a priming set (condition or control) as JSONL or Parquet, with its dataset card",
        description="Build a priming set on puzzles of the priming distribution, write it "
        "(.jsonl or .parquet, by --out's suffix) and its card (FILE.card.md, FILE.card.json), "
        "and print the card.",
    )
    priming.add_argument(
        "--condition",
        required=True,
        choices=[*CONDITIONS, *CONTROLS],
        metavar="CONDITION",
        help=f"one of {', '.join(CONDITIONS)}; or a control: {', '.join(CONTROLS)}",
    )
    priming.add_argument("--count", type=int, required=True, help="number of puzzles")
    priming.add_argument("--out", required=True, help="output FILE.jsonl or FILE.parquet")
    priming.add_argument(
        "--source",
        choices=["synthetic", "llm"],
        default="synthetic",
        help="synthetic: cogstar's offline synthesizer (default); llm: ask a model",
    )
    priming.add_argument("--seed", type=int, default=0, help="puzzles and synthesizer seed")
    priming.add_argument(
        "--budget",
        type=int,
        metavar="CHARS",
        help="synthetic: rough length of a trace in characters (default: drawn per trace)",
    )
    priming.add_argument(
        "--tokenizer",
        metavar="MODEL",
        help="the dots control: the primed model's Hugging Face tokenizer",
    )
    _llm_options(priming, "runs/cache/llm")
    priming.set_defaults(run=_generate_priming)

    classify = sub.add_parser(
        "classify",
        help="count the four behaviors in a JSONL or Parquet file of responses",
        description="Count verification, backtracking, subgoal setting and backward chaining "
        "in each item (a completion, text or response field, with optional numbers and "
        "target) and print the mean count and the share of items with at least one instance.",
    )
    classify.add_argument("file", help="FILE.jsonl or FILE.parquet")
    classify.add_argument(
        "--judge",
        choices=["rules", "llm"],
        default="rules",
        help="rules: cogstar's rule-based counter (default); llm: an LLM judge",
    )
    classify.add_argument("--per-item", action="store_true", help="one row per item")
    classify.add_argument("--json", action="store_true", help="machine-readable output")
    _llm_options(classify, "runs/cache/judge")
    classify.set_defaults(run=_classify)

    run = sub.add_parser(
        "run",
        help="run (or resume) a study from a spec",
        description="Run every stage of SPEC for every cell of its sweep: data, priming, SFT, "
        "RL, evaluation and behavior counts at each checkpoint, then the report. Rerunning the "
        "same command resumes: finished stages are kept, an interrupted one continues from its "
        "last checkpoint.",
    )
    run.add_argument("spec", metavar="SPEC", help="the experiment spec (TOML)")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a spec value, e.g. --set ppo.steps=20 (repeatable; TOML values)",
    )
    run.add_argument(
        "--cell",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this cell of the sweep (repeatable; see --dry-run for the names)",
    )
    run.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    run.add_argument(
        "--force",
        action="store_true",
        help="run although the run directory holds another spec (stages whose inputs "
        "changed are redone; their old outputs are moved aside)",
    )
    run.add_argument("--quiet", action="store_true", help="no live display")
    run.add_argument("--json-log", action="store_true", help="one JSON event per line on stdout")
    run.add_argument("--no-report", action="store_true", help="skip the report at the end")
    run.set_defaults(run=_run)

    tiny = sub.add_parser(
        "tiny-pretrain",
        help="pretrain the embedded tiny base model",
        description="Pretrain the tiny base model on generated Countdown derivations (no "
        "behaviors) and save it to OUT. The shipped model was made with the defaults.",
    )
    tiny.add_argument("out", metavar="OUT", help="output folder")
    tiny.add_argument("--steps", type=int, default=3000)
    tiny.add_argument("--size", choices=("tiny", "small"), default="tiny")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.add_argument(
        "--prose-share",
        type=float,
        default=0.5,
        help="share of derivations retold as behavior-free prose (the shipped model: 0.5)",
    )
    tiny.set_defaults(run=_tiny_pretrain)

    report = sub.add_parser(
        "report",
        help="tables, ranking, figures and summary.json of a run directory (partial runs too)",
        description="Print a table per cell (accuracy, response length and the four behaviors "
        "at each checkpoint) and a ranking by final accuracy, and write RUN_DIR/report/ "
        "(report.md, accuracy.png, behaviors.png, length.png, summary.json).",
    )
    report.add_argument("run_dir", metavar="RUN_DIR", help="the run directory")
    report.add_argument(
        "--paper",
        choices=["auto", "qwen", "llama", "none"],
        default="auto",
        help="compare with the paper's published curves for this model (auto: from the "
        "spec's [report].paper, else its [model].source)",
    )
    report.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    report.set_defaults(run=_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except CogstarError as err:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
