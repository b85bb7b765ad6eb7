"""Run a study: every stage of a spec for every cell, resumable, with live progress.

    from cogstar.study.runner import run_experiment
    run_dir = run_experiment("experiments/priming_sweep.toml", overrides=["ppo.steps=4"])

The stages, in order (see DESIGN.md for the run directory they fill):

* ``shared``: ``data`` (RL train and test puzzles, priming puzzles), the base model, and
  ``curate`` when a cell continues pretraining (``[curation]``: documents, labels, the rich
  and minimized pools, their rewrites and token-budgeted datasets, in ``shared/curation/``);
* per cell: ``continued_pretraining`` on the cell's curated pool (when ``curation.pool`` is
  not ``none``; its checkpoint is the cell's base model from then on), ``priming`` (the
  condition's SFT set and its card), ``sft``, ``eval@0`` (the starting policy), ``rl`` (PPO
  or GRPO with checkpoints every ``save_every`` steps), then ``eval@N`` and ``behaviors@N``
  for each evaluated checkpoint.

Each stage is keyed by a hash of everything it depends on. A finished stage with the same
hash is never redone; an interrupted one is rerun and resumes from its own checkpoints (SFT
and PPO checkpoints are atomic, every file is written atomically), so rerunning the same
command after a crash, SIGKILL or Ctrl-C continues where the run stopped. ``cells`` runs a
subset of the sweep (``--cell``), so a scheduler can give each cell its own job.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cogstar
from cogstar import io
from cogstar.errors import StageError
from cogstar.layout import SHARED
from cogstar.study.progress import Reporter
from cogstar.study.rundir import RunDir, StageHandle
from cogstar.study.spec import (
    Cell,
    CurationSpec,
    PPOSpec,
    Spec,
    curation_documents,
    curation_inputs,
    dump_toml,
    eval_steps,
    expand_cells,
    load_spec,
)
from cogstar.tasks import is_heldout

__all__ = ["StageError", "curate", "prepare_shared", "run_cell", "run_experiment"]

BEHAVIORS = ("verification", "backtracking", "subgoal", "backward")


# --------------------------------------------------------------------------- puzzles on disk


def write_puzzles(path: Path, puzzles: Sequence[cogstar.Puzzle]) -> None:
    text = "".join(
        json.dumps({"numbers": list(p.numbers), "target": p.target}) + "\n" for p in puzzles
    )
    io.atomic_write_text(path, text)


def read_puzzles(path: Path) -> list[cogstar.Puzzle]:
    if not path.exists():
        raise StageError(f"{path}: missing; rerun `cogstar run SPEC` to rebuild the data")
    out = []
    for i, row in enumerate(io.read_jsonl(path), 1):
        try:
            out.append(cogstar.Puzzle(row["numbers"], row["target"]))
        except (KeyError, TypeError, ValueError, cogstar.CogstarError) as err:
            raise StageError(
                f"{path}:{i}: not a puzzle ({err}); expected {{'numbers': [...], 'target': N}}"
            ) from err
    return out


def _load_external(source: str) -> list[cogstar.Puzzle]:
    """Puzzles from ``hub:<dataset id>`` (columns nums/numbers and target) or a local file."""
    if source.startswith("hub:"):
        from datasets import load_dataset  # type: ignore[import-untyped]

        rows = load_dataset(source[4:], split="train")
    else:
        path = Path(source)
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq  # type: ignore[import-untyped]

            rows = pq.read_table(path).to_pylist()
        else:
            rows = io.read_jsonl(path)
    out = []
    for i, row in enumerate(rows, 1):
        numbers = row.get("numbers", row.get("nums"))
        if numbers is None or "target" not in row:
            raise StageError(
                f"{source}: row {i} has no 'numbers'/'nums' and 'target'; "
                "give puzzles as {'numbers': [...], 'target': N}"
            )
        out.append(cogstar.Puzzle([int(n) for n in numbers], int(row["target"])))
    return out


def _distinct(puzzles: Sequence[cogstar.Puzzle]) -> list[cogstar.Puzzle]:
    seen: dict[tuple[tuple[int, ...], int], cogstar.Puzzle] = {}
    for p in puzzles:
        seen.setdefault((tuple(sorted(p.numbers)), p.target), p)
    return list(seen.values())


def make_puzzles(spec: Spec) -> tuple[list[cogstar.Puzzle], list[cogstar.Puzzle]]:
    """(train, test) RL puzzles. Generated data takes its test set from the reserved share
    of the puzzle space (:func:`cogstar.tasks.is_heldout`) and trains on the rest."""
    d = spec.data
    if d.source != "generate":
        pool = _load_external(d.source)
        if len(pool) < d.train + d.test:
            raise StageError(
                f"{d.source}: {len(pool)} puzzles, but data.train + data.test = "
                f"{d.train + d.test}; lower them"
            )
        kept, held = cogstar.split_puzzles(pool, d.test, seed=d.seed)
        return kept[: d.train], held
    test: list[cogstar.Puzzle] = []
    train: list[cogstar.Puzzle] = []
    count = d.train + 8 * d.test
    for attempt in range(4):
        pool = cogstar.generate_puzzles(
            count,
            seed=d.seed + attempt * 7919,
            sizes=tuple(d.sizes),
            value_range=(d.value_range[0], d.value_range[1]),
            target_range=(d.target_range[0], d.target_range[1]),
            rules=d.rules,
            numbers_below_target=d.numbers_below_target,
        )
        held = [p for p in pool if is_heldout(p.numbers, p.target)]
        test = _distinct(test + held)[: d.test]
        train += [p for p in pool if not is_heldout(p.numbers, p.target)]
        if len(test) >= d.test and len(train) >= d.train:
            return train[: d.train], test
        count *= 2
    raise StageError(
        f"data: only {len(test)} distinct test puzzles exist in this puzzle space (one in 8 is "
        f"reserved for testing); lower data.test to {len(test)} or widen data.target_range"
    )


def make_priming_puzzles(spec: Spec) -> list[cogstar.Puzzle]:
    """Puzzles of the paper's priming distribution, without the reserved test share."""
    from cogstar.behaviors.priming import priming_puzzles

    want = spec.priming.count + spec.priming.validation
    pool = priming_puzzles(want * 2 + 64, seed=spec.priming.seed, sizes=tuple(spec.data.sizes))
    kept = [p for p in pool if not is_heldout(p.numbers, p.target)]
    return kept[:want]


