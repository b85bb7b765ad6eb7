"""Behavior-curated pretraining data, end to end: the curation stage of a study.

    from cogstar.pretrain.curate import CurationConfig, run_curation
    info = run_curation(config, Path("runs/x/shared/curation"), Path("runs/x/shared/llm_cache"),
                        tokenizer="meta-llama/Llama-3.2-3B")

The steps, each resumable on its own (a finished file is kept; labels and rewrites skip the
ids already written; LLM replies are cached outside the stage's folder, so a killed stage
asks no question twice):

1. ``documents.jsonl``: ``config.source`` read and cut to ``max_tokens`` tokens;
2. ``labels.jsonl``: the four behaviors (and problem / solution) of each document, by the
   heuristic labeller or an LLM judge;
3. ``pools.json``: the behavior-rich and behavior-minimized pools
   (:mod:`cogstar.pretrain.select`);
4. ``rewrites/<pool>.jsonl``: each pool's documents (or a seeded ``rewrite_limit`` of them)
   rewritten into question / thoughts / answer by ``rewriter_backend``;
5. ``datasets/<pool>/``: token-budgeted train and test records and a card
   (:mod:`cogstar.pretrain.budget`).

The cells of a study share the curated data and differ at most in the pool they continue
pretraining on (``pool``) and how (``training``, a :class:`~cogstar.pretrain.train.PretrainConfig`).
"""

from __future__ import annotations

import random
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import Field

from cogstar import io
from cogstar.config import Found, Problem, StageConfig
from cogstar.errors import DataError
from cogstar.llm import BackendConfig, make_backend
from cogstar.pretrain import Document
from cogstar.pretrain.train import PretrainConfig

__all__ = [
    "POOLS",
    "CurationConfig",
    "Progress",
    "curation_documents",
    "run_curation",
]

POOLS = ("rich", "minimized")

_SERVER = (
    'provider = "openai", model = "Qwen/Qwen2.5-32B-Instruct", '
    'base_url = "http://127.0.0.1:8000/v1", api_key_env = "none"'
)
_FORMS = '"hf:open-web-math/open-web-math", "sample:400" or a .jsonl/.parquet file'


