"""Run a study: every stage of a spec for every cell, resumable, with live progress.

    from cogstar.study.runner import run_experiment
    run_dir = run_experiment("experiments/priming_sweep.toml", overrides=["ppo.steps=4"])

The stages, in order (:mod:`cogstar.layout` names every file they write):

* ``shared``: ``data`` (the RL puzzles and the test set), the base model, and ``curate``
  when a cell continues pretraining (``[curation]``: documents, labels, the rich and
  minimized pools, their rewrites and token-budgeted datasets);
* per cell: ``continued_pretraining`` on the cell's curated pool (when ``curation.pool`` is
  not ``none``; its checkpoint is the cell's base model from then on), ``priming`` (the
  condition's SFT set and its card), ``sft``, ``eval@0`` (the starting policy), ``rl`` (PPO
  or GRPO with checkpoints every ``save_every`` steps), then ``eval@N`` and ``behaviors@N``
  for each evaluated checkpoint.

Each stage is keyed by a hash of everything it depends on (:mod:`cogstar.study.stages`). A
finished stage with the same key is never redone; an interrupted one is rerun and resumes from
its own checkpoints (SFT and PPO checkpoints are atomic, every file is written atomically), so
rerunning the same command after a crash, SIGKILL or Ctrl-C continues where the run stopped.
``cells`` runs a subset of the sweep (``--cell``), so a scheduler can give each cell its own job.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cogstar import io
from cogstar.config import StageConfig
from cogstar.errors import StageError, UsageError
from cogstar.layout import SHARED, CellLayout, RunLayout, TrainLayout
from cogstar.study.checks import check_puzzles_unseen, check_room
from cogstar.study.memory import check_fits
from cogstar.study.progress import Reporter
from cogstar.study.rundir import RunDir, StageHandle
from cogstar.study.spec import Spec, dump_toml, eval_steps, load_spec
from cogstar.study.stages import StageKey, stage_keys
from cogstar.study.sweep import Cell, choose_cells, expand_cells
from cogstar.tasks import make_puzzles
from cogstar.train.base import base_model
from cogstar.train.tracking import Tracking

__all__ = ["run_cell", "run_experiment"]

_DATA_FIX = "rerun `cogstar run SPEC` to rebuild the data"


@dataclass
class Context:
    spec: Spec
    run: RunDir
    report: Reporter

    @property
    def layout(self) -> RunLayout:
        return self.run.layout


def _stale(path: Path, why: str, report: Reporter) -> None:
    """Move an output made from other inputs out of the way (kept, not deleted)."""
    if path.exists():
        aside = path.with_name(f"{path.name}.stale-{int(time.time())}")
        os.replace(path, aside)
        report.log(f"{path}: made from other inputs ({why}); moved to {aside.name}")


@contextmanager
def _stage(
    ctx: Context, stage: StageKey, outputs: Sequence[Path] = ()
) -> Iterator[StageHandle | None]:
    """Yield a stage handle, or None when the stage is already done with these inputs.

    When the stage last ran (finished or not) from other inputs, its ``outputs`` folders are
    moved aside first, so a resumed stage never continues from checkpoints of another setup.
    """
    key = stage.key
    if ctx.run.is_done(stage.unit, stage.name, key):
        ctx.report.skip(stage.unit, stage.name)
        yield None
        return
    old = ctx.run.status(stage.unit, stage.name)
    if old is not None and old.get("inputs_hash") not in (None, key):
        for path in outputs:
            _stale(path, f"stage {stage.name} now has other inputs", ctx.report)
    with ctx.run.stage(stage.unit, stage.name, key) as handle:
        ctx.report.stage(stage.unit, stage.name)
        yield handle
    ctx.report.stage_done(stage.unit, stage.name)


# --------------------------------------------------------------------------- shared stages


def prepare_shared(ctx: Context, keys: dict[str, StageKey]) -> None:
    """The ``shared`` unit's ``data`` stage: the RL puzzles and the test set."""
    layout = ctx.layout
    with ctx.run.lock(SHARED), _stage(ctx, keys[f"{SHARED}/data"]) as handle:
        if handle is not None:
            train, test = make_puzzles(ctx.spec.data)
            io.write_puzzles(layout.train_puzzles, train)
            io.write_puzzles(layout.test_puzzles, test)
            handle.outputs.update(
                {"train": str(layout.train_puzzles), "test": str(layout.test_puzzles)}
            )
            handle.info.update({"train": len(train), "test": len(test)})


