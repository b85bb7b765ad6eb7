"""No dead knob: every config field is read by its stage's code and changes exactly the stage
keys it should (its own stage's and those downstream), nothing else.

Two checks per field of every stage config (and ``experiment.seed``):

* *read*: the modules that run the stage access the field (``x.field``) outside the config
  class's own body, so a value cannot be accepted and then ignored;
* *hashed*: changing the field to another valid value changes the keys of the stages that own
  it and of every stage whose inputs hold one of their keys, and no other key. Fields that do
  not change what a stage computes are declared ``NOT_HASHED`` on their config and must change
  no key at all.
"""

from __future__ import annotations

import ast
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

import cogstar
from cogstar.behaviors import BehaviorsConfig
from cogstar.behaviors.priming import PrimingConfig
from cogstar.config import StageConfig
from cogstar.llm import BackendConfig
from cogstar.pretrain.curate import CurationConfig
from cogstar.pretrain.train import PretrainConfig
from cogstar.study.spec import DERIVED_SEEDS, Spec, strip_seeds
from cogstar.study.stages import StageKey, stage_keys
from cogstar.study.sweep import Cell
from cogstar.tasks import DataConfig
from cogstar.train.base import ModelConfig
from cogstar.train.evaluate import EvalConfig
from cogstar.train.grpo import GRPOConfig
from cogstar.train.ppo.config import PPOConfig
from cogstar.train.sft import SFTConfig

PACKAGE = Path(cogstar.__file__).parent

# Where each config's stage runs: the modules whose code must read every field.
STAGE_CODE: dict[type[BaseModel], tuple[str, ...]] = {
    DataConfig: ("tasks.py",),
    ModelConfig: ("train/base.py",),
    PrimingConfig: ("behaviors/priming.py",),
    BehaviorsConfig: ("behaviors/__init__.py",),
    SFTConfig: ("train/sft.py",),
    PretrainConfig: ("train/sft.py",),
    PPOConfig: ("train/ppo/trainer.py", "train/ppo/config.py"),
    GRPOConfig: ("train/grpo.py",),
    EvalConfig: ("train/evaluate.py", "study/spec.py"),  # `every`: the study's schedule
    CurationConfig: ("pretrain/curate.py", "study/runner.py"),  # `pool`: which cells curate
    BackendConfig: ("llm.py",),
}

BACKEND = {"provider": "openai", "model": "m", "base_url": "http://127.0.0.1:1/v1"}
# One spec in which every stage runs and every optional table is there, in a primed cell
# (and its GRPO twin for the grpo section).
BASE: dict[str, Any] = {
    "experiment": {"name": "knobs"},
    "data": {"train": 256, "test": 8},
    "curation": {
        "pool": "rich",
        "labeller": "llm",
        "labeller_backend": BACKEND,
        "rewriter_backend": BACKEND,
        "limit": 50,
        "rewrite_limit": 10,
    },
    "priming": {"source": "llm", "backend": BACKEND},
    "ppo": {"steps": 20, "save_every": 10},
    "grpo": {"steps": 20, "save_every": 10},
    "eval": {"samples": 2, "k": [1, 2], "every": 10},
    "behaviors": {"judge": "llm", "backend": BACKEND},
    "sweep": {"condition": ["all_strategies"]},
}


def _cell(data: dict[str, Any], condition: str = "all_strategies") -> Cell:
    spec = Spec.model_validate(data)
    return Cell(condition, condition, {"condition": condition}, spec)


def _keys(data: dict[str, Any], condition: str = "all_strategies") -> dict[str, StageKey]:
    return stage_keys(_cell(data, condition))


def _downstream(keys: dict[str, StageKey], owners: set[str]) -> set[str]:
    """``owners`` and every stage whose inputs hold the key of one already in the set."""
    found = set(owners)
    grew = True
    while grew:
        grew = False
        held = {keys[s].key for s in found if s in keys}
        for sid, stage in keys.items():
            if sid not in found and _mentions(stage.inputs, held):
                found.add(sid)
                grew = True
    return found


