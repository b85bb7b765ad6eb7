"""LLM backends against a real HTTP server on loopback, failure modes included.

The server speaks just enough of the OpenAI chat-completions and Anthropic messages APIs.
Each test scripts its behaviour per request (reply, fail with a status, stall past the
client's timeout) and reads back what the server saw: request count, peak concurrency,
headers and bodies.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from cogstar.errors import LLMError
from cogstar.llm import AnthropicBackend, OpenAIBackend, Price, Request
from loopback import serve


@dataclass
class Script:
    """What the server does; `plan(n, body)` returns (status, extra headers, delay s)."""

    plan: Callable[[int, dict[str, Any]], tuple[int, dict[str, str], float]] = lambda n, b: (
        200,
        {},
        0.0,
    )
    raw_body: bytes | None = None  # when set, every 200 answers with exactly these bytes
    seen: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    in_flight: int = 0
    peak: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _reply_for(path: str, body: dict[str, Any]) -> dict[str, Any]:
    user = body["messages"][-1]["content"]
    text = f"echo: {user}"
    if path.endswith("/chat/completions"):
        return {
            "choices": [
                {"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": len(user), "completion_tokens": len(text)},
        }
    return {
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": len(user), "output_tokens": len(text)},
    }


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def do_POST(self) -> None:
            length = int(self.headers["content-length"])
            body = json.loads(self.rfile.read(length))
            with script.lock:
                n = len(script.seen)
                script.seen.append(body)
                script.headers.append({k.lower(): v for k, v in self.headers.items()})
                script.in_flight += 1
                script.peak = max(script.peak, script.in_flight)
            try:
                status, extra, delay = script.plan(n, body)
                time.sleep(delay)
                if status == 200 and script.raw_body is not None:
                    payload = script.raw_body
                elif status == 200:
                    payload = json.dumps(_reply_for(self.path, body)).encode()
                else:
                    payload = json.dumps({"error": {"message": f"scripted {status}"}}).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout test)
            finally:
                with script.lock:
                    script.in_flight -= 1

    with serve(Handler) as url:
        yield url, script


def openai(url: str, tmp_path: Path, **kw: Any) -> OpenAIBackend:
    kw.setdefault("backoff_s", 0.01)
    return OpenAIBackend(
        model="judge", base_url=f"{url}/v1", api_key_env=None, cache_dir=tmp_path / "cache", **kw
    )


def test_openai_round_trip_and_accounting(server: tuple[str, Script], tmp_path: Path) -> None:
    url, script = server
    with openai(url, tmp_path, price=Price(1.0, 2.0)) as backend:
        reply = backend.complete(Request(system="be brief", user="hi", max_tokens=7))
    assert reply.text == "echo: hi"
    assert (reply.input_tokens, reply.output_tokens, reply.finish_reason) == (2, 8, "stop")
    body = script.seen[0]
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert (body["model"], body["max_tokens"], body["temperature"]) == ("judge", 7, 0.0)
    assert backend.usage.requests == 1
    assert backend.usage.cost_usd == pytest.approx((2 * 1.0 + 8 * 2.0) / 1e6)


def test_anthropic_wire_format(
    server: tuple[str, Script], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, script = server
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-test")
    backend = AnthropicBackend(
        model="claude-x", base_url=url, api_key_env="TEST_ANTHROPIC_KEY", cache_dir=tmp_path
    )
    reply = backend.complete(Request(system="sys", user="count this"))
    assert reply.text == "echo: count this"
    assert script.seen[0]["system"] == "sys"
    assert script.seen[0]["messages"] == [{"role": "user", "content": "count this"}]
    assert script.headers[0]["x-api-key"] == "sk-test"
    assert script.headers[0]["anthropic-version"] == "2023-06-01"


def test_missing_api_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(LLMError, match="set the environment variable OPENAI_API_KEY"):
        OpenAIBackend(model="gpt-4o-mini")


def test_cache_means_no_second_payment(server: tuple[str, Script], tmp_path: Path) -> None:
    url, script = server
    requests = [Request(user=f"q{i}") for i in range(5)]
    with openai(url, tmp_path) as first:
        first.complete_many(requests)
    with openai(url, tmp_path) as second:  # a new process would look the same
        replies = second.complete_many(requests)
    assert len(script.seen) == 5
    assert all(r.cached for r in replies)
    assert [r.text for r in replies] == [f"echo: q{i}" for i in range(5)]
    assert (second.usage.requests, second.usage.cache_hits) == (0, 5)
    # Anything that changes the reply changes the key.
    with openai(url, tmp_path) as third:
        third.complete(Request(user="q0", temperature=1.0))
    assert len(script.seen) == 6


def test_resume_after_a_failed_run(server: tuple[str, Script], tmp_path: Path) -> None:
    url, script = server
    script.plan = lambda n, body: (
        (400, {}, 0.0) if body["messages"][-1]["content"] == "q3" else (200, {}, 0.0)
    )
    requests = [Request(user=f"q{i}") for i in range(6)]
    with (
        openai(url, tmp_path, max_concurrency=1) as backend,
        pytest.raises(LLMError, match="HTTP 400"),
    ):
        backend.complete_many(requests)
    paid_before = len(script.seen)
    # q0..q2 answered and cached, q3 refused; the single worker may have picked up q4 in
    # the instant before the queue was cancelled, but q5 never started.
    assert paid_before in (4, 5)
    script.plan = lambda n, body: (200, {}, 0.0)
    with openai(url, tmp_path, max_concurrency=1) as backend:
        replies = backend.complete_many(requests)
    assert [r.text for r in replies] == [f"echo: q{i}" for i in range(6)]
    assert [r.cached for r in replies[:4]] == [True, True, True, False]
    # Every question was paid for exactly once, plus the one refused attempt.
    assert len(script.seen) == 6 + 1


@pytest.mark.parametrize("status", [429, 500, 502, 503, 529])
def test_retries_transient_errors(server: tuple[str, Script], tmp_path: Path, status: int) -> None:
    url, script = server
    script.plan = lambda n, body: (status, {}, 0.0) if n < 2 else (200, {}, 0.0)
    with openai(url, tmp_path) as backend:
        assert backend.complete(Request(user="x")).text == "echo: x"
    assert len(script.seen) == 3
    assert backend.usage.retries == 2


def test_retry_after_is_honoured(server: tuple[str, Script], tmp_path: Path) -> None:
    url, script = server
    script.plan = lambda n, body: (429, {"retry-after": "0.3"}, 0.0) if n == 0 else (200, {}, 0.0)
    start = time.monotonic()
    with openai(url, tmp_path) as backend:
        backend.complete(Request(user="x"))
    assert time.monotonic() - start >= 0.3


def test_timeouts_are_retried(server: tuple[str, Script], tmp_path: Path) -> None:
    url, script = server
    script.plan = lambda n, body: (200, {}, 1.0) if n == 0 else (200, {}, 0.0)
    with openai(url, tmp_path, timeout_s=0.2) as backend:
        assert backend.complete(Request(user="slow")).text == "echo: slow"
    assert len(script.seen) == 2


def test_gives_up_with_the_last_error(server: tuple[str, Script], tmp_path: Path) -> None:
    url, script = server
    script.plan = lambda n, body: (503, {}, 0.0)
    with (
        openai(url, tmp_path, max_retries=2) as backend,
        pytest.raises(LLMError, match="after 2 retries; last: HTTP 503"),
    ):
        backend.complete(Request(user="x"))
    assert len(script.seen) == 3


def test_client_errors_fail_fast(server: tuple[str, Script], tmp_path: Path) -> None:
    url, script = server
    script.plan = lambda n, body: (401, {}, 0.0)
    with (
        openai(url, tmp_path) as backend,
        pytest.raises(LLMError, match=r"HTTP 401: .*scripted 401"),
    ):
        backend.complete(Request(user="x"))
    assert len(script.seen) == 1


def test_unreadable_success_body(server: tuple[str, Script], tmp_path: Path) -> None:
    url, script = server
    script.raw_body = b'{"id": "x", "object": "not a completion"}'
    with openai(url, tmp_path) as backend, pytest.raises(LLMError, match="cannot read"):
        backend.complete(Request(user="x"))


def test_concurrency_is_bounded_and_order_kept(server: tuple[str, Script], tmp_path: Path) -> None:
    url, script = server
    script.plan = lambda n, body: (200, {}, 0.05)
    requests = [Request(user=f"q{i}") for i in range(24)]
    seen_progress: list[tuple[int, int]] = []
    with openai(url, tmp_path, max_concurrency=3) as backend:
        replies = backend.complete_many(
            requests, progress=lambda d, t: seen_progress.append((d, t))
        )
    assert [r.text for r in replies] == [f"echo: q{i}" for i in range(24)]
    assert 2 <= script.peak <= 3
    assert seen_progress[-1] == (24, 24)


def test_rate_limit_spaces_requests(server: tuple[str, Script], tmp_path: Path) -> None:
    url, _ = server
    start = time.monotonic()
    with openai(url, tmp_path, requests_per_second=20, max_concurrency=4) as backend:
        backend.complete_many([Request(user=f"q{i}") for i in range(6)])
    assert time.monotonic() - start >= 5 / 20


def test_dry_run_estimate(server: tuple[str, Script], tmp_path: Path) -> None:
    url, script = server
    requests = [Request(user="x" * 400, max_tokens=100) for _ in range(3)]
    requests[0] = Request(user="cached one", max_tokens=100)
    with openai(url, tmp_path, price=Price(1.0, 10.0)) as backend:
        backend.complete(requests[0])
        est = backend.estimate(requests)
    assert len(script.seen) == 1  # estimating sends nothing
    assert (est.requests, est.cached, est.max_output_tokens) == (3, 1, 200)
    assert est.input_tokens == 2 * (100 + 8)
    assert est.max_cost_usd == pytest.approx((216 * 1.0 + 200 * 10.0) / 1e6)
    assert "3 requests (1 already cached)" in str(est)


def test_torn_cache_file_is_refetched(server: tuple[str, Script], tmp_path: Path) -> None:
    url, script = server
    with openai(url, tmp_path) as backend:
        request = Request(user="q")
        backend.complete(request)
        path = backend._cache_path(backend.cache_key(request))
        assert path is not None
        path.write_text('{"text": "trunc', encoding="utf-8")  # a crash mid-write elsewhere
        assert backend.complete(request).text == "echo: q"
    assert len(script.seen) == 2