def check_data(ctx: Context, bases: Iterable[Path | str]) -> None:
    """Refuse RL or test puzzles from the share of the puzzle space a base model was
    pretrained on (:func:`cogstar.study.checks.check_puzzles_unseen`)."""
    from cogstar.train.tiny import pretraining_share

    files = [ctx.layout.train_puzzles, ctx.layout.test_puzzles]
    for base in set(bases):
        check_puzzles_unseen(files, pretraining_share(base), _DATA_FIX)


class _Phases:
    """A long stage's phases shown on the live display (the curation's Progress)."""

    def __init__(self, report: Reporter, unit: str) -> None:
        self.report, self.unit = report, unit

    def phase(self, name: str, total: int) -> None:
        self.report.begin(self.unit, name, total)

    def done(self, n: int) -> None:
        self.report.advance_to(n)

    def log(self, message: str) -> None:
        self.report.log(message)


def curate(ctx: Context, cells: Sequence[Cell], base: Path | str) -> None:
    """The shared ``curate`` stage, when some of ``cells`` continues pretraining. The cells
    differ at most in ``curation.pool`` and ``curation.training`` (the spec checks it), so
    the first curating cell's section stands for all; token counts use ``base``'s tokenizer."""
    from cogstar.pretrain.curate import run_curation

    curating = [c for c in cells if c.spec.curation.pool != "none"]
    if not curating:
        return
    stage = stage_keys(curating[0])[f"{SHARED}/curate"]
    root = ctx.layout.curation
    with ctx.run.lock(SHARED), _stage(ctx, stage, [root]) as handle:
        if handle is not None:
            info = run_curation(
                curating[0].spec.curation,
                root,
                ctx.layout.llm_cache,
                tokenizer=base,
                progress=_Phases(ctx.report, SHARED),
            )
            handle.outputs.update(info.pop("outputs"))
            handle.info.update(info)


# --------------------------------------------------------------------------- cell stages


def _write_config(path: Path, config: StageConfig) -> Path:
    """The resolved config a stage runs with, beside its outputs, under its section's key
    path as in a spec (what the stage command's ``--config`` reads)."""
    data: dict[str, Any] = config.model_dump(mode="json")
    for key in reversed(config.SECTION.split(".")):
        data = {key: data}
    io.atomic_write_json(path, data)
    return path


def _train(
    ctx: Context,
    stage: StageKey,
    what: TrainLayout,
    base: Path | str,
    files: tuple[Path, Path | None],
    config: Any,
    *,
    module: str,
    run: Callable[..., Path],
    empty: str,
    info: dict[str, Any] | None = None,
) -> Path:
    """SFT or continued pretraining (the same trainer): in process or under ``[launch]``;
    ``empty`` is the error when there is nothing to train on."""
    from cogstar.io import read_records

    with _stage(ctx, stage, [what.root]) as handle:
        if handle is not None:
            records = read_records(files[0])
            valid = read_records(files[1]) if files[1] is not None else []
            ctx.report.begin(stage.unit, stage.name, config.steps(len(records)))
            if not records:
                raise StageError(f"{files[0]}: no records to train on; {empty}")
            tracking = _tracking(ctx, what, stage)
            if ctx.spec.launch.launcher != "none":
                args = [str(base), str(files[0]), str(what.root), "--quiet"]
                args += ["--config", str(_write_config(what.config, config))]
                args += tracking.cli_args()
                if valid and files[1] is not None:
                    args += ["--valid", str(files[1])]
                _launch(ctx, module, args, what.launch_log)
            else:
                _write_config(what.config, config)
                run(
                    base,
                    records,
                    what.root,
                    config,
                    eval_records=valid or None,
                    quiet=True,
                    on_log=lambda entry: ctx.report.advance_to(
                        int(entry.get("step", 0)), loss=entry.get("loss")
                    ),
                    tracking=tracking,
                )
            handle.outputs["model"] = str(what.final)
            handle.info.update({"records": len(records), **(info or {})})
    if not (what.final / "config.json").exists():
        raise StageError(
            f"{what.final}: the {stage.name} checkpoint is missing; delete {what.root} and "
            "rerun `cogstar run`"
        )
    return what.final


