"""LLM backends: one client interface for trace generation and behavior judging.

Two implementations share everything but the wire format:

* :class:`OpenAIBackend` speaks the OpenAI chat-completions API, which OpenAI, vLLM,
  SGLang, llama.cpp, ``transformers serve`` and most hosted servers accept;
* :class:`AnthropicBackend` speaks Anthropic's messages API.

What every backend does for you:

* **disk cache** keyed by the full request (backend, endpoint, model, messages and
  sampling parameters). Each response is written atomically the moment it arrives, so a
  run that crashes or is killed resumes without paying for anything twice;
* **bounded concurrency** (``max_concurrency`` requests in flight) and an optional
  requests-per-second limit;
* **retries** with exponential backoff and jitter on 429, 5xx, timeouts and dropped
  connections, honouring ``Retry-After``; other 4xx errors fail at once with the
  server's message;
* **accounting** of requests, cache hits, tokens and cost (:class:`Usage`), and a
  **dry-run estimate** (:meth:`Backend.estimate`) of what a batch would cost.

API keys are read only from the environment (``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY``
by default; pass ``api_key_env`` for another variable, or ``None`` for local servers
that need no key).

Example::

    backend = OpenAIBackend(model="gpt-4o-mini", cache_dir="runs/cache/llm")
    replies = backend.complete_many([Request(system="...", user="...")], progress=True)
    print(backend.usage)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import Field

from cogstar.config import StageConfig
from cogstar.errors import ArgumentError, LLMError
from cogstar.io import atomic_write_text

__all__ = [
    "AnthropicBackend",
    "Backend",
    "BackendConfig",
    "Estimate",
    "OpenAIBackend",
    "Price",
    "Reply",
    "Request",
    "Usage",
    "make_backend",
]


@dataclass(frozen=True)
class Request:
    """One chat request: an optional system prompt and one user message."""

    user: str
    system: str | None = None
    temperature: float = 0.0
    max_tokens: int = 1024


@dataclass(frozen=True)
class Reply:
    """The model's text and what it cost."""

    text: str
    input_tokens: int
    output_tokens: int
    finish_reason: str | None = None
    cached: bool = False


