"""The report's figures: accuracy, behaviors and response length per step, ours beside the
paper's curves (matplotlib, imported only when a figure is drawn)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cogstar.behaviors import BEHAVIORS
from cogstar.behaviors.priming import CONDITIONS, CONTROLS
from cogstar.io import atomic_file
from cogstar.study.results import (
    PAPER_MODEL_NAMES,
    Checkpoint,
    PaperPoint,
    RunResults,
    cell_labels,
    paper_curves,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["figures"]

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
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


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


@dataclass(frozen=True)
class _Axis:
    """How steps map to the x-axis: PPO steps, or the fraction of training done."""

    progress: bool
    our_total: int

    def ours(self, step: int) -> float:
        return step / self.our_total if self.progress else float(step)

    def paper(self, step: int, last: int) -> float:
        return step / max(1, last) if self.progress else float(step)


def _x_axis(results: RunResults, curves: dict[str, list[PaperPoint]]) -> _Axis:
    """Steps, unless our last step is under half the paper's: then the fraction of training."""
    last = results.last_step
    paper_last = max((pts[-1].step for pts in curves.values()), default=0)
    return _Axis(
        progress=bool(curves) and last < 0.5 * paper_last,
        our_total=max(1, last, results.planned_steps or 0),
    )


def _plot(
    ax: Axes,
    results: RunResults,
    colours: dict[str, str],
    curves: dict[str, list[PaperPoint]],
    axis: _Axis,
    ours: Callable[[Checkpoint], float | None],
    theirs: Callable[[PaperPoint], float],
    paper: str | None,
) -> bool:
    """Draw each cell's series and the paper's curves of the same conditions; any of ours?"""
    labels = cell_labels(results)
    marker_of: dict[str, int] = {}
    drawn = False
    for cell in results.cells:
        points = [(axis.ours(c.step), v) for c in cell.checkpoints if (v := ours(c)) is not None]
        k = marker_of.get(cell.condition, 0)
        marker_of[cell.condition] = k + 1
        if not points:
            continue
        xs, ys = zip(*points, strict=True)
        ax.plot(
            xs,
            ys,
            color=colours[cell.condition],
            marker=_MARKERS[k % len(_MARKERS)],
            markersize=4,
            linewidth=1.8,
            label=labels[cell.name],
        )
        drawn = True
    for condition, pts in curves.items():
        last = pts[-1].step
        ax.plot(
            [axis.paper(p.step, last) for p in pts],
            [theirs(p) for p in pts],
            color=colours[condition],
            linestyle="--",
            linewidth=0.9,
            label=f"{condition} (paper, {paper})",
        )
    if not drawn:
        ax.text(0.5, 0.5, "no data yet", transform=ax.transAxes, ha="center", va="center")
    ax.grid(True, alpha=0.3)
    return drawn


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
            ncols=min(3, len(handles)),
            fontsize="small",
        )


def _save(fig: Figure, path: Path, dpi: int) -> Path:
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return path


def _behavior_getters(
    behavior: str,
) -> tuple[Callable[[Checkpoint], float | None], Callable[[PaperPoint], float]]:
    def ours(c: Checkpoint) -> float | None:
        return None if c.behaviors is None else c.behaviors.get(behavior)

    def theirs(p: PaperPoint) -> float:
        return float(getattr(p, behavior))

    return ours, theirs


def figures(
    results: RunResults,
    out_dir: str | os.PathLike[str],
    paper: str | None = None,
    *,
    dpi: int = 120,
) -> list[Path]:
    """Write accuracy.png, behaviors.png and length.png to ``out_dir``; return their paths.

    One line per cell, coloured by condition; with ``paper``, the paper's curves of the same
    conditions as thin dashed lines. When our last step is under half of the paper's, both are
    drawn against the fraction of training done (ours over ``[ppo].steps`` of the spec, or our
    last step) instead of against steps.
    """
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    conditions = [c.condition for c in results.cells]
    colours = _colours(conditions)
    curves = {}
    if paper:
        all_curves = paper_curves(paper)
        curves = {c: all_curves[c] for c in dict.fromkeys(conditions) if c in all_curves}
    axis = _x_axis(results, curves)
    paper_last = max((pts[-1].step for pts in curves.values()), default=0)
    model = PAPER_MODEL_NAMES.get(paper or "", "")
    if axis.progress:
        x_label = "training progress, 0→1"
        note = (
            f"\nour {axis.our_total} steps and the paper's {paper_last} ({model}, dashed) "
            "both scaled to 0→1"
        )
    else:
        x_label = "PPO step"
        note = f"\ndashed: the paper ({model})" if curves else ""
    written = []

    def single(
        name: str,
        what: str,
        ours: Callable[[Checkpoint], float | None],
        theirs: Callable[[PaperPoint], float],
    ) -> None:
        fig = Figure(figsize=(8, 4.8), layout="constrained")
        ax = fig.subplots()
        _plot(ax, results, colours, curves, axis, ours, theirs, paper)
        ax.set_xlabel(x_label)
        ax.set_ylabel(what)
        ax.set_ylim(bottom=0)
        fig.suptitle(f"{results.experiment}: {what} vs {x_label.split(',')[0]}{note}")
        _legend(fig, [ax])
        written.append(_save(fig, out / name, dpi))

    single("accuracy.png", "test accuracy", lambda c: c.accuracy, lambda p: p.accuracy)

    fig = Figure(figsize=(11, 7), layout="constrained")
    panels: list[Axes] = list(fig.subplots(2, 2, sharex=True).flat)
    for i, (ax, behavior) in enumerate(zip(panels, BEHAVIORS, strict=True)):
        ours, theirs = _behavior_getters(behavior)
        _plot(ax, results, colours, curves, axis, ours, theirs, paper)
        ax.set_title(behavior)
        ax.set_ylim(bottom=0)
        if i % 2 == 0:
            ax.set_ylabel("mean count per response")
        if i >= 2:
            ax.set_xlabel(x_label)
    fig.suptitle(f"{results.experiment}: behaviors vs {x_label.split(',')[0]}{note}")
    _legend(fig, panels)
    written.append(_save(fig, out / "behaviors.png", dpi))

    single(
        "length.png",
        "mean response length (characters)",
        lambda c: c.mean_chars,
        lambda p: p.response_length,
    )
    return written
