"""The report's figures: accuracy, behaviors and response length over our own RL steps, with
the paper's curves, when asked for, on panels of their own (matplotlib, imported only when a
figure is drawn).

No axis is rescaled: our panels are in our RL steps, the paper's in its PPO steps (about 250),
and neither is squeezed onto the other's scale or onto a 0->1 "training progress" axis, which
would hide how much shorter a small run is.

* ``accuracy.png``: one panel per condition (per setting of the other swept axes): the mean
  over its seeds with the 95% interval shaded (:func:`cogstar.study.stats.curve`: a bootstrap
  over seeds and puzzles, over puzzles alone with one seed), each seed as a thin line, and the
  greedy accuracy dotted where evaluated; then a panel of the paper's curves.
* ``behaviors.png``: a panel per behavior, one line per condition (mean over seeds); below
  them the paper's, in the same layout.
* ``length.png``: mean response length per condition; beside it the paper's.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cogstar.behaviors import BEHAVIORS
from cogstar.behaviors.priming import CONDITIONS, CONTROLS
from cogstar.io import atomic_file
from cogstar.study.results import (
    PAPER_MODEL_NAMES,
    CellResults,
    Checkpoint,
    PaperPoint,
    RunResults,
    by_condition,
    paper_curves,
)
from cogstar.study.stats import Curves, curves

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["accuracy_figure", "behaviors_figure", "figures", "length_figure"]

# Fixed colours for the known conditions (tab10), so every report colours them alike.
_KNOWN = ("unprimed", *CONDITIONS, *CONTROLS)
_TAB10 = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
_EXTRA = ("#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d")
OUR_STEPS = "RL step (ours)"

Replicates = Mapping[Hashable, CellResults]
Getter = Callable[[Checkpoint], "float | None"]


def _colours(conditions: Sequence[str]) -> dict[str, str]:
    colours = dict(zip(_KNOWN, _TAB10, strict=True))
    out: dict[str, str] = {}
    extra = 0
    for condition in conditions:
        if condition in out:
            continue
        if condition in colours:
            out[condition] = colours[condition]
        else:
            out[condition] = _EXTRA[extra % len(_EXTRA)]
            extra += 1
    return out


def _label(setting: str, condition: str) -> str:
    return f"{condition} [{setting}]" if setting else condition


def _seed_mean(replicates: Replicates, value: Getter) -> list[tuple[int, float]]:
    """(step, mean over the cells that have a value at that step)."""
    by_step: dict[int, list[float]] = {}
    for cell in replicates.values():
        for cp in cell.checkpoints:
            v = value(cp)
            if v is not None:
                by_step.setdefault(cp.step, []).append(v)
    return [(step, sum(vs) / len(vs)) for step, vs in sorted(by_step.items())]


def _paper(results: RunResults, paper: str | None) -> dict[str, list[PaperPoint]]:
    """The paper's curves of the conditions this run has."""
    if not paper:
        return {}
    every = paper_curves(paper)
    return {c: every[c] for c in dict.fromkeys(c.condition for c in results.cells) if c in every}


def _paper_panel(
    ax: Axes,
    curves_: Mapping[str, list[PaperPoint]],
    colours: Mapping[str, str],
    value: Callable[[PaperPoint], float],
    paper: str,
) -> None:
    for condition, points in curves_.items():
        ax.plot(
            [p.step for p in points],
            [value(p) for p in points],
            color=colours[condition],
            linestyle="--",
            linewidth=1.0,
            label=f"{condition} (paper)",
        )
    ax.set_xlabel(f"PPO step (the paper, {PAPER_MODEL_NAMES[paper]})")
    ax.grid(True, alpha=0.3)


def _no_data(ax: Axes) -> None:
    ax.text(0.5, 0.5, "no data yet", transform=ax.transAxes, ha="center", va="center")


def _legend(fig: Figure, axes: Sequence[Axes]) -> None:
    handles: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(
            list(handles.values()),
            list(handles.keys()),
            loc="outside lower center",
            ncols=min(4, len(handles)),
            fontsize="small",
        )


def _save(fig: Figure, path: Path, dpi: int) -> Path:
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return path


