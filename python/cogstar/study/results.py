"""Reading a run directory for the report (from files alone, through :mod:`cogstar.layout`),
and the paper's published curves to compare with.

What it reads (each file may be missing, so a partial or still-running sweep reports what exists,
with a dash for what does not):

    RUN/manifest.json                        the cells and their axes (condition, model, seed ...)
    RUN/spec.toml                            [model].source, [report], the RL steps
    RUN/CELL/eval/step_XXXXXX.summary.json   accuracy, outcomes, mean response length, pass@k,
                                             truncated share, greedy accuracy, written steps
    RUN/CELL/eval/step_XXXXXX.jsonl          the sampled completions: each row's puzzle and
                                             value, read only for intervals and claims
    RUN/CELL/eval/step_XXXXXX.greedy.jsonl   one greedy completion per puzzle (optional)
    RUN/CELL/behaviors/step_XXXXXX.json      mean count of each behavior per response
    RUN/CELL/ppo/metrics.jsonl               one line per RL step (a torn last line is skipped)

Per-puzzle scores (:meth:`RunResults.puzzle_scores`) are read lazily, once per file: a puzzle's
score is the mean value of its rows (its k samples, or its one greedy row). :func:`by_condition`
groups the cells by condition and seed (the ``experiment.seed`` axis) within each setting of the
other swept axes, as the statistics of :mod:`cogstar.study.stats` pair them.

A file that exists but cannot be read raises :class:`~cogstar.errors.DataError` naming the file
and what to rerun.

The paper's published per-step curves (github.com/kanishkg/cognitive-behaviors, Apache-2.0;
see ``cogstar/data/paper/SOURCE.md``) ship with the package: :func:`paper_curves` and
:func:`paper_final` give them under cogstar's condition names.
"""

from __future__ import annotations

import csv
import functools
import io as stdio
import os
from collections.abc import Hashable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from cogstar import io
from cogstar.errors import ArgumentError, DataError
from cogstar.layout import CellLayout, RunLayout
from cogstar.study.spec import read_resolved_spec

__all__ = [
    "METRICS",
    "PAPER_MODELS",
    "PAPER_MODEL_NAMES",
    "PAPER_SOURCE",
    "SEED_AXES",
    "CellResults",
    "Checkpoint",
    "PaperPoint",
    "RunResults",
    "by_condition",
    "cell_labels",
    "load_run",
    "paper_curves",
    "paper_final",
    "resolve_paper",
]

PAPER_MODELS: tuple[str, ...] = ("qwen", "llama")
PAPER_SOURCE = "github.com/kanishkg/cognitive-behaviors @ 9c90d33, results/ (Apache-2.0)"
PAPER_MODEL_NAMES = {"qwen": "Qwen-2.5-3B", "llama": "Llama-3.2-3B"}
# Paper condition name -> cogstar's; the others are spelled the same.
_PAPER_NAMES = {"base_ppo": "unprimed", "no_positive_all_strategies": "no_positive"}
_RESUME = "run `cogstar run SPEC` again to resume the run"
# What a per-puzzle score is the mean of: the sampled rows (the paper's protocol) or the one
# greedy row of each puzzle.
METRICS: tuple[str, ...] = ("sampled", "greedy")
# The axes that name a replicate seed (a sweep over experiment.seed); cells are paired by it.
SEED_AXES: tuple[str, ...] = ("experiment.seed", "seed")


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
    samples: int | None = None  # k sampled completions per puzzle
    truncated: float | None = None  # share of sampled completions cut at the token limit
    greedy_accuracy: float | None = None  # one greedy completion per puzzle
    greedy_truncated: float | None = None
    greedy_mean_tokens: float | None = None
    written_steps: int | None = None  # how many `a op b = c` steps the completions wrote
    written_steps_correct: float | None = None  # the share of them whose arithmetic is right
    numbers_exact: float | None = None  # share of answers that use exactly the puzzle's numbers