def _continued_pretraining(
    ctx: Context, cell: Cell, layout: CellLayout, keys: dict[str, StageKey], base: Path | str
) -> Path:
    """Continue pretraining ``base`` on the cell's curated pool; returns ``cpt/final``."""
    from cogstar.pretrain.train import run_continued_pretraining

    c = cell.spec.curation
    folder = ctx.layout.curation / "datasets" / c.pool
    if not (folder / "train.jsonl").exists():
        raise StageError(
            f"cell {cell.name}: no curated {c.pool} pool in {folder}; run the shared curate "
            "stage first (cogstar.study.runner.curate), as run_experiment does"
        )
    return _train(
        ctx,
        keys[f"{cell.name}/continued_pretraining"],
        layout.cpt,
        base,
        (folder / "train.jsonl", folder / "test.jsonl"),
        c.training,
        module="cogstar.pretrain.train",
        run=run_continued_pretraining,
        empty=f"the {c.pool} pool is empty (see {folder / 'card.json'}); read more documents "
        "(curation.limit) or loosen the selection (curation.min_total_rich, "
        "max_total_minimized)",
        info={"pool": c.pool},
    )


def _priming(
    ctx: Context, cell: Cell, layout: CellLayout, keys: dict[str, StageKey], base: Path | str
) -> None:
    """The cell's priming set, then the check that RL and evaluation leave room for the
    answers a model primed on it writes (:func:`cogstar.study.checks.check_room`)."""
    from cogstar.behaviors.priming import run_priming, stage_puzzles
    from cogstar.io import read_records
    from cogstar.train.models import token_counter

    spec = cell.spec
    with _stage(ctx, keys[f"{cell.name}/priming"]) as handle:
        if handle is not None:
            puzzles = stage_puzzles(spec.priming, seed=spec.data.seed, sizes=spec.data.sizes)
            counter = token_counter(base) if cell.condition == "dots" else None
            card = run_priming(spec.priming, cell.condition, puzzles, layout, count_tokens=counter)
            handle.outputs.update(
                {"train": str(layout.priming_train), "valid": str(layout.priming_valid)}
            )
            handle.info.update({"records": card.size, "accuracy": card.accuracy})
    rl = spec.rl_section()
    check_room(
        cell.condition,
        read_records(layout.priming_train),
        token_counter(base),
        rl_key=f"{rl.SECTION}.max_response_tokens",
        rl_tokens=rl.max_response_tokens,
        eval_tokens=spec.eval.max_new_tokens,
        where=ctx.run.root / "spec.toml",
    )


def _rl(
    ctx: Context, cell: Cell, layout: CellLayout, keys: dict[str, StageKey], start: Path | str
) -> None:
    spec = cell.spec
    config = spec.rl_section()
    where = layout.rl(spec.rl.algorithm)
    puzzles_file = ctx.layout.train_puzzles
    with _stage(ctx, keys[f"{cell.name}/rl"], [where.root]) as handle:
        if handle is None:
            return
        handle.info["start"] = str(start)
        puzzles = io.read_puzzles(puzzles_file, _DATA_FIX)
        ctx.report.begin(cell.name, spec.rl.algorithm, config.steps)
        tracking = _tracking(ctx, where, keys[f"{cell.name}/rl"])
        if spec.rl.algorithm == "ppo" and spec.launch.launcher != "none":
            args = [str(start), str(where.root), "--puzzles", str(puzzles_file)]
            args += ["--config", str(_write_config(where.config, config))]
            args += tracking.cli_args()
            _launch(ctx, "cogstar.train.ppo", args, where.launch_log)
            handle.outputs["metrics"] = str(where.metrics)
        elif spec.rl.algorithm == "ppo":
            from cogstar.train.ppo.trainer import run_ppo

            done = where.ppo.latest()
            if done is not None:
                ctx.report.advance_to(int(done.name[5:]))
            last = run_ppo(
                start,
                puzzles,
                where.root,
                spec.ppo,
                on_step=lambda m: ctx.report.advance_to(
                    int(m["step"]), reward=m.get("reward"), accuracy=m.get("accuracy")
                ),
                tracking=tracking,
            )
            handle.outputs["last"] = str(last)
        else:
            from cogstar.train.grpo import run_grpo

            _write_config(where.config, spec.grpo)
            last = run_grpo(start, puzzles, where.root, spec.grpo, tracking=tracking)
            handle.outputs["last"] = str(last)


