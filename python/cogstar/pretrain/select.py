"""Select the two pools of the pretraining experiment from document labels.

    from cogstar.pretrain.label import read_labels
    from cogstar.pretrain.select import select_pools, write_pools

    pools = select_pools(read_labels("runs/curation/labels.jsonl"))
    write_pools(pools, "runs/curation")       # runs/curation/pools.json
    len(pools.rich), len(pools.minimized), pools.dropped, pools.reasons

The paper compares continued pretraining on text that shows the four behaviors with text that
shows none of them, both rewritten into question / thoughts / answer. :class:`SelectionRules`
encodes that split; its defaults, and why:

* both pools need ``has_problem`` and ``has_solution``: the rewrite turns each document into a
  question, the reasoning, and an answer, and a page without a problem (or without its
  solution) has nothing to put in one of them;
* the rich pool needs at least ``min_total_rich = 3`` instances in all, so that a stray "let's
  check" does not make a page behavior-rich, and at least ``min_distinct_rich = 2`` distinct
  behaviors, so that the pool is not made of one behavior alone (pages that only ever
  "verify" are common);
* the minimized pool needs at most ``max_total_minimized = 0`` instances: no behavior at all,
  so the two pools differ in the behaviors and the contrast is clean;
* everything else (a problem and solution with one or two instances, or three of a single
  behavior) is in neither pool: it is dropped and counted in ``Pools.reasons``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cogstar.errors import ArgumentError, DataError
from cogstar.io import atomic_write_json
from cogstar.pretrain import BEHAVIORS, Label

__all__ = [
    "POOLS_FILE",
    "DataError",
    "Pools",
    "SelectionRules",
    "distinct_behaviors",
    "read_pools",
    "select_pools",
    "write_pools",
]

POOLS_FILE = "pools.json"

# Why a document is in neither pool (the first rule it fails, in this order).
NO_PROBLEM = "no_problem"
NO_SOLUTION = "no_solution"
FEW_BEHAVIORS = "few_behaviors"  # 0 < total < min_total_rich (some, but not enough)
FEW_DISTINCT = "few_distinct_behaviors"  # enough instances, too few kinds of behavior


@dataclass(frozen=True)
class SelectionRules:
    """Which labelled documents go to the rich and the minimized pool (see the module doc)."""

    min_total_rich: int = 3
    min_distinct_rich: int = 2
    max_total_minimized: int = 0

    def __post_init__(self) -> None:
        if self.max_total_minimized < 0:
            raise ArgumentError(f"max_total_minimized must be >= 0, got {self.max_total_minimized}")
        if not 0 <= self.min_distinct_rich <= len(BEHAVIORS):
            raise ArgumentError(
                f"min_distinct_rich must be between 0 and {len(BEHAVIORS)}, got "
                f"{self.min_distinct_rich}"
            )
        if self.min_total_rich <= self.max_total_minimized:
            raise ArgumentError(
                f"min_total_rich ({self.min_total_rich}) must exceed max_total_minimized "
                f"({self.max_total_minimized}), or a document could fall in both pools"
            )


@dataclass(frozen=True)
class Pools:
    """Document ids of each pool (sorted), and how many labelled documents fell in neither."""

    rich: list[str]
    minimized: list[str]
    dropped: int
    reasons: Counter[str] = field(default_factory=Counter)
    rules: SelectionRules = field(default_factory=SelectionRules)

    def to_json(self) -> dict[str, Any]:
        return {
            "rich": list(self.rich),
            "minimized": list(self.minimized),
            "dropped": self.dropped,
            "reasons": dict(sorted(self.reasons.items())),
            "rules": asdict(self.rules),
        }


def distinct_behaviors(label: Label) -> int:
    """How many of the four behaviors occur at least once."""
    return sum(1 for b in BEHAVIORS if getattr(label, b) > 0)


def _pool(label: Label, rules: SelectionRules) -> str:
    """``"rich"``, ``"minimized"``, or the reason the document is dropped."""
    if not label.has_problem:
        return NO_PROBLEM
    if not label.has_solution:
        return NO_SOLUTION
    if label.total <= rules.max_total_minimized:
        return "minimized"
    if label.total < rules.min_total_rich:
        return FEW_BEHAVIORS
    if distinct_behaviors(label) < rules.min_distinct_rich:
        return FEW_DISTINCT
    return "rich"


def select_pools(labels: Mapping[str, Label], rules: SelectionRules | None = None) -> Pools:
    """Split labelled documents into the rich and minimized pools by ``rules``.

    Ids come out sorted, so the pools do not depend on the order labels were written in.
    """
    rules = SelectionRules() if rules is None else rules
    rich: list[str] = []
    minimized: list[str] = []
    reasons: Counter[str] = Counter()
    for doc_id in sorted(labels):
        verdict = _pool(labels[doc_id], rules)
        if verdict == "rich":
            rich.append(doc_id)
        elif verdict == "minimized":
            minimized.append(doc_id)
        else:
            reasons[verdict] += 1
    return Pools(rich, minimized, sum(reasons.values()), reasons, rules)


def write_pools(pools: Pools, out_dir: str | os.PathLike[str]) -> Path:
    """Write ``out_dir/pools.json`` atomically; returns its path."""
    path = Path(out_dir) / POOLS_FILE
    atomic_write_json(path, pools.to_json())
    return path


def read_pools(out_dir: str | os.PathLike[str]) -> Pools:
    """The pools written by :func:`write_pools` into ``out_dir``."""
    path = Path(out_dir) / POOLS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no pools file (write_pools writes it)") from None
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from None
    try:
        rich, minimized = data["rich"], data["minimized"]
        if not all(isinstance(i, str) for i in [*rich, *minimized]):
            raise TypeError("pool ids must be strings")
        return Pools(
            rich=list(rich),
            minimized=list(minimized),
            dropped=int(data["dropped"]),
            reasons=Counter({str(k): int(v) for k, v in data.get("reasons", {}).items()}),
            rules=SelectionRules(**data.get("rules", {})),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise DataError(f"{path}: not a pools file ({type(err).__name__}: {err})") from None