@dataclass
class CellResults:
    """One sweep cell: its checkpoints (sorted by step) and its RL metrics (one dict a step)."""

    name: str
    condition: str
    axes: dict[str, Any]
    checkpoints: list[Checkpoint]
    train: list[dict[str, Any]]
    # metric ("sampled", "greedy") -> step -> the completion rows of that evaluation
    rows: dict[str, dict[int, Path]] = field(default_factory=dict)

    @property
    def seed(self) -> Hashable:
        """The replicate seed this cell was swept over (None when seeds are not swept)."""
        value = next((self.axes[a] for a in SEED_AXES if a in self.axes), None)
        return value if isinstance(value, Hashable) else str(value)

    @property
    def setting(self) -> str:
        """The other swept axes (neither condition nor seed), e.g. ``"ppo.kl_coef=0.01"``."""
        return ", ".join(
            f"{k}={v}" for k, v in self.axes.items() if k != "condition" and k not in SEED_AXES
        )

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
    figures: bool = True  # spec [report].figures
    _scores: dict[tuple[str, int, str], dict[int, float] | None] = field(
        default_factory=dict, repr=False, compare=False
    )

    def puzzle_scores(
        self, cell: CellResults, step: int, metric: str = "sampled"
    ) -> dict[int, float] | None:
        """Puzzle index -> mean value of its rows in ``cell``'s evaluation at ``step`` (the k
        samples, or the greedy row); None when that file is missing or empty. Read once."""
        if metric not in METRICS:
            raise ArgumentError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
        key = (cell.name, step, metric)
        if key not in self._scores:
            path = cell.rows.get(metric, {}).get(step)
            self._scores[key] = None if path is None else _read_scores(path, step)
        return self._scores[key]

    @property
    def has_greedy(self) -> bool:
        """Whether any cell has a greedy evaluation file."""
        return any(cell.rows.get("greedy") for cell in self.cells)

    @property
    def last_step(self) -> int:
        """The largest evaluated step over all cells (0 when nothing is evaluated)."""
        return max((c.step for cell in self.cells for c in cell.checkpoints), default=0)


def _read_json(path: Path, rerun: str) -> Any:
    return io.read_json(path, rerun)


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


def _count(data: dict[str, Any], key: str, path: Path, rerun: str) -> int | None:
    value = _number(data, key, path, rerun)
    return None if value is None else int(value)


