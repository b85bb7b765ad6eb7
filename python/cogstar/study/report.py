"""The report of a run: Rich tables, a ranking, PNG figures and a summary.json, from files alone.

    cogstar report runs/priming_sweep --paper llama

    from cogstar.study.report import build_report
    build_report("runs/priming_sweep")   # prints the tables, returns runs/priming_sweep/report

It reads the run through :func:`cogstar.study.results.load_run` (missing files show as a
dash, so a partial run reports what exists) and writes to RUN/report/: ``report.md`` (the
tables in Markdown), ``accuracy.png``, ``behaviors.png``, ``length.png`` and
``summary.json``. Nothing here imports torch or the training code.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from cogstar.behaviors import BEHAVIORS
from cogstar.io import atomic_write_json, atomic_write_text
from cogstar.layout import RunLayout
from cogstar.study.figures import figures as draw_figures
from cogstar.study.results import (
    PAPER_MODEL_NAMES,
    PAPER_SOURCE,
    CellResults,
    RunResults,
    cell_labels,
    load_run,
    paper_final,
    resolve_paper,
)

__all__ = ["build_report", "ranking", "tables", "write_summary"]

_SHORT = {"verification": "V", "backtracking": "B", "subgoal": "S", "backward": "BC"}
DASH = "\u2013"  # en dash: a value that does not exist (yet)


def _fmt(value: float | None, spec: str) -> str:
    return DASH if value is None else format(value, spec)


_CELL_HEADERS = ("step", "accuracy", "length (chars)", *(_SHORT[b] for b in BEHAVIORS))


def _cell_rows(cell: CellResults) -> list[list[str]]:
    rows = []
    for cp in cell.checkpoints:
        counts = cp.behaviors or {}
        rows.append(
            [
                str(cp.step),
                _fmt(cp.accuracy, ".3f"),
                _fmt(cp.mean_chars, ",.1f"),
                *(_fmt(counts.get(b), ".2f") for b in BEHAVIORS),
            ]
        )
    return rows


def _cell_caption(cell: CellResults) -> str:
    parts = [f"cell {cell.name}"]
    if not cell.checkpoints:
        parts.append("no evaluations yet")
    if cell.train:
        last = cell.train[-1]
        reward = last.get("reward")
        text = f"RL step {last.get('step', DASH)}"
        if isinstance(reward, int | float) and not isinstance(reward, bool):
            text += f", reward {reward:.3f}"
        parts.append(text)
    else:
        parts.append("no RL steps logged")
    return "; ".join(parts)


def tables(results: RunResults) -> list[Table]:
    """One Rich table per cell (titled by its condition, or its name when cells share one).

    Rows are checkpoints: step, accuracy, mean length in characters and the mean count per
    response of verification (V), backtracking (B), subgoal setting (S), backward chaining (BC).
    """
    labels = cell_labels(results)
    out = []
    for cell in results.cells:
        table = Table(title=labels[cell.name], caption=_cell_caption(cell))
        for header in _CELL_HEADERS:
            table.add_column(header, justify="right")
        for row in _cell_rows(cell):
            table.add_row(*row)
        out.append(table)
    return out


@dataclass(frozen=True)
class _Rank:
    rank: int | None
    cell: str
    condition: str
    start_accuracy: float | None
    final_accuracy: float | None
    final_step: int | None
    gain: float | None
    paper_final: float | None


def _ranks(results: RunResults, paper: str | None) -> list[_Rank]:
    finals = paper_final(paper) if paper else {}
    # Best final accuracy first; cells without one last, all in manifest order on ties.
    order = sorted(
        results.cells,
        key=lambda c: (c.final is None, -(c.final.accuracy or 0.0) if c.final else 0.0),
    )
    ranks = []
    for i, cell in enumerate(order, 1):
        final, start = cell.final, cell.start_accuracy
        final_acc = None if final is None else final.accuracy
        ranks.append(
            _Rank(
                rank=i if final is not None else None,
                cell=cell.name,
                condition=cell.condition,
                start_accuracy=start,
                final_accuracy=final_acc,
                final_step=None if final is None else final.step,
                gain=None if start is None or final_acc is None else final_acc - start,
                paper_final=finals.get(cell.condition),
            )
        )
    return ranks


# Line breaks where a narrow console should break them (numbers are never cut); the paper's
# model is named in the title.
_RANKING_HEADERS = (
    "rank",
    "cell",
    "condition",
    "start acc\n(step 0)",
    "final\nacc",
    "at\nstep",
    "gain",
    "paper\nfinal",
)


def _ranking_rows(results: RunResults, paper: str | None) -> list[list[str]]:
    return [
        [
            DASH if r.rank is None else str(r.rank),
            r.cell,
            r.condition,
            _fmt(r.start_accuracy, ".3f"),
            _fmt(r.final_accuracy, ".3f"),
            DASH if r.final_step is None else str(r.final_step),
            _fmt(r.gain, "+.3f"),
            _fmt(r.paper_final, ".3f"),
        ]
        for r in _ranks(results, paper)
    ]


def ranking(results: RunResults, paper: str | None) -> Table:
    """Cells ranked by final accuracy, with the paper's final accuracy where it has one."""
    title = "Ranking by final accuracy"
    if paper:
        title += f"; paper final: {PAPER_MODEL_NAMES[paper]} after ~250 PPO steps"
    table = Table(title=title)
    for i, header in enumerate(_RANKING_HEADERS):
        if i == 2:  # the condition folds first when the console is too narrow
            table.add_column(header, overflow="fold")
        else:
            table.add_column(header, justify="left" if i == 1 else "right", no_wrap=True)
    for row in _ranking_rows(results, paper):
        table.add_row(*row)
    return table