# --------------------------------------------------------------------------- the stages


@dataclass
class Paths:
    """Where one cell's stages read and write."""

    root: Path

    @property
    def cpt(self) -> Path:
        return self.root / "cpt"

    @property
    def priming(self) -> Path:
        return self.root / "priming"

    @property
    def sft(self) -> Path:
        return self.root / "sft"

    @property
    def rl(self) -> Path:
        return self.root / "ppo"

    def eval(self, step: int) -> Path:
        return self.root / "eval" / f"step_{step:06d}.jsonl"

    def behaviors(self, step: int) -> Path:
        return self.root / "behaviors" / f"step_{step:06d}.json"


@dataclass
class Context:
    spec: Spec
    run: RunDir
    report: Reporter
    hashes: dict[str, str] = field(default_factory=dict)
    made: dict[str, str] = field(default_factory=dict)  # model folder -> hash of its stage


def _model_key(ctx: Context, model: Path | str) -> str:
    """What a stage that starts from ``model`` depends on: the inputs hash of the stage that
    wrote it; for the tiny base, its name and version (not where cogstar is installed, so a
    reinstall elsewhere redoes nothing); else the folder / hub id itself."""
    made = ctx.made.get(str(model))
    if made is not None:
        return made
    from cogstar.train import tiny

    path = Path(model)
    if path == tiny.packaged_dir():
        return f"tiny-shipped-v{tiny.TINY_VERSION}"
    if path.parent == tiny.default_dir().parent and path.name.startswith("tiny-base-"):
        return path.name
    return str(model)


def base_model(spec: Spec, report: Reporter) -> Path | str:
    """The starting checkpoint: the packaged tiny model, or the spec's hub id / folder."""
    if spec.model.source == "tiny":
        from cogstar.train import tiny

        return tiny.base_dir(size=spec.model.tiny_size, progress=report.enabled)
    return spec.model.source


