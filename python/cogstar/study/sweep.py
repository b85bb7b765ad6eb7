"""A spec's sweep: its cells, the cartesian product of the axes in the order written.

``[sweep]`` maps ``condition`` (priming conditions, ``unprimed`` included) and dotted field
paths (``"experiment.seed"``, ``"model.source"``, ``"ppo.kl_coef"``) to lists. Each cell is a
whole :class:`~cogstar.study.spec.Spec` with its values applied, validated as such, so a bad
sweep value fails at load time, not hours into a run.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from cogstar.config import Loc, Problem, Sources, describe, keypath, loading, problems_of, set_path
from cogstar.errors import ConfigError
from cogstar.study.spec import MOVED, Spec, strip_seeds

__all__ = ["Cell", "cell_problems", "expand_cells"]


@dataclass(frozen=True)
class Cell:
    """One point of the sweep: its folder name, its condition, the axis values it takes
    (``condition`` included) and the spec with those values applied (its sweep is the cell)."""

    name: str
    condition: str
    axes: dict[str, Any]
    spec: Spec


def _name_value(value: Any) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list | tuple):
        text = "-".join(_name_value(v) for v in value)
    elif isinstance(value, dict):
        text = json.dumps(value, sort_keys=True)
    else:
        text = str(value)
    return re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9_.+-]", "-", text)) or "_"


def _cell_names(sweep: Mapping[str, list[Any]]) -> list[str]:
    """Names of the cartesian product, in order: the condition, then each varying axis."""
    axes = list(sweep)
    varying = [a for a in axes if a != "condition" and len(sweep[a]) > 1]
    short = {a: a.rsplit(".", 1)[-1] for a in varying}
    clash = Counter(short.values())
    label = {
        a: short[a] if clash[short[a]] == 1 and short[a] != "condition" else a for a in varying
    }
    names = []
    for combo in itertools.product(*(sweep[a] for a in axes)):
        point = dict(zip(axes, combo, strict=True))
        parts = [_name_value(point["condition"])]
        parts += [f"{label[a]}={_name_value(point[a])}" for a in varying]
        names.append("__".join(parts))
    return names


def _axis_of(loc: Loc, axes: Sequence[str]) -> str:
    keys = ".".join(str(k) for k in loc if isinstance(k, str))
    return next((a for a in axes if keys == a or keys.startswith(a + ".")), "")


def _get(spec: Spec, path: str) -> Any:
    node: Any = spec
    for key in path.split("."):
        node = getattr(node, key)
    return node.model_dump() if isinstance(node, BaseModel) else node


def _cells(spec: Spec) -> tuple[list[Cell], list[tuple[Problem, str, str]]]:
    """The cells, and the problems of invalid cells as (problem, cell name, axis or '')."""
    sweep = spec.sweep
    axes = list(sweep)
    base = strip_seeds(spec.model_dump())  # each cell derives its own from its experiment.seed
    cells: list[Cell] = []
    bad: list[tuple[Problem, str, str]] = []
    names = _cell_names(sweep)
    for combo, name in zip(itertools.product(*(sweep[a] for a in axes)), names, strict=True):
        point = dict(zip(axes, combo, strict=True))
        data = copy.deepcopy(base)
        for axis, value in point.items():
            if axis != "condition":
                set_path(data, axis.split("."), value)
        data["sweep"] = {"condition": [point["condition"]]}
        try:
            with loading():
                cell_spec = Spec.model_validate(data)
        except ValidationError as e:
            for err in e.errors():
                problem = describe(Spec, err, MOVED)
                bad.append((problem, name, _axis_of(problem[0], axes)))
            continue
        problems = problems_of(cell_spec)
        bad += [(p, name, _axis_of(p[0], axes)) for p in problems]
        if not problems:
            values = {a: (v if a == "condition" else _get(cell_spec, a)) for a, v in point.items()}
            cells.append(Cell(name, str(point["condition"]), values, cell_spec))
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if first.setdefault(name, i) != i:
            what = f"two cells get the same name {name!r}"
            bad.append(
                ((("sweep",), what, "make the values differ in more than punctuation"), name, "")
            )
    return cells, bad


def cell_problems(spec: Spec, sources: Sources) -> list[str]:
    """One line per distinct problem of the cells, naming the first cell that has it."""
    _, bad = _cells(spec)
    grouped: dict[tuple[str, Problem], list[str]] = {}
    for problem, name, axis in bad:
        label = sources.label(("sweep", axis) if axis else problem[0])
        grouped.setdefault((label, problem), []).append(name)
    lines = []
    for (label, (loc, what, fix)), names in grouped.items():
        more = f" and {len(names) - 1} more" if len(names) > 1 else ""
        lines.append(f"{label}: {keypath(loc)} (sweep cell {names[0]}{more}): {what}; fix: {fix}")
    return lines


def expand_cells(spec: Spec) -> list[Cell]:
    """The sweep's cells: the cartesian product of the axes in the order written.

    Names are folder-safe and unique: the condition alone when nothing else varies, else
    e.g. ``all_strategies__seed=1__kl_coef=0.01`` (the last key of each varying path, the
    whole path when two would read alike; ``/`` and the like become ``-``).
    """
    cells, bad = _cells(spec)
    if bad:
        sources = Sources(f"spec {spec.experiment.name!r}")
        raise ConfigError([sources.line(p, f" (sweep cell {name})") for p, name, _ in bad], "spec")
    return cells


def choose_cells(
    cells: list[Cell], names: Sequence[str], spec_path: object = "the spec"
) -> list[Cell]:
    """The cells named (all of them when ``names`` is empty), in the order named; an unknown
    name raises :class:`~cogstar.errors.StageError` listing the cells there are."""
    from cogstar.errors import StageError

    if not names:
        return cells
    by_name = {c.name: c for c in cells}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise StageError(
            f"{spec_path}: no cell named {', '.join(unknown)}; the cells are: {', '.join(by_name)}"
        )
    return [by_name[n] for n in names]
