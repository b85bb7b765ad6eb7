"""The study spec: one TOML file composes the stage configs; every rule is checked before work.

    from cogstar.study.spec import load_spec
    from cogstar.study.sweep import expand_cells
    spec = load_spec("experiments/priming_sweep.toml", ["ppo.steps=20"])
    for cell in expand_cells(spec):        # one cell per point of the sweep
        cell.name, cell.condition, cell.spec.ppo

A spec has the sections ``experiment data model curation priming sft rl ppo grpo eval behaviors
report launch sweep``; every key has a default except ``experiment.name``. The stage sections
are the stage configs themselves (:class:`~cogstar.tasks.DataConfig`,
:class:`~cogstar.train.ppo.config.PPOConfig`, ...), each with its own checks; this module adds
the study's own sections and the rules that span stages (an RL step needs enough puzzles, an
evaluation needs a checkpoint, a sweep must name fields).

Values come from, highest first: ``--set a.b=c`` overrides (the value is read as TOML, else
taken as a bare string), ``COGSTAR_*`` environment variables (``COGSTAR_PPO__KL_COEF=0.01``;
lists and tables as JSON), the file, the defaults. A spec may start from another: a top-level
``extends = "OTHER.toml"`` (relative to the spec's folder) takes every value of that spec and
lets this file change some (tables merge key by key; a list replaces the base's). Unknown
keys, wrong types and inconsistent values raise one :class:`~cogstar.errors.ConfigError` that
lists every problem as ``FILE: key.path: what is wrong; fix: what to do``; a key that was
renamed or removed is refused with the key that replaces it.

**Seeds.** ``[data].seed`` fixes the puzzles and the test set (and the priming puzzles);
``[experiment].seed`` is the replicate seed: every stage that draws randomness (priming's
synthesizer, SFT, continued pretraining, PPO or GRPO, evaluation) takes its own seed derived
from it (:func:`derive_seed`), so a sweep over ``experiment.seed`` gives replicates that
differ, and one seed repeats exactly. The stage sections take no ``seed`` of their own.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from cogstar.behaviors import BehaviorsConfig
from cogstar.behaviors.priming import CONDITIONS, CONTROLS, PrimingConfig
from cogstar.config import (
    Found,
    Loc,
    Problem,
    Sources,
    apply_overrides,
    closest,
    is_loading,
    keypath,
    problems_of,
    read_config_file,
    round_up,
    toml_key,
    toml_value,
    unknown_in_path,
    validate,
)
from cogstar.errors import ConfigError
from cogstar.pretrain.curate import CurationConfig
from cogstar.study.extends import extended, merge
from cogstar.tasks import DataConfig
from cogstar.train.base import ModelConfig
from cogstar.train.evaluate import EvalConfig
from cogstar.train.grpo import GRPOConfig
from cogstar.train.ppo.config import PPOConfig
from cogstar.train.sft import SFTConfig

__all__ = [
    "ALL_CONDITIONS",
    "DERIVED_SEEDS",
    "MOVED",
    "ExperimentSpec",
    "LaunchSpec",
    "RLSpec",
    "ReportSpec",
    "Spec",
    "derive_seed",
    "dump_toml",
    "eval_steps",
    "load_spec",
    "read_resolved_spec",
    "strip_seeds",
]

# Every value the `condition` axis may take: no priming, the six trace styles, the controls.
ALL_CONDITIONS: tuple[str, ...] = ("unprimed", *CONDITIONS, *CONTROLS)

# The seeds a study derives from [experiment].seed: key path of the section -> stage name.
DERIVED_SEEDS: dict[tuple[str, ...], str] = {
    ("priming",): "priming",
    ("sft",): "sft",
    ("ppo",): "ppo",
    ("grpo",): "grpo",
    ("eval",): "eval",
    ("curation", "training"): "pretrain",
}

# Keys that no longer exist, and what to write instead.
MOVED: dict[tuple[str, ...], str] = {
    ("model", "dtype"): "remove it; each stage has its dtype: sft.dtype, ppo.dtype, grpo.dtype, "
    "eval.dtype and curation.training.dtype (a CPU runs float32 whatever they say)",
    ("model", "template"): "remove it; every model gets the base template "
    "(cogstar.tasks.rl_prompt), the only one the stages implement",
}


def derive_seed(replicate: int, stage: str) -> int:
    """The seed of ``stage`` in replicate ``replicate``: 31 bits of a hash of both, so the
    stages of one replicate draw independently and every replicate differs."""
    digest = hashlib.blake2b(f"cogstar:{replicate}:{stage}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExperimentSpec(_Section):
    """``name``: the run directory is ``out/name``; ``seed``: the replicate seed."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    out: str = "runs"
    seed: int = Field(default=0, ge=0)