def _stale(path: Path, why: str, report: Reporter) -> None:
    """Move an output made from other inputs out of the way (kept, not deleted)."""
    if path.exists():
        aside = path.with_name(f"{path.name}.stale-{int(time.time())}")
        os.replace(path, aside)
        report.log(f"{path}: made from other inputs ({why}); moved to {aside.name}")


@contextmanager
def _stage(
    ctx: Context, unit: str, name: str, inputs: object, outputs: Sequence[Path] = ()
) -> Iterator[StageHandle | None]:
    """Yield a stage handle, or None when the stage is already done with these inputs.

    When the stage last ran (finished or not) from other inputs, its ``outputs`` folders are
    moved aside first, so a resumed stage never continues from checkpoints of another setup.
    """
    key = io.hash_json(inputs)
    ctx.hashes[f"{unit}/{name}"] = key
    if ctx.run.is_done(unit, name, key):
        ctx.report.skip(unit, name)
        yield None
        return
    old = ctx.run.status(unit, name)
    if old is not None and old.get("inputs_hash") not in (None, key):
        for path in outputs:
            _stale(path, f"stage {name} now has other inputs", ctx.report)
    with ctx.run.stage(unit, name, key) as handle:
        ctx.report.stage(unit, name)
        yield handle


def prepare_shared(ctx: Context) -> dict[str, Path]:
    """The ``shared`` unit: puzzles for every cell."""
    spec, data = ctx.spec, ctx.run.layout.shared / "data"
    files = {"train": data / "train.jsonl", "test": data / "test.jsonl"}
    files["priming"] = data / "priming.jsonl"
    with ctx.run.lock(SHARED):
        inputs = {"data": spec.data.model_dump(), "priming": _priming_data_inputs(spec)}
        with _stage(ctx, SHARED, "data", inputs) as handle:
            if handle is not None:
                train, test = make_puzzles(spec)
                write_puzzles(files["train"], train)
                write_puzzles(files["test"], test)
                write_puzzles(files["priming"], make_priming_puzzles(spec))
                handle.outputs.update({k: str(v) for k, v in files.items()})
                handle.info.update({"train": len(train), "test": len(test)})
    return files


def _priming_data_inputs(spec: Spec) -> dict[str, Any]:
    p = spec.priming
    return {"count": p.count, "validation": p.validation, "seed": p.seed, "sizes": spec.data.sizes}


def _backend(spec: Any, cache: Path) -> Any:
    """The LLM backend of a ``[priming.backend]`` / ``[behaviors.backend]`` table."""
    from cogstar.llm import AnthropicBackend, OpenAIBackend

    if spec is None:
        raise StageError("an llm source or judge needs its backend table (provider, model)")
    options: dict[str, Any] = {"cache_dir": cache}
    if spec.base_url:
        options["base_url"] = spec.base_url
    if spec.api_key_env is not None:  # else the provider's own variable
        options["api_key_env"] = None if spec.api_key_env.lower() == "none" else spec.api_key_env
    cls = OpenAIBackend if spec.provider == "openai" else AnthropicBackend
    return cls(model=spec.model, **options)


def _token_counter(model: Path | str) -> Callable[[str], int]:
    from cogstar.train.models import load_tokenizer

    tok = load_tokenizer(model)
    return lambda text: len(tok(text, add_special_tokens=False)["input_ids"])


# --------------------------------------------------------------------------- curation

POOLS = ("rich", "minimized")


def curate(ctx: Context, cells: Sequence[Cell], base: Path | str) -> dict[str, Path]:
    """The shared ``curate`` stage, when some of ``cells`` continues pretraining.

    Returns ``{"curation/<pool>": folder}`` for both pools (``train.jsonl``, ``test.jsonl``,
    ``card.json``); nothing when no cell curates. The cells differ at most in
    ``curation.pool`` and ``curation.training`` (the spec checks it), so the first curating
    cell's section stands for all. Token counts (truncation and budget) use ``base``'s
    tokenizer, so the stage depends on it too.
    """
    curating = [c for c in cells if c.spec.curation.pool != "none"]
    if not curating:
        return {}
    settings = curating[0].spec.curation
    root = ctx.run.layout.shared / "curation"
    inputs = {"curation": curation_inputs(settings), "tokenizer": _model_key(ctx, base)}
    with ctx.run.lock(SHARED), _stage(ctx, SHARED, "curate", inputs, [root]) as handle:
        if handle is not None:
            _curate(ctx, settings, root, base, handle)
    return {f"curation/{pool}": root / "datasets" / pool for pool in POOLS}


