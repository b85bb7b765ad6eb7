"""Experiment specs: one TOML file describes a whole study; everything is checked before work.

    from cogstar.study.spec import expand_cells, load_spec, plan, render_plan
    spec = load_spec("experiments/paper/llama_priming.toml", ["ppo.steps=20"])
    for cell in expand_cells(spec):        # one cell per point of the sweep
        cell.name, cell.condition, cell.spec.ppo.to_settings()
    render_plan(plan(spec), rich.console.Console())   # what `cogstar run SPEC --dry-run` prints

A spec has the sections ``experiment data model curation priming sft rl ppo grpo eval behaviors
report launch sweep``; every key has a default except ``experiment.name``. Values come from, highest first:
``--set a.b=c`` overrides (the value is read as TOML, else taken as a bare string), ``COGSTAR_*``
environment variables (``COGSTAR_PPO__KL_COEF=0.01``; lists and tables as JSON), the file, the
defaults. Unknown keys, wrong types and inconsistent values (a mini-batch that does not divide
the prompts of a step, evaluation between checkpoints, ...) raise one :class:`SpecError` that
lists every problem as ``FILE: key.path: what is wrong; fix: what to do``. Each sweep cell is
validated as well, so a bad sweep value fails at load time, not hours into a run.

``[sweep]`` maps ``condition`` (priming conditions, ``unprimed`` included) and dotted field
paths (``"experiment.seed"``, ``"model.source"``, ``"ppo.kl_coef"``) to lists; the cells are
their cartesian product in the order written.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import itertools
import json
import math
import os
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from cogstar.behaviors.priming import CONDITIONS, CONTROLS
from cogstar.errors import ConfigError
from cogstar.pretrain import BEHAVIORS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

if TYPE_CHECKING:
    from rich.console import Console

    from cogstar.pretrain.train import ContinuedPretrainingSettings
    from cogstar.train.evaluate import EvalSettings
    from cogstar.train.grpo import GRPOSettings
    from cogstar.train.ppo.trainer import PPOSettings
    from cogstar.train.sft import SFTSettings

__all__ = [
    "ALL_CONDITIONS",
    "TINY_CPU_RATES",
    "BackendSpec",
    "BehaviorsSpec",
    "Cell",
    "CurationSpec",
    "CurationTrainingSpec",
    "DataSpec",
    "EvalSpec",
    "ExperimentSpec",
    "GRPOSpec",
    "ModelSpec",
    "PPOSpec",
    "Plan",
    "PrimingSpec",
    "RLSpec",
    "Rates",
    "ReportSpec",
    "SFTSpec",
    "Spec",
    "Stage",
    "curation_documents",
    "curation_inputs",
    "dump_toml",
    "eval_steps",
    "expand_cells",
    "load_spec",
    "plan",
    "render_plan",
    "spec_hash",
]

# Every value the `condition` axis may take: no priming, the six trace styles, the controls.
ALL_CONDITIONS: tuple[str, ...] = ("unprimed", *CONDITIONS, *CONTROLS)

Loc = tuple[str | int, ...]
Dtype = Literal["float32", "bfloat16", "float16"]
PositiveInt = Annotated[int, Field(ge=1)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- the sections ----------------------------------------------------------------------------


class ExperimentSpec(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    out: str = "runs"  # the run directory is out/name
    seed: int = Field(default=0, ge=0)


class DataSpec(_Section):
    """The RL puzzles: ``generate`` (keyword arguments of ``cogstar.generate_puzzles``), a local
    ``.jsonl``/``.parquet`` file, or ``hub:<dataset id>``; the test set is ``test`` of them."""

    source: str = "generate"
    train: int = Field(default=4096, ge=1)
    test: int = Field(default=1024, ge=1)
    sizes: list[int] = Field(default_factory=lambda: [3, 4], min_length=1)
    value_range: tuple[int, int] = (1, 100)
    target_range: tuple[int, int] = (1, 100)
    numbers_below_target: bool = False
    rules: Literal["rational", "classic"] = "rational"
    seed: int = Field(default=0, ge=0)


class ModelSpec(_Section):
    """``tiny``: the embedded tiny model, pretrained locally; anything else: a hub id or folder."""

    source: str = "tiny"
    tiny_size: Literal["tiny", "small"] = "tiny"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"  # auto: bf16 GPU, fp32 CPU
    template: Literal["base", "chat"] = "base"


class BackendSpec(_Section):
    """An LLM endpoint (``cogstar.llm``). The key comes from the environment: the provider's
    variable (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``), or ``api_key_env`` when given;
    ``api_key_env = "none"`` sends no key (a local vLLM or SGLang server)."""

    provider: Literal["openai", "anthropic"]
    model: str
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


class PrimingSpec(_Section):
    source: Literal["synthetic", "llm"] = "synthetic"
    count: int = Field(default=1000, ge=1)
    validation: int = Field(default=200, ge=0)
    budget: int = Field(default=1200, ge=1)  # rough characters per synthesized trace
    seed: int = Field(default=0, ge=0)
    backend: BackendSpec | None = None  # required when source = "llm"


class SFTSpec(_Section):
    """The fields of :class:`cogstar.train.sft.SFTSettings`."""

    epochs: float = Field(default=5.0, gt=0)
    lr: float = Field(default=1e-5, gt=0)
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1)
    weight_decay: float = Field(default=0.01, ge=0)
    adam_beta2: float = Field(default=0.95, gt=0, lt=1)
    global_batch: int = Field(default=64, ge=1)
    micro_batch: int = Field(default=8, ge=1)
    max_length: int = Field(default=2048, ge=1)
    max_steps: int = Field(default=-1, ge=-1)  # > 0 overrides epochs
    save_steps: int = Field(default=50, ge=1)
    seed: int = Field(default=0, ge=0)
    dtype: Dtype = "bfloat16"

    def to_settings(self) -> SFTSettings:
        from cogstar.train.sft import SFTSettings

        return SFTSettings(**self.model_dump())


class RLSpec(_Section):
    algorithm: Literal["ppo", "grpo"] = "ppo"


class PPOSpec(_Section):
    """The fields of :class:`cogstar.train.ppo.trainer.PPOSettings`."""

    steps: int = Field(default=250, ge=0)
    prompts_per_step: int = Field(default=256, ge=1)
    samples_per_prompt: int = Field(default=4, ge=1)
    temperature: float = Field(default=1.0, gt=0)
    max_prompt_tokens: int = Field(default=256, ge=1)
    max_response_tokens: int = Field(default=1024, ge=1)
    actor_lr: float = Field(default=1e-6, gt=0)
    critic_lr: float = Field(default=1e-5, gt=0)
    actor_minibatch_prompts: int = Field(default=128, ge=1)
    critic_minibatch_prompts: int = Field(default=128, ge=1)
    micro_batch: int = Field(default=16, ge=1)
    ppo_epochs: int = Field(default=1, ge=1)
    clip: float = Field(default=0.2, gt=0)
    value_clip: float = Field(default=0.5, gt=0)
    entropy_coef: float = Field(default=0.001, ge=0)
    kl_coef: float = Field(default=0.001, ge=0)
    gamma: float = Field(default=1.0, ge=0, le=1)
    lam: float = Field(default=1.0, ge=0, le=1)
    grad_clip: float = Field(default=1.0, gt=0)
    reward_mode: Literal["tinyzero", "strict"] = "tinyzero"
    save_every: int = Field(default=10, ge=1)
    seed: int = Field(default=0, ge=0)
    dtype: Dtype = "bfloat16"  # GPU: autocast over fp32 master weights; CPU runs fp32
    rollout: Literal["hf", "vllm"] = "hf"  # vllm: GPU, `pip install -e ".[vllm]"`
    vllm_gpu_memory: float = Field(default=0.3, gt=0, lt=1)

    def to_settings(self) -> PPOSettings:
        from cogstar.train.ppo.trainer import PPOSettings  # imports torch

        return PPOSettings(**self.model_dump())


class GRPOSpec(_Section):
    """The fields of :class:`cogstar.train.grpo.GRPOSettings`."""

    steps: int = Field(default=250, ge=0)
    prompts_per_step: int = Field(default=256, ge=1)
    samples_per_prompt: int = Field(default=4, ge=2)  # a group needs two samples to compare
    temperature: float = Field(default=1.0, gt=0)
    max_response_tokens: int = Field(default=1024, ge=1)
    actor_lr: float = Field(default=1e-6, gt=0)
    kl_coef: float = Field(default=0.001, ge=0)
    micro_batch: int = Field(default=16, ge=1)
    reward_mode: Literal["tinyzero", "strict"] = "tinyzero"
    save_every: int = Field(default=10, ge=1)
    seed: int = Field(default=0, ge=0)
    dtype: Dtype = "bfloat16"

    def to_settings(self) -> GRPOSettings:
        from cogstar.train.grpo import GRPOSettings

        return GRPOSettings(**self.model_dump())


class EvalSpec(_Section):
    """The fields of :class:`cogstar.train.evaluate.EvalSettings`, and ``every``: evaluate the
    checkpoint every that many RL steps (and at step 0, the primed model, and the last step)."""

    samples: int = Field(default=1, ge=1)
    temperature: float = Field(default=1.0, ge=0)
    greedy: bool = False
    max_new_tokens: int = Field(default=1024, ge=1)
    batch_size: int = Field(default=64, ge=1)
    k: list[PositiveInt] = Field(default_factory=lambda: [1], min_length=1)
    seed: int = Field(default=0, ge=0)
    dtype: Dtype = "bfloat16"
    every: int = Field(default=10, ge=1)

    def to_settings(self) -> EvalSettings:
        from cogstar.train.evaluate import EvalSettings

        fields = self.model_dump(exclude={"every"})
        fields["k"] = tuple(fields["k"])
        return EvalSettings(**fields)


class BehaviorsSpec(_Section):
    judge: Literal["rules", "llm"] = "rules"
    sample: int = Field(default=200, ge=0)  # completions counted per checkpoint; 0 = all
    backend: BackendSpec | None = None  # required when judge = "llm"


class ReportSpec(_Section):
    paper: Literal["auto", "qwen", "llama", "none"] = "auto"  # auto: by model name; none: tiny
    figures: bool = True


class CurationTrainingSpec(_Section):
    """The fields of :class:`cogstar.pretrain.train.ContinuedPretrainingSettings`."""

    epochs: float = Field(default=1.0, gt=0)
    lr: float = Field(default=1e-5, gt=0)
    warmup_ratio: float = Field(default=0.03, ge=0, lt=1)
    weight_decay: float = Field(default=0.01, ge=0)
    adam_beta2: float = Field(default=0.95, gt=0, lt=1)
    global_batch: int = Field(default=64, ge=1)
    micro_batch: int = Field(default=8, ge=1)
    max_length: int = Field(default=2048, ge=2)
    max_steps: int = Field(default=-1, ge=-1)  # > 0 overrides epochs
    save_steps: int = Field(default=100, ge=1)
    seed: int = Field(default=0, ge=0)
    dtype: Dtype = "bfloat16"

    def to_settings(self) -> ContinuedPretrainingSettings:
        from cogstar.pretrain.train import ContinuedPretrainingSettings

        return ContinuedPretrainingSettings(**self.model_dump())


class CurationSpec(_Section):
    """Behavior-curated continued pretraining before priming and RL (``cogstar.pretrain``).

    ``pool = "none"`` (the default) turns it off. Otherwise the run labels the documents of
    ``source`` (cut to ``max_tokens`` tokens) for the four behaviors, selects a behavior-rich
    and a behavior-minimized pool (``min_total_rich``, ``min_distinct_rich``,
    ``max_total_minimized``; see :class:`cogstar.pretrain.select.SelectionRules`), has
    ``rewriter_backend`` rewrite both pools into question / thoughts / answer, cuts each to
    ``budget_tokens`` tokens of the model's tokenizer with a ``test_fraction`` held out, and
    continues pretraining the model on the cell's pool (``[curation.training]``) before the
    rest of the cell. The curated data is shared by the cells: sweep ``curation.pool`` (and
    ``curation.training.*``), nothing else of this section.
    """

    pool: Literal["none", "rich", "minimized"] = "none"
    source: str = "sample:400"  # hf:<id>[:<config>], a .jsonl/.parquet file, sample:<n>[:<seed>]
    limit: int | None = Field(default=None, ge=1)  # documents read; None: all of the source
    max_tokens: int = Field(default=3000, ge=1)  # each document is cut to this many tokens
    labeller: Literal["heuristic", "llm"] = "heuristic"
    labeller_backend: BackendSpec | None = None  # required when labeller = "llm"
    rewriter_backend: BackendSpec | None = None  # required when pool is not "none"
    rewrite_limit: int | None = Field(default=None, ge=1)  # documents per pool; None: all
    min_total_rich: int = Field(default=3, ge=1)
    min_distinct_rich: int = Field(default=2, ge=0, le=4)
    max_total_minimized: int = Field(default=0, ge=0)
    budget_tokens: int = Field(default=2_000_000, ge=1)
    test_fraction: float = Field(default=0.05, ge=0, lt=1)
    retries: int = Field(default=2, ge=0)  # extra requests for an invalid rewrite
    seed: int = Field(default=0, ge=0)  # the rewrite sample, the budget fill and the split
    training: CurationTrainingSpec = Field(default_factory=CurationTrainingSpec)


class LaunchSpec(_Section):
    """How the SFT and RL stages run: in the ``cogstar run`` process (``launcher = "none"``,
    the default), or as multi-process jobs: ``accelerate launch --config_file CONFIG [ARGS] -m
    cogstar.train.sft|cogstar.train.ppo ...`` (DDP, FSDP on GPUs) or ``torchrun [ARGS] -m ...`` (e.g.
    ``args = ["--nproc_per_node", "2"]``, which also runs on CPUs). Data, evaluation and
    behavior counting stay in the main process."""

    launcher: Literal["none", "accelerate", "torchrun"] = "none"
    accelerate_config: str | None = None  # e.g. "configs/accelerate/fsdp_4gpu.yaml"
    args: list[str] = Field(default_factory=list)  # more launcher options


def _default_sweep() -> dict[str, list[Any]]:
    return {"condition": ["all_strategies"]}


class Spec(BaseSettings):
    """A whole experiment. Build it with :func:`load_spec`; constructing it directly reads
    ``COGSTAR_*`` from the environment (pydantic-settings) and runs the same checks."""

    model_config = SettingsConfigDict(
        env_prefix="COGSTAR_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    experiment: ExperimentSpec
    data: DataSpec = Field(default_factory=DataSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    curation: CurationSpec = Field(default_factory=CurationSpec)
    priming: PrimingSpec = Field(default_factory=PrimingSpec)
    sft: SFTSpec = Field(default_factory=SFTSpec)
    rl: RLSpec = Field(default_factory=RLSpec)
    ppo: PPOSpec = Field(default_factory=PPOSpec)
    grpo: GRPOSpec = Field(default_factory=GRPOSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    behaviors: BehaviorsSpec = Field(default_factory=BehaviorsSpec)
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
        return (init_settings,) if _LOADING.get() else (init_settings, env_settings)

    @model_validator(mode="after")
    def _consistent(self) -> Spec:
        if "condition" not in self.sweep:  # a sweep without conditions runs the default one
            self.sweep = {"condition": ["all_strategies"], **self.sweep}
        if _LOADING.get():
            return self  # load_spec runs the checks itself, to place each problem
        problems = _problems(self)
        if problems:
            raise ValueError(
                "; ".join(f"{_keypath(loc)}: {what}; fix: {fix}" for loc, what, fix in problems)
            )
        return self

    @property
    def run_dir(self) -> Path:
        return Path(self.experiment.out) / self.experiment.name

    @property
    def paper(self) -> Literal["qwen", "llama", "none"]:
        """The paper's curves to draw beside ours: ``report.paper`` with ``auto`` resolved by
        the model's name (``none`` for the tiny model and unknown names)."""
        if self.report.paper != "auto":
            return self.report.paper
        name = self.model.source.lower()
        return "qwen" if "qwen" in name else "llama" if "llama" in name else "none"

    def rl_section(self) -> PPOSpec | GRPOSpec:
        """The settings of the chosen RL algorithm (``ppo`` or ``grpo``)."""
        return self.ppo if self.rl.algorithm == "ppo" else self.grpo


