"""The report of a run: Rich tables, a ranking, the paper's claims tested, PNG figures and a
summary.json, from files alone.

    cogstar report runs/priming_sweep --paper llama

    from cogstar.study.report import build_report
    build_report("runs/priming_sweep")   # prints the tables, returns runs/priming_sweep/report

It reads the run through :func:`cogstar.study.results.load_run` (missing files show as a
dash, so a partial run reports what exists) and prints, in order: one table per cell (its
checkpoints), the step-0 coherence of each condition, the ranking of the conditions (their
cells' mean over seeds, with 95% intervals) and the claims table (:mod:`cogstar.study.stats`:
each claim's effect, interval, verdict and whether the paper found the same). It writes
RUN/report/: ``report.md`` (the same tables in Markdown), ``accuracy.png``, ``behaviors.png``,
``length.png`` and ``summary.json``. Nothing here imports torch or the training code.

The ranking has no column of the paper's finals: the paper's numbers are a 3B model after ~250
PPO steps, which a small model after a few steps is not comparable with. The claims compare
orderings instead (``paper_agrees``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict
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
    Checkpoint,
    RunResults,
    by_condition,
    cell_labels,
    load_run,
    paper_final,
    resolve_paper,
)
from cogstar.study.stats import (
    DRAWS,
    MARGIN,
    PAPER_MODEL,
    Bootstrap,
    Claim,
    Curves,
    Ranked,
    claims,
    curves,
    rank_conditions,
    span,
)

__all__ = ["build_report", "claims_table", "coherence", "ranking", "tables", "write_summary"]

_SHORT = {"verification": "V", "backtracking": "B", "subgoal": "S", "backward": "BC"}
DASH = "\u2013"  # en dash: a value that does not exist (yet)


def _fmt(value: float | None, spec: str) -> str:
    return DASH if value is None else format(value, spec)


def _interval(value: float | None, span: Sequence[float] | None, spec: str) -> str:
    """``0.625 [0.500, 0.750]``; the value alone when there is no interval."""
    if value is None or span is None:
        return _fmt(value, spec)
    return f"{value:{spec}} [{span[0]:{spec}}, {span[1]:{spec}}]"


def _label(setting: str, condition: str) -> str:
    return f"{condition} [{setting}]" if setting else condition


def _mean(values: Sequence[float | None]) -> float | None:
    have = [v for v in values if v is not None]
    return sum(have) / len(have) if have else None


# -- per-cell tables ------------------------------------------------------------------------


def _pass_keys(results: RunResults) -> list[str]:
    """The pass@k of the run beyond pass@1 (which is the sampled accuracy)."""
    keys = {k for cell in results.cells for cp in cell.checkpoints for k in cp.pass_at_k}
    return sorted((k for k in keys if k != "1"), key=lambda k: (not k.isdigit(), k.zfill(9)))


_Column = tuple[str, Callable[[Checkpoint], str]]  # header, a checkpoint's text


def _cell_columns(results: RunResults) -> list[_Column]:
    """The columns of the per-cell tables; the optional ones only where the run has them."""
    every = [cp for cell in results.cells for cp in cell.checkpoints]
    columns: list[_Column] = [
        ("step", lambda cp: str(cp.step)),
        ("accuracy", lambda cp: _fmt(cp.accuracy, ".3f")),
        ("length (chars)", lambda cp: _fmt(cp.mean_chars, ",.1f")),
    ]
    if any(cp.truncated is not None for cp in every):
        columns.append(("truncated", lambda cp: _fmt(cp.truncated, ".3f")))
    if any(cp.greedy_accuracy is not None for cp in every):
        columns.append(("greedy acc", lambda cp: _fmt(cp.greedy_accuracy, ".3f")))
    for k in _pass_keys(results):
        columns.append((f"pass@{k}", _text(_pass_at(k), ".3f")))
    columns += [(_SHORT[b], _text(_count(b), ".2f")) for b in BEHAVIORS]
    return columns


def _pass_at(k: str) -> Callable[[Checkpoint], float | None]:
    return lambda cp: cp.pass_at_k.get(k)


def _count(behavior: str) -> Callable[[Checkpoint], float | None]:
    return lambda cp: (cp.behaviors or {}).get(behavior)


def _text(value: Callable[[Checkpoint], float | None], spec: str) -> Callable[[Checkpoint], str]:
    return lambda cp: _fmt(value(cp), spec)


def _cell_rows(cell: CellResults, columns: Sequence[_Column]) -> list[list[str]]:
    return [[value(cp) for _, value in columns] for cp in cell.checkpoints]


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

    Rows are checkpoints: step, accuracy, mean length in characters, where the run has them the
    share of sampled completions truncated, the greedy accuracy and pass@k (k > 1), and the
    mean count per response of verification (V), backtracking (B), subgoal setting (S),
    backward chaining (BC).
    """
    labels = cell_labels(results)
    columns = _cell_columns(results)
    out = []
    for cell in results.cells:
        table = Table(title=labels[cell.name], caption=_cell_caption(cell))
        for header, _ in columns:
            table.add_column(header, justify="right")
        for row in _cell_rows(cell, columns):
            table.add_row(*row)
        out.append(table)
    return out