def _tracking(ctx: Context, where: Any, stage: StageKey) -> Tracking:
    """The spec's trackers for one stage: writing under its ``tracking/`` folder, the run
    named ``experiment/cell/stage``."""
    name = f"{ctx.spec.experiment.name}/{stage.unit}/{stage.name}"
    return Tracking(tuple(ctx.spec.report.trackers), where.tracking, name)


def _launch(ctx: Context, module: str, args: list[str], log: Path) -> None:
    """Run a stage command under the spec's launcher (``[launch]``); its output goes to
    ``log``, its progress (PPO's metrics.jsonl) to the live display. Raises with the log's
    tail when the job fails; rerunning resumes it from its own checkpoints."""
    launch = ctx.spec.launch
    if launch.launcher == "accelerate":
        config = str(launch.accelerate_config)
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", config]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run"]
    cmd += [*launch.args, "-m", module, *args]
    log.parent.mkdir(parents=True, exist_ok=True)
    metrics = log.parent / "metrics.jsonl"
    with log.open("a", encoding="utf-8") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        job = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        try:
            while job.poll() is None:
                time.sleep(2.0)
                if module == "cogstar.train.ppo" and metrics.exists():
                    rows = io.read_jsonl(metrics)
                    if rows:
                        last = rows[-1]
                        ctx.report.advance_to(
                            int(last["step"]),
                            reward=last.get("reward"),
                            accuracy=last.get("accuracy"),
                        )
        except BaseException:
            job.terminate()
            job.wait()
            raise
    if job.returncode:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        errors = [ln for ln in lines if re.match(r"^\w*(Error|Exception)\b.*:", ln)]
        cause = errors[-1] if errors else "\n".join(lines[-15:])
        raise StageError(
            f"{module} under {launch.launcher} failed (exit {job.returncode}): {cause}\n"
            f"The whole output is in {log}. Fix the cause and rerun `cogstar run` to resume."
        )


def checkpoint(spec: Spec, layout: CellLayout, start: Path | str, step: int) -> Path | str:
    """The policy at RL step ``step`` (0: the starting policy)."""
    if step == 0:
        return start
    path = layout.rl(spec.rl.algorithm).policy(step)
    if not (path / "config.json").exists():
        raise StageError(
            f"{path}: no checkpoint for step {step}; rerun `cogstar run` to finish the RL stage "
            f"(checkpoints are written every {spec.rl_section().save_every} steps)"
        )
    return path


def _evaluate(
    ctx: Context,
    cell: Cell,
    layout: CellLayout,
    keys: dict[str, StageKey],
    policy: Path | str,
    step: int,
) -> None:
    from cogstar.behaviors import count_checkpoint
    from cogstar.train.evaluate import evaluate

    spec = cell.spec
    with _stage(ctx, keys[f"{cell.name}/eval@{step}"]) as handle:
        if handle is not None:
            puzzles = io.read_puzzles(ctx.layout.test_puzzles, _DATA_FIX)
            ctx.report.begin(cell.name, f"eval@{step}", len(puzzles))
            result = evaluate(policy, puzzles, spec.eval, out=layout.eval(step))
            ctx.report.advance_to(len(puzzles), accuracy=result.accuracy)
            handle.outputs["completions"] = str(layout.eval(step))
            handle.info["accuracy"] = result.accuracy
    with _stage(ctx, keys[f"{cell.name}/behaviors@{step}"]) as handle:
        if handle is not None:
            completions = io.read_completions(layout.eval(step))
            summary = count_checkpoint(spec.behaviors, completions, layout.judge_cache)
            io.atomic_write_json(layout.behaviors(step), {"step": step, **summary})
            handle.outputs["summary"] = str(layout.behaviors(step))