# Set while load_spec validates: no environment source, cross-key checks left to the caller.
_LOADING: ContextVar[bool] = ContextVar("cogstar_spec_loading", default=False)


def _validate_as_given(data: dict[str, Any]) -> Spec:
    token = _LOADING.set(True)
    try:
        return Spec.model_validate(data)
    finally:
        _LOADING.reset(token)


# -- consistency: every rule that spans keys -------------------------------------------------

Problem = tuple[Loc, str, str]  # key path, what is wrong, the fix


class _Found(list[Problem]):
    def add(self, loc: Loc, what: str, fix: str) -> None:
        self.append((loc, what, fix))


def _problems(spec: Spec) -> list[Problem]:
    """Every rule that involves more than one key, or more than a key's type and range."""
    found = _Found()
    _data_problems(spec, found)
    _model_problems(spec.model, found)
    for name, key, offline in (
        ("priming", "source", 'source = "synthetic"'),
        ("behaviors", "judge", 'judge = "rules"'),
    ):
        section = getattr(spec, name)
        if getattr(section, key) == "llm" and section.backend is None:
            provider, model = _BACKEND_EXAMPLES[name]
            found.add(
                (name, "backend"),
                f'{name}.{key} = "llm" needs an LLM backend and none is given',
                f'add [{name}.backend] with provider = "{provider}" and model = "{model}", '
                f"or use {offline}",
            )
    sft = spec.sft
    if sft.global_batch % sft.micro_batch:
        found.add(
            ("sft", "global_batch"),
            f"{sft.global_batch} is not a multiple of sft.micro_batch ({sft.micro_batch})",
            f"use a multiple of {sft.micro_batch} (e.g. "
            f"{_round_up(sft.global_batch, sft.micro_batch)}) or a micro_batch that divides it",
        )
    _rl_problems(spec, found)
    _curation_problems(spec, found)
    top_k, samples = max(spec.eval.k), spec.eval.samples
    if top_k > samples:
        found.add(
            ("eval", "k"),
            f"pass@{top_k} needs {top_k} samples per puzzle but eval.samples is {samples}",
            f"set eval.samples to at least {top_k}, or drop the larger k",
        )
    config = spec.launch.accelerate_config
    if spec.launch.launcher == "accelerate" and config is None:
        found.add(
            ("launch", "accelerate_config"),
            'launch.launcher = "accelerate" needs an Accelerate config file',
            'set launch.accelerate_config = "configs/accelerate/ddp_4gpu.yaml" (or another)',
        )
    if config is not None and not Path(config).expanduser().exists():
        found.add(
            ("launch", "accelerate_config"),
            f"{config}: no such file (relative paths are from the current directory)",
            "give the path of an Accelerate config, e.g. configs/accelerate/ddp_4gpu.yaml",
        )
    if spec.experiment.name in (".", ".."):
        found.add(("experiment", "name"), "not a folder name", 'use e.g. "my-experiment"')
    _sweep_problems(spec.sweep, found)
    return found