class CurationConfig(StageConfig):
    """Behavior-curated continued pretraining before priming and RL (``[curation]``).

    ``pool = "none"`` (the default) turns it off. Otherwise the run labels the documents of
    ``source`` (``hf:<id>[:<config>]``, a ``.jsonl``/``.parquet`` file or ``sample:<n>[:<seed>]``;
    ``limit`` documents, each cut to ``max_tokens`` tokens) for the four behaviors, selects a
    behavior-rich and a behavior-minimized pool (``min_total_rich``, ``min_distinct_rich``,
    ``max_total_minimized``; see :class:`cogstar.pretrain.select.SelectionRules`), has
    ``rewriter_backend`` rewrite both pools (``rewrite_limit`` documents each, ``retries``
    more requests for an invalid rewrite), cuts each to ``budget_tokens`` tokens of the
    model's tokenizer with ``test_fraction`` held out, and continues pretraining the model on
    the cell's pool (``training``) before the rest of the cell. ``seed`` draws the rewrite
    sample, the budget fill and the split; like the data, the curated data is shared by
    every cell and replicate.
    """

    SECTION = "curation"

    pool: Literal["none", "rich", "minimized"] = "none"
    source: str = "sample:400"
    limit: int | None = Field(default=None, ge=1)
    max_tokens: int = Field(default=3000, ge=1)
    labeller: Literal["heuristic", "llm"] = "heuristic"
    labeller_backend: BackendConfig | None = None  # required when labeller = "llm"
    rewriter_backend: BackendConfig | None = None  # required when pool is not "none"
    rewrite_limit: int | None = Field(default=None, ge=1)
    min_total_rich: int = Field(default=3, ge=1)
    min_distinct_rich: int = Field(default=2, ge=0, le=4)
    max_total_minimized: int = Field(default=0, ge=0)
    budget_tokens: int = Field(default=2_000_000, ge=1)
    test_fraction: float = Field(default=0.05, ge=0, lt=1)
    retries: int = Field(default=2, ge=0)
    seed: int = Field(default=0, ge=0)
    training: PretrainConfig = Field(default_factory=PretrainConfig)

    def data_inputs(self) -> dict[str, Any]:
        """What the shared curated data depends on: everything but the pool a cell trains on
        and how it trains (``pool``, ``training``)."""
        data = self.inputs()
        del data["pool"], data["training"]
        return data

    def problems(self) -> list[Problem]:
        found = Found()
        if self.min_total_rich <= self.max_total_minimized:
            found.add(
                ("min_total_rich",),
                f"{self.min_total_rich} does not exceed {self.key('max_total_minimized')} "
                f"({self.max_total_minimized}), so a document could fall in both pools",
                f"set min_total_rich above {self.max_total_minimized} or lower max_total_minimized",
            )
        source = self.source
        if source.startswith("hf:"):
            if not source[3:].partition(":")[0].strip():
                found.add(("source",), "'hf:' names no dataset", f"write e.g. {_FORMS}")
            elif self.limit is None:
                found.add(
                    ("limit",),
                    f"no limit: the whole of {source} would be labelled (millions of documents)",
                    "set limit to the documents to read, e.g. limit = 100000",
                )
        elif source.startswith("sample:"):
            if not re.fullmatch(r"sample:\d+(:\d+)?", source):
                found.add(("source",), f"{source!r} is not sample:<n>[:<seed>]", f"use {_FORMS}")
        elif Path(source).suffix not in (".jsonl", ".parquet"):
            found.add(("source",), f"{source!r} is not a document source", f"use {_FORMS}")
        elif not Path(source).expanduser().exists():
            found.add(
                ("source",),
                f"no file {source!r} (a relative path starts at the current directory)",
                "give the path of an existing document file",
            )
        if self.pool == "none":
            return found
        if self.rewriter_backend is None:
            found.add(
                ("rewriter_backend",),
                "continued pretraining on a curated pool needs an LLM to rewrite the documents, "
                "and none is given",
                f'add [curation.rewriter_backend] with {_SERVER}, or set pool = "none"',
            )
        if self.labeller == "llm" and self.labeller_backend is None:
            found.add(
                ("labeller_backend",),
                'labeller = "llm" needs an LLM judge and none is given',
                f'add [curation.labeller_backend] with {_SERVER}, or use labeller = "heuristic"',
            )
        return found  # training's own problems() checks its batch sizes


def curation_documents(config: CurationConfig) -> int | None:
    """How many documents curation reads, when known before reading them (a ``limit``, or
    the size of a ``sample:<n>`` source); None otherwise."""
    sample = re.fullmatch(r"sample:(\d+)(:\d+)?", config.source)
    n = int(sample.group(1)) if sample else None
    if config.limit is not None:
        n = config.limit if n is None else min(n, config.limit)
    return n


class Progress(Protocol):
    """Where the stage reports its progress: a phase with its total, then how much is done."""

    def phase(self, name: str, total: int) -> None: ...
    def done(self, n: int) -> None: ...
    def log(self, message: str) -> None: ...