@dataclass(frozen=True)
class Price:
    """US dollars per million input and output tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


@dataclass
class Usage:
    """Running totals for one backend (thread-safe)."""

    requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, reply: Reply, price: Price | None) -> None:
        with self._lock:
            if reply.cached:
                self.cache_hits += 1
                return
            self.requests += 1
            self.input_tokens += reply.input_tokens
            self.output_tokens += reply.output_tokens
            if price is not None:
                self.cost_usd += price.cost(reply.input_tokens, reply.output_tokens)

    def add_retry(self) -> None:
        with self._lock:
            self.retries += 1


@dataclass(frozen=True)
class Estimate:
    """What a batch would cost, before sending it (a dry run)."""

    requests: int
    cached: int
    input_tokens: int
    max_output_tokens: int
    max_cost_usd: float | None

    def __str__(self) -> str:
        cost = (
            "unknown (no price set)"
            if self.max_cost_usd is None
            else f"<= ${self.max_cost_usd:,.2f}"
        )
        return (
            f"{self.requests} requests ({self.cached} already cached), "
            f"~{self.input_tokens:,} input tokens, <= {self.max_output_tokens:,} output tokens, "
            f"cost {cost}"
        )


# Published list prices (USD per million tokens) for models the paper's pipeline uses;
# pass `price=` for anything else. Checked 2025; providers change them.
KNOWN_PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4o": Price(2.50, 10.00),
    "claude-3-5-sonnet-20241022": Price(3.00, 15.00),
    "claude-3-5-haiku-20241022": Price(0.80, 4.00),
}

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


class Backend:
    """Shared machinery; subclasses define the endpoint, the body and the parsing."""

    kind = "base"

    def __init__(
        self,
        *,
        model: str,
        base_url: str,
        api_key_env: str | None,
        cache_dir: str | Path | None = None,
        max_concurrency: int = 8,
        requests_per_second: float | None = None,
        max_retries: int = 6,
        timeout_s: float = 120.0,
        backoff_s: float = 1.0,
        price: Price | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ArgumentError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self._api_key: str | None = None
        if api_key_env is not None:
            key = os.environ.get(api_key_env)
            if not key:
                raise LLMError(
                    f"{type(self).__name__} needs an API key: set the environment variable "
                    f"{api_key_env} (or pass api_key_env=None for a local server without keys)"
                )
            self._api_key = key
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.price = price if price is not None else KNOWN_PRICES.get(model)
        self.usage = Usage()
        self._min_interval = 1.0 / requests_per_second if requests_per_second else 0.0
        self._next_slot = 0.0
        self._rate_lock = threading.Lock()
        self._client = httpx.Client(
            timeout=timeout_s,
            limits=httpx.Limits(max_connections=max_concurrency),
        )

    # -- what subclasses provide ------------------------------------------------------
    def _url(self) -> str:
        raise NotImplementedError

    def _headers(self) -> dict[str, str]:
        raise NotImplementedError

    def _body(self, request: Request) -> dict[str, Any]:
        raise NotImplementedError

    def _parse(self, payload: dict[str, Any]) -> Reply:
        raise NotImplementedError

    # -- cache ------------------------------------------------------------------------
    def cache_key(self, request: Request) -> str:
        """SHA-256 of everything that determines the reply."""
        identity = {"kind": self.kind, "url": self._url(), "body": self._body(request)}
        blob = json.dumps(identity, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()

    def _cache_path(self, key: str) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / key[:2] / f"{key}.json"

    def _cache_get(self, key: str) -> Reply | None:
        path = self._cache_path(key)
        if path is None or not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return Reply(**{**data, "cached": True})
        except (OSError, ValueError, TypeError):
            return None  # a torn or foreign file: ask again and overwrite it

    def _cache_put(self, key: str, reply: Reply) -> None:
        path = self._cache_path(key)
        if path is None:
            return
        atomic_write_text(path, json.dumps({**asdict(reply), "cached": False}))

    # -- sending ----------------------------------------------------------------------
    def _wait_for_rate_slot(self) -> None:
        if not self._min_interval:
            return
        with self._rate_lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self._min_interval
        time.sleep(max(0.0, slot - time.monotonic()))

    def _send(self, request: Request) -> Reply:
        last_problem = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.usage.add_retry()
            self._wait_for_rate_slot()
            try:
                response = self._client.post(
                    self._url(), headers=self._headers(), json=self._body(request)
                )
            except (httpx.TimeoutException, httpx.TransportError) as err:
                last_problem = f"{type(err).__name__}: {err}"
                self._sleep_before_retry(attempt, None)
                continue
            if response.status_code == 200:
                try:
                    return self._parse(response.json())
                except (ValueError, KeyError, IndexError, TypeError) as err:
                    raise LLMError(
                        f"{self._url()} answered 200 with a body this backend cannot read "
                        f"({err!r}): {response.text[:300]!r}"
                    ) from None
            if response.status_code not in RETRYABLE_STATUS:
                raise LLMError(
                    f"{self._url()} refused the request with HTTP {response.status_code}: "
                    f"{response.text[:500]}"
                )
            last_problem = f"HTTP {response.status_code}: {response.text[:200]}"
            self._sleep_before_retry(attempt, response.headers.get("retry-after"))
        raise LLMError(
            f"{self._url()} still failing after {self.max_retries} retries; last: {last_problem}"
        )

    def _sleep_before_retry(self, attempt: int, retry_after: str | None) -> None:
        delay = self.backoff_s * (2**attempt) * (0.5 + random.random())
        if retry_after is not None:
            with contextlib.suppress(ValueError):  # an HTTP date: keep our own delay
                delay = max(delay, float(retry_after))
        time.sleep(min(delay, 60.0))

    # -- public API -------------------------------------------------------------------
    def complete(self, request: Request) -> Reply:
        """One reply, from the cache when this exact request was answered before."""
        key = self.cache_key(request)
        reply = self._cache_get(key)
        if reply is None:
            reply = self._send(request)
            self._cache_put(key, reply)
        self.usage.add(reply, self.price)
        return reply

    def complete_many(
        self,
        requests: Sequence[Request],
        *,
        progress: bool | Callable[[int, int], None] = False,
    ) -> list[Reply]:
        """Replies in request order, at most ``max_concurrency`` in flight.

        ``progress=True`` shows a Rich progress bar; a callable gets ``(done, total)``.
        The first request that fails for good raises :class:`LLMError` once the requests
        already in flight have finished; every reply received so far is in the cache.
        """
        total = len(requests)
        done = 0
        lock = threading.Lock()
        bar = None
        task = None
        if progress is True:
            from rich.progress import Progress

            bar = Progress(transient=False)
            bar.start()
            task = bar.add_task(f"{self.kind} {self.model}", total=total)

        def one(request: Request) -> Reply:
            nonlocal done
            reply = self.complete(request)
            with lock:
                done += 1
                if bar is not None and task is not None:
                    bar.update(task, completed=done)
                elif callable(progress):
                    progress(done, total)
            return reply

        pool = ThreadPoolExecutor(max_workers=self.max_concurrency)
        futures = [pool.submit(one, r) for r in requests]
        try:
            return [f.result() for f in futures]
        except BaseException:
            # Don't start what is still queued; let in-flight requests finish (and be cached).
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True)
            if bar is not None:
                bar.stop()

    def estimate(self, requests: Sequence[Request], chars_per_token: float = 4.0) -> Estimate:
        """A dry run: how many requests are new, and an upper bound on their cost."""
        new = [r for r in requests if self._cache_get(self.cache_key(r)) is None]
        input_tokens = sum(int(len((r.system or "") + r.user) / chars_per_token) + 8 for r in new)
        max_output = sum(r.max_tokens for r in new)
        cost = None if self.price is None else self.price.cost(input_tokens, max_output)
        return Estimate(len(requests), len(requests) - len(new), input_tokens, max_output, cost)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OpenAIBackend(Backend):
    """OpenAI-compatible chat completions (OpenAI, vLLM, SGLang, ``transformers serve`` …)."""

    kind = "openai"

    def __init__(
        self,
        *,
        model: str,
        base_url: str = "https://api.openai.com/v1",
        api_key_env: str | None = "OPENAI_API_KEY",
        **options: Any,
    ) -> None:
        super().__init__(model=model, base_url=base_url, api_key_env=api_key_env, **options)

    def _url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def _body(self, request: Request) -> dict[str, Any]:
        messages = [{"role": "system", "content": request.system}] if request.system else []
        messages.append({"role": "user", "content": request.user})
        return {
            "model": self.model,
            "messages": messages,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }

    def _parse(self, payload: dict[str, Any]) -> Reply:
        choice = payload["choices"][0]
        usage = payload.get("usage") or {}
        return Reply(
            text=choice["message"]["content"] or "",
            input_tokens=int(usage.get("prompt_tokens", 0)),
            output_tokens=int(usage.get("completion_tokens", 0)),
            finish_reason=choice.get("finish_reason"),
        )


class AnthropicBackend(Backend):
    """Anthropic's messages API."""

    kind = "anthropic"
    api_version = "2023-06-01"

    def __init__(
        self,
        *,
        model: str,
        base_url: str = "https://api.anthropic.com",
        api_key_env: str | None = "ANTHROPIC_API_KEY",
        **options: Any,
    ) -> None:
        super().__init__(model=model, base_url=base_url, api_key_env=api_key_env, **options)

    def _url(self) -> str:
        return f"{self.base_url}/v1/messages"

    def _headers(self) -> dict[str, str]:
        headers = {"anthropic-version": self.api_version}
        if self._api_key:
            headers["x-api-key"] = self._api_key
        return headers

    def _body(self, request: Request) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": request.user}],
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        if request.system:
            body["system"] = request.system
        return body

    def _parse(self, payload: dict[str, Any]) -> Reply:
        text = "".join(b.get("text", "") for b in payload["content"] if b.get("type") == "text")
        usage = payload.get("usage") or {}
        return Reply(
            text=text,
            input_tokens=int(usage.get("input_tokens", 0)),
            output_tokens=int(usage.get("output_tokens", 0)),
            finish_reason=payload.get("stop_reason"),
        )