_BACKEND_EXAMPLES = {
    "priming": ("anthropic", "claude-3-5-sonnet-20241022"),
    "behaviors": ("openai", "gpt-4o-mini"),
}


_CURATION_BACKEND = (
    'provider = "openai", model = "Qwen/Qwen2.5-32B-Instruct", '
    'base_url = "http://127.0.0.1:8000/v1", api_key_env = "none"'
)


def _curation_problems(spec: Spec, found: _Found) -> None:
    c = spec.curation
    if c.min_total_rich <= c.max_total_minimized:
        found.add(
            ("curation", "min_total_rich"),
            f"{c.min_total_rich} does not exceed curation.max_total_minimized "
            f"({c.max_total_minimized}), so a document could fall in both pools",
            f"set min_total_rich above {c.max_total_minimized} or lower max_total_minimized",
        )
    source = c.source
    forms = '"hf:open-web-math/open-web-math", "sample:400" or a .jsonl/.parquet file'
    if source.startswith("hf:"):
        if not source[3:].partition(":")[0].strip():
            found.add(("curation", "source"), "'hf:' names no dataset", f"write e.g. {forms}")
        elif c.limit is None:
            found.add(
                ("curation", "limit"),
                f"no limit: the whole of {source} would be labelled (millions of documents)",
                "set curation.limit to the documents to read, e.g. limit = 100000",
            )
    elif source.startswith("sample:"):
        if not re.fullmatch(r"sample:\d+(:\d+)?", source):
            found.add(
                ("curation", "source"), f"{source!r} is not sample:<n>[:<seed>]", f"use {forms}"
            )
    elif Path(source).suffix not in (".jsonl", ".parquet"):
        found.add(("curation", "source"), f"{source!r} is not a document source", f"use {forms}")
    elif not Path(source).expanduser().exists():
        found.add(
            ("curation", "source"),
            f"no file {source!r} (a relative path starts at the current directory)",
            "give the path of an existing document file",
        )
    shared = [
        axis
        for axis in spec.sweep
        if axis.startswith("curation.")
        and axis != "curation.pool"
        and not (axis + ".").startswith("curation.training.")
    ]
    for axis in shared:
        found.add(
            ("sweep", axis),
            "the curated data is shared by the cells, so only curation.pool and "
            "curation.training.* can vary",
            "sweep curation.pool or curation.training.*, or write a second spec",
        )
    if c.pool == "none":
        return
    if c.rewriter_backend is None:
        found.add(
            ("curation", "rewriter_backend"),
            "continued pretraining on a curated pool needs an LLM to rewrite the documents, "
            "and none is given",
            f"add [curation.rewriter_backend] with {_CURATION_BACKEND}, "
            'or set curation.pool = "none"',
        )
    if c.labeller == "llm" and c.labeller_backend is None:
        found.add(
            ("curation", "labeller_backend"),
            'curation.labeller = "llm" needs an LLM judge and none is given',
            f'add [curation.labeller_backend] with {_CURATION_BACKEND}, or use labeller = "heuristic"',
        )
    tr = c.training
    if tr.global_batch % tr.micro_batch:
        found.add(
            ("curation", "training", "global_batch"),
            f"{tr.global_batch} is not a multiple of curation.training.micro_batch "
            f"({tr.micro_batch})",
            f"use a multiple of {tr.micro_batch} (e.g. "
            f"{_round_up(tr.global_batch, tr.micro_batch)}) or a micro_batch that divides it",
        )


