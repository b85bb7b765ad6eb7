"""Where every file of a run lives: one object per folder, shared by the runner, the trainers
and the report (nothing else builds these paths).

    runs/<experiment>/                      RunLayout
      spec.toml  manifest.json  report/
      shared/data/{train,test}.jsonl        puzzle rows (the RL puzzles and the test set)
      shared/curation/  shared/llm_cache/   curated pretraining data, cached LLM replies
      <cell>/                               CellLayout
        cpt/     final/ trainer/ config.json     TrainLayout (continued pretraining)
        priming/ train.jsonl valid.jsonl card.md card.json
        sft/     final/ trainer/ config.json     TrainLayout
        ppo/     step_XXXXXX/{actor,critic,accelerate,state.json} metrics.jsonl config.json
        grpo/    final/ trainer/checkpoint-N/ config.json     (the RL folder is named after
                                                               its algorithm: RLLayout)
        eval/step_XXXXXX.jsonl  eval/step_XXXXXX.summary.json   completion rows, summary
        behaviors/step_XXXXXX.json                              mean counts per behavior

Nothing here touches the disk except the ``latest``/``steps`` lookups, which list folders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cogstar.errors import ArgumentError

__all__ = [
    "RESERVED",
    "SHARED",
    "CellLayout",
    "PPOLayout",
    "RLLayout",
    "RunLayout",
    "TrainLayout",
    "beside_completions",
    "check_cell_name",
]

SHARED = "shared"  # the unit (and folder) of the stages every cell shares
_REPORT = "report"
_SPEC = "spec.toml"
_MANIFEST = "manifest.json"
_MANIFEST_LOCK = "manifest.lock"
LOCK_NAME = ".lock"  # a unit's lock file, inside its folder

RESERVED = frozenset({SHARED, _REPORT, _SPEC, _MANIFEST, _MANIFEST_LOCK})
_CELL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.,+=@-]{0,199}")
_STEP = re.compile(r"^step_(\d+)$")
_EVAL = re.compile(r"^step_(\d+)\.summary\.json$")
_BEHAVIORS = re.compile(r"^step_(\d+)\.json$")


def check_cell_name(name: str) -> None:
    """Raise :class:`~cogstar.errors.ArgumentError` unless ``name`` can be a cell's folder."""
    if not isinstance(name, str) or not _CELL_NAME.fullmatch(name) or name in RESERVED:
        raise ArgumentError(
            f"cell name {name!r} cannot be a folder name in a run directory: use up to 200 "
            "letters, digits and _ . , + = @ - (starting with a letter or digit), and none of "
            f"{', '.join(sorted(RESERVED))}"
        )


def beside_completions(completions: str | Path, kind: str) -> Path:
    """A file written beside an evaluation's completion rows ``step_XXXXXX.jsonl``: its
    ``summary`` (``step_XXXXXX.summary.json``) or its ``greedy`` pass
    (``step_XXXXXX.greedy.jsonl``)."""
    path = Path(completions)
    suffix = {"summary": ".summary.json", "greedy": ".greedy.jsonl"}[kind]
    return path.with_name(path.name.removesuffix(".jsonl") + suffix)


def _step_name(step: int) -> str:
    return f"step_{step:06d}"


def _steps(folder: Path, pattern: re.Pattern[str]) -> dict[int, Path]:
    if not folder.is_dir():
        return {}
    found = {}
    for path in folder.iterdir():
        match = pattern.match(path.name)
        if match:
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


@dataclass(frozen=True)
class _StageFolder:
    """What every training stage's folder holds besides its checkpoints."""

    root: Path

    @property
    def config(self) -> Path:
        """The stage config the run used (resolved JSON, as the stage command reads it)."""
        return self.root / "config.json"

    @property
    def launch_log(self) -> Path:
        """The output of the stage's job when ``[launch]`` runs it."""
        return self.root / "launch.log"

    @property
    def tracking(self) -> Path:
        """Where experiment trackers write locally (TensorBoard events, wandb, mlruns)."""
        return self.root / "tracking"

    @property
    def metrics(self) -> Path:
        """One JSON line per RL step."""
        return self.root / "metrics.jsonl"


@dataclass(frozen=True)
class TrainLayout(_StageFolder):
    """A Hugging Face Trainer's folder (SFT, continued pretraining, GRPO)."""

    @property
    def final(self) -> Path:
        """The trained model and tokenizer, written whole when training ends."""
        return self.root / "final"

    @property
    def trainer(self) -> Path:
        """The trainer's own checkpoints (``checkpoint-N``), what a resumed run starts from."""
        return self.root / "trainer"

    def checkpoint(self, step: int) -> Path:
        return self.trainer / f"checkpoint-{step}"

    def checkpoints(self) -> list[Path]:
        """The trainer's checkpoints, oldest first."""
        found = self.trainer.glob("checkpoint-*")
        return sorted((p for p in found if p.name[11:].isdigit()), key=lambda p: int(p.name[11:]))