def _curate(
    ctx: Context, c: CurationSpec, root: Path, base: Path | str, handle: StageHandle
) -> None:
    """Documents, labels, pools, rewrites, datasets: each step resumes on its own (finished
    files are kept, labels and rewrites skip the ids already written), and LLM replies are
    cached outside ``root``, so a killed stage asks no question twice."""
    from cogstar.pretrain import label, rewrite, select
    from cogstar.pretrain.budget import build_pool_dataset

    unit = SHARED
    cache = ctx.run.layout.shared / "llm_cache"
    documents = root / "documents.jsonl"
    if not documents.exists():
        _read_documents(ctx, c, documents, _token_counter(base))
    with documents.open(encoding="utf-8") as f:
        n = sum(1 for line in f if line.strip())
    if n == 0:
        raise StageError(
            f"curation.source {c.source!r}: no documents (all blank or none); give a source "
            "with text, e.g. hf:open-web-math/open-web-math"
        )
    handle.info["documents"] = n

    labels = root / "labels.jsonl"
    judge = None if c.labeller == "heuristic" else _backend(c.labeller_backend, cache)
    ctx.report.begin(unit, "curate: labels", n)
    try:
        stats: Any = label.label_documents(
            _documents(documents),
            labels,
            backend=judge,
            judge=c.labeller,
            progress=lambda done, _total: ctx.report.advance_to(done),
        )
    finally:
        if judge is not None:
            judge.close()
    handle.info["labels"] = _throughput(stats)

    rules = select.SelectionRules(c.min_total_rich, c.min_distinct_rich, c.max_total_minimized)
    pools = select.select_pools(label.read_labels(labels), rules)
    select.write_pools(pools, root)
    handle.info["pools"] = {
        "rich": len(pools.rich),
        "minimized": len(pools.minimized),
        "dropped": pools.dropped,
        "reasons": dict(pools.reasons),
    }

    chosen = {pool: _rewrite_sample(getattr(pools, pool), c) for pool in POOLS}
    wanted = {i for ids in chosen.values() for i in ids}
    texts = {d.id: d for d in _documents(documents) if d.id in wanted}
    writer = _backend(c.rewriter_backend, cache)
    handle.info["rewrites"] = {}
    try:
        for pool in POOLS:
            ctx.report.begin(unit, f"curate: rewrite {pool}", len(chosen[pool]))
            stats = rewrite.rewrite_documents(
                [texts[i] for i in chosen[pool]],
                pool,
                root / "rewrites" / f"{pool}.jsonl",
                backend=writer,
                retries=c.retries,
                progress=lambda done, _total: ctx.report.advance_to(done),
            )
            handle.info["rewrites"][pool] = _throughput(stats)
    finally:
        writer.close()

    handle.info["datasets"] = {}
    for pool in POOLS:
        path = root / "rewrites" / f"{pool}.jsonl"
        rewrites = rewrite.read_rewrites(path) if path.exists() else []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = build_pool_dataset(
                rewrites,
                pool,
                root / "datasets",
                budget_tokens=c.budget_tokens,
                tokenizer_source=base,
                test_fraction=c.test_fraction,
                seed=c.seed,
            )
        for warning in caught:  # a pool short of its budget
            ctx.report.log(f"curation, {pool} pool: {warning.message}")
        handle.info["datasets"][pool] = {
            "train_records": ds.train_records,
            "test_records": ds.test_records,
            "train_tokens": ds.train_tokens,
            "test_tokens": ds.test_tokens,
            "dropped_by_budget": ds.dropped_by_budget,
        }
        handle.outputs[pool] = str(ds.train.parent)
    handle.outputs.update({"documents": str(documents), "labels": str(labels)})