def _data_problems(spec: Spec, found: _Found) -> None:
    data = spec.data
    hub_example = '"hub:Jiayi-Pan/Countdown-Tasks-3to4"'
    if data.source.startswith("hub:"):
        if not data.source[4:].strip():
            found.add(("data", "source"), "'hub:' names no dataset", f"write e.g. {hub_example}")
    elif data.source != "generate":
        if Path(data.source).suffix not in (".jsonl", ".parquet"):
            found.add(
                ("data", "source"),
                f"{data.source!r} is not 'generate', 'hub:<dataset id>' or a .jsonl/.parquet file",
                f'use "generate", {hub_example} or a path ending in .jsonl or .parquet',
            )
        elif not Path(data.source).expanduser().exists():
            found.add(
                ("data", "source"),
                f"no file {data.source!r} (a relative path starts at the current directory)",
                "give the path of an existing puzzle file",
            )
    for i, size in enumerate(data.sizes):
        if not 2 <= size <= 6:
            found.add(("data", "sizes", i), f"{size} numbers is outside 2..6", "use 2 to 6")
    for key in ("value_range", "target_range"):
        low, high = getattr(data, key)
        if not 0 <= low <= high <= 1_000_000:
            found.add(
                ("data", key),
                f"[{low}, {high}] is not [low, high] with 0 <= low <= high <= 1000000",
                f"order it as [low, high], e.g. {key} = [1, 100]",
            )
    prompts = spec.rl_section().prompts_per_step
    if data.train < prompts:
        found.add(
            ("data", "train"),
            f"{data.train} puzzles cannot fill one RL step of "
            f"{spec.rl.algorithm}.prompts_per_step = {prompts}",
            f"set data.train to at least {prompts}",
        )


def _model_problems(model: ModelSpec, found: _Found) -> None:
    if model.source == "tiny" and model.template == "chat":
        found.add(("model", "template"), "the tiny model has no chat template", 'use "base"')
    if model.source.startswith((".", "/", "~")) and not Path(model.source).expanduser().exists():
        found.add(
            ("model", "source"),
            f"no model folder {model.source!r}",
            'give an existing folder, a hub id (e.g. "Qwen/Qwen2.5-3B") or "tiny"',
        )


def _rl_problems(spec: Spec, found: _Found) -> None:
    if spec.rl.algorithm == "ppo":
        prompts = spec.ppo.prompts_per_step
        for key in ("actor_minibatch_prompts", "critic_minibatch_prompts"):
            mb = getattr(spec.ppo, key)
            if prompts % mb:
                found.add(
                    ("ppo", key),
                    f"{mb} does not divide ppo.prompts_per_step ({prompts}), so an update "
                    "would see a partial group of samples",
                    f"use a divisor of {prompts} (e.g. {_divisor_at_most(prompts, mb)}) "
                    "or change ppo.prompts_per_step",
                )
    else:
        grpo = spec.grpo
        per_step = grpo.prompts_per_step * grpo.samples_per_prompt
        if per_step % grpo.micro_batch:
            found.add(
                ("grpo", "micro_batch"),
                f"{grpo.micro_batch} does not divide prompts_per_step x samples_per_prompt "
                f"({per_step})",
                f"use a divisor of {per_step} (e.g. {_divisor_at_most(per_step, grpo.micro_batch)})",
            )
    section, save, every = spec.rl.algorithm, spec.rl_section().save_every, spec.eval.every
    if every % save:
        found.add(
            ("eval", "every"),
            f"{every} is not a multiple of {section}.save_every ({save}): no checkpoint is "
            f"saved at step {every}",
            f"set eval.every to a multiple of {save} (e.g. {_round_up(every, save)}) or "
            f"{section}.save_every to a divisor of {every}",
        )


def _sweep_problems(sweep: Mapping[str, list[Any]], found: _Found) -> None:
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
                    close = _closest(str(value), ALL_CONDITIONS)
                    hint = f"did you mean {close[0]!r}? " if close else ""
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
        elif (wrong := _unknown_in_path(path)) is not None:
            found.add(loc, *wrong)


def _closest(word: str, options: Iterable[str]) -> list[str]:
    """The most similar option (as a 0- or 1-item list): one that the word extends or
    abbreviates by 4 or more letters ("evaluation" -> "eval", not the similar-looking
    "curation"), else by spelling, else by any shared prefix."""
    options = list(options)

    def prefixed(o: str) -> bool:
        return word.startswith(o) or o.startswith(word)

    close = [o for o in options if min(len(o), len(word)) >= 4 and prefixed(o)][:1]
    close = close or difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return close or [o for o in options if prefixed(o)][:1]


def _round_up(n: int, m: int) -> int:
    return max(m, math.ceil(n / m) * m)


def _divisor_at_most(n: int, m: int) -> int:
    return max(d for d in range(1, min(n, m) + 1) if n % d == 0)


# -- paths through the schema ------------------------------------------------------------------


