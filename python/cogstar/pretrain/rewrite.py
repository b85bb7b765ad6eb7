"""Rewriting: an LLM turns each selected document into question / thoughts / answer.

Each pool has its own instructions (in cogstar's words, see :data:`SYSTEM_PROMPTS`):

* ``rich``: the thoughts are the solver thinking aloud, first person and present tense, and
  keep what the document does: checks of results, mistakes noticed and abandoned routes,
  intermediate goals, reasoning backward from the goal;
* ``minimized``: the thoughts are plain forward steps, with no checking, backtracking,
  subgoal talk or backward reasoning.

The reply must be ``<question>…</question><thoughts>…</thoughts><answer>…</answer>``, each tag
exactly once and non-empty (:func:`parse_rewrite` says what is wrong when it is not). An
invalid reply is asked again up to ``retries`` times, each time with a note on what was wrong
appended to the user message, so the retry is a new request and never the cached failure.
A document that still fails goes to the failures file with its reasons and the last reply::

    from cogstar.llm import OpenAIBackend
    from cogstar.pretrain.rewrite import read_rewrites, rewrite_documents

    backend = OpenAIBackend(model="gpt-4o-mini", cache_dir="runs/cache/llm")
    stats = rewrite_documents(docs, "rich", Path("pretrain/rich.jsonl"), backend=backend)
    print(stats)  # done, failed, skipped, retried, docs/s, usage, cost
    rewrites = read_rewrites("pretrain/rich.jsonl")

Output is appended one JSON line per document as soon as it is settled (valid rewrites to
``out``, failures to ``out.with_suffix(".failures.jsonl")``), so a killed run resumes where it
stopped: ids already in either file are skipped. To try the failures again, delete the
failures file (the backend's cache still holds every reply it received).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sized
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from cogstar.errors import ArgumentError, DataError
from cogstar.io import append_jsonl, read_jsonl
from cogstar.llm import Backend, Request, Usage
from cogstar.pretrain import Document, Rewrite

__all__ = [
    "POOLS",
    "SYSTEM_PROMPTS",
    "TAGS",
    "RewriteStats",
    "failures_path",
    "parse_rewrite",
    "read_rewrites",
    "rewrite_documents",
    "rewrite_requests",
]

POOLS: tuple[str, ...] = ("rich", "minimized")
TAGS: tuple[str, ...] = ("question", "thoughts", "answer")

_COMMON = (
    "You turn a mathematical document into a worked problem. From the document, write three "
    "sections, in this order and nothing else:\n"
    "<question>the problem the document works on, stated in full so that it can be read "
    "without the document: every given, every condition, no hint of the solution</question>\n"
    "<thoughts>the reasoning that solves it (see below)</thoughts>\n"
    "<answer>the final result alone: a value, an expression, or for a proof the statement "
    "proved; no explanation</answer>\n"
    "Use each of these tags exactly once and nowhere else, and do not write <think> tags. "
    "Stay with the mathematics of the document: do not invent results it does not support."
)

_RICH = (
    "Write the thoughts as the person solving the problem, thinking aloud in the first person "
    "and the present tense ('I try…', 'this gives…', 'that can't be right, so I go back…'). "
    "Keep the way the document gets there, including its detours, and make each of these "
    "explicit wherever the document does it: checking a result (say what you compare it with "
    "and whether it agrees); noticing a mistake or a dead end (say what is wrong, go back to "
    "an earlier point and take another route, rather than tidying the wrong turn away); "
    "setting an intermediate goal (name it before working towards it); and working backward "
    "from what is wanted to what is needed. Do not add checks, mistakes or goals that the "
    "document gives no ground for."
)

_MINIMIZED = (
    "Write the thoughts as plain, direct steps that lead forward to the answer, one step per "
    "line, stating what is done and what it gives. Leave out any checking of results, any "
    "mistakes, dead ends or second attempts, any talk of plans or intermediate goals, and any "
    "reasoning backward from the goal: only the steps of the final, successful route remain."
)

SYSTEM_PROMPTS: dict[str, str] = {
    "rich": f"{_COMMON}\n\n{_RICH}",
    "minimized": f"{_COMMON}\n\n{_MINIMIZED}",
}

# A one-line reminder at the end of the user message (models follow the last words best).
_REMINDER = {
    "rich": (
        "first person, present tense, keeping the checks, mistakes and going back, "
        "intermediate goals and backward reasoning the document shows"
    ),
    "minimized": "plain direct steps only, with no checking, backtracking or goal talk",
}


def _check_pool(pool: str) -> None:
    if pool not in POOLS:
        raise ArgumentError(f"pool must be one of {', '.join(POOLS)}, got {pool!r}")


def rewrite_requests(
    doc: Document,
    pool: str,
    *,
    note: str | None = None,
    temperature: float = 0.0,
    max_tokens: int = 4096,
) -> Request:
    """The request that asks for ``doc``'s rewrite for ``pool``; ``note`` ends the user
    message (a retry's account of what was wrong with the previous reply)."""
    _check_pool(pool)
    user = (
        f"The document:\n\n<document>\n{doc.text.strip()}\n</document>\n\n"
        f"Rewrite it as <question>, <thoughts> ({_REMINDER[pool]}) and <answer>."
    )
    if note:
        user += f"\n\n{note}"
    return Request(
        user=user, system=SYSTEM_PROMPTS[pool], temperature=temperature, max_tokens=max_tokens
    )


def _retry_note(attempt: int, reason: str) -> str:
    # The attempt number keeps two retries with the same reason apart in the cache.
    return (
        f"Note (attempt {attempt + 1}): your previous reply could not be used: {reason}. Reply "
        "again with exactly the three sections <question>, <thoughts> and <answer>, each tag "
        "once, each section non-empty."
    )


_ALL_TAGS = (*(t for tag in TAGS for t in (f"<{tag}>", f"</{tag}>")), "<think>", "</think>")


def parse_rewrite(doc_id: str, pool: str, text: str) -> Rewrite | str:
    """The :class:`Rewrite` in ``text``, or a short reason why it is not valid.

    Valid: each of ``<question>``, ``<thoughts>``, ``<answer>`` opened and closed exactly once,
    with non-empty content (whitespace stripped) that holds none of the other tags and no
    ``<think>`` tag (it would break the ``<think>`` block of the record). Text outside the
    sections (a greeting, a closing remark) is ignored.
    """
    _check_pool(pool)
    parts: dict[str, str] = {}
    for tag in TAGS:
        opens, closes = text.count(f"<{tag}>"), text.count(f"</{tag}>")
        if opens == 0 and closes == 0:
            return f"missing <{tag}>"
        if opens == 0:
            return f"</{tag}> without <{tag}>"
        if closes == 0:
            return f"<{tag}> is never closed"
        if opens > 1 or closes > 1:
            return f"<{tag}> duplicated ({opens} opening, {closes} closing tags)"
        start = text.index(f"<{tag}>") + len(tag) + 2
        end = text.index(f"</{tag}>")
        if end < start:
            return f"</{tag}> comes before <{tag}>"
        content = text[start:end].strip()
        if not content:
            return f"<{tag}> is empty"
        stray = next((t for t in _ALL_TAGS if t in content), None)
        if stray is not None:
            return f"<{tag}> contains {stray}"
        parts[tag] = content
    return Rewrite(doc_id, pool, parts["question"], parts["thoughts"], parts["answer"])


@dataclass(frozen=True)
class RewriteStats:
    """What one :func:`rewrite_documents` call did.

    ``done``/``failed``: documents settled by this call (valid rewrites, failures); ``skipped``:
    ids already in the output or failures file (or repeated in the input); ``retried``: extra
    requests made because a reply was invalid; ``docs_per_second``: settled documents per
    second of wall time; ``usage``: the backend's requests, cache hits, tokens and cost during
    this call; ``cost``: US dollars, ``None`` when the backend has no price.
    """

    done: int
    failed: int
    skipped: int
    retried: int
    seconds: float
    docs_per_second: float
    usage: Usage
    cost: float | None

    def __str__(self) -> str:
        cost = "unknown" if self.cost is None else f"${self.cost:,.4f}"
        return (
            f"{self.done} rewritten, {self.failed} failed, {self.skipped} skipped, "
            f"{self.retried} retries; {self.seconds:.1f} s ({self.docs_per_second:.1f} docs/s); "
            f"{self.usage.requests} requests ({self.usage.cache_hits} cached), "
            f"{self.usage.input_tokens:,} in / {self.usage.output_tokens:,} out tokens, "
            f"cost {cost}"
        )


def failures_path(out: str | Path) -> Path:
    """Where the failures of ``out`` go: ``rich.jsonl`` -> ``rich.failures.jsonl``."""
    return Path(out).with_suffix(".failures.jsonl")


def _settled_ids(path: Path, pool: str) -> set[str]:
    if not path.exists():
        return set()
    ids = set()
    for n, row in enumerate(read_jsonl(path), 1):
        if "id" not in row:
            raise DataError(f"{path}: record {n} has no 'id'; fix or delete that line")
        if row.get("pool", pool) != pool:
            raise ArgumentError(
                f"{path} holds rewrites for pool {row.get('pool')!r}, not {pool!r}; give each "
                "pool its own output file"
            )
        ids.add(str(row["id"]))
    return ids


def _usage_since(before: Usage, after: Usage) -> Usage:
    return Usage(
        requests=after.requests - before.requests,
        cache_hits=after.cache_hits - before.cache_hits,
        retries=after.retries - before.retries,
        input_tokens=after.input_tokens - before.input_tokens,
        output_tokens=after.output_tokens - before.output_tokens,
        cost_usd=after.cost_usd - before.cost_usd,
    )


def _copy(usage: Usage) -> Usage:
    return _usage_since(Usage(), usage)


def rewrite_documents(
    docs: Iterable[Document],
    pool: str,
    out: str | Path,
    *,
    backend: Backend,
    retries: int = 2,
    progress: bool | Callable[[int, int], None] = False,
    temperature: float = 0.0,
    max_tokens: int = 4096,
) -> RewriteStats:
    """Rewrite ``docs`` for ``pool``, appending each result to ``out`` (JSONL) as it settles.

    Resumable: ids already in ``out`` or in its failures file (:func:`failures_path`) are
    skipped. An invalid reply is retried up to ``retries`` times with a varied request (see
    the module docstring); a document still invalid after that is written to the failures file
    with ``reason`` (the last), ``reasons`` (every attempt's) and ``reply`` (the last raw text).
    At most ``backend.max_concurrency`` documents are in flight. ``progress=True`` shows a Rich
    bar; a callable gets ``(documents settled or skipped, total)`` after each, the total being 0
    when ``docs`` has no length. A request that fails for good
    (:class:`cogstar.llm.LLMError`: server down, key refused) stops the run after the documents
    in flight have settled, and is raised; a rerun continues from there.
    """
    _check_pool(pool)
    if retries < 0:
        raise ArgumentError(f"retries must be >= 0, got {retries}")
    out = Path(out)
    fails = failures_path(out)
    if fails == out:
        raise ArgumentError(f"{out}: the output file needs a suffix other than .failures.jsonl")
    seen = _settled_ids(out, pool) | _settled_ids(fails, pool)
    before = _copy(backend.usage)
    lock = threading.Lock()
    tally = {"done": 0, "failed": 0, "skipped": 0, "retried": 0}
    bar: Any = None
    task: Any = None
    total = len(docs) if isinstance(docs, Sized) else 0
    if progress is True:
        from rich.progress import Progress

        bar = Progress(transient=False)
        bar.start()
        task = bar.add_task(f"rewriting ({pool})", total=total or None)

    def settle(kind: str, row: dict[str, Any] | None = None, path: Path | None = None) -> None:
        with lock:  # one writer at a time: append_jsonl mends a torn tail before writing
            if row is not None and path is not None:
                append_jsonl(path, row)
            tally[kind] += 1
            if bar is not None:
                bar.update(task, advance=1)
            elif callable(progress):
                progress(tally["done"] + tally["failed"] + tally["skipped"], total)

    def one(doc: Document) -> None:
        reasons: list[str] = []
        text, finish = "", None
        for attempt in range(retries + 1):
            note = _retry_note(attempt, reasons[-1]) if attempt else None
            if attempt:
                with lock:
                    tally["retried"] += 1
            request = rewrite_requests(
                doc, pool, note=note, temperature=temperature, max_tokens=max_tokens
            )
            reply = backend.complete(request)
            text, finish = reply.text, reply.finish_reason
            parsed = parse_rewrite(doc.id, pool, text)
            if isinstance(parsed, Rewrite):
                settle("done", parsed.to_json(), out)
                return
            if finish in ("length", "max_tokens"):
                parsed += f" (the reply was cut off at max_tokens={max_tokens})"
            reasons.append(parsed)
        failure = {
            "id": doc.id,
            "pool": pool,
            "reason": reasons[-1],
            "reasons": reasons,
            "attempts": len(reasons),
            "finish_reason": finish,
            "reply": text,
        }
        settle("failed", failure, fails)

    start = time.perf_counter()
    window = 4 * backend.max_concurrency  # documents read ahead of the workers, at most
    executor = ThreadPoolExecutor(max_workers=backend.max_concurrency)
    pending: set[Future[None]] = set()
    try:
        for doc in docs:
            if doc.id in seen:
                settle("skipped")
                continue
            seen.add(doc.id)
            pending.add(executor.submit(one, doc))
            if len(pending) >= window:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    f.result()  # raise the first hard failure now
        for f in pending:
            f.result()
    except BaseException:
        executor.shutdown(wait=True, cancel_futures=True)  # settle what is in flight
        raise
    finally:
        executor.shutdown(wait=True)
        if bar is not None:
            bar.stop()
    seconds = time.perf_counter() - start
    settled = tally["done"] + tally["failed"]
    usage = _usage_since(before, backend.usage)
    return RewriteStats(
        done=tally["done"],
        failed=tally["failed"],
        skipped=tally["skipped"],
        retried=tally["retried"],
        seconds=seconds,
        docs_per_second=settled / seconds if seconds > 0 else 0.0,
        usage=usage,
        cost=usage.cost_usd if backend.price is not None else None,
    )


_FIELDS = tuple(f.name for f in fields(Rewrite))


def read_rewrites(path: str | Path) -> list[Rewrite]:
    """The rewrites in a file written by :func:`rewrite_documents`, in file order.

    A record without the fields of :class:`~cogstar.pretrain.Rewrite` raises
    :class:`~cogstar.study.rundir.DataError` naming the file and record; a torn last line (a write cut
    short by a crash) is dropped with a warning.
    """
    path = Path(path)
    rewrites = []
    for n, row in enumerate(read_jsonl(path), 1):
        missing = [k for k in _FIELDS if not isinstance(row.get(k), str)]
        if missing:
            raise DataError(
                f"{path}: record {n} is not a rewrite (missing or non-string: "
                f"{', '.join(missing)}); fix or delete that line"
            )
        rewrites.append(Rewrite(**{k: row[k] for k in _FIELDS}))
    return rewrites