def _read_documents(ctx: Context, c: CurationSpec, out: Path, count: Callable[[str], int]) -> None:
    """Read and truncate the source's documents into ``out`` (complete or absent)."""
    from cogstar.pretrain.sources import iter_documents

    ctx.report.begin(SHARED, "curate: documents", curation_documents(c) or 0)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as f:
        docs = iter_documents(c.source, limit=c.limit, max_tokens=c.max_tokens, count_tokens=count)
        for n, doc in enumerate(docs, 1):
            f.write(json.dumps(doc.to_json(), ensure_ascii=False) + "\n")
            if n % 64 == 0:
                ctx.report.advance_to(n)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out)
    ctx.report.advance_to(n)


def _documents(path: Path) -> Iterator[Any]:
    """The documents of a finished ``documents.jsonl``, one at a time."""
    from cogstar.pretrain import Document

    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield Document(**json.loads(line))


def _rewrite_sample(ids: Sequence[str], c: CurationSpec) -> list[str]:
    """The pool's documents to rewrite: all, or a seeded ``rewrite_limit`` of them."""
    if c.rewrite_limit is None or len(ids) <= c.rewrite_limit:
        return list(ids)
    return sorted(random.Random(c.seed).sample(list(ids), c.rewrite_limit))


def _throughput(stats: Any) -> dict[str, Any]:
    """A LabelStats / RewriteStats as manifest info: counts, speed, requests and cost."""
    out: dict[str, Any] = {
        "summary": str(stats),
        "done": stats.done,
        "skipped": stats.skipped,
        "seconds": round(stats.seconds, 3),
        "docs_per_second": round(stats.docs_per_second, 3),
        "cost_usd": stats.cost,
    }
    for name in ("failed", "retried"):
        if hasattr(stats, name):
            out[name] = getattr(stats, name)
    if stats.usage is not None:
        u = stats.usage
        out.update(
            requests=u.requests,
            cache_hits=u.cache_hits,
            input_tokens=u.input_tokens,
            output_tokens=u.output_tokens,
        )
    return out


def _continued_pretraining(
    ctx: Context, cell: Cell, paths: Paths, shared: dict[str, Path], base: Path | str
) -> Path:
    """Continue pretraining ``base`` on the cell's curated pool; returns ``cpt/final``."""
    from cogstar.behaviors import priming
    from cogstar.pretrain.train import run_continued_pretraining

    spec = cell.spec
    c = spec.curation
    folder = shared.get(f"curation/{c.pool}")
    if folder is None:
        raise StageError(
            f"cell {cell.name}: no curated {c.pool} pool; run the shared stage first "
            "(cogstar.study.runner.curate), as run_experiment does"
        )
    train_file, test_file = folder / "train.jsonl", folder / "test.jsonl"
    inputs = {
        "training": c.training.model_dump(),
        "pool": c.pool,
        "data": ctx.hashes[f"{SHARED}/curate"],
        "base": _model_key(ctx, base),
    }
    final = paths.cpt / "final"
    with _stage(ctx, cell.name, "continued_pretraining", inputs, [paths.cpt]) as handle:
        if handle is not None:
            records = list(priming.read_records(train_file))
            if not records:
                raise StageError(
                    f"{train_file}: the {c.pool} pool has no records (see "
                    f"{folder / 'card.json'}); read more documents (curation.limit) or loosen "
                    "the selection (curation.min_total_rich, max_total_minimized)"
                )
            valid = list(priming.read_records(test_file)) or None
            settings = c.training.to_settings()
            ctx.report.begin(cell.name, "continued_pretraining", _sft_steps(len(records), settings))
            if spec.launch.launcher != "none":
                args = [str(base), str(train_file), str(paths.cpt), *_options(settings), "--quiet"]
                if valid:
                    args += ["--valid", str(test_file)]
                _launch(ctx, spec, "cogstar.pretrain.train", args, paths.cpt / "launch.log")
            else:
                final = run_continued_pretraining(
                    base,
                    records,
                    paths.cpt,
                    settings,
                    eval_records=valid,
                    quiet=True,
                    on_log=lambda entry: ctx.report.advance_to(
                        int(entry.get("step", 0)), loss=entry.get("loss")
                    ),
                )
            handle.outputs["model"] = str(final)
            handle.info.update({"pool": c.pool, "records": len(records)})
    if not (final / "config.json").exists():
        raise StageError(
            f"{final}: the continued-pretraining checkpoint is missing; delete {paths.cpt} and "
            "rerun `cogstar run`"
        )
    ctx.made[str(final)] = ctx.hashes[f"{cell.name}/continued_pretraining"]
    return final


