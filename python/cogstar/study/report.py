"""The report of a run: Rich tables, a ranking, PNG figures and a summary.json, from files alone.

    cogstar report runs/priming_sweep --paper llama

    from cogstar.study.report import build_report
    build_report("runs/priming_sweep")   # prints the tables, returns runs/priming_sweep/report

What it reads (each file may be missing, so a partial or still-running sweep reports what exists,
with a dash for what does not):

    RUN/manifest.json                        the cells and their axes (condition, model, seed ...)
    RUN/spec.toml                            [model].source, [report].paper, [ppo].steps
    RUN/CELL/eval/step_XXXXXX.summary.json   accuracy, outcomes, mean response length
    RUN/CELL/behaviors/step_XXXXXX.json      mean count of each behavior per response
    RUN/CELL/ppo/metrics.jsonl               one line per RL step (a torn last line is skipped)

What it writes to RUN/report/: ``report.md`` (the tables in Markdown), ``accuracy.png``,
``behaviors.png``, ``length.png`` and ``summary.json``. A file that exists but is not valid
JSON raises :class:`DataError` naming the file and what to rerun.

The paper's published per-step curves (github.com/kanishkg/cognitive-behaviors, Apache-2.0;
see ``cogstar/data/paper/SOURCE.md``) ship with the package: :func:`paper_curves` and
:func:`paper_final` give them under cogstar's condition names, and the report draws them beside
a run's own curves. Nothing here imports torch or the training code; matplotlib is imported
only when figures are drawn.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from cogstar.behaviors import BEHAVIORS
from cogstar.behaviors.priming import CONDITIONS, CONTROLS
from cogstar.errors import DataError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "PAPER_MODELS",
    "CellResults",
    "Checkpoint",
    "DataError",
    "PaperPoint",
    "RunResults",
    "build_report",
    "figures",
    "load_run",
    "paper_curves",
    "paper_final",
    "ranking",
    "resolve_paper",
    "tables",
    "write_summary",
]

PAPER_MODELS: tuple[str, ...] = ("qwen", "llama")
PAPER_SOURCE = "github.com/kanishkg/cognitive-behaviors @ 9c90d33, results/ (Apache-2.0)"
_PAPER_MODEL_NAMES = {"qwen": "Qwen-2.5-3B", "llama": "Llama-3.2-3B"}
# Paper condition name -> cogstar's; the others are spelled the same.
_PAPER_NAMES = {"base_ppo": "unprimed", "no_positive_all_strategies": "no_positive"}
_SHORT = {"verification": "V", "backtracking": "B", "subgoal": "S", "backward": "BC"}
DASH = "\u2013"  # en dash: a value that does not exist (yet)

_EVAL_FILE = re.compile(r"^step_(\d+)\.summary\.json$")
_BEHAVIOR_FILE = re.compile(r"^step_(\d+)\.json$")
_RESUME = "run `cogstar run SPEC` again to resume the run"


# ----------------------------------------------------------------------------------------------
# Reading a run


@dataclass
class Checkpoint:
    """One evaluated checkpoint of a cell; ``None`` where that file or value is missing."""

    step: int
    accuracy: float | None = None
    mean_chars: float | None = None
    outcomes: dict[str, int] = field(default_factory=dict)
    behaviors: dict[str, float] | None = None  # mean count per response, by behavior
    n: int | None = None
    mean_tokens: float | None = None
    pass_at_k: dict[str, float] = field(default_factory=dict)
    behavior_share: dict[str, float] | None = None  # fraction of responses with count > 0


@dataclass
class CellResults:
    """One sweep cell: its checkpoints (sorted by step) and its RL metrics (one dict a step)."""

    name: str
    condition: str
    axes: dict[str, Any]
    checkpoints: list[Checkpoint]
    train: list[dict[str, Any]]

    def at(self, step: int) -> Checkpoint | None:
        """The checkpoint at ``step``, if it was evaluated."""
        return next((c for c in self.checkpoints if c.step == step), None)

    @property
    def start_accuracy(self) -> float | None:
        """Accuracy at step 0 (before RL)."""
        first = self.at(0)
        return None if first is None else first.accuracy

    @property
    def final(self) -> Checkpoint | None:
        """The last checkpoint that has an accuracy."""
        return next((c for c in reversed(self.checkpoints) if c.accuracy is not None), None)


@dataclass
class RunResults:
    """Everything the report needs from a run directory."""

    run_dir: Path
    experiment: str
    cells: list[CellResults]
    model_source: str | None = None  # spec [model].source
    paper_setting: str | None = None  # spec [report].paper
    planned_steps: int | None = None  # spec [ppo].steps ([grpo].steps for [rl] algorithm grpo)

    @property
    def last_step(self) -> int:
        """The largest evaluated step over all cells (0 when nothing is evaluated)."""
        return max((c.step for cell in self.cells for c in cell.checkpoints), default=0)


def _read_json(path: Path, rerun: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(
            f"{path}: not valid JSON ({err.msg} at line {err.lineno} column {err.colno}); {rerun}"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read it ({err}); {rerun}") from None


def _number(data: dict[str, Any], key: str, path: Path, rerun: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DataError(f"{path}: {key} should be a number, got {value!r}; {rerun}")
    return float(value)


def _numbers(data: dict[str, Any], key: str, path: Path, rerun: str) -> dict[str, float] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise DataError(f"{path}: {key} should be an object, got {value!r}; {rerun}")
    out = {}
    for name in value:
        number = _number(value, name, path, rerun)
        if number is not None:
            out[str(name)] = number
    return out


def _object(path: Path, rerun: str) -> dict[str, Any]:
    data = _read_json(path, rerun)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(data).__name__}; {rerun}")
    return data


def _steps(folder: Path, pattern: re.Pattern[str]) -> dict[int, Path]:
    if not folder.is_dir():
        return {}
    found = {}
    for path in folder.iterdir():
        match = pattern.match(path.name)
        if match and path.is_file():
            found[int(match.group(1))] = path
    return found


def _read_checkpoints(cell_dir: Path) -> list[Checkpoint]:
    evals = _steps(cell_dir / "eval", _EVAL_FILE)
    counts = _steps(cell_dir / "behaviors", _BEHAVIOR_FILE)
    checkpoints = []
    for step in sorted(evals.keys() | counts.keys()):
        cp = Checkpoint(step)
        if step in evals:
            path = evals[step]
            rerun = f"delete it and {_RESUME} (it evaluates checkpoint {step} again)"
            data = _object(path, rerun)
            cp.accuracy = _number(data, "accuracy", path, rerun)
            cp.mean_chars = _number(data, "mean_chars", path, rerun)
            cp.mean_tokens = _number(data, "mean_tokens", path, rerun)
            n = _number(data, "n", path, rerun)
            cp.n = None if n is None else int(n)
            cp.outcomes = {
                k: int(v) for k, v in (_numbers(data, "outcomes", path, rerun) or {}).items()
            }
            cp.pass_at_k = _numbers(data, "pass_at_k", path, rerun) or {}
        if step in counts:
            path = counts[step]
            rerun = f"delete it and {_RESUME} (it counts the behaviors of checkpoint {step} again)"
            data = _object(path, rerun)
            cp.behaviors = _numbers(data, "mean", path, rerun)
            cp.behavior_share = _numbers(data, "share", path, rerun)
        checkpoints.append(cp)
    return checkpoints


def _read_metrics(path: Path) -> list[dict[str, Any]]:
    """The RL metrics, one dict per step; a torn last line (an interrupted write) is skipped."""
    if not path.is_file():
        return []
    rerun = f"delete the broken lines and {_RESUME}"
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read it ({err}); {rerun}") from None
    records = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if not any(rest.strip() for rest in lines[lineno:]):
                break  # the last line, torn by an interrupted write
            raise DataError(f"{path}:{lineno}: not valid JSON ({err.msg}); {rerun}") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{lineno}: expected a JSON object per line; {rerun}")
        records.append(record)
    return records


def _loads_toml(text: str) -> dict[str, Any] | None:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib.loads(text)
    try:  # Python 3.10: tomli if it is installed, else the spec is not read
        import tomli  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    return dict(tomli.loads(text))


def _read_spec(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        spec = _loads_toml(path.read_text(encoding="utf-8"))
    except (ValueError, OSError, UnicodeDecodeError) as err:
        raise DataError(
            f"{path}: not a readable TOML spec ({err}); {_RESUME}, which writes it again"
        ) from None
    return spec or {}


def _table(spec: dict[str, Any], name: str) -> dict[str, Any]:
    value = spec.get(name)
    return value if isinstance(value, dict) else {}


def _discover_cells(run: Path) -> dict[str, dict[str, Any]]:
    """Cells of a run without a manifest: the folders that hold eval, behaviors or ppo."""
    return {
        d.name: {}
        for d in sorted(run.iterdir())
        if d.is_dir() and any((d / sub).is_dir() for sub in ("eval", "behaviors", "ppo"))
    }


def load_run(run_dir: str | os.PathLike[str]) -> RunResults:
    """Read a run directory into :class:`RunResults`; missing files are simply absent."""
    run = Path(run_dir)
    if not run.is_dir():
        raise DataError(f"{run}: no such run directory (start a run with `cogstar run SPEC`)")
    spec = _read_spec(run / "spec.toml")
    manifest: dict[str, Any] = {}
    if (run / "manifest.json").is_file():
        manifest = _object(run / "manifest.json", f"{_RESUME}, which rewrites the manifest")
    cells_info = manifest.get("cells")
    if not isinstance(cells_info, dict):
        cells_info = _discover_cells(run)
    experiment = manifest.get("experiment")
    if not isinstance(experiment, str):
        experiment = str(_table(spec, "experiment").get("name", run.name))
    cells = []
    for name, info in cells_info.items():
        info = info if isinstance(info, dict) else {}
        axes = info.get("axes")
        axes = dict(axes) if isinstance(axes, dict) else {}
        condition = axes.get("condition")
        cells.append(
            CellResults(
                name=str(name),
                condition=str(condition) if condition is not None else str(name),
                axes=axes,
                checkpoints=_read_checkpoints(run / str(name)),
                train=_read_metrics(run / str(name) / "ppo" / "metrics.jsonl"),
            )
        )
    source = _table(spec, "model").get("source")
    setting = _table(spec, "report").get("paper")
    algorithm = _table(spec, "rl").get("algorithm", "ppo")
    steps = _table(spec, "grpo" if algorithm == "grpo" else "ppo").get("steps")
    return RunResults(
        run_dir=run,
        experiment=experiment,
        cells=cells,
        model_source=source if isinstance(source, str) else None,
        paper_setting=setting if isinstance(setting, str) else None,
        planned_steps=steps if isinstance(steps, int) and not isinstance(steps, bool) else None,
    )


# ----------------------------------------------------------------------------------------------
# The paper's curves


@dataclass(frozen=True)
class PaperPoint:
    """One row of the paper's results: a condition's numbers at one PPO step."""

    step: int
    accuracy: float
    response_length: float  # mean characters
    verification: float  # mean counts per response (GPT-4o-mini judge)
    backtracking: float
    subgoal: float
    backward: float


@functools.cache
def _paper_rows(model: str) -> tuple[tuple[str, PaperPoint], ...]:
    if model not in PAPER_MODELS:
        raise ValueError(
            f"the paper's curves exist for {' and '.join(PAPER_MODELS)}, not {model!r}"
        )
    folder = resources.files("cogstar").joinpath("data").joinpath("paper")
    text = folder.joinpath(f"{model}_results.csv").read_text(encoding="utf-8")
    seen = set()
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        key = (row["condition"], int(row["step"]))
        if key in seen:  # qwen's human_cot rows are all there twice
            continue
        seen.add(key)
        point = PaperPoint(
            step=key[1],
            accuracy=float(row["accuracy"]),
            response_length=float(row["response_length"]),
            verification=float(row["avg_verifications"]),
            backtracking=float(row["avg_backtracking"]),
            subgoal=float(row["avg_subgoals"]),
            backward=float(row["avg_backwards"]),
        )
        rows.append((_PAPER_NAMES.get(key[0], key[0]), point))
    return tuple(rows)


def paper_curves(model: str) -> dict[str, list[PaperPoint]]:
    """The paper's per-step results for ``"qwen"`` or ``"llama"``, by cogstar condition name.

    Each list is sorted by step; a (condition, step) that appears twice keeps its first row.
    """
    curves: dict[str, list[PaperPoint]] = {}
    for condition, point in _paper_rows(model):
        curves.setdefault(condition, []).append(point)
    return {c: sorted(points, key=lambda p: p.step) for c, points in curves.items()}


def paper_final(model: str) -> dict[str, float]:
    """The paper's accuracy at each condition's last step, by cogstar condition name."""
    return {c: points[-1].accuracy for c, points in paper_curves(model).items()}


def resolve_paper(results: RunResults, paper: str | None = "auto") -> str | None:
    """The paper model to compare with: explicit, or ``"auto"`` from the spec.

    ``"auto"`` takes the spec's ``[report].paper`` when it names a model or ``"none"``,
    else guesses from ``[model].source``: ``"qwen"`` if it contains "qwen", ``"llama"`` if it
    contains "llama" (case-insensitive), else no comparison.
    """
    if paper is None or paper == "none":
        return None
    if paper in PAPER_MODELS:
        return paper
    if paper != "auto":
        raise ValueError(f"paper must be auto, qwen, llama or none, got {paper!r}")
    setting = (results.paper_setting or "auto").lower()
    if setting == "none":
        return None
    if setting in PAPER_MODELS:
        return setting
    source = (results.model_source or "").lower()
    return next((m for m in PAPER_MODELS if m in source), None)


# ----------------------------------------------------------------------------------------------
# Tables


def _fmt(value: float | None, spec: str) -> str:
    return DASH if value is None else format(value, spec)


def _labels(results: RunResults) -> dict[str, str]:
    """Each cell's label: its condition, or its own name when cells share a condition."""
    conditions = [c.condition for c in results.cells]
    return {
        c.name: c.condition if conditions.count(c.condition) == 1 else c.name for c in results.cells
    }


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
    labels = _labels(results)
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
        title += f"; paper final: {_PAPER_MODEL_NAMES[paper]} after ~250 PPO steps"
    table = Table(title=title)
    for i, header in enumerate(_RANKING_HEADERS):
        if i == 2:  # the condition folds first when the console is too narrow
            table.add_column(header, overflow="fold")
        else:
            table.add_column(header, justify="left" if i == 1 else "right", no_wrap=True)
    for row in _ranking_rows(results, paper):
        table.add_row(*row)
    return table