class RLSpec(_Section):
    algorithm: Literal["ppo", "grpo"] = "ppo"


class ReportSpec(_Section):
    """``paper``: whose published curves the report draws beside ours (``auto``: by the
    model's name; none for the tiny model); ``figures``: draw the PNG figures;
    ``trackers``: experiment trackers every training stage (SFT, continued pretraining, PPO,
    GRPO) reports to, writing under the stage's ``tracking/`` folder
    (:mod:`cogstar.train.tracking`). Trackers do not change what a stage computes."""

    paper: Literal["auto", "qwen", "llama", "none"] = "auto"
    figures: bool = True
    trackers: list[
        Literal["tensorboard", "wandb", "mlflow", "comet_ml", "aim", "clearml", "trackio"]
    ] = Field(default_factory=list)

    def problems(self) -> list[Problem]:
        from cogstar.train.tracking import TRACKERS, missing_trackers

        found = Found()
        for name in missing_trackers(self.trackers):
            found.add(
                ("trackers",),
                f"{name} is not installed",
                f"pip install {TRACKERS[name]}, or remove {name!r} from report.trackers",
            )
        return found


class LaunchSpec(_Section):
    """How the SFT and RL stages run: in the ``cogstar run`` process (``launcher = "none"``,
    the default), or as multi-process jobs: ``accelerate launch --config_file CONFIG [ARGS] -m
    cogstar.train.sft|cogstar.train.ppo ...`` (DDP, FSDP on GPUs) or ``torchrun [ARGS] -m
    ...`` (e.g. ``args = ["--nproc_per_node", "2"]``, which also runs on CPUs). Data,
    evaluation and behavior counting stay in the main process. How a stage runs does not
    change what it computes, so nothing here is part of a stage's inputs. ``gpus`` (one
    process each; the launcher's own count when unset) and ``gpu_memory_gb`` (each GPU's
    memory) declare the hardware: a spec whose memory plan does not fit it is refused before
    any work (:mod:`cogstar.study.memory`)."""

    launcher: Literal["none", "accelerate", "torchrun"] = "none"
    accelerate_config: str | None = None  # e.g. "configs/accelerate/fsdp_4gpu.yaml"
    args: list[str] = Field(default_factory=list)
    gpus: int | None = Field(default=None, ge=1)
    gpu_memory_gb: float | None = Field(default=None, gt=0)

    def problems(self) -> list[Problem]:
        found = Found()
        if self.launcher == "accelerate" and self.accelerate_config is None:
            found.add(
                ("accelerate_config",),
                'launcher = "accelerate" needs an Accelerate config file',
                'set accelerate_config = "configs/accelerate/ddp_4gpu.yaml" (or another)',
            )
        config = self.accelerate_config
        if config is not None and not Path(config).expanduser().exists():
            found.add(
                ("accelerate_config",),
                f"{config}: no such file (relative paths are from the current directory)",
                "give the path of an Accelerate config, e.g. configs/accelerate/ddp_4gpu.yaml",
            )
        return found


def _default_sweep() -> dict[str, list[Any]]:
    return {"condition": ["all_strategies"]}