def _priming(
    ctx: Context, cell: Cell, paths: Paths, shared: dict[str, Path], base: Path | str
) -> tuple[Path, Path]:
    from cogstar.behaviors import priming

    spec = cell.spec
    train_file, valid_file = paths.priming / "train.jsonl", paths.priming / "valid.jsonl"
    inputs = {
        "condition": cell.condition,
        "priming": spec.priming.model_dump(),
        "data": ctx.hashes[f"{SHARED}/data"],
        "model": spec.model.model_dump(),
    }
    with _stage(ctx, cell.name, "priming", inputs) as handle:
        if handle is not None:
            puzzles = read_puzzles(shared["priming"])
            backend = None
            if spec.priming.source == "llm":
                backend = _backend(spec.priming.backend, paths.priming / "llm_cache")
            counter = _token_counter(base) if cell.condition == "dots" else None
            records = priming.build_priming_set(
                cell.condition,
                puzzles,
                source=spec.priming.source,
                seed=spec.priming.seed,
                backend=backend,
                tokenizer_count=counter,
                budget=spec.priming.budget,
            )
            n_valid = min(spec.priming.validation, len(records) // 5)
            train, valid = records[n_valid:], records[:n_valid]
            priming.write_records(train_file, train)
            priming.write_records(valid_file, valid)
            card = priming.dataset_card(train, cell.condition)
            priming.write_card(paths.priming / "card", card)
            handle.outputs.update({"train": str(train_file), "valid": str(valid_file)})
            handle.info.update({"records": len(train), "accuracy": card.accuracy})
    return train_file, valid_file


def _sft(
    ctx: Context, cell: Cell, paths: Paths, base: Path | str, files: tuple[Path, Path]
) -> Path:
    from cogstar.behaviors import priming
    from cogstar.train.sft import run_sft

    spec = cell.spec
    inputs = {
        "sft": spec.sft.model_dump(),
        "priming": ctx.hashes[f"{cell.name}/priming"],
        "base": _model_key(ctx, base),
    }
    final = paths.sft / "final"
    with _stage(ctx, cell.name, "sft", inputs, [paths.sft]) as handle:
        if handle is not None:
            records = list(priming.read_records(files[0]))
            valid = list(priming.read_records(files[1])) or None
            settings = spec.sft.to_settings()
            total = _sft_steps(len(records), settings)
            ctx.report.begin(cell.name, "sft", total)
            if spec.launch.launcher != "none":
                args = [str(base), str(files[0]), str(paths.sft), *_options(settings), "--quiet"]
                if valid:
                    args += ["--valid", str(files[1])]
                _launch(ctx, spec, "cogstar.train.sft", args, paths.sft / "launch.log")
                handle.outputs["model"] = str(final)
            else:
                final = run_sft(
                    base,
                    records,
                    paths.sft,
                    settings,
                    eval_records=valid,
                    on_log=lambda entry: ctx.report.advance_to(
                        int(entry.get("step", 0)), loss=entry.get("loss")
                    ),
                    quiet=True,
                )
                handle.outputs["model"] = str(final)
    if not (final / "config.json").exists():
        raise StageError(
            f"{final}: the SFT checkpoint is missing; delete {paths.sft} and rerun `cogstar run`"
        )
    ctx.made[str(final)] = ctx.hashes[f"{cell.name}/sft"]
    return final


def _sft_steps(n: int, settings: Any) -> int:
    import math

    if settings.max_steps > 0:
        return int(settings.max_steps)
    per_step = max(1, int(settings.global_batch))
    return max(1, math.ceil(float(settings.epochs) * math.ceil(n / per_step)))


def _rl(ctx: Context, cell: Cell, paths: Paths, start: Path | str, train_file: Path) -> None:
    spec = cell.spec
    section = spec.rl_section()
    inputs = {
        "algorithm": spec.rl.algorithm,
        "settings": section.model_dump(),
        "start": _model_key(ctx, start),
        "data": ctx.hashes[f"{SHARED}/data"],
    }
    with _stage(ctx, cell.name, "rl", inputs, [paths.rl]) as handle:
        if handle is None:
            return
        handle.info["start"] = str(start)
        puzzles = read_puzzles(train_file)
        ctx.report.begin(cell.name, spec.rl.algorithm, section.steps)
        if isinstance(section, PPOSpec) and spec.launch.launcher != "none":
            settings = section.to_settings()
            args = [str(start), str(paths.rl), "--puzzles", str(train_file)]
            _launch(
                ctx,
                spec,
                "cogstar.train.ppo",
                [*args, *_options(settings)],
                paths.rl / "launch.log",
            )
            handle.outputs["metrics"] = str(paths.rl / "metrics.jsonl")
        elif isinstance(section, PPOSpec):
            from cogstar.train.ppo.trainer import latest_checkpoint, run_ppo

            done = latest_checkpoint(paths.rl)
            if done is not None:
                ctx.report.advance_to(int(done.name[5:]))
            last = run_ppo(
                start,
                puzzles,
                paths.rl,
                section.to_settings(),
                on_step=lambda m: ctx.report.advance_to(
                    int(m["step"]), reward=m.get("reward"), accuracy=m.get("accuracy")
                ),
            )
            handle.outputs["last"] = str(last)
        else:
            from cogstar.train.grpo import run_grpo

            grpo = section.to_settings()
            handle.outputs["last"] = str(run_grpo(start, puzzles, paths.rl, grpo))


def _options(settings: Any) -> list[str]:
    """A settings dataclass as ``--field value`` options (the stage CLIs take every field)."""
    import dataclasses

    out = []
    for f in dataclasses.fields(settings):
        out += ["--" + f.name.replace("_", "-"), str(getattr(settings, f.name))]
    return out


def _launch(ctx: Context, spec: Spec, module: str, args: list[str], log: Path) -> None:
    """Run a stage CLI under the spec's launcher (``[launch]``); its output goes to
    ``log``, its progress (PPO's metrics.jsonl) to the live display. Raises with the log's
    tail when the job fails; rerunning resumes it from its own checkpoints."""
    import subprocess
    import sys

    if spec.launch.launcher == "accelerate":
        config = str(spec.launch.accelerate_config)
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", config]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run"]
    cmd += [*spec.launch.args, "-m", module, *args]
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
            f"{module} under {spec.launch.launcher} failed (exit {job.returncode}): {cause}\n"
            f"The whole output is in {log}. Fix the cause and rerun `cogstar run` to resume."
        )