def _submodel(annotation: Any) -> type[BaseModel] | None:
    """The model class inside ``annotation`` (``X`` or ``X | None``), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _unknown_in_path(path: Sequence[str]) -> tuple[str, str] | None:
    """(what, fix) when ``path`` does not name a field of the spec; None when it does."""
    model: type[BaseModel] | None = Spec
    for depth, key in enumerate(path):
        if model is None:
            done = ".".join(path[:depth])
            return f"{done} is a value, it has no key {key!r}", f"use {done} itself"
        fields = model.model_fields
        if key not in fields:
            where = ".".join(path[:depth])
            close = _closest(key, fields)
            what = f"unknown key {key!r}" + (f" in {where}" if where else "")
            fix = (
                f"did you mean {'.'.join([*path[:depth], close[0]])!r}?"
                if close
                else f"valid keys{' in ' + where if where else ''}: {', '.join(fields)}"
            )
            return what, fix
        model = None if key == "sweep" and depth == 0 else _submodel(fields[key].annotation)
    return None


def _field_at(loc: Loc) -> tuple[str, Any] | None:
    """(key, field info) of the field a validation error points at, or None."""
    model: type[BaseModel] | None = Spec
    found: tuple[str, Any] | None = None
    for key in loc:
        if model is None or not isinstance(key, str) or key not in model.model_fields:
            break
        info = model.model_fields[key]
        found = (key, info)
        model = _submodel(info.annotation)
    return found


def _keypath(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{_key(part)}" if out else _key(part)
    return out or "(top level)"


# -- errors ------------------------------------------------------------------------------------


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _example(loc: Loc) -> str:
    """``, e.g. key = default`` for the field at ``loc`` when it has a plain default."""
    if loc[:1] == ("sweep",) and len(loc) > 1:
        return f", e.g. {_key(str(loc[1]))} = [first, second]"
    found = _field_at(loc)
    if found is None:
        return ""
    key, info = found
    default = info.get_default(call_default_factory=True)
    if default is None or isinstance(default, BaseModel | dict):
        return ""
    return f", e.g. {key} = {_toml_value(default)}"


_REQUIRED_EXAMPLES = {"name": '"my-experiment"', "provider": '"openai"', "model": '"gpt-4o-mini"'}


def _describe(error: ErrorDetails) -> Problem:
    """Turn one pydantic error into (key path, what is wrong, fix)."""
    loc: Loc = tuple(error["loc"])
    kind, msg, given = error["type"], error["msg"], error.get("input")
    tail = msg.removeprefix("Input should be ").removeprefix("Value should be ").split(", ")[0]
    if kind == "extra_forbidden":
        parent = _field_at(loc[:-1])
        model = Spec if not loc[:-1] else (_submodel(parent[1].annotation) if parent else None)
        valid = list(model.model_fields) if model is not None else []
        close = _closest(str(loc[-1]), valid)
        where = f" in [{_keypath(loc[:-1])}]" if loc[:-1] else ""
        fix = (
            f"did you mean {close[0]!r}?"
            if close
            else f"remove it; valid keys{where}: {', '.join(valid)}"
        )
        return loc, "unknown key", fix
    if kind == "missing" and isinstance(loc[-1], int):  # a [low, high] pair with one value
        return loc, "a value is missing", "give every item" + _example(loc)
    if kind in ("model_type", "dict_type"):
        return (
            loc,
            f"should be a table, got {_short(given)}",
            f"write it as a [{_keypath(loc)}] table",
        )
    if kind == "missing":
        found = _field_at(loc)
        table = _submodel(found[1].annotation) if found else None
        if table is not None:
            needed = [k for k, f in table.model_fields.items() if f.is_required()]
            keys = " and ".join(f"{k} = {_REQUIRED_EXAMPLES.get(k, '...')}" for k in needed)
            return loc, "required table is missing", f"add [{_keypath(loc)}] with {keys}"
        value = _REQUIRED_EXAMPLES.get(str(loc[-1]), "...")
        return (
            loc,
            "required key is missing",
            f"add {loc[-1]} = {value} under [{_keypath(loc[:-1])}]",
        )
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", error.get("ctx", {}).get("expected", ""))
        close = _closest(str(given), allowed)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return (
            loc,
            f"{_short(given)} is not allowed",
            f"{hint}use one of {', '.join(map(repr, allowed))}",
        )
    if kind == "string_pattern_mismatch":
        return (
            loc,
            f"{_short(given)} has characters a folder name should not",
            "use only letters, digits, '_', '.' and '-'",
        )
    if kind in ("too_short", "too_long"):
        return loc, f"{msg}, got {_short(given)}", "give the right number of items" + _example(loc)
    if msg.startswith(("Input should be", "Value should be")):
        constraint = kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal")
        return (
            loc,
            f"{msg[0].lower()}{msg[1:]}, got {_short(given)}",
            f"make it {tail}" + ("" if constraint else _example(loc)),
        )
    return loc, f"{msg}, got {_short(given)}", "correct the value" + _example(loc)


class _Sources:
    """Where each value came from, to name the file, variable or --set behind a problem."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.origin: dict[tuple[str, ...], str] = {}

    def label(self, loc: Loc) -> str:
        keys = tuple(str(k) for k in loc)
        for n in range(len(keys), 0, -1):
            if keys[:n] in self.origin:
                return f"{self.file} ({self.origin[keys[:n]]})"
        return self.file

    def line(self, problem: Problem, where: str = "") -> str:
        loc, what, fix = problem
        return f"{self.label(loc)}: {_keypath(loc)}{where}: {what}; fix: {fix}"


# -- reading -----------------------------------------------------------------------------------


class _EnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping instead of ``os.environ``."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = dict(env)
        super().__init__(Spec)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k if self.case_sensitive else k.lower(): v for k, v in self._env.items()}


def _read_toml(path: Path) -> dict[str, Any]:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(
            [f"{file}: (file): cannot read it ({e.strerror or e}); fix: check the path"]
        ) from None
    try:
        parsed: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        at = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        if at:
            where = f"line {at.group(1)}, column {at.group(2)}"
        else:
            where = f"line {text.count(chr(10)) + 1} (end of file)"
        reason = re.sub(r"\s*\(at [^)]*\)$", "", msg)
        raise ConfigError(
            [
                f"{file}: {where}: invalid TOML: {reason}; fix: correct the syntax there (strings "
                "in quotes, key = value, sections as [name], lists as [1, 2])"
            ]
        ) from None
    return parsed


def _parse_value(raw: str) -> Any:
    """A --set value: TOML (``3``, ``0.01``, ``true``, ``[1, 2]``, ``"x"``), else the bare string."""
    try:
        parsed = tomllib.loads(f"v = {raw}")
    except tomllib.TOMLDecodeError:
        return raw
    return parsed["v"] if list(parsed) == ["v"] else raw


def _override_path(key: str) -> tuple[str, ...] | None:
    parts = tuple(p.strip() for p in key.split("."))
    if not parts or not all(parts):
        return None
    if parts[0] == "sweep" and len(parts) > 1:
        return ("sweep", ".".join(parts[1:]))
    return parts