def accuracy_figure(
    results: RunResults, paper: str | None = None, lines: Curves | None = None
) -> Figure:
    """One panel per condition over our RL steps (mean over seeds, 95% interval shaded, each
    seed thin, greedy dotted), and a last panel of the paper's curves on its own steps."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    lines = lines if lines is not None else curves(results)
    groups = by_condition(results)
    colours = _colours([c for _, c in groups])
    theirs = _paper(results, paper)
    panels = max(1, len(groups)) + (1 if theirs else 0)
    ncols = min(3, panels)
    nrows = math.ceil(panels / ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.2 * nrows + 1.0), layout="constrained")
    ours: list[Axes] = []
    for i, ((setting, condition), replicates) in enumerate(groups.items()):
        ax = fig.add_subplot(
            nrows, ncols, i + 1, sharex=ours[0] if ours else None, sharey=ours[0] if ours else None
        )
        ours.append(ax)
        colour = colours[condition]
        if len(replicates) > 1:
            for cell in replicates.values():
                pts = [(c.step, c.accuracy) for c in cell.checkpoints if c.accuracy is not None]
                if pts:
                    xs, ys = zip(*pts, strict=True)
                    ax.plot(xs, ys, color=colour, linewidth=0.6, alpha=0.4, label="one seed")
        sampled = lines.get((setting, condition), {}).get("sampled", [])
        if sampled:
            ax.plot(
                [p.step for p in sampled],
                [p.mean for p in sampled],
                color=colour,
                marker="o",
                markersize=3.5,
                linewidth=1.8,
                label="mean over seeds (sampled)",
            )
            band = [(p.step, p.low, p.high) for p in sampled if p.low is not None]
            if band:
                ax.fill_between(
                    [step for step, _, _ in band],
                    [low for _, low, _ in band],
                    [high if high is not None else low for _, low, high in band],
                    color=colour,
                    alpha=0.2,
                    linewidth=0,
                    label="95% interval",
                )
        else:
            _no_data(ax)
        greedy = lines.get((setting, condition), {}).get("greedy", [])
        if greedy:
            ax.plot(
                [p.step for p in greedy],
                [p.mean for p in greedy],
                color=colour,
                linestyle=":",
                linewidth=1.4,
                label="greedy (mean over seeds)",
            )
        seeds = f" ({len(replicates)} seeds)" if len(replicates) > 1 else ""
        ax.set_title(_label(setting, condition) + seeds, fontsize="medium")
        ax.set_xlabel(OUR_STEPS)
        ax.set_ylabel("test accuracy")
        ax.grid(True, alpha=0.3)
    if not ours:
        ax = fig.add_subplot(nrows, ncols, 1)
        ax.set_xlabel(OUR_STEPS)
        _no_data(ax)
        ours.append(ax)
    ours[0].set_ylim(bottom=0)
    axes = list(ours)
    if theirs and paper:
        ax = fig.add_subplot(nrows, ncols, len(ours) + 1)  # its own steps: shares no axis
        _paper_panel(ax, theirs, colours, lambda p: p.accuracy, paper)
        ax.set_title("the paper (its own steps)", fontsize="medium")
        ax.set_ylim(bottom=0)
        axes.append(ax)
    fig.suptitle(f"{results.experiment}: test accuracy over RL steps")
    _legend(fig, axes)
    return fig


def _by_condition_panel(
    ax: Axes, results: RunResults, colours: Mapping[str, str], value: Getter
) -> None:
    drawn = False
    for (setting, condition), replicates in by_condition(results).items():
        pts = _seed_mean(replicates, value)
        if not pts:
            continue
        xs, ys = zip(*pts, strict=True)
        ax.plot(
            xs,
            ys,
            color=colours[condition],
            marker="o",
            markersize=3.5,
            linewidth=1.6,
            label=_label(setting, condition),
        )
        drawn = True
    if not drawn:
        _no_data(ax)
    ax.set_xlabel(OUR_STEPS)
    ax.grid(True, alpha=0.3)


def _behavior(behavior: str) -> Getter:
    def value(c: Checkpoint) -> float | None:
        return None if c.behaviors is None else c.behaviors.get(behavior)

    return value


def _paper_behavior(behavior: str) -> Callable[[PaperPoint], float]:
    def value(p: PaperPoint) -> float:
        return float(getattr(p, behavior))

    return value


def behaviors_figure(results: RunResults, paper: str | None = None) -> Figure:
    """A panel per behavior over our RL steps (mean count per response over seeds); below, the
    paper's, on its own steps."""
    from matplotlib.figure import Figure

    colours = _colours([c.condition for c in results.cells])
    theirs = _paper(results, paper)
    nrows = 2 if theirs else 1
    fig = Figure(figsize=(14, 3.4 * nrows + 1.0), layout="constrained")
    grid = fig.subplots(nrows, len(BEHAVIORS), squeeze=False)
    for j, behavior in enumerate(BEHAVIORS):
        ax = grid[0][j]
        _by_condition_panel(ax, results, colours, _behavior(behavior))
        ax.set_title(behavior)
        ax.set_ylim(bottom=0)
        if theirs and paper:
            below = grid[1][j]
            _paper_panel(below, theirs, colours, _paper_behavior(behavior), paper)
            below.set_title(f"{behavior} (the paper)")
            below.set_ylim(bottom=0)
    for row in grid:
        row[0].set_ylabel("mean count per response")
    fig.suptitle(f"{results.experiment}: behaviors over RL steps")
    _legend(fig, [ax for row in grid for ax in row])
    return fig


def length_figure(results: RunResults, paper: str | None = None) -> Figure:
    """Mean response length per condition over our RL steps; beside it the paper's."""
    from matplotlib.figure import Figure

    colours = _colours([c.condition for c in results.cells])
    theirs = _paper(results, paper)
    fig = Figure(figsize=(11 if theirs else 7, 4.6), layout="constrained")
    axes: list[Axes] = list(fig.subplots(1, 2 if theirs else 1, squeeze=False)[0])
    _by_condition_panel(axes[0], results, colours, lambda c: c.mean_chars)
    axes[0].set_title("ours")
    if theirs and paper:
        _paper_panel(axes[1], theirs, colours, lambda p: p.response_length, paper)
        axes[1].set_title("the paper")
    for ax in axes:
        ax.set_ylabel("mean response length (characters)")
        ax.set_ylim(bottom=0)
    fig.suptitle(f"{results.experiment}: response length over RL steps")
    _legend(fig, axes)
    return fig


def figures(
    results: RunResults,
    out_dir: str | os.PathLike[str],
    paper: str | None = None,
    *,
    dpi: int = 120,
    lines: Curves | None = None,
) -> list[Path]:
    """Write accuracy.png, behaviors.png and length.png to ``out_dir``; return their paths.

    ``paper``: draw the paper's curves of the run's conditions on panels of their own;
    ``lines``: the accuracy curves, when the caller has computed them
    (:func:`cogstar.study.stats.curves`).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    drawn = (
        ("accuracy.png", accuracy_figure(results, paper, lines)),
        ("behaviors.png", behaviors_figure(results, paper)),
        ("length.png", length_figure(results, paper)),
    )
    return [_save(fig, out / name, dpi) for name, fig in drawn]
