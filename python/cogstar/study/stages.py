"""What each stage of a cell depends on, computed from the spec alone (no file is read).

Every stage is keyed by a hash of its inputs: its own config's fields (``inputs()``, which
leaves out what does not change the result), and the keys of the stages it reads from. A
finished stage whose key is unchanged is never redone; a changed setting changes the keys of
exactly the stages that read it and of the stages after them. The graph of one cell::

    shared/data ─────────────┬──────────────────────┬────────────┐
    shared/curate ─ cpt ─┐   │ (test set)           │            │
    (base model) ────────┴─ priming ─ sft ─ eval@0  rl ─ eval@N ─ behaviors@N
                                              └─ behaviors@0

``priming`` reads the puzzle seed and sizes of ``[data]``, not the RL puzzles, so changing
``data.train`` leaves the priming sets alone. The runner uses these keys as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cogstar.io import hash_json
from cogstar.layout import SHARED
from cogstar.study.spec import eval_steps
from cogstar.study.sweep import Cell
from cogstar.train.base import base_key

__all__ = ["StageKey", "stage_keys"]


@dataclass(frozen=True)
class StageKey:
    """One stage: its unit (``shared`` or the cell's name), its name, what it depends on and
    the hash of that."""

    unit: str
    name: str
    inputs: dict[str, Any]

    @property
    def key(self) -> str:
        return hash_json(self.inputs)

    @property
    def id(self) -> str:
        return f"{self.unit}/{self.name}"


def stage_keys(cell: Cell) -> dict[str, StageKey]:
    """Every stage the cell runs, in order, by ``unit/name`` (``shared/data``,
    ``CELL/sft``, ``CELL/eval@10`` ...)."""
    spec, unit = cell.spec, cell.name
    out: dict[str, StageKey] = {}

    def add(owner: str, name: str, inputs: dict[str, Any]) -> str:
        stage = StageKey(owner, name, inputs)
        out[stage.id] = stage
        return stage.key

    data = add(SHARED, "data", {"data": spec.data.inputs()})
    base = base_key(spec.model)
    curation = spec.curation
    if curation.pool != "none":
        curated = add(SHARED, "curate", {"curation": curation.data_inputs(), "tokenizer": base})
        base = add(
            unit,
            "continued_pretraining",
            {
                "training": curation.training.inputs(),
                "pool": curation.pool,
                "data": curated,
                "base": base,
            },
        )
    start = base
    if cell.condition != "unprimed":
        priming: dict[str, Any] = {
            "condition": cell.condition,
            "priming": spec.priming.inputs(),
            "puzzles": {"seed": spec.data.seed, "sizes": list(spec.data.sizes)},
        }
        if cell.condition == "dots":  # the only set that depends on the model's tokenizer
            priming["tokenizer"] = base
        primed = add(unit, "priming", priming)
        start = add(unit, "sft", {"sft": spec.sft.inputs(), "priming": primed, "base": base})
    behaviors = spec.behaviors.inputs()
    evaluation = spec.eval.inputs()

    def evaluate(step: int, policy: str) -> None:
        evaluated = add(
            unit, f"eval@{step}", {"eval": evaluation, "policy": policy, "step": step, "data": data}
        )
        add(unit, f"behaviors@{step}", {"behaviors": behaviors, "eval": evaluated})

    evaluate(0, start)
    rl = add(
        unit,
        "rl",
        {
            "algorithm": spec.rl.algorithm,
            "settings": spec.rl_section().inputs(),
            "start": start,
            "data": data,
        },
    )
    for step in eval_steps(spec)[1:]:
        evaluate(step, rl)
    return out