def _set_path(data: dict[str, Any], path: Sequence[str], value: Any) -> None:
    node = data
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_spec(
    path: str | Path, overrides: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> Spec:
    """Read, override and check a spec; raises :class:`SpecError` listing every problem.

    ``overrides`` are ``a.b=c`` strings (``--set``); ``env`` defaults to ``os.environ`` and
    contributes the ``COGSTAR_*`` variables. Every sweep cell is checked too.
    """
    path = Path(path)
    sources = _Sources(str(path))
    data = _read_toml(path)
    lines: list[str] = []

    env = os.environ if env is None else env
    sections = set(Spec.model_fields)
    for var in env:
        if var.lower().startswith("cogstar_"):
            keys = tuple(var.lower()[len("cogstar_") :].split("__"))
            if keys[0] in sections:
                sources.origin[keys] = f"env {var}"
    try:
        data = _merge(data, _EnvSource(env)())
    except SettingsError as e:
        section = re.search(r'field "([^"]+)"', str(e))
        name = section.group(1) if section else "(environment)"
        lines.append(
            f"{sources.file} (env COGSTAR_{name.upper()}*): {name}: a value is not valid JSON; "
            "fix: write lists and tables as JSON, e.g. COGSTAR_DATA__SIZES='[3, 4]'"
        )

    for item in overrides:
        key, eq, raw = item.partition("=")
        target = _override_path(key) if eq else None
        if target is None:
            lines.append(
                f"{sources.file} (--set {item}): {key.strip() or '(empty)'}: not of the form "
                "KEY=VALUE with a dotted KEY; fix: write e.g. --set ppo.steps=20"
            )
            continue
        wrong = _unknown_in_path(target) if target[0] != "sweep" else None
        if wrong is not None:
            lines.append(
                f"{sources.file} (--set {item}): {'.'.join(target)}: {wrong[0]}; fix: {wrong[1]}"
            )
            continue
        _set_path(data, target, _parse_value(raw.strip()))
        sources.origin[target] = f"--set {item}"

    spec, problems = _validate(data)
    lines += [sources.line(p) for p in problems]
    if spec is not None and not lines:
        lines += _cell_lines(spec, sources)
    if spec is None or lines:
        raise ConfigError(lines)
    return spec


def _validate(data: dict[str, Any]) -> tuple[Spec | None, list[Problem]]:
    """The spec and its problems. Keys with bad values are dropped and the rest checked again,
    so one pass reports the cross-key problems too (those that involve no dropped key)."""
    work = copy.deepcopy(data)
    problems: list[Problem] = []
    dropped: list[str] = []
    for key in [k for k in work if k.startswith("_")]:  # BaseSettings would take it as an option
        problems.append(
            ((key,), "unknown key", f"remove it; sections: {', '.join(Spec.model_fields)}")
        )
        del work[key]
    for _ in range(3):
        try:
            spec = _validate_as_given(work)
        except ValidationError as e:
            for error in e.errors():
                if _keypath(error["loc"]) not in dropped:  # else: the gap the last pass made
                    problems.append(_describe(error))
                loc = _drop(work, tuple(error["loc"]), error["type"] == "missing")
                if loc is None:
                    return None, problems
                dropped.append(_keypath(loc))
            continue
        for problem in _problems(spec):
            text = f"{_keypath(problem[0])} {problem[1]} {problem[2]}"
            if not any(d in text for d in dropped):
                problems.append(problem)
        return (spec if not problems else None), problems
    return None, problems


def _drop(data: dict[str, Any], loc: Loc, missing: bool) -> Loc | None:
    """Remove the value at ``loc`` (its enclosing key; the table for a missing key) so the rest
    validates; returns what was dropped, or None when nothing sensible can be."""
    keys = list(itertools.takewhile(lambda k: isinstance(k, str), loc))
    if missing:
        if keys in (["experiment"], ["experiment", "name"]):
            data.setdefault("experiment", {})["name"] = "unnamed"
            return ("experiment", "name")
        keys = keys[:-1]
    if len(keys) < 1 or (missing and len(keys) < 2):
        return None
    node: Any = data
    for key in keys[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict) or keys[-1] not in node:
        return None
    del node[keys[-1]]
    return tuple(keys)


# -- sweep cells -------------------------------------------------------------------------------


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


def _cells(spec: Spec) -> tuple[list[Cell], list[tuple[Problem, str, str]]]:
    """The cells, and the problems of invalid cells as (problem, cell name, axis or '')."""
    sweep = spec.sweep
    axes = list(sweep)
    base = spec.model_dump()
    cells: list[Cell] = []
    bad: list[tuple[Problem, str, str]] = []
    names = _cell_names(sweep)
    for combo, name in zip(itertools.product(*(sweep[a] for a in axes)), names, strict=True):
        point = dict(zip(axes, combo, strict=True))
        data = copy.deepcopy(base)
        for axis, value in point.items():
            if axis != "condition":
                _set_path(data, axis.split("."), value)
        data["sweep"] = {"condition": [point["condition"]]}
        try:
            cell_spec = _validate_as_given(data)
        except ValidationError as e:
            for err in e.errors():
                problem = _describe(err)
                bad.append((problem, name, _axis_of(problem[0], axes)))
            continue
        problems = _problems(cell_spec)
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


def _axis_of(loc: Loc, axes: Sequence[str]) -> str:
    keys = ".".join(str(k) for k in loc if isinstance(k, str))
    return next((a for a in axes if keys == a or keys.startswith(a + ".")), "")


def _get(spec: Spec, path: str) -> Any:
    node: Any = spec
    for key in path.split("."):
        node = getattr(node, key)
    return node.model_dump() if isinstance(node, BaseModel) else node


def _cell_lines(spec: Spec, sources: _Sources) -> list[str]:
    """One line per distinct problem of the cells, naming the first cell that has it."""
    _, bad = _cells(spec)
    grouped: dict[tuple[str, Problem], list[str]] = {}
    for problem, name, axis in bad:
        label = sources.label(("sweep", axis) if axis else problem[0])
        grouped.setdefault((label, problem), []).append(name)
    lines = []
    for (label, (loc, what, fix)), names in grouped.items():
        more = f" and {len(names) - 1} more" if len(names) > 1 else ""
        lines.append(f"{label}: {_keypath(loc)} (sweep cell {names[0]}{more}): {what}; fix: {fix}")
    return lines


def expand_cells(spec: Spec) -> list[Cell]:
    """The sweep's cells: the cartesian product of the axes in the order written.

    Names are folder-safe and unique: the condition alone when nothing else varies, else
    e.g. ``all_strategies__seed=1__kl_coef=0.01`` (the last key of each varying path, the
    whole path when two would read alike; ``/`` and the like become ``-``).
    """
    cells, bad = _cells(spec)
    if bad:
        sources = _Sources(f"spec {spec.experiment.name!r}")
        raise ConfigError([sources.line(p, f" (sweep cell {name})") for p, name, _ in bad])
    return cells


# -- writing and hashing -----------------------------------------------------------------------


def dump_toml(spec: Spec) -> str:
    """The spec with every value explicit, as TOML that :func:`load_spec` reads back equal."""
    lines = ["# Resolved spec written by cogstar; every value is explicit.", ""]

    def table(name: str, data: Mapping[str, Any]) -> None:
        lines.append(f"[{name}]")
        lines.extend(
            f"{_key(k)} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)
        )
        lines.append("")
        for k, v in data.items():
            if isinstance(v, dict):
                table(f"{name}.{_key(k)}", v)

    for section, data in spec.model_dump(mode="json", exclude_none=True).items():
        if section == "curation" and spec.curation == CurationSpec() and not _curates(spec):
            continue  # left out while unused, so run folders made before it still match
        table(section, data)
    return "\n".join(lines)


def _curates(spec: Spec) -> bool:
    """Whether some cell of ``spec`` continues pretraining on a curated pool."""
    return spec.curation.pool != "none" or any(
        v != "none" for v in spec.sweep.get("curation.pool", [])
    )


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    """One TOML value; lists of scalars stay on one line (tomli_w would break them up)."""
    if isinstance(value, list | tuple) and not any(isinstance(v, dict) for v in value):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}).strip().removeprefix("v = ")