def _mentions(value: Any, keys: set[str]) -> bool:
    if isinstance(value, str):
        return value in keys
    if isinstance(value, dict):
        return any(_mentions(v, keys) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, keys) for v in value)
    return False


# -- the fields ----------------------------------------------------------------------------


def _fields(model: type[BaseModel], prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    for name, info in model.model_fields.items():
        inner = _config_in(info.annotation)
        if inner is not None:
            yield from _fields(inner, (*prefix, name))
        else:
            yield (*prefix, name)


def _config_in(annotation: Any) -> type[BaseModel] | None:
    for arg in (annotation, *typing.get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, StageConfig):
            return arg
    return None


SECTIONS = ("data", "model", "curation", "priming", "sft", "ppo", "grpo", "eval", "behaviors")
# A stage's own seed is not a spec key: it follows from experiment.seed, tested as that.
DERIVED = {(*section, "seed") for section in DERIVED_SEEDS}
FIELDS = [
    path
    for s in SECTIONS
    for path in _fields(Spec.model_fields[s].annotation, (s,))
    if path not in DERIVED
]
FIELDS.append(("experiment", "seed"))
# Fields that decide which evaluations exist (the schedule), besides what the RL stage does.
SCHEDULE = {("eval", "every"), ("ppo", "steps"), ("grpo", "steps")}


def test_every_stage_config_field_is_covered() -> None:
    assert len(FIELDS) > 100
    assert ("curation", "training", "lr") in FIELDS and ("priming", "backend", "model") in FIELDS


def _owner_config(path: tuple[str, ...]) -> type[BaseModel]:
    model: type[BaseModel] = Spec
    for key in path[:-1]:
        annotation = model.model_fields[key].annotation
        inner = _config_in(annotation)
        model = inner if inner is not None else annotation
    return model


def _not_hashed(path: tuple[str, ...]) -> bool:
    config = _owner_config(path)
    return path[-1] in getattr(config, "NOT_HASHED", frozenset())


# -- read by the stage's code ----------------------------------------------------------------


# A config's own checks and hashing read every field; they do not make a field used.
_NOT_USE = ("problems", "_check", "inputs", "data_inputs", "check_processes", "check_launch")


def _reads(files: tuple[str, ...], skip: str) -> set[str]:
    """Attribute names read in ``files``, outside the checks and hashing of the class named
    ``skip`` (its other methods, such as ``SFTConfig.steps``, are what the stage calls)."""
    names: set[str] = set()
    for file in files:
        tree = ast.parse((PACKAGE / file).read_text(encoding="utf-8"))
        skipped = {
            id(n)
            for c in ast.walk(tree)
            if isinstance(c, ast.ClassDef) and c.name == skip
            for f in c.body
            if isinstance(f, ast.FunctionDef) and f.name in _NOT_USE
            for n in ast.walk(f)
        }
        names |= {
            n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and id(n) not in skipped
        }
    return names


@pytest.mark.parametrize("config", list(STAGE_CODE), ids=lambda c: c.__name__)
def test_every_field_is_read_by_the_stage(config: type[BaseModel]) -> None:
    read = _reads(STAGE_CODE[config], config.__name__)
    unread = [name for name in config.model_fields if name not in read]
    assert not unread, f"{config.__name__}: read by nothing in {STAGE_CODE[config]}: {unread}"


def test_the_replicate_seed_is_read() -> None:
    assert "seed" in _reads(("study/spec.py",), "ExperimentSpec")


# -- hashed into exactly the stages it affects -------------------------------------------------


def _get(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = data
    for key in path:
        node = node[key]
    return node


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    import copy

    out = copy.deepcopy(data)
    node = out
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return out


def _candidates(path: tuple[str, ...], value: Any, tmp: Path) -> list[Any]:
    """Other values to try for the field at ``path`` (the first valid one is used)."""
    special = {
        ("data", "source"): [str(tmp / "puzzles.jsonl")],
        ("model", "source"): [str(tmp)],
        ("curation", "source"): ["sample:60"],
        ("data", "sizes"): [[3], [4]],
        ("eval", "k"): [[2], [1]],
        ("curation", "pool"): ["minimized"],
    }
    if path in special:
        return special[path]
    if path[-1] == "provider":
        return ["anthropic"]
    if path[-1] in ("model", "base_url"):
        return ["other-model", "http://127.0.0.1:2/v1"]
    if path[-1] == "api_key_env":
        return ["OTHER_KEY"]
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value * 2, max(1, value // 2), value - 1, 2, 8]
    if isinstance(value, float):
        return [value * 2, value / 2, round(value + 0.1, 6), 0.5]
    if isinstance(value, list | tuple) and len(value) == 2:
        return [[value[0], value[1] - 1], [value[0] + 1, value[1]]]
    if value is None:
        return [10]
    if isinstance(value, str):
        config = _owner_config(path)
        annotation = config.model_fields[path[-1]].annotation
        return [o for o in typing.get_args(annotation) if o != value]
    raise AssertionError(f"no candidate values for {'.'.join(path)} = {value!r}")


def _changed(
    path: tuple[str, ...], tmp: Path
) -> tuple[dict[str, StageKey], dict[str, StageKey], str]:
    (tmp / "puzzles.jsonl").write_text('{"numbers": [1, 2], "target": 3}\n')
    base = dict(BASE)
    condition = "all_strategies"
    if path[0] == "grpo":
        base = _set(base, ("rl",), {"algorithm": "grpo"})
    if path[0] == "model":
        condition = "dots"  # the priming set that depends on the model (its tokenizer)
    resolved = strip_seeds(Spec.model_validate(base).model_dump(mode="json"))
    before = _keys(resolved, condition)
    for value in _candidates(path, _get(resolved, path), tmp):
        try:
            after = _keys(_set(resolved, path, value), condition)
        except (ValidationError, ValueError):
            continue
        return before, after, condition
    raise AssertionError(f"no valid other value for {'.'.join(path)}")


def _owners(path: tuple[str, ...], cell: str, keys: dict[str, StageKey]) -> set[str]:
    """The stages that read ``path`` directly (the test's own table of the design)."""
    evals = {s for s in keys if s.startswith(f"{cell}/eval@")}
    counts = {s for s in keys if s.startswith(f"{cell}/behaviors@")}
    section = path[0]
    if path == ("experiment", "seed"):  # every stochastic stage; not the data or its curation
        return {f"{cell}/{n}" for n in ("priming", "sft", "continued_pretraining", "rl")} | evals
    if section == "data":
        owners = {"shared/data"}
        if path[1] in ("seed", "sizes"):  # the priming puzzles come from them too
            owners.add(f"{cell}/priming")
        return owners
    if section == "model":  # the base: its tokenizer for curation and dots, its weights for cpt
        return {"shared/curate", f"{cell}/continued_pretraining", f"{cell}/priming"}
    if section == "curation":
        if path[1] in ("pool", "training"):
            return {f"{cell}/continued_pretraining"}
        return {"shared/curate"}
    if section in ("ppo", "grpo"):
        return {f"{cell}/rl"}
    if section == "eval":
        return evals
    if section == "behaviors":
        return counts
    return {f"{cell}/{section}"}  # priming, sft


@pytest.mark.parametrize("path", FIELDS, ids=lambda p: ".".join(p))
def test_a_changed_value_redoes_exactly_its_stages(path: tuple[str, ...], tmp_path: Path) -> None:
    before, after, cell = _changed(path, tmp_path)
    common = set(before) & set(after)
    if path in SCHEDULE:  # which evaluations exist: others come and go, the rest must not move
        assert set(before) != set(after), f"{'.'.join(path)} did not change the schedule"
    else:
        assert set(before) == set(after), "a setting changed which stages run"
    changed = {s for s in common if before[s].key != after[s].key}
    if _not_hashed(path):
        assert not changed, f"{'.'.join(path)} is declared NOT_HASHED but changed {changed}"
        return
    expected = _downstream(before, _owners(path, cell, before)) & common
    assert changed == expected, (
        f"{'.'.join(path)}: changed {sorted(changed)}, expected {sorted(expected)}"
    )