def _read_summary(cp: Checkpoint, path: Path, rerun: str) -> None:
    data = _object(path, rerun)
    cp.accuracy = _number(data, "accuracy", path, rerun)
    cp.mean_chars = _number(data, "mean_chars", path, rerun)
    cp.mean_tokens = _number(data, "mean_tokens", path, rerun)
    cp.n = _count(data, "n", path, rerun)
    cp.outcomes = {k: int(v) for k, v in (_numbers(data, "outcomes", path, rerun) or {}).items()}
    cp.pass_at_k = _numbers(data, "pass_at_k", path, rerun) or {}
    cp.samples = _count(data, "samples", path, rerun)
    cp.truncated = _number(data, "truncated", path, rerun)
    cp.numbers_exact = _number(data, "numbers_exact", path, rerun)
    for key in ("greedy", "written_steps"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise DataError(
                f"{path}: {key} should be an object or null, got {data[key]!r}; {rerun}"
            )
    greedy = data.get("greedy") or {}
    cp.greedy_accuracy = _number(greedy, "accuracy", path, rerun)
    cp.greedy_truncated = _number(greedy, "truncated", path, rerun)
    cp.greedy_mean_tokens = _number(greedy, "mean_tokens", path, rerun)
    steps = data.get("written_steps") or {}
    cp.written_steps = _count(steps, "count", path, rerun)
    cp.written_steps_correct = _number(steps, "correct", path, rerun)


def _read_scores(path: Path, step: int) -> dict[int, float] | None:
    """Puzzle index -> mean ``value`` of its rows; None for a file with no rows."""
    rerun = f"delete it and its summary and {_RESUME} (it evaluates checkpoint {step} again)"
    total: dict[int, float] = {}
    count: dict[int, int] = {}
    for line, row in io.iter_jsonl(path, rerun):
        puzzle, value = row.get("puzzle"), row.get("value")
        if isinstance(puzzle, bool) or not isinstance(puzzle, int) or puzzle < 0:
            raise DataError(
                f"{path}:{line}: puzzle should be the index of a test puzzle (an integer >= 0), "
                f"got {puzzle!r}; {rerun}"
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DataError(f"{path}:{line}: value should be a number, got {value!r}; {rerun}")
        total[puzzle] = total.get(puzzle, 0.0) + float(value)
        count[puzzle] = count.get(puzzle, 0) + 1
    return {p: total[p] / count[p] for p in sorted(total)} or None


def _read_checkpoints(cell: CellLayout) -> list[Checkpoint]:
    evals = cell.eval_summaries()
    counts = cell.behavior_summaries()
    checkpoints = []
    for step in sorted(evals.keys() | counts.keys()):
        cp = Checkpoint(step)
        if step in evals:
            path = evals[step]
            rerun = f"delete it and {_RESUME} (it evaluates checkpoint {step} again)"
            _read_summary(cp, path, rerun)
        if step in counts:
            path = counts[step]
            rerun = f"delete it and {_RESUME} (it counts the behaviors of checkpoint {step} again)"
            data = _object(path, rerun)
            cp.behaviors = _numbers(data, "mean", path, rerun)
            cp.behavior_share = _numbers(data, "share", path, rerun)
        checkpoints.append(cp)
    return checkpoints


def _read_rows(cell: CellLayout) -> dict[str, dict[int, Path]]:
    """The completion files of each summarised evaluation (rows without a summary are an
    evaluation cut short, and are left alone)."""
    found: dict[str, dict[int, Path]] = {metric: {} for metric in METRICS}
    for step in cell.eval_summaries():
        for metric, path in (("sampled", cell.eval(step)), ("greedy", cell.eval_greedy(step))):
            if path.is_file():
                found[metric][step] = path
    return found


def _read_metrics(path: Path) -> list[dict[str, Any]]:
    """The RL metrics, one dict per step (the JSONL rules of :mod:`cogstar.io`)."""
    if not path.is_file():
        return []
    return io.read_jsonl(path, f"delete the broken lines and {_RESUME}")


def _discover_cells(run: Path) -> dict[str, dict[str, Any]]:
    """Cells of a run without a manifest: the folders that hold eval, behaviors or RL."""
    subs = ("eval", "behaviors", "ppo", "grpo")
    return {
        d.name: {}
        for d in sorted(run.iterdir())
        if d.is_dir() and any((d / sub).is_dir() for sub in subs)
    }


def load_run(run_dir: str | os.PathLike[str]) -> RunResults:
    """Read a run directory into :class:`RunResults`; missing files are simply absent."""
    run = Path(run_dir)
    layout = RunLayout(run)
    if not run.is_dir():
        raise DataError(f"{run}: no such run directory (start a run with `cogstar run SPEC`)")
    spec = read_resolved_spec(layout.spec) if layout.spec.is_file() else None
    manifest: dict[str, Any] = {}
    if layout.manifest.is_file():
        manifest = _object(layout.manifest, f"{_RESUME}, which rewrites the manifest")
    cells_info = manifest.get("cells")
    if not isinstance(cells_info, dict):
        cells_info = _discover_cells(run)
    experiment = manifest.get("experiment")
    if not isinstance(experiment, str):
        experiment = spec.experiment.name if spec is not None else run.name
    algorithm = spec.rl.algorithm if spec is not None else "ppo"
    cells = []
    for name, info in cells_info.items():
        info = info if isinstance(info, dict) else {}
        axes = info.get("axes")
        axes = dict(axes) if isinstance(axes, dict) else {}
        condition = axes.get("condition")
        cell = layout.cell(str(name))
        cells.append(
            CellResults(
                name=str(name),
                condition=str(condition) if condition is not None else str(name),
                axes=axes,
                checkpoints=_read_checkpoints(cell),
                train=_read_metrics(cell.rl(algorithm).metrics),
                rows=_read_rows(cell),
            )
        )
    return RunResults(
        run_dir=run,
        experiment=experiment,
        cells=cells,
        model_source=spec.model.source if spec is not None else None,
        paper_setting=spec.report.paper if spec is not None else None,
        planned_steps=spec.rl_section().steps if spec is not None else None,
        figures=spec.report.figures if spec is not None else True,
    )


def cell_labels(results: RunResults) -> dict[str, str]:
    """Each cell's label: its condition, or its own name when cells share a condition."""
    conditions = [c.condition for c in results.cells]
    return {
        c.name: c.condition if conditions.count(c.condition) == 1 else c.name for c in results.cells
    }


def by_condition(results: RunResults) -> dict[tuple[str, str], dict[Hashable, CellResults]]:
    """(setting, condition) -> seed -> cell, in manifest order: the replicates of each
    condition within each setting of the other swept axes (see :attr:`CellResults.setting`)."""
    out: dict[tuple[str, str], dict[Hashable, CellResults]] = {}
    for cell in results.cells:
        replicates = out.setdefault((cell.setting, cell.condition), {})
        # a hand-made manifest may repeat a seed: keep each cell, keyed by its name
        replicates[cell.seed if cell.seed not in replicates else cell.name] = cell
    return out


# -- the paper's curves ---------------------------------------------------------------------


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
        raise ArgumentError(
            f"the paper's curves exist for {' and '.join(PAPER_MODELS)}, not {model!r}"
        )
    folder = resources.files("cogstar").joinpath("data").joinpath("paper")
    text = folder.joinpath(f"{model}_results.csv").read_text(encoding="utf-8")
    seen = set()
    rows = []
    for row in csv.DictReader(stdio.StringIO(text)):
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
        raise ArgumentError(f"paper must be auto, qwen, llama or none, got {paper!r}")
    setting = (results.paper_setting or "auto").lower()
    if setting == "none":
        return None
    if setting in PAPER_MODELS:
        return setting
    source = (results.model_source or "").lower()
    return next((m for m in PAPER_MODELS if m in source), None)