def spec_hash(spec: BaseModel | Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON (sorted keys) of a spec or one of its sections."""
    data = spec.model_dump(mode="json") if isinstance(spec, BaseModel) else dict(spec)
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


# -- the plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rates:
    """Measured wall-time rates of the embedded tiny model on a 2-core CPU; pass your own to
    :func:`plan` to refine the estimate. RL time scales linearly in prompts x samples x
    response tokens from the measured PPO shape (GRPO is estimated with the PPO rate). Stages
    run by the Rust core (puzzle generation, trace synthesis, rule-based counting) take
    seconds and count as zero."""

    pretrain_s_per_step: float = 0.4  # one step of 16 sequences x 256 tokens
    pretrain_tokens_per_step: int = 16 * 256
    sft_s_per_sequence: float = 0.040  # one training sequence, forward + backward
    ppo_s_per_step: float = 3.0  # one step of ...
    ppo_reference_tokens: int = 16 * 4 * 96  # ... 16 prompts x 4 samples x 96 response tokens
    eval_s_per_token: float = 0.0005  # one generated token, batch-amortised (priming_sweep)


TINY_CPU_RATES = Rates()
TINY_PRETRAIN_STEPS = 3000  # cogstar.train.tiny.pretrain's default (not imported: it imports torch)
_TOKEN_CHARS = 3  # characters per token of a reasoning trace, roughly
_LLM_MAX_TOKENS = 1024  # the priming backend's reply limit (the paper's)


@dataclass(frozen=True)
class Stage:
    """One stage of the plan with its cost: sequences processed, tokens (an upper bound) and
    estimated seconds (None where it depends on hardware, network or an API)."""

    name: str
    cell: str | None  # None: shared by the cells
    what: str
    sequences: int = 0
    tokens: int = 0
    seconds: float | None = 0.0
    skipped: str | None = None  # why it does not run in this cell
    note: str = ""  # what the time depends on when seconds is None


@dataclass
class Plan:
    experiment: str
    run_dir: Path
    cells: list[Cell]
    stages: list[Stage] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return sum(s.tokens for s in self.stages if s.skipped is None)

    @property
    def seconds(self) -> float | None:
        """The estimated wall time, or None when some stage has no estimate."""
        times = [s.seconds for s in self.stages if s.skipped is None]
        return None if any(t is None for t in times) else sum(t for t in times if t is not None)


def eval_steps(spec: Spec) -> list[int]:
    """The RL steps whose checkpoint is evaluated: 0 (the start), every ``eval.every``, the last."""
    steps = spec.rl_section().steps
    out = list(range(0, steps + 1, spec.eval.every))
    return out if out[-1] == steps else [*out, steps]


def _shared_stages(cells: Sequence[Cell], rates: Rates) -> list[Stage]:
    out: list[Stage] = []
    seen: set[str] = set()
    for cell in cells:
        data = cell.spec.data
        key = "data" + spec_hash(data)
        if key not in seen:
            seen.add(key)
            n = data.train + data.test
            if data.source == "generate":
                what = (
                    f"generate {data.train:,} train + {data.test:,} test puzzles (seed {data.seed})"
                )
                out.append(Stage("data", None, what, sequences=n))
            else:
                what = f"load {data.train:,} train + {data.test:,} test puzzles from {data.source}"
                out.append(Stage("data", None, what, sequences=n, seconds=None, note="I/O"))
        model = cell.spec.model
        key = "model" + spec_hash(model)
        if key not in seen:
            seen.add(key)
            if model.source == "tiny" and model.tiny_size == "tiny":
                what = "the tiny model shipped in the package (pretrained, 1M parameters)"
                out.append(Stage("base model", None, what, seconds=0.0))
            elif model.source == "tiny":
                steps = TINY_PRETRAIN_STEPS
                what = f"pretrain the tiny model ({model.tiny_size}, {steps:,} steps; cached)"
                out.append(
                    Stage(
                        "base model",
                        None,
                        what,
                        tokens=steps * rates.pretrain_tokens_per_step,
                        seconds=steps * rates.pretrain_s_per_step,
                    )
                )
            else:
                out.append(
                    Stage("base model", None, f"load {model.source}", seconds=None, note="download")
                )
        curation = cell.spec.curation
        key = "curation" + spec_hash(curation_inputs(curation))
        if curation.pool != "none" and key not in seen:
            seen.add(key)
            out.append(_curation_stage(curation))
    return out


def curation_inputs(curation: CurationSpec) -> dict[str, Any]:
    """What the curated data depends on: the section without the pool a cell trains on, its
    training settings, and where the LLMs are reached (``base_url``, ``api_key_env``: the same
    model served elsewhere gives the same data)."""
    data = curation.model_dump(mode="json", exclude={"pool", "training"})
    for key in ("labeller_backend", "rewriter_backend"):
        if data[key] is not None:
            data[key] = {k: data[key][k] for k in ("provider", "model")}
    return data


def curation_documents(curation: CurationSpec) -> int | None:
    """How many documents curation reads, when known before reading them (a ``limit``, or
    the size of a ``sample:<n>`` source); None otherwise."""
    sample = re.fullmatch(r"sample:(\d+)(:\d+)?", curation.source)
    n = int(sample.group(1)) if sample else None
    if curation.limit is not None:
        n = curation.limit if n is None else min(n, curation.limit)
    return n


def _curation_stage(c: CurationSpec) -> Stage:
    docs = curation_documents(c)
    writer = c.rewriter_backend.model if c.rewriter_backend else "?"
    judge = "heuristic"
    if c.labeller == "llm":
        judge = c.labeller_backend.model if c.labeller_backend else "?"
    if docs is None:
        what = f"label every document of {c.source} ({judge}), rewrite both pools with {writer}"
        return Stage("curation", None, what, seconds=None, note="API-bound")
    # each document is in at most one pool; an invalid rewrite is asked again `retries` times
    rewritten = docs if c.rewrite_limit is None else min(docs, 2 * c.rewrite_limit)
    requests = rewritten * (1 + c.retries)
    if c.labeller == "llm":
        requests += docs * (len(BEHAVIORS) + 1)  # one per behavior, one for problem/solution
    what = (
        f"label {docs:,} documents of {c.source} ({judge}), rewrite the rich and minimized "
        f"pools with {writer}: <= {requests:,} requests"
    )
    return Stage("curation", None, what, docs, docs * c.max_tokens, seconds=None, note="API-bound")


def _pretraining_stage(cell: Cell, rates: Rates) -> Stage:
    c, name = cell.spec.curation, cell.name
    tr = c.training
    tokens = int(c.budget_tokens * (1 - c.test_fraction) * tr.epochs)
    sequences = 0
    what = f"continue pretraining {tr.epochs:g} epoch{'' if tr.epochs == 1 else 's'}"
    if tr.max_steps > 0:
        sequences = tr.max_steps * tr.global_batch
        tokens = min(tokens, sequences * tr.max_length)
        what = f"continue pretraining {tr.max_steps:,} steps x {tr.global_batch} sequences"
    what += f" on the {c.pool} pool ({_count(c.budget_tokens)} tokens)"
    tiny = cell.spec.model.source == "tiny"
    seconds = tokens / rates.pretrain_tokens_per_step * rates.pretrain_s_per_step
    return Stage(
        "continued pretraining",
        name,
        what,
        sequences,
        tokens,
        seconds if tiny else None,
        note="" if tiny else "hardware",
    )


def _cell_stages(cell: Cell, rates: Rates, curating: bool = False) -> list[Stage]:
    spec, name = cell.spec, cell.name
    tiny = spec.model.source == "tiny"

    def timed(seconds: float) -> float | None:
        return seconds if tiny else None

    hardware = "" if tiny else "hardware"
    out: list[Stage] = []
    if spec.curation.pool != "none":
        out.append(_pretraining_stage(cell, rates))
    elif curating:
        out.append(Stage("continued pretraining", name, "", skipped="curation.pool = none"))
    pr = spec.priming
    if cell.condition == "unprimed":
        out.append(Stage("priming", name, "", skipped="unprimed"))
        out.append(Stage("sft", name, "", skipped="unprimed"))
    else:
        n = pr.count + pr.validation
        per_trace = pr.budget // _TOKEN_CHARS if pr.source == "synthetic" else _LLM_MAX_TOKENS
        if pr.source == "synthetic":
            what = f"synthesize {pr.count:,} + {pr.validation:,} {cell.condition} traces"
            out.append(Stage("priming", name, what, sequences=n, tokens=n * per_trace))
        else:
            model = pr.backend.model if pr.backend else "?"
            what = f"ask {model} for {pr.count:,} + {pr.validation:,} {cell.condition} traces"
            out.append(
                Stage("priming", name, what, n, n * per_trace, seconds=None, note="API-bound")
            )
        sft = spec.sft
        if sft.max_steps > 0:
            seqs = sft.max_steps * sft.global_batch
            what = f"SFT {sft.max_steps:,} steps x {sft.global_batch} sequences"
        else:
            seqs = math.ceil(pr.count * sft.epochs)
            what = f"SFT {sft.epochs:g} epochs over {pr.count:,} traces"
        out.append(
            Stage(
                "sft",
                name,
                what,
                seqs,
                seqs * per_trace,
                seconds=timed(seqs * rates.sft_s_per_sequence),
                note=hardware,
            )
        )
    rl = spec.rl_section()
    seqs = rl.steps * rl.prompts_per_step * rl.samples_per_prompt
    tokens = seqs * rl.max_response_tokens
    what = (
        f"{spec.rl.algorithm.upper()} {rl.steps:,} steps x {rl.prompts_per_step} prompts x "
        f"{rl.samples_per_prompt} samples, <= {rl.max_response_tokens:,} tokens each"
    )
    seconds = rl.steps * rates.ppo_s_per_step * rl.prompts_per_step * rl.samples_per_prompt
    seconds *= rl.max_response_tokens / rates.ppo_reference_tokens
    out.append(Stage(spec.rl.algorithm, name, what, seqs, tokens, timed(seconds), note=hardware))
    ev = spec.eval
    steps = eval_steps(spec)
    per_ckpt = spec.data.test * ev.samples
    seqs = len(steps) * per_ckpt
    tokens = seqs * ev.max_new_tokens
    shown = ", ".join(map(str, steps if len(steps) <= 5 else [*steps[:3], "...", steps[-1]]))
    what = f"{len(steps)} checkpoints (steps {shown}) x {per_ckpt:,} samples"
    out.append(
        Stage(
            "eval", name, what, seqs, tokens, timed(tokens * rates.eval_s_per_token), note=hardware
        )
    )
    bh = spec.behaviors
    counted = per_ckpt if bh.sample == 0 else min(bh.sample, per_ckpt)
    if bh.judge == "rules":
        what = f"count behaviors (rules) in {counted:,} completions x {len(steps)} checkpoints"
        out.append(Stage("behaviors", name, what, counted * len(steps)))
    else:
        judge = bh.backend.model if bh.backend else "?"
        what = f"ask {judge} 4 questions on {counted:,} completions x {len(steps)} checkpoints"
        requests = 4 * counted * len(steps)
        out.append(Stage("behaviors", name, what, requests, seconds=None, note="API-bound"))
    return out


def plan(spec: Spec, rates: Rates = TINY_CPU_RATES) -> Plan:
    """What running ``spec`` does: shared stages, then each cell's stages, with their cost.

    Wall times are estimated only for the tiny model (from ``rates``); other models get token
    counts and no time.
    """
    cells = expand_cells(spec)
    result = Plan(spec.experiment.name, spec.run_dir, cells, _shared_stages(cells, rates))
    curating = any(c.spec.curation.pool != "none" for c in cells)
    for cell in cells:
        result.stages += _cell_stages(cell, rates, curating)
    return result


def _count(n: int) -> str:
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e4, "k")):
        if n >= size:
            scaled = n / size if unit != "k" else n / 1e3
            return f"{scaled:.1f} {unit}"
    return f"{n:,}"


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "~0 s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def render_plan(plan: Plan, console: Console) -> None:
    """Print ``plan`` as Rich tables: the cells, then every stage with its cost."""
    from rich.table import Table

    cells = Table(title=f"{plan.experiment}: {len(plan.cells)} cells in {plan.run_dir}")
    cells.add_column("cell")
    cells.add_column("axes")
    for c in plan.cells:
        cells.add_row(c.name, ", ".join(f"{k}={v}" for k, v in c.axes.items()))
    console.print(cells)

    stages = Table(title="stages")
    for column in ("cell", "stage", "what"):
        stages.add_column(column)
    for column in ("sequences", "tokens (<=)", "time"):
        stages.add_column(column, justify="right")
    for s in plan.stages:
        where = s.cell or "(shared)"
        if s.skipped is not None:
            stages.add_row(where, s.name, f"skipped ({s.skipped})", "-", "-", "-", style="dim")
            continue
        if s.seconds is not None:
            time = _duration(s.seconds)
        else:
            time = "depends on hardware" if s.note == "hardware" else s.note
        stages.add_row(where, s.name, s.what, _count(s.sequences), _count(s.tokens), time)
    running = [s for s in plan.stages if s.skipped is None]
    unknown = sorted({s.note for s in running if s.seconds is None})
    known = _duration(sum(s.seconds or 0.0 for s in running))
    if "hardware" in unknown:
        total = "depends on hardware"
    else:
        total = known if not unknown else f"{known} + {', '.join(unknown)}"
    stages.add_section()
    stages.add_row("total", "", "", "", _count(plan.tokens), total, style="bold")
    console.print(stages)
    console.print(
        "tokens are upper bounds (every response at its length limit); times are estimated for "
        "the tiny model only, from cogstar.study.spec.TINY_CPU_RATES (a 2-core CPU)"
    )
