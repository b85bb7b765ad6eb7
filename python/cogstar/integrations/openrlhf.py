"""The Countdown reward for OpenRLHF: a ``reward_func`` and an HTTP reward server.

OpenRLHF calls a remote reward with the full query (prompt + response, through its chat
template), the prompt, and the dataset's label (``--label_key``). Here a label names the
puzzle: ``{"numbers": [...], "target": N}``, as a mapping or as its JSON text (what a
``label`` string column holds). Give OpenRLHF either::

    --remote_rm_url <site-packages>/cogstar/integrations/openrlhf.py    # reward_func, in process
    --remote_rm_url http://HOST:5000/get_reward                         # cogstar serve-reward

The server (``pip install -e ".[serve]"``: Starlette on uvicorn) takes ``POST`` JSON
``{"query": [...], "prompts": [...], "labels": [...]}`` on any path and answers
``{"rewards": [...], "scores": [...], "extra_logs": {"accuracy": [...]}}``. Requests that
arrive together are scored in one call of the Rust core (:class:`Batcher`), off the event
loop. A bad request (not JSON, missing or mismatched fields, a label that names no puzzle, a
body over the size limit) gets a 4xx with a message naming what to fix, and the server goes
on.

Where the query starts with its prompt, the response after it is scored alone
(:func:`cogstar.score_completions`); otherwise the whole query is scored, the reward reading
what follows its assistant marker.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cogstar
from cogstar.errors import ArgumentError

__all__ = ["Batcher", "Scored", "make_app", "reward_func", "score_queries"]

#: The largest request body the server reads (bytes); a larger one gets 413.
MAX_BODY = 64 << 20


@dataclass(frozen=True)
class Scored:
    """The rewards of one batch, and the share of correct answers for OpenRLHF's logs."""

    rewards: list[float]
    correct: list[float]

    def as_json(self) -> dict[str, Any]:
        return {
            "rewards": self.rewards,
            "scores": self.rewards,
            "extra_logs": {"accuracy": self.correct},
        }


def _label(label: Any, i: int) -> tuple[list[int], int]:
    value = label
    if isinstance(label, str):
        try:
            value = json.loads(label)
        except json.JSONDecodeError:
            value = None
    if (
        not isinstance(value, Mapping)
        or not isinstance(value.get("numbers"), list)
        or isinstance(value.get("target"), bool)
        or not isinstance(value.get("target"), int)
    ):
        raise ArgumentError(
            f'labels[{i}] must name the puzzle as {{"numbers": [...], "target": N}} (a mapping '
            f"or its JSON text), got {label!r:.120}"
        )
    numbers = value["numbers"]
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers):
        raise ArgumentError(f"labels[{i}]: numbers must be integers, got {numbers!r:.120}")
    return numbers, value["target"]


def _split(queries: Sequence[Any], prompts: Sequence[Any] | None) -> tuple[list[str], list[bool]]:
    """Each query's response where the query starts with its prompt (True), else the query."""
    texts, alone = [], []
    for i, q in enumerate(queries):
        if not isinstance(q, str):
            raise ArgumentError(f"query[{i}] must be a string, got {type(q).__name__}")
        p = prompts[i] if prompts is not None else None
        if p is not None and not isinstance(p, str):
            raise ArgumentError(f"prompts[{i}] must be a string, got {type(p).__name__}")
        if p and q.startswith(p):
            texts.append(q[len(p) :])
            alone.append(True)
        else:
            texts.append(q)
            alone.append(False)
    return texts, alone


@dataclass(frozen=True)
class _Parsed:
    """A checked batch: what to score and how."""

    texts: list[str]
    alone: list[bool]  # the text is a response alone (else a whole query)
    puzzles: list[tuple[list[int], int]]


def _parse(queries: Any, prompts: Any, labels: Any) -> _Parsed:
    """Check one batch; :class:`ArgumentError` names the field and the item."""
    if not isinstance(queries, list):
        raise ArgumentError("query must be a list of strings (prompt + response)")
    if labels is None:
        raise ArgumentError(
            'labels is missing: give one {"numbers": [...], "target": N} per query '
            "(OpenRLHF: --label_key)"
        )
    if not isinstance(labels, list) or (prompts is not None and not isinstance(prompts, list)):
        raise ArgumentError("labels and prompts must be lists, one item per query")
    if prompts is not None and len(prompts) != len(queries):
        raise ArgumentError(f"prompts has {len(prompts)} items but query has {len(queries)}")
    if len(labels) != len(queries):
        raise ArgumentError(
            f"labels has {len(labels)} items but query has {len(queries)}; give one label per "
            "query (OpenRLHF: --label_key naming a column that holds the puzzle)"
        )
    puzzles = [_label(x, i) for i, x in enumerate(labels)]
    texts, alone = _split(queries, prompts)
    return _Parsed(texts, alone, puzzles)