# -- step-0 coherence -----------------------------------------------------------------------

_COHERENCE_HEADERS = (
    "condition",
    "seeds",
    "written\nsteps",
    "steps\ncorrect",
    "numbers\nexact",
    *(_SHORT[b] for b in BEHAVIORS),
    "coherent",
)

# A primed model counts as writing its condition coherently before RL when most (more than
# half) of the steps it writes are right, most of its answers use exactly the puzzle's
# numbers, and (for a condition that asks for behaviors) it writes them: the asked behaviors'
# mean counts add up to at least one per response. docs/design_log.md says how these were set
# (0.8 at first; the unprimed base itself measures 0.72 and 0.60 at T = 1).
COHERENCE_THRESHOLDS = {"steps_correct": 0.5, "numbers_exact": 0.5, "asked_behaviors": 1.0}
COHERENCE_MIN_STEPS = 20  # fewer written steps than this are not judged (direct answers)


def coherent(condition: str, start: Checkpoint) -> bool | None:
    """Whether ``condition``'s model writes coherently at step 0 (:data:`COHERENCE_THRESHOLDS`);
    ``None`` when a needed number is missing."""
    from cogstar.behaviors.priming import ASKED

    asked = ASKED.get("all_strategies" if condition == "no_positive" else condition, ())
    steps, exact = start.written_steps_correct, start.numbers_exact
    if (start.written_steps or 0) < COHERENCE_MIN_STEPS:  # too few steps to judge (empty_cot)
        steps = None
    counts = start.behaviors
    if exact is None or (asked and counts is None):
        return None
    t = COHERENCE_THRESHOLDS
    # no_positive's traces end on answers that misuse the numbers by design: not a sign of
    # incoherence in a model primed on them
    exact_ok = condition == "no_positive" or exact > t["numbers_exact"]
    ok = exact_ok and (steps is None or steps > t["steps_correct"])
    if asked:
        assert counts is not None
        ok = ok and sum(counts.get(b, 0.0) for b in asked) >= t["asked_behaviors"]
    return ok


def _coherence_rows(results: RunResults) -> list[list[str]]:
    rows = []
    for (setting, condition), replicates in by_condition(results).items():
        starts = [cp for cell in replicates.values() if (cp := cell.at(0)) is not None]

        def mean(
            value: Callable[[Checkpoint], float | None], starts: list[Checkpoint] = starts
        ) -> float | None:
            return _mean([value(cp) for cp in starts])

        verdicts = [coherent(condition, cp) for cp in starts]
        said = (
            DASH
            if not verdicts or None in verdicts
            else f"{sum(bool(v) for v in verdicts)}/{len(verdicts)}"
        )
        rows.append(
            [
                _label(setting, condition),
                str(len(starts)),
                _fmt(mean(lambda cp: cp.written_steps), ",.1f"),
                _fmt(mean(lambda cp: cp.written_steps_correct), ".3f"),
                _fmt(mean(lambda cp: cp.numbers_exact), ".3f"),
                *(_fmt(mean(_count(b)), ".2f") for b in BEHAVIORS),
                said,
            ]
        )
    return rows


_COHERENCE_NOTE = (
    "At step 0 (before RL), the mean over seeds of: the `a op b = c` steps the completions "
    "wrote, the share of them whose arithmetic is right, the share of answers that use exactly "
    "the puzzle's numbers, and the mean count per response of each behavior. Coherent: the "
    "seeds whose model has steps correct > 0.5, numbers exact > 0.5 and, where the "
    "condition asks for behaviors, their counts adding up to >= 1 per response (steps are "
    "judged where at least 20 were written; no_positive, whose traces misuse the numbers by "
    "design, is not held to the numbers rule). A study whose "
    "behavior-primed models are not coherent compares broken models with a working base, not "
    "behaviors."
)


def coherence(results: RunResults) -> Table:
    """Each condition at step 0: written steps and their correctness, answers that use exactly
    the puzzle's numbers, and the behavior counts (mean over its seeds; a dash when missing)."""
    table = Table(title="Coherence at step 0 (before RL)", caption=_COHERENCE_NOTE)
    for i, header in enumerate(_COHERENCE_HEADERS):
        table.add_column(header, justify="left" if i == 0 else "right", overflow="fold")
    for row in _coherence_rows(results):
        table.add_row(*row)
    return table


