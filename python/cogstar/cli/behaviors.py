"""``cogstar generate priming`` and ``cogstar classify``: priming sets and behavior counts."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from cogstar.behaviors import BEHAVIORS, count_behaviors_batch
from cogstar.behaviors.cards import DatasetCard, dataset_card, write_card
from cogstar.behaviors.priming import CONTROLS, build_priming_set, priming_puzzles
from cogstar.cli.common import console, err_console
from cogstar.errors import UsageError
from cogstar.io import read_completions, write_records
from cogstar.llm import Backend, BackendConfig, make_backend

__all__ = ["classify", "generate_priming"]


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
    key = args.api_key_env
    config = BackendConfig(
        provider=args.provider,
        model=args.model,
        base_url=args.base_url,
        api_key_env=None if key is None else (key if key.strip() else "none"),
    )
    return make_backend(config, args.cache_dir, max_concurrency=args.concurrency)


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


def generate_priming(args: argparse.Namespace) -> int:
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
    md, js = write_card(_card_paths(out)[0], card, data_file=out.name)
    console.print(_card_table(card, f"{args.condition} ({out})"))
    err_console.print(f"wrote {n} records to {out}, card to {md} and {js}", highlight=False)
    if n == 0:
        err_console.print(
            "[yellow]warning:[/] the set is empty (for --source llm no_positive keeps only the "
            "model's incorrect answers)"
        )
    return 0


def classify(args: argparse.Namespace) -> int:
    path = Path(args.file)
    # Check the judge's options before reading anything (a missing --model fails at once).
    backend = _backend(args, "--judge llm") if args.judge == "llm" else None
    try:
        items = read_completions(path)
        if not items:
            raise UsageError(f"{path}: no items to classify")
        texts = [r.completion for r in items]
        numbers = [r.numbers for r in items]
        targets = [r.target for r in items]
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