def _score(parsed: _Parsed, mode: str) -> Scored:
    values = [0.0] * len(parsed.texts)
    correct = [0.0] * len(parsed.texts)
    for kind, scorer in ((True, cogstar.score_completions), (False, cogstar.score_batch)):
        idx = [i for i, a in enumerate(parsed.alone) if a is kind]
        if not idx:
            continue
        batch = scorer(
            [parsed.texts[i] for i in idx],
            [parsed.puzzles[i][0] for i in idx],
            [parsed.puzzles[i][1] for i in idx],
            mode=mode,
        )
        for i, v, o in zip(idx, batch.values, batch.outcomes, strict=True):
            values[i] = v
            correct[i] = float(o == cogstar.Outcome.CORRECT)
    return Scored(values, correct)


def score_queries(
    queries: Sequence[Any],
    prompts: Sequence[Any] | None,
    labels: Sequence[Any],
    *,
    mode: str = "tinyzero",
) -> Scored:
    """Score OpenRLHF's queries against their labels (see the module docstring)."""
    return _score(_parse(list(queries), None if prompts is None else list(prompts),
                         list(labels)), mode)  # fmt: skip


def reward_func(queries: Sequence[str], prompts: Sequence[str], labels: Sequence[Any]) -> Any:
    """OpenRLHF's in-process reward function (``--remote_rm_url path/to/this/file.py``):
    ``{"rewards", "scores", "extra_logs"}``, as torch tensors."""
    import torch

    scored = score_queries(queries, prompts, labels)
    rewards = torch.tensor(scored.rewards, dtype=torch.float32)
    return {
        "rewards": rewards,
        "scores": rewards,
        "extra_logs": {"accuracy": torch.tensor(scored.correct, dtype=torch.float32)},
    }


@dataclass
class _Pending:
    parsed: _Parsed
    done: asyncio.Future[Scored]


@dataclass
class Batcher:
    """Score requests that arrive within ``wait`` seconds of each other (up to ``max_items``
    queries) in one call, in a worker thread (the Rust core releases the GIL). Each request
    is checked on arrival, so a bad one fails alone."""

    mode: str = "tinyzero"
    wait: float = 0.002
    max_items: int = 65536
    calls: int = 0  # score calls made, for tests and the health check
    _pending: list[_Pending] = field(default_factory=list)
    _flush: asyncio.TimerHandle | None = None

    async def score(self, queries: Any, prompts: Any, labels: Any) -> Scored:
        parsed = _parse(queries, prompts, labels)  # raises ArgumentError for this request
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Scored] = loop.create_future()
        self._pending.append(_Pending(parsed, done))
        if sum(len(p.parsed.texts) for p in self._pending) >= self.max_items:
            self._run()
        elif self._flush is None:
            self._flush = loop.call_later(self.wait, self._run)
        return await done

    def _run(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        batch, self._pending = self._pending, []
        if batch:
            asyncio.get_running_loop().create_task(self._score(batch))

    async def _score(self, batch: list[_Pending]) -> None:
        joined = _Parsed(
            [t for p in batch for t in p.parsed.texts],
            [a for p in batch for a in p.parsed.alone],
            [z for p in batch for z in p.parsed.puzzles],
        )
        self.calls += 1
        try:
            scored = await asyncio.to_thread(_score, joined, self.mode)
        except Exception as err:  # not expected: every request was checked on arrival
            for p in batch:
                if not p.done.done():
                    p.done.set_exception(err)
            return
        start = 0
        for p in batch:
            end = start + len(p.parsed.texts)
            if not p.done.done():
                p.done.set_result(Scored(scored.rewards[start:end], scored.correct[start:end]))
            start = end


def make_app(mode: str = "tinyzero", *, wait: float = 0.002, max_body: int = MAX_BODY) -> Any:
    """The Starlette app of ``cogstar serve-reward``: ``POST`` on any path scores a batch,
    ``GET /health`` answers ``{"ok": true}``."""
    from starlette.applications import Starlette
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    batcher = Batcher(mode=mode, wait=wait)

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    async def read_body(request: Request) -> bytes | JSONResponse:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body:
            return error(413, f"the body is {declared} bytes, over the limit of {max_body}")
        chunks, size = [], 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_body:
                    return error(413, f"the body is over the limit of {max_body} bytes")
                chunks.append(chunk)
        except ClientDisconnect:
            return error(400, "the client went away before sending the whole body")
        return b"".join(chunks)

    async def reward(request: Request) -> JSONResponse:
        body = await read_body(request)
        if isinstance(body, JSONResponse):
            return body
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            return error(400, f"the body is not JSON ({err}); send "
                         '{"query": [...], "prompts": [...], "labels": [...]}')  # fmt: skip
        if not isinstance(data, dict):
            return error(422, "the body must be a JSON object with query, prompts and labels")
        try:
            scored = await batcher.score(data.get("query"), data.get("prompts"), data.get("labels"))
        except ArgumentError as err:
            return error(422, str(err))
        return JSONResponse(scored.as_json())

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "mode": mode, "score_calls": batcher.calls})

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/{path:path}", reward, methods=["POST"]),
        ]
    )
    app.state.batcher = batcher
    return app


def serve(host: str = "127.0.0.1", port: int = 5000, mode: str = "tinyzero") -> None:
    """Run the reward server until interrupted (``cogstar serve-reward``)."""
    import uvicorn

    uvicorn.run(make_app(mode), host=host, port=port, log_level="warning")