# -- ranking of conditions ------------------------------------------------------------------


# Line breaks where a narrow console should break them (numbers are never cut).
_RANKING_HEADERS = (
    "rank",
    "condition",
    "seeds",
    "start acc\n(step 0)",
    "final\nacc",
    "at\nstep",
    "gain",
)


def _ranking_rows(ranks: Sequence[Ranked]) -> list[list[str]]:
    return [
        [
            DASH if r.rank is None else str(r.rank),
            _label(r.setting, r.condition),
            str(r.seeds),
            _interval(r.start_accuracy, r.start_interval, ".3f"),
            _interval(r.final_accuracy, r.final_interval, ".3f"),
            DASH if r.final_step is None else str(r.final_step),
            _interval(r.gain, r.gain_interval, "+.3f"),
        ]
        for r in ranks
    ]


_RANKING_NOTE = (
    "Each condition's cells averaged over seeds (sampled accuracy), with the 95% paired "
    "bootstrap interval over seeds and puzzles where the completion rows exist; final: the last "
    "step every cell of the condition has evaluated."
)


def _ranking_table(ranks: Sequence[Ranked]) -> Table:
    table = Table(title="Ranking by final accuracy", caption=_RANKING_NOTE)
    for i, header in enumerate(_RANKING_HEADERS):
        if i == 1:  # the condition folds first when the console is too narrow
            table.add_column(header, overflow="fold")
        else:
            table.add_column(header, justify="right", no_wrap=True)
    for row in _ranking_rows(ranks):
        table.add_row(*row)
    return table


def ranking(results: RunResults, boot: Bootstrap | None = None) -> Table:
    """Conditions ranked by their final accuracy (mean over seeds), with start, gain and 95%
    intervals."""
    boot = boot if boot is not None else Bootstrap()
    return _ranking_table(rank_conditions(results, curves(results, boot), boot))


# -- claims ---------------------------------------------------------------------------------

_CLAIMS_HEADERS = (
    "claim",
    "metric",
    "step",
    "effect",
    "95% interval",
    "verdict",
    "paper\neffect",
    "paper\nagrees",
)
_CLAIMS_NOTE = (
    f"95% paired bootstrap over seeds and puzzles ({DRAWS:,} draws). (a), (c): supported when "
    "the interval's low end > 0, not supported when its high end <= 0, else inconclusive. (b): "
    f"supported when the interval lies within +/-{MARGIN:g}, not supported when it lies wholly "
    "outside, else inconclusive. Paper effect: the same contrast on the paper's "
    f"{PAPER_MODEL_NAMES[PAPER_MODEL]} curves; paper agrees: our verdict says what the paper's "
    "effect says (a dash when ours is inconclusive or the paper lacks a condition)."
)


def _claim_rows(found: Sequence[Claim]) -> list[list[str]]:
    rows = []
    for c in found:
        est = c.estimate
        rows.append(
            [
                c.name,
                c.metric,
                DASH if c.step is None else str(c.step),
                DASH if est is None else f"{est.effect:+.3f}",
                DASH if est is None else f"[{est.low:+.3f}, {est.high:+.3f}]",
                c.verdict,
                _fmt(c.paper_effect, "+.3f"),
                DASH if c.paper_agrees is None else ("yes" if c.paper_agrees else "no"),
            ]
        )
    return rows


def claims_table(found: Sequence[Claim]) -> Table:
    """The claims: effect, interval, verdict, and the paper's effect and agreement."""
    table = Table(title="The paper's claims, tested", caption=_CLAIMS_NOTE)
    for i, header in enumerate(_CLAIMS_HEADERS):
        if i == 0:
            table.add_column(header, overflow="fold")
        else:
            table.add_column(header, justify="left" if i == 5 else "right", no_wrap=True)
    for row in _claim_rows(found):
        table.add_row(*row)
    return table


# -- summary.json ---------------------------------------------------------------------------


def _json_seed(seed: Hashable) -> Any:
    return seed if seed is None or isinstance(seed, int | float | str) else str(seed)


def _conditions(results: RunResults, lines: Curves) -> dict[str, Any]:
    out = {}
    for (setting, condition), replicates in by_condition(results).items():
        series = lines[(setting, condition)]
        greedy = {p.step: p for p in series["greedy"]}
        out[_label(setting, condition)] = {
            "condition": condition,
            "setting": setting,
            "seeds": [_json_seed(s) for s in replicates],
            "cells": [c.name for c in replicates.values()],
            "checkpoints": [
                {
                    "step": p.step,
                    "seeds": p.seeds,
                    "accuracy": p.mean,
                    "interval": span(p),
                    "greedy_accuracy": None if p.step not in greedy else greedy[p.step].mean,
                    "greedy_interval": span(greedy.get(p.step)),
                }
                for p in series["sampled"]
            ],
        }
    return out