def _summary(results: RunResults, paper: str | None) -> dict[str, Any]:
    finals = paper_final(paper) if paper else {}
    cells = {}
    for cell in results.cells:
        final = cell.final
        start = cell.start_accuracy
        cells[cell.name] = {
            "condition": cell.condition,
            "axes": cell.axes,
            "start_accuracy": start,
            "final": None if final is None else asdict(final),
            "gain": None if start is None or final is None else (final.accuracy or 0.0) - start,
            "checkpoints": [asdict(c) for c in cell.checkpoints],
            "train": {
                "steps_logged": len(cell.train),
                "last": cell.train[-1] if cell.train else None,
            },
        }
    conditions = dict.fromkeys(c.condition for c in results.cells)
    return {
        "experiment": results.experiment,
        "run_dir": str(results.run_dir),
        "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "paper": {
            "model": paper,
            "source": PAPER_SOURCE if paper else None,
            "final_accuracy": {c: finals[c] for c in conditions if c in finals},
        },
        "cells": cells,
        "ranking": [asdict(r) for r in _ranks(results, paper)],
    }


def write_summary(results: RunResults, path: str | os.PathLike[str], paper: str | None) -> Path:
    """Write summary.json: per cell its final and per-checkpoint numbers, the ranking, the
    paper's values used and when it was generated."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, _summary(results, paper))
    return out


def _markdown_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[int] = ()
) -> str:
    """A Markdown table; columns are right-aligned except those in ``left``."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    align = ["---" if i in left else "---:" for i in range(len(headers))]
    return "\n".join([line(headers), line(align), *(line(r) for r in rows)]) + "\n"


def _markdown(results: RunResults, paper: str | None, pictures: Sequence[Path]) -> str:
    labels = cell_labels(results)
    parts = [f"# {results.experiment}\n", f"Run directory: `{results.run_dir}`\n"]
    parts.append("## Ranking by final accuracy\n")
    parts.append(_markdown_table(_RANKING_HEADERS, _ranking_rows(results, paper), left=(1, 2)))
    if paper:
        parts.append(
            f"Paper values: {PAPER_MODEL_NAMES[paper]}, from {PAPER_SOURCE}; "
            "see cogstar/data/paper/SOURCE.md.\n"
        )
    parts.append("## Checkpoints\n")
    parts.append(
        "V, B, S, BC: mean count per response of verification, backtracking, subgoal setting "
        "and backward chaining.\n"
    )
    for cell in results.cells:
        parts.append(f"### {labels[cell.name]}\n")
        parts.append(f"{_cell_caption(cell)}.\n")
        if cell.checkpoints:
            parts.append(_markdown_table(_CELL_HEADERS, _cell_rows(cell)))
    if pictures:
        parts.append("## Figures\n")
        parts.extend(f"![{p.stem}]({p.name})\n" for p in pictures)
    return "\n".join(parts)


def build_report(
    run_dir: str | os.PathLike[str],
    console: Console | None = None,
    *,
    paper: str | None = "auto",
    figures: bool | None = None,
    dpi: int = 120,
) -> Path:
    """Print the tables and ranking of a run, and write RUN/report/ (report.md, the figures,
    summary.json); return that folder. ``paper``: ``"auto"`` (the spec's ``[report].paper``),
    ``"qwen"``, ``"llama"`` or ``None``/``"none"`` (see :func:`resolve_paper`); ``figures``:
    draw them (default: the spec's ``[report].figures``)."""
    results = load_run(run_dir)
    figures = results.figures if figures is None else figures
    model = resolve_paper(results, paper)
    console = console if console is not None else Console()
    for table in tables(results):
        console.print(table)
    console.print(ranking(results, model))
    report = RunLayout(results.run_dir).report
    report.mkdir(parents=True, exist_ok=True)
    pictures = draw_figures(results, report, model, dpi=dpi) if figures else []
    atomic_write_text(report / "report.md", _markdown(results, model, pictures))
    write_summary(results, report / "summary.json", model)
    console.print(f"report written to {report}", highlight=False)
    return report