class BackendConfig(StageConfig):
    """An LLM endpoint, as a spec's ``[priming.backend]``, ``[behaviors.backend]`` and the
    curation backends give it. The key comes from the environment: the provider's variable
    (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``), or ``api_key_env`` when given;
    ``api_key_env = "none"`` sends no key (a local vLLM or SGLang server). Where the model is
    reached (``base_url``, ``api_key_env``) does not change what it answers, so those two are
    not part of any stage's inputs."""

    NOT_HASHED = frozenset({"base_url", "api_key_env"})

    provider: Literal["openai", "anthropic"]
    model: str
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


def make_backend(
    config: BackendConfig, cache_dir: str | Path | None, **options: Any
) -> OpenAIBackend | AnthropicBackend:
    """The backend ``config`` describes, caching its replies in ``cache_dir``; ``options`` go
    to the backend (``max_concurrency``, ``requests_per_second``, ...)."""
    kwargs: dict[str, Any] = {"cache_dir": cache_dir, **options}
    if config.base_url:
        kwargs["base_url"] = config.base_url
    if config.api_key_env is not None:  # else the provider's own variable
        kwargs["api_key_env"] = None if config.api_key_env.lower() == "none" else config.api_key_env
    cls = OpenAIBackend if config.provider == "openai" else AnthropicBackend
    return cls(model=config.model, **kwargs)
