"""What running a spec does and costs: the stages of every cell with their sequences, tokens
and (for the tiny model) estimated wall time; ``cogstar run SPEC --dry-run`` prints it.

    from cogstar.study.plan import plan, render_plan
    render_plan(plan(spec), rich.console.Console())
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cogstar.behaviors import BEHAVIORS
from cogstar.behaviors.priming import LLM_MAX_TOKENS
from cogstar.io import hash_json
from cogstar.pretrain.curate import CurationConfig, curation_documents
from cogstar.study.spec import Spec, eval_steps
from cogstar.study.sweep import Cell, choose_cells, expand_cells
from cogstar.train.tiny import PRETRAIN_STEPS

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["TINY_CPU_RATES", "Plan", "Rates", "Stage", "plan", "render_plan", "trace_lengths"]


@dataclass(frozen=True)
class Rates:
    """Measured wall-time rates of the embedded tiny model, in seconds per token on one CPU
    thread (measured with ``cogstar run --jobs 3`` on a 2-core VM, so they include what three
    processes sharing two cores lose to switching, about 5%); pass your own to
    :func:`plan` to refine the estimate. A stage's time is its rate times the tokens it
    processes: SFT its sequences' prompt and completion tokens, PPO its rollouts' prompt and
    response tokens (GRPO is estimated with the PPO rate), evaluation the tokens it
    generates. Response lengths are those of the cell's priming traces, measured on a sample
    of them (:func:`trace_lengths`), or the base model's own (``base_response_tokens``) when
    it is not primed. Stages run by the Rust core (puzzle generation, trace synthesis,
    rule-based counting) take seconds and count as zero."""

    pretrain_s_per_step: float = 0.4  # one step of 16 sequences x 256 tokens
    pretrain_tokens_per_step: int = 16 * 256
    # fitted to the primed cells of the headline sweep's seed 0 (2026-12-07, commit a1b2229,
    # --jobs 3 on 2 cores: each stage's seconds times 2/3, the share of a core it had; SFT of
    # 8,000 sequences of 138 to 280 tokens, PPO steps of 128 rollouts, 2,000 generations a
    # checkpoint); it overestimates the short-answer cells' PPO (unprimed and empty_cot by
    # about half), whose steps carry less padding and more shared prompt than it assumes
    sft_s_per_token: float = 0.000146  # forward + backward
    # the step-time factor of SFT's activation checkpointing (on by default; measured 0.76 s
    # against 0.61 s a step of 16 x 280 tokens on one thread)
    sft_recompute: float = 1.25
    ppo_s_per_token: float = 0.00049  # rollout, log-probs, actor and critic updates
    eval_s_per_token: float = 0.00017  # a generated token, batched
    base_response_tokens: int = 50  # the shipped base's mean response on the tiny task


TINY_CPU_RATES = Rates()
_TOKEN_CHARS = 3  # characters per token of a reasoning trace, roughly


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

    def cell_seconds(self) -> dict[str, float]:
        """Each cell's estimated seconds (a stage without an estimate counts one second)."""
        cost = {c.name: 0.0 for c in self.cells}
        for s in self.stages:
            if s.cell in cost and s.skipped is None:
                cost[s.cell] += s.seconds if s.seconds is not None else 1.0
        return cost

    def groups(self, jobs: int) -> list[list[str]]:
        """The cells in at most ``jobs`` groups of about equal estimated time (the longest
        cells first, each to the least loaded group), each group in the plan's cell order."""
        cost = self.cell_seconds()
        names = list(cost)
        groups: list[list[str]] = [[] for _ in range(min(jobs, len(names)))]
        loads = [0.0] * len(groups)
        for name in sorted(names, key=lambda n: -cost[n]):
            k = loads.index(min(loads))
            groups[k].append(name)
            loads[k] += cost[name]
        return [sorted(g, key=names.index) for g in groups if g]

    def wall_seconds(self, jobs: int = 1, cores: int | None = None) -> float | None:
        """The estimated wall time with the cells in ``jobs`` processes of one thread each
        (what the rates were measured with) on ``cores`` cores (``jobs`` when None): the
        shared stages, then the cells as ``cogstar run --jobs`` runs them, the longest first,
        each to the next free process; processes beyond the cores share them evenly."""
        if self.seconds is None:
            return None
        cost = self.cell_seconds()
        shared = sum(s.seconds or 0.0 for s in self.stages if s.cell is None and not s.skipped)
        return shared + _shared_cores(sorted(cost.values(), reverse=True), jobs, cores or jobs)


def _shared_cores(work: Sequence[float], jobs: int, cores: int) -> float:
    """When the last of ``work`` (seconds of one core each, in the order they start) ends,
    with at most ``jobs`` running at once and ``cores`` cores shared evenly among them."""
    waiting, now = list(work), 0.0
    running: list[float] = []
    while waiting or running:
        while waiting and len(running) < jobs:
            running.append(waiting.pop(0))
        speed = min(1.0, cores / len(running))
        step = min(running)
        now += step / speed
        running = [left - step for left in running if left - step > 1e-9]
    return now


def _shared_stages(cells: Sequence[Cell], rates: Rates) -> list[Stage]:
    out: list[Stage] = []
    seen: set[str] = set()
    for cell in cells:
        data = cell.spec.data
        key = "data" + hash_json(data.inputs())
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
        key = "model" + hash_json(model.inputs())
        if key not in seen:
            seen.add(key)
            if model.source == "tiny" and model.tiny_size == "tiny":
                what = "the tiny model shipped in the package (pretrained, 1M parameters)"
                out.append(Stage("base model", None, what, seconds=0.0))
            elif model.source == "tiny":
                steps = PRETRAIN_STEPS
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
        key = "curation" + hash_json(curation.data_inputs())
        if curation.pool != "none" and key not in seen:
            seen.add(key)
            out.append(_curation_stage(curation))
    return out