def checkpoint(spec: Spec, paths: Paths, start: Path | str, step: int) -> Path | str:
    """The policy at RL step ``step`` (0: the starting policy)."""
    if step == 0:
        return start
    if spec.rl.algorithm == "ppo":
        path = paths.rl / f"step_{step:06d}" / "actor"
    else:
        path = paths.rl / "trainer" / f"checkpoint-{step}"
    if not (path / "config.json").exists():
        raise StageError(
            f"{path}: no checkpoint for step {step}; rerun `cogstar run` to finish the RL stage "
            f"(checkpoints are written every {spec.rl_section().save_every} steps)"
        )
    return path


def _evaluate(
    ctx: Context, cell: Cell, paths: Paths, policy: Path | str, step: int, test_file: Path
) -> None:
    from cogstar.train.evaluate import evaluate

    spec = cell.spec
    inputs = {
        "eval": spec.eval.model_dump(),
        "policy": ctx.hashes.get(f"{cell.name}/rl", str(policy))
        if step
        else _model_key(ctx, policy),
        "step": step,
        "data": ctx.hashes[f"{SHARED}/data"],
    }
    with _stage(ctx, cell.name, f"eval@{step}", inputs) as handle:
        if handle is not None:
            puzzles = read_puzzles(test_file)
            ctx.report.begin(cell.name, f"eval@{step}", len(puzzles))
            result = evaluate(policy, puzzles, spec.eval.to_settings(), out=paths.eval(step))
            ctx.report.advance_to(len(puzzles), accuracy=result.accuracy)
            handle.outputs["completions"] = str(paths.eval(step))
            handle.info["accuracy"] = result.accuracy
    _count(ctx, cell, paths, step)