@dataclass(frozen=True)
class PPOLayout(_StageFolder):
    """cogstar's PPO folder: one ``step_XXXXXX`` checkpoint every ``save_every`` steps."""

    @property
    def run_info(self) -> Path:
        """Precision, distributed type, processes and device of the last start."""
        return self.root / "run.json"

    def step(self, step: int) -> Path:
        return self.root / _step_name(step)

    def temp_step(self, step: int) -> Path:
        """Where a checkpoint is written before it is renamed into place."""
        return self.root / f".{_step_name(step)}.tmp"

    def policy(self, step: int) -> Path:
        """The actor of checkpoint ``step``, a model folder."""
        return self.step(step) / "actor"

    def latest(self) -> Path | None:
        """The newest complete checkpoint (it has ``state.json``), or None."""
        done = [p for n, p in _steps(self.root, _STEP).items() if (p / "state.json").exists()]
        return done[-1] if done else None


@dataclass(frozen=True)
class RLLayout(_StageFolder):
    """The RL stage's folder, named after its algorithm (``ppo`` or ``grpo``)."""

    algorithm: str = "ppo"

    @property
    def ppo(self) -> PPOLayout:
        return PPOLayout(self.root)

    @property
    def trainer(self) -> TrainLayout:
        """GRPO runs in a Hugging Face Trainer."""
        return TrainLayout(self.root)

    def policy(self, step: int) -> Path:
        """The policy saved at RL step ``step``."""
        if self.algorithm == "ppo":
            return self.ppo.policy(step)
        return self.trainer.checkpoint(step)


@dataclass(frozen=True)
class CellLayout:
    """One sweep cell's folder."""

    root: Path

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def cpt(self) -> TrainLayout:
        """Continued pretraining on the cell's curated pool."""
        return TrainLayout(self.root / "cpt")

    @property
    def priming(self) -> Path:
        return self.root / "priming"

    @property
    def priming_train(self) -> Path:
        return self.priming / "train.jsonl"

    @property
    def priming_valid(self) -> Path:
        return self.priming / "valid.jsonl"

    @property
    def priming_card(self) -> Path:
        """The priming set's card (Markdown; its JSON twin is ``card.json``)."""
        return self.priming / "card.md"

    @property
    def priming_cache(self) -> Path:
        """Cached replies of the LLM that writes the traces (``priming.source = "llm"``)."""
        return self.priming / "llm_cache"

    @property
    def sft(self) -> TrainLayout:
        return TrainLayout(self.root / "sft")

    def rl(self, algorithm: str) -> RLLayout:
        return RLLayout(self.root / algorithm, algorithm)

    def eval(self, step: int) -> Path:
        """The completion rows of the evaluation at RL step ``step``."""
        return self.root / "eval" / f"{_step_name(step)}.jsonl"

    def eval_summary(self, step: int) -> Path:
        return beside_completions(self.eval(step), "summary")

    def eval_greedy(self, step: int) -> Path:
        """The greedy pass's completion rows at RL step ``step`` (``eval.also_greedy``)."""
        return beside_completions(self.eval(step), "greedy")

    def eval_summaries(self) -> dict[int, Path]:
        """Every evaluation summary on disk, by step."""
        return _steps(self.root / "eval", _EVAL)

    def behaviors(self, step: int) -> Path:
        return self.root / "behaviors" / f"{_step_name(step)}.json"

    def behavior_summaries(self) -> dict[int, Path]:
        return _steps(self.root / "behaviors", _BEHAVIORS)

    @property
    def judge_cache(self) -> Path:
        """Cached replies of the LLM judge (``behaviors.judge = "llm"``)."""
        return self.root / "behaviors" / "llm_cache"


@dataclass(frozen=True)
class RunLayout:
    """An experiment's run directory."""

    root: Path

    @property
    def spec(self) -> Path:
        """The resolved spec the run was made from."""
        return self.root / _SPEC

    @property
    def manifest(self) -> Path:
        return self.root / _MANIFEST

    @property
    def manifest_lock(self) -> Path:
        return self.root / _MANIFEST_LOCK

    @property
    def report(self) -> Path:
        return self.root / _REPORT

    @property
    def shared(self) -> Path:
        return self.root / SHARED

    @property
    def train_puzzles(self) -> Path:
        return self.shared / "data" / "train.jsonl"

    @property
    def test_puzzles(self) -> Path:
        return self.shared / "data" / "test.jsonl"

    @property
    def curation(self) -> Path:
        return self.shared / "curation"

    @property
    def llm_cache(self) -> Path:
        """Cached replies of the curation's labeller and rewriter."""
        return self.shared / "llm_cache"

    def cell(self, name: str) -> CellLayout:
        check_cell_name(name)
        return CellLayout(self.root / name)

    def unit(self, unit: str) -> Path:
        """The folder of ``unit``: ``shared`` or a cell."""
        return self.shared if unit == SHARED else self.cell(unit).root

    def lock(self, unit: str) -> Path:
        return self.unit(unit) / LOCK_NAME