def run_cell(ctx: Context, cell: Cell, base: Path | str) -> None:
    """Every stage of one cell, each skipped when already done."""
    layout = ctx.layout.cell(cell.name)
    keys = stage_keys(cell)
    with ctx.run.lock(cell.name):
        ctx.report.cell(cell.name)
        if cell.spec.curation.pool != "none":
            base = _continued_pretraining(ctx, cell, layout, keys, base)
        start: Path | str = base
        if cell.condition != "unprimed":
            from cogstar.train.sft import run_sft

            start = _train(
                ctx,
                keys[f"{cell.name}/sft"],
                layout.sft,
                base,
                (layout.priming_train, layout.priming_valid),
                cell.spec.sft,
                module="cogstar.train.sft",
                run=run_sft,
                empty="the priming set is empty (see its card beside it)",
            )
        _evaluate(ctx, cell, layout, keys, start, 0)
        _rl(ctx, cell, layout, keys, start)
        for step in eval_steps(cell.spec)[1:]:
            _evaluate(ctx, cell, layout, keys, checkpoint(cell.spec, layout, start, step), step)


def run_experiment(
    spec_path: str | Path,
    *,
    overrides: Sequence[str] = (),
    cells: Sequence[str] = (),
    force: bool = False,
    report: Reporter | None = None,
    make_report: bool = True,
    jobs: int = 1,
) -> Path:
    """Run (or resume) the study of ``spec_path``; returns the run directory. ``jobs`` > 1
    runs the cells in that many processes after the shared work (:mod:`cogstar.study.jobs`)."""
    spec = load_spec(spec_path, overrides)
    check_fits(spec)  # a spec that cannot fit its declared GPUs stops before any work
    if jobs > 1 and spec.launch.launcher != "none":
        raise UsageError(
            f"--jobs {jobs} runs cells as CPU processes, but [launch] already makes each "
            "training stage a multi-process job; drop --jobs, or spread cells over scheduler "
            "jobs with --cell"
        )
    all_cells = expand_cells(spec)
    chosen = choose_cells(all_cells, cells, spec_path)
    report = report or Reporter("quiet")
    run = RunDir.create(
        spec.run_dir,
        dump_toml(spec),
        spec.experiment.name,
        {c.name: c.axes for c in all_cells},
        force=force,
        source=str(spec_path),
    )
    ctx = Context(spec, run, report)
    with report.live(total_cells=len(chosen)):
        prepare_shared(ctx, stage_keys(chosen[0]))
        base = base_model(spec.model, progress=report.enabled)
        # a sweep over model.source gives each cell its own base model
        bases = {
            c.name: base if c.spec.model == spec.model else base_model(c.spec.model) for c in chosen
        }
        check_data(ctx, bases.values())
        # every priming set first (cheap next to training), so a spec that leaves no room
        # for a primed model's answers is refused before any training
        for cell in chosen:
            if cell.condition != "unprimed":
                with ctx.run.lock(cell.name):
                    layout = ctx.layout.cell(cell.name)
                    _priming(ctx, cell, layout, stage_keys(cell), bases[cell.name])
        curate(ctx, chosen, base)
        if jobs > 1 and len(chosen) > 1:
            from cogstar.study.jobs import job_order, run_jobs

            processes = min(jobs, len(chosen))
            report.log(f"{len(chosen)} cells in {processes} processes")
            run_jobs(
                spec_path,
                overrides,
                job_order(spec, chosen),
                processes,
                report.relay,
                json_log=report.mode == "json",
            )
        else:
            for cell in chosen:
                run_cell(ctx, cell, bases[cell.name])
                report.cell_done(cell.name)
    if make_report and len(chosen) == len(all_cells):
        from cogstar.study.report import build_report

        build_report(run.root, report.console if report.prints else None)
    return run.root