def _count(ctx: Context, cell: Cell, paths: Paths, step: int) -> None:
    spec = cell.spec
    inputs = {
        "behaviors": spec.behaviors.model_dump(),
        "eval": ctx.hashes[f"{cell.name}/eval@{step}"],
    }
    with _stage(ctx, cell.name, f"behaviors@{step}", inputs) as handle:
        if handle is None:
            return
        rows = io.read_jsonl(paths.eval(step))
        if spec.behaviors.sample:
            rows = rows[: spec.behaviors.sample]
        texts = [r["completion"] for r in rows]
        if spec.behaviors.judge == "rules":
            counts = cogstar.count_behaviors_batch(
                texts, [r["numbers"] for r in rows], [r["target"] for r in rows]
            )
            table = [{b: getattr(c, b) for b in BEHAVIORS} for c in counts]
        else:
            from cogstar.behaviors import judge_counts

            backend = _backend(spec.behaviors.backend, paths.root / "behaviors" / "llm_cache")
            table = judge_counts(
                texts, [r["numbers"] for r in rows], [r["target"] for r in rows], backend
            )
        n = max(1, len(table))
        summary = {
            "step": step,
            "n": len(table),
            "judge": spec.behaviors.judge,
            "mean": {b: sum(row[b] for row in table) / n for b in BEHAVIORS},
            "share": {b: sum(row[b] > 0 for row in table) / n for b in BEHAVIORS},
        }
        io.atomic_write_json(paths.behaviors(step), summary)
        handle.outputs["summary"] = str(paths.behaviors(step))


def run_cell(ctx: Context, cell: Cell, shared: dict[str, Path], base: Path | str) -> None:
    """Every stage of one cell, each skipped when already done."""
    paths = Paths(ctx.run.layout.cell(cell.name).root)
    with ctx.run.lock(cell.name):
        ctx.report.cell(cell.name)
        if cell.spec.curation.pool != "none":
            base = _continued_pretraining(ctx, cell, paths, shared, base)
        start: Path | str = base
        if cell.condition != "unprimed":
            files = _priming(ctx, cell, paths, shared, base)
            start = _sft(ctx, cell, paths, base, files)
        _evaluate(ctx, cell, paths, start, 0, shared["test"])
        _rl(ctx, cell, paths, start, shared["train"])
        for step in eval_steps(cell.spec)[1:]:
            _evaluate(
                ctx, cell, paths, checkpoint(cell.spec, paths, start, step), step, shared["test"]
            )


def run_experiment(
    spec_path: str | Path,
    *,
    overrides: Sequence[str] = (),
    cells: Sequence[str] = (),
    force: bool = False,
    report: Reporter | None = None,
    make_report: bool = True,
) -> Path:
    """Run (or resume) the study of ``spec_path``; returns the run directory."""
    spec = load_spec(spec_path, overrides)
    all_cells = expand_cells(spec)
    chosen = _choose(all_cells, cells, spec_path)
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
        shared = prepare_shared(ctx)
        base = base_model(spec, report)
        shared.update(curate(ctx, chosen, base))
        for cell in chosen:
            # a sweep over model.source gives each cell its own base model
            own = base if cell.spec.model == spec.model else base_model(cell.spec, report)
            run_cell(ctx, cell, shared, own)
            report.cell_done(cell.name)
    if make_report and len(chosen) == len(all_cells):
        from cogstar.study.report import build_report

        build_report(
            run.root,
            report.console if report.enabled else None,
            paper=spec.report.paper,
            figures=spec.report.figures,
        )
    return run.root


def _choose(all_cells: list[Cell], names: Sequence[str], spec_path: str | Path) -> list[Cell]:
    if not names:
        return all_cells
    by_name = {c.name: c for c in all_cells}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise StageError(
            f"{spec_path}: no cell named {', '.join(unknown)}; the cells are: {', '.join(by_name)}"
        )
    return [by_name[n] for n in names]


def clean_stale(run_dir: Path) -> list[Path]:
    """Remove ``*.stale-*`` folders left by changed inputs; returns what was removed."""
    gone = []
    for path in run_dir.glob("*/*.stale-*"):
        shutil.rmtree(path, ignore_errors=True)
        gone.append(path)
    return gone