def _curation_stage(c: CurationConfig) -> Stage:
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


_SAMPLE = 32  # priming traces synthesized to measure a condition's lengths


@functools.lru_cache(maxsize=64)
def trace_lengths(
    condition: str, *, budget: int, seed: int, data_seed: int, sizes: tuple[int, ...], tiny: bool
) -> tuple[float, float]:
    """Mean prompt and completion lengths of ``condition``'s synthetic priming traces,
    measured on 32 of them (the completion is 0 for ``unprimed``, which has no traces): in the
    tiny model's tokens when ``tiny``, otherwise characters / 3."""
    from cogstar.behaviors.priming import build_priming_set, priming_puzzles
    from cogstar.tasks import rl_prompt

    if tiny:
        from cogstar.train.models import token_counter
        from cogstar.train.tiny import packaged_dir

        count = token_counter(packaged_dir())
    else:

        def count(text: str) -> int:
            return math.ceil(len(text) / _TOKEN_CHARS)

    puzzles = priming_puzzles(_SAMPLE, seed=data_seed, sizes=sizes)
    prompt = sum(count(rl_prompt(p.numbers, p.target)) for p in puzzles) / len(puzzles)
    if condition == "unprimed":
        return prompt, 0.0
    records = build_priming_set(condition, puzzles, seed=seed, tokenizer_count=count, budget=budget)
    return prompt, sum(count(r.completion) for r in records) / len(records)


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
    synthetic = cell.condition == "unprimed" or pr.source == "synthetic"
    prompt, completion = trace_lengths(
        cell.condition if synthetic else "unprimed",
        budget=pr.budget,
        seed=pr.seed,
        data_seed=spec.data.seed,
        sizes=tuple(spec.data.sizes),
        tiny=tiny,
    )
    if not synthetic:  # an LLM's replies: their length is known once they are written
        completion = LLM_MAX_TOKENS
    if cell.condition == "unprimed":
        out.append(Stage("priming", name, "", skipped="unprimed"))
        out.append(Stage("sft", name, "", skipped="unprimed"))
    else:
        n = pr.count + pr.validation
        per_trace = round(prompt + completion)
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
        tokens = seqs * min(per_trace, sft.max_length)
        seconds = tokens * rates.sft_s_per_token
        if sft.activation_checkpointing:
            seconds *= rates.sft_recompute
        out.append(Stage("sft", name, what, seqs, tokens, timed(seconds), note=hardware))
    rl = spec.rl_section()
    # a primed model writes about as much as its traces; the base its own length
    response = completion if cell.condition != "unprimed" else rates.base_response_tokens
    seqs = rl.steps * rl.prompts_per_step * rl.samples_per_prompt
    what = (
        f"{spec.rl.algorithm.upper()} {rl.steps:,} steps x {rl.prompts_per_step} prompts x "
        f"{rl.samples_per_prompt} samples, <= {rl.max_response_tokens:,} tokens each"
    )
    seconds = seqs * (prompt + min(response, rl.max_response_tokens)) * rates.ppo_s_per_token
    out.append(
        Stage(
            spec.rl.algorithm,
            name,
            what,
            seqs,
            seqs * rl.max_response_tokens,
            timed(seconds),
            note=hardware,
        )
    )
    ev = spec.eval
    steps = eval_steps(spec)
    per_ckpt = spec.data.test * ev.samples
    generations = spec.data.test * (ev.samples + int(ev.also_greedy))
    seqs = len(steps) * generations
    seconds = seqs * min(response, ev.max_new_tokens) * rates.eval_s_per_token
    shown = ", ".join(map(str, steps if len(steps) <= 5 else [*steps[:3], "...", steps[-1]]))
    greedy = " + greedy" if ev.also_greedy else ""
    what = f"{len(steps)} checkpoints (steps {shown}) x {per_ckpt:,} samples{greedy}"
    tokens = seqs * ev.max_new_tokens
    out.append(Stage("eval", name, what, seqs, tokens, timed(seconds), note=hardware))
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


def plan(spec: Spec, rates: Rates = TINY_CPU_RATES, cells: Sequence[str] = ()) -> Plan:
    """What running ``spec`` (only the ``cells`` named, if any) does: shared stages, then each
    cell's stages, with their cost.

    Wall times are estimated only for the tiny model (from ``rates``); other models get token
    counts and no time.
    """
    chosen = choose_cells(expand_cells(spec), cells)
    result = Plan(spec.experiment.name, spec.run_dir, chosen, _shared_stages(chosen, rates))
    curating = any(c.spec.curation.pool != "none" for c in chosen)
    for cell in chosen:
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


def render_plan(plan: Plan, console: Console, jobs: int = 1, cores: int | None = None) -> None:
    """Print ``plan`` as Rich tables: the cells, then every stage with its cost, and the wall
    time with ``jobs`` processes."""
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
    wall = plan.wall_seconds(jobs, cores)
    if jobs > 1 and wall is not None:
        where = f" on {cores} cores" if cores else ""
        console.print(f"with --jobs {jobs}{where}: about {_duration(wall)}")
    console.print(
        "tokens: RL and evaluation at their length limits (upper bounds), priming and SFT "
        "from a sample of the traces; times are estimated for "
        "the tiny model only, from cogstar.study.plan.TINY_CPU_RATES (seconds per token on one "
        "thread, measured with --jobs 3 on a 2-core CPU; one process using every core may be "
        "somewhat faster than the total)"
    )