def _summary(
    results: RunResults,
    paper: str | None,
    lines: Curves,
    ranks: Sequence[Ranked],
    found: Sequence[Claim],
) -> dict[str, Any]:
    finals = paper_final(paper) if paper else {}
    cells = {}
    for cell in results.cells:
        final = cell.final
        start = cell.start_accuracy
        first = cell.at(0)
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
            "coherent_at_start": None if first is None else coherent(cell.condition, first),
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
            "claims_compared_with": PAPER_MODEL,
        },
        "coherence_thresholds": COHERENCE_THRESHOLDS,
        "cells": cells,
        "conditions": _conditions(results, lines),
        "ranking": [asdict(r) for r in ranks],
        "claims": [c.row() for c in found],
    }


def write_summary(
    results: RunResults,
    path: str | os.PathLike[str],
    paper: str | None,
    boot: Bootstrap | None = None,
) -> Path:
    """Write summary.json: per cell its final and per-checkpoint numbers, per condition its
    mean accuracy over seeds at each checkpoint with a 95% interval, the ranking, the claims,
    the paper's values used and when it was generated."""
    boot = boot if boot is not None else Bootstrap()
    lines = curves(results, boot)
    data = _summary(
        results, paper, lines, rank_conditions(results, lines, boot), claims(results, boot)
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, data)
    return out


# -- report.md ------------------------------------------------------------------------------


def _markdown_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[int] = ()
) -> str:
    """A Markdown table; columns are right-aligned except those in ``left``."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    align = ["---" if i in left else "---:" for i in range(len(headers))]
    return "\n".join([line(headers), line(align), *(line(r) for r in rows)]) + "\n"


def _markdown(
    results: RunResults,
    paper: str | None,
    ranks: Sequence[Ranked],
    found: Sequence[Claim],
    pictures: Sequence[Path],
) -> str:
    labels = cell_labels(results)
    parts = [f"# {results.experiment}\n", f"Run directory: `{results.run_dir}`\n"]
    parts.append("## Ranking by final accuracy\n")
    parts.append(_markdown_table(_RANKING_HEADERS, _ranking_rows(ranks), left=(1,)))
    parts.append(f"{_RANKING_NOTE}\n")
    parts.append("## The paper's claims, tested\n")
    if found:
        headers = ("claim", "what", *_CLAIMS_HEADERS[1:])
        rows = [
            [row[0], c.description, *row[1:]]
            for c, row in zip(found, _claim_rows(found), strict=True)
        ]
        parts.append(_markdown_table(headers, rows, left=(0, 1, 6)))
        parts.append(f"{_CLAIMS_NOTE}\n")
    else:
        parts.append(
            "No claim applies: the run has no behavior-primed condition beside a control.\n"
        )
    parts.append("## Coherence at step 0\n")
    parts.append(_markdown_table(_COHERENCE_HEADERS, _coherence_rows(results), left=(0,)))
    parts.append(f"{_COHERENCE_NOTE}\n")
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
    columns = _cell_columns(results)
    for cell in results.cells:
        parts.append(f"### {labels[cell.name]}\n")
        parts.append(f"{_cell_caption(cell)}.\n")
        if cell.checkpoints:
            parts.append(_markdown_table([h for h, _ in columns], _cell_rows(cell, columns)))
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
    """Print the tables, ranking and claims of a run, and write RUN/report/ (report.md, the
    figures, summary.json); return that folder. ``paper``: ``"auto"`` (the spec's
    ``[report].paper``), ``"qwen"``, ``"llama"`` or ``None``/``"none"`` (see
    :func:`resolve_paper`): the paper's curves drawn on their own panels, and its finals in
    summary.json; ``figures``: draw them (default: the spec's ``[report].figures``). The
    claims always compare with the paper's Llama-3.2-3B runs, as the paper makes them."""
    results = load_run(run_dir)
    figures = results.figures if figures is None else figures
    model = resolve_paper(results, paper)
    console = console if console is not None else Console()
    boot = Bootstrap()
    lines = curves(results, boot)
    ranks = rank_conditions(results, lines, boot)
    found = claims(results, boot)
    for table in tables(results):
        console.print(table)
    console.print(coherence(results))
    console.print(_ranking_table(ranks))
    console.print(claims_table(found))
    report = RunLayout(results.run_dir).report
    report.mkdir(parents=True, exist_ok=True)
    pictures = draw_figures(results, report, model, dpi=dpi, lines=lines) if figures else []
    atomic_write_text(report / "report.md", _markdown(results, model, ranks, found, pictures))
    atomic_write_json(report / "summary.json", _summary(results, model, lines, ranks, found))
    console.print(f"report written to {report}", highlight=False)
    return report