class Spec(BaseSettings):
    """A whole study. Build it with :func:`load_spec`; constructing it directly reads
    ``COGSTAR_*`` from the environment (pydantic-settings) and runs the same checks."""

    model_config = SettingsConfigDict(
        env_prefix="COGSTAR_",
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
        frozen=True,
    )

    FREE_KEYS: ClassVar[frozenset[str]] = frozenset({"sweep"})  # its keys are field paths

    experiment: ExperimentSpec
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    curation: CurationConfig = Field(default_factory=CurationConfig)
    priming: PrimingConfig = Field(default_factory=PrimingConfig)
    sft: SFTConfig = Field(default_factory=SFTConfig)
    rl: RLSpec = Field(default_factory=RLSpec)
    ppo: PPOConfig = Field(default_factory=PPOConfig)
    grpo: GRPOConfig = Field(default_factory=GRPOConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    behaviors: BehaviorsConfig = Field(default_factory=BehaviorsConfig)
    report: ReportSpec = Field(default_factory=ReportSpec)
    launch: LaunchSpec = Field(default_factory=LaunchSpec)
    sweep: dict[str, list[Any]] = Field(default_factory=_default_sweep)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_spec merges file, environment and --set itself (to say where a bad value came
        # from) and validates the result as given; direct construction reads os.environ.
        return (init_settings,) if is_loading() else (init_settings, env_settings)

    @model_validator(mode="before")
    @classmethod
    def _derive_seeds(cls, data: Any) -> Any:
        """Fill each stochastic stage's seed from ``experiment.seed``; a seed given that is
        not the derived one is refused (the loader names the key before this runs)."""
        if not isinstance(data, dict):
            return data
        experiment = data.get("experiment")
        replicate = experiment.get("seed", 0) if isinstance(experiment, dict) else 0
        if isinstance(experiment, ExperimentSpec):
            replicate = experiment.seed
        if isinstance(replicate, bool) or not isinstance(replicate, int) or replicate < 0:
            return data  # the experiment section's own error says what is wrong
        return _with_seeds(data, replicate)

    @field_validator("sweep")
    @classmethod
    def _default_condition(cls, sweep: dict[str, list[Any]]) -> dict[str, list[Any]]:
        if "condition" not in sweep:  # a sweep without conditions runs the default one
            return {"condition": ["all_strategies"], **sweep}
        return sweep

    @model_validator(mode="after")
    def _consistent(self) -> Spec:
        if not is_loading():
            found = problems_of(self)
            if found:
                raise ValueError("; ".join(f"{keypath(k)}: {w}; fix: {f}" for k, w, f in found))
        return self

    def problems(self) -> list[Problem]:
        """The rules that span stages (each stage's own rules are its config's)."""
        found = Found()
        rl, section = self.rl_section(), self.rl.algorithm
        if self.data.train < rl.prompts_per_step:
            found.add(
                ("data", "train"),
                f"{self.data.train} puzzles cannot fill one RL step of "
                f"{section}.prompts_per_step = {rl.prompts_per_step}",
                f"set data.train to at least {rl.prompts_per_step}",
            )
        every, save = self.eval.every, rl.save_every
        if every % save:
            found.add(
                ("eval", "every"),
                f"{every} is not a multiple of {section}.save_every ({save}): no checkpoint is "
                f"saved at step {every}",
                f"set eval.every to a multiple of {save} (e.g. {round_up(every, save)}) or "
                f"{section}.save_every to a divisor of {every}",
            )
        if self.experiment.name in (".", ".."):
            found.add(("experiment", "name"), "not a folder name", 'use e.g. "my-experiment"')
        _sweep_problems(self.sweep, found)
        return found

    @property
    def run_dir(self) -> Path:
        return Path(self.experiment.out) / self.experiment.name

    def rl_section(self) -> PPOConfig | GRPOConfig:
        """The config of the chosen RL algorithm (``ppo`` or ``grpo``)."""
        return self.ppo if self.rl.algorithm == "ppo" else self.grpo


def _with_seeds(data: dict[str, Any], replicate: int) -> dict[str, Any]:
    out = dict(data)
    for path, stage in DERIVED_SEEDS.items():
        node = out
        for key in path:
            child = node.get(key, {})
            if isinstance(child, BaseModel):  # a config passed as an object: what it was given
                child = child.model_dump(exclude_unset=True)
            if not isinstance(child, dict):
                break  # not a table: its own error follows
            node[key] = child = dict(child)
            node = child
        else:
            want = derive_seed(replicate, stage)
            given = node.get("seed", want)
            if given != want:
                raise ValueError(
                    f"{'.'.join(path)}.seed ({given!r}) is derived from experiment.seed "
                    f"({replicate}: {want}); remove it"
                )
            node["seed"] = want
    return out


def strip_seeds(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the derived seeds (a dump of one replicate, to make another)."""
    out = dict(data)
    for path in DERIVED_SEEDS:
        node: Any = out
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(path[-1]), dict):
            node[path[-1]] = {k: v for k, v in node[path[-1]].items() if k != "seed"}
    return out


def _sweep_problems(sweep: Mapping[str, list[Any]], found: Found) -> None:
    import json

    for axis, values in sweep.items():
        loc: Loc = ("sweep", axis)
        if not values:
            found.add(loc, "the list is empty", "give at least one value, or remove the axis")
            continue
        seen = Counter(json.dumps(v, sort_keys=True, default=str) for v in values)
        for value, n in seen.items():
            if n > 1:
                found.add(loc, f"{value} is listed {n} times", "list each value once")
        path = tuple(axis.split("."))
        if axis == "condition":
            for i, value in enumerate(values):
                if value not in ALL_CONDITIONS:
                    near = closest(str(value), ALL_CONDITIONS)
                    hint = f"did you mean {near[0]!r}? " if near else ""
                    found.add(
                        (*loc, i),
                        f"unknown condition {value!r}",
                        f"{hint}conditions: {', '.join(ALL_CONDITIONS)}",
                    )
        elif path[0] == "sweep" or len(path) < 2:
            found.add(
                loc,
                f"{axis!r} is not a field path",
                'sweep "condition" or a field as "section.key", e.g. "ppo.kl_coef"',
            )
        elif path in (("experiment", "name"), ("experiment", "out")):
            found.add(
                loc,
                "the cells share the run directory, so it cannot vary",
                "sweep another field, or write a second spec",
            )
        elif path[-1] == "seed" and path[:-1] in DERIVED_SEEDS:
            found.add(
                loc,
                "stage seeds are derived from experiment.seed",
                'sweep "experiment.seed" for replicates',
            )
        elif path in MOVED:
            found.add(loc, "this key was removed", MOVED[path])
        elif (wrong := unknown_in_path(Spec, path)) is not None:
            found.add(loc, *wrong)
        elif path[0] == "data":
            found.add(
                loc,
                "the puzzles and the test set are shared by the cells, so [data] cannot vary",
                "write a second spec for other data",
            )
        elif path[0] == "curation" and path[1] not in ("pool", "training"):
            found.add(
                loc,
                "the curated data is shared by the cells, so only curation.pool and "
                "curation.training.* can vary",
                "sweep curation.pool or curation.training.*, or write a second spec",
            )


# -- reading -----------------------------------------------------------------------------------


class _EnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping instead of ``os.environ``."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = dict(env)
        super().__init__(Spec)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k if self.case_sensitive else k.lower(): v for k, v in self._env.items()}


def _given_seeds(data: dict[str, Any], sources: Sources) -> list[str]:
    """Refuse (and remove) a seed written in a stochastic stage's section."""
    lines = []
    for path, _stage in DERIVED_SEEDS.items():
        node: Any = data
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and "seed" in node:
            del node["seed"]
            loc = (*path, "seed")
            lines.append(
                sources.line(
                    (
                        loc,
                        "a stage's seed is derived from experiment.seed (the replicate seed)",
                        'remove it; set experiment.seed, or sweep "experiment.seed" for '
                        "replicates (the puzzles stay fixed by data.seed)",
                    )
                )
            )
    return lines


def load_spec(
    path: str | Path, overrides: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> Spec:
    """Read, override and check a spec; raises :class:`~cogstar.errors.ConfigError` listing
    every problem.

    ``overrides`` are ``a.b=c`` strings (``--set``); ``env`` defaults to ``os.environ`` and
    contributes the ``COGSTAR_*`` variables. Every sweep cell is checked too.
    """
    from cogstar.study.sweep import cell_problems

    path = Path(path)
    sources = Sources(str(path))
    try:
        data = read_config_file(path)
    except ConfigError as err:
        raise ConfigError(err.problems, "spec") from None
    data = extended(path, data, sources)
    lines: list[str] = []

    env = os.environ if env is None else env
    sections = set(Spec.model_fields)
    for var in env:
        if var.lower().startswith("cogstar_"):
            keys = tuple(var.lower()[len("cogstar_") :].split("__"))
            if keys[0] in sections:
                sources.origin[keys] = f"env {var}"
    try:
        data = merge(data, _EnvSource(env)())
    except SettingsError as e:
        section = re.search(r'field "([^"]+)"', str(e))
        name = section.group(1) if section else "(environment)"
        lines.append(
            f"{sources.file} (env COGSTAR_{name.upper()}*): {name}: a value is not valid JSON; "
            "fix: write lists and tables as JSON, e.g. COGSTAR_DATA__SIZES='[3, 4]'"
        )

    lines += apply_overrides(data, overrides, Spec, sources, moved=MOVED)

    lines += _given_seeds(data, sources)
    for key in [k for k in data if k.startswith("_")]:  # BaseSettings would take it as an option
        lines.append(
            sources.line(
                ((key,), "unknown key", f"remove it; sections: {', '.join(Spec.model_fields)}")
            )
        )
        del data[key]
    spec, problems = validate(Spec, data, moved=MOVED, fill={("experiment", "name"): "unnamed"})
    lines += [sources.line(p) for p in problems]
    if spec is not None and not lines:
        lines += cell_problems(spec, sources)
    if spec is None or lines:
        raise ConfigError(lines, "spec")
    return spec


# -- writing -----------------------------------------------------------------------------------


def dump_toml(spec: Spec) -> str:
    """The spec with every value explicit, as TOML that :func:`load_spec` reads back equal
    (the stages' seeds are left out: they follow from ``experiment.seed``)."""
    lines = ["# Resolved spec written by cogstar; every value is explicit.", ""]

    def table(name: str, data: Mapping[str, Any]) -> None:
        lines.append(f"[{name}]")
        lines.extend(
            f"{toml_key(k)} = {toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)
        )
        lines.append("")
        for k, v in data.items():
            if isinstance(v, dict):
                table(f"{name}.{toml_key(k)}", v)

    data = strip_seeds(spec.model_dump(mode="json", exclude_none=True))
    for section, values in data.items():
        if (
            section == "curation"
            and spec.curation == _default_curation(spec)
            and not _curates(spec)
        ):
            continue  # left out while unused, so run folders made before it still match
        table(section, values)
    return "\n".join(lines)


def _default_curation(spec: Spec) -> CurationConfig:
    seed = derive_seed(spec.experiment.seed, DERIVED_SEEDS[("curation", "training")])
    return CurationConfig(training={"seed": seed})  # type: ignore[arg-type]


def _curates(spec: Spec) -> bool:
    """Whether some cell of ``spec`` continues pretraining on a curated pool."""
    return spec.curation.pool != "none" or any(
        v != "none" for v in spec.sweep.get("curation.pool", [])
    )


def read_resolved_spec(path: Path) -> Spec:
    """The resolved spec a run wrote (``spec.toml``), read through the spec's schema without
    the checks that look at the machine (files named relative to where the run started);
    a file that does not fit raises :class:`~cogstar.errors.DataError` naming it."""
    from cogstar.config import loading
    from cogstar.errors import DataError

    try:
        data = read_config_file(path)
    except ConfigError as err:
        raise DataError("; ".join(err.problems)) from None
    try:
        with loading():
            return Spec.model_validate(data)
    except ValueError as err:
        raise DataError(
            f"{path}: not a resolved spec this cogstar reads ({err}); rerun `cogstar run SPEC`, "
            "which writes it again"
        ) from None


def eval_steps(spec: Spec) -> list[int]:
    """The RL steps whose checkpoint is evaluated: 0 (the start), every ``eval.every``, the last."""
    steps = spec.rl_section().steps
    out = list(range(0, steps + 1, spec.eval.every))
    return out if out[-1] == steps else [*out, steps]