# ----------------------------------------------------------------------------------------------
# Figures

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
    labels = _labels(results)
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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fig.savefig(tmp, format="png", dpi=dpi)
    os.replace(tmp, path)
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
    model = _PAPER_MODEL_NAMES.get(paper or "", "")
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


# ----------------------------------------------------------------------------------------------
# Files


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


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
    _write_text(out, json.dumps(_summary(results, paper), indent=2) + "\n")
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
    labels = _labels(results)
    parts = [f"# {results.experiment}\n", f"Run directory: `{results.run_dir}`\n"]
    parts.append("## Ranking by final accuracy\n")
    parts.append(_markdown_table(_RANKING_HEADERS, _ranking_rows(results, paper), left=(1, 2)))
    if paper:
        parts.append(
            f"Paper values: {_PAPER_MODEL_NAMES[paper]}, from {PAPER_SOURCE}; "
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
    figures: bool = True,
    dpi: int = 120,
) -> Path:
    """Print the tables and ranking of a run, and write RUN/report/ (report.md, the figures,
    summary.json); return that folder. ``paper``: ``"auto"``, ``"qwen"``, ``"llama"`` or
    ``None``/``"none"`` (see :func:`resolve_paper`)."""
    results = load_run(run_dir)
    model = resolve_paper(results, paper)
    console = console if console is not None else Console()
    for table in tables(results):
        console.print(table)
    console.print(ranking(results, model))
    report = results.run_dir / "report"
    report.mkdir(parents=True, exist_ok=True)
    pictures = _draw_figures(results, report, model, dpi=dpi) if figures else []
    _write_text(report / "report.md", _markdown(results, model, pictures))
    write_summary(results, report / "summary.json", model)
    console.print(f"report written to {report}", highlight=False)
    return report


_draw_figures = figures  # build_report's ``figures`` flag hides the function's name there