def run_curation(
    config: CurationConfig,
    root: Path,
    cache: Path,
    *,
    tokenizer: Path | str,
    progress: Progress,
) -> dict[str, Any]:
    """The stage: documents, labels, pools, rewrites and datasets under ``root`` (see the
    module docstring); token counts use ``tokenizer`` (a model folder or hub id). Returns
    what the run directory's manifest records: counts, throughput, requests and cost, and
    the folder of each pool's dataset under ``outputs``."""
    from cogstar.pretrain import label, rewrite, select
    from cogstar.pretrain.budget import build_pool_dataset

    info: dict[str, Any] = {}
    documents = root / "documents.jsonl"
    if not documents.exists():
        _read_documents(config, documents, _token_counter(tokenizer), progress)
    n = sum(1 for _ in io.iter_jsonl(documents))
    if n == 0:
        raise DataError(
            f"curation.source {config.source!r}: no documents (all blank or none); give a "
            "source with text, e.g. hf:open-web-math/open-web-math"
        )
    info["documents"] = n

    labels = root / "labels.jsonl"
    judge = None
    if config.labeller == "llm":
        assert config.labeller_backend is not None  # problems() refuses llm without one
        judge = make_backend(config.labeller_backend, cache)
    progress.phase("curate: labels", n)
    try:
        stats: Any = label.label_documents(
            _documents(documents),
            labels,
            backend=judge,
            judge=config.labeller,
            progress=lambda done, _total: progress.done(done),
        )
    finally:
        if judge is not None:
            judge.close()
    info["labels"] = _throughput(stats)

    rules = select.SelectionRules(
        config.min_total_rich, config.min_distinct_rich, config.max_total_minimized
    )
    pools = select.select_pools(label.read_labels(labels), rules)
    select.write_pools(pools, root)
    info["pools"] = {
        "rich": len(pools.rich),
        "minimized": len(pools.minimized),
        "dropped": pools.dropped,
        "reasons": dict(pools.reasons),
    }

    chosen = {pool: _rewrite_sample(getattr(pools, pool), config) for pool in POOLS}
    wanted = {i for ids in chosen.values() for i in ids}
    texts = {d.id: d for d in _documents(documents) if d.id in wanted}
    assert config.rewriter_backend is not None  # problems() refuses a pool without one
    writer = make_backend(config.rewriter_backend, cache)
    info["rewrites"] = {}
    try:
        for pool in POOLS:
            progress.phase(f"curate: rewrite {pool}", len(chosen[pool]))
            stats = rewrite.rewrite_documents(
                [texts[i] for i in chosen[pool]],
                pool,
                root / "rewrites" / f"{pool}.jsonl",
                backend=writer,
                retries=config.retries,
                progress=lambda done, _total: progress.done(done),
            )
            info["rewrites"][pool] = _throughput(stats)
    finally:
        writer.close()

    info["datasets"], outputs = {}, {}
    for pool in POOLS:
        path = root / "rewrites" / f"{pool}.jsonl"
        rewrites = rewrite.read_rewrites(path) if path.exists() else []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = build_pool_dataset(
                rewrites,
                pool,
                root / "datasets",
                budget_tokens=config.budget_tokens,
                tokenizer_source=tokenizer,
                test_fraction=config.test_fraction,
                seed=config.seed,
            )
        for warning in caught:  # a pool short of its budget
            progress.log(f"curation, {pool} pool: {warning.message}")
        info["datasets"][pool] = {
            "train_records": ds.train_records,
            "test_records": ds.test_records,
            "train_tokens": ds.train_tokens,
            "test_tokens": ds.test_tokens,
            "dropped_by_budget": ds.dropped_by_budget,
        }
        outputs[pool] = str(ds.train.parent)
    outputs.update({"documents": str(documents), "labels": str(labels)})
    info["outputs"] = outputs
    return info


def _token_counter(model: Path | str) -> Callable[[str], int]:
    from cogstar.train.models import load_tokenizer

    tok = load_tokenizer(model)
    return lambda text: len(tok(text, add_special_tokens=False)["input_ids"])


def _read_documents(
    config: CurationConfig, out: Path, count: Callable[[str], int], progress: Progress
) -> None:
    """Read and truncate the source's documents into ``out`` (complete or absent)."""
    from cogstar.pretrain.sources import iter_documents

    progress.phase("curate: documents", curation_documents(config) or 0)
    n = 0

    def rows() -> Iterator[dict[str, Any]]:
        nonlocal n
        docs = iter_documents(
            config.source, limit=config.limit, max_tokens=config.max_tokens, count_tokens=count
        )
        for n, doc in enumerate(docs, 1):
            yield doc.to_json()
            if n % 64 == 0:
                progress.done(n)

    io.write_jsonl(out, rows())
    progress.done(n)


def _documents(path: Path) -> Iterator[Document]:
    """The documents of a finished ``documents.jsonl``, one at a time."""
    for _, row in io.iter_jsonl(path):
        yield Document(**row)


def _rewrite_sample(ids: Sequence[str], config: CurationConfig) -> list[str]:
    """The pool's documents to rewrite: all, or a seeded ``rewrite_limit`` of them."""
    if config.rewrite_limit is None or len(ids) <= config.rewrite_limit:
        return list(ids)
    return sorted(random.Random(config.seed).sample(list(ids), config.rewrite_limit))


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
