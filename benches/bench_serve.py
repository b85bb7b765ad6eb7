"""Load test of ``cogstar serve-reward`` on loopback (pytest-benchmark).

A uvicorn server (one worker, as ``cogstar serve-reward`` runs it) on 127.0.0.1; 4 clients
each send requests of 1,024 OpenRLHF-shaped queries (chat-template prompt + response, prompt,
label as JSON text) back to back. Recorded in extra_info: throughput in responses per second,
and the median and p99 latency of a request, over 64 requests after 4 warm-up ones.

Run:  python3 -m pytest benches/bench_serve.py --benchmark-only -o addopts="" -s
"""

from __future__ import annotations

import json
import socket
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("pytest_benchmark")
pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from rollouts import make_completions  # noqa: E402

BATCH, CLIENTS, REQUESTS, WARMUP = 1024, 4, 64, 4
CHAT = "<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\nLet me solve this step by step.\n<think>"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server():
    from cogstar.integrations.openrlhf import make_app

    port = _free_port()
    config = uvicorn.Config(make_app(), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def body() -> bytes:
    from cogstar.tasks import user_text

    items = make_completions(BATCH, seed=20240601)
    prompts = [CHAT.format(user=user_text(n, t)) for _, _, n, t in items]
    return json.dumps({
        "query": [p + c for p, (_, c, _, _) in zip(prompts, items, strict=True)],
        "prompts": prompts,
        "labels": [json.dumps({"numbers": n, "target": t}) for _, _, n, t in items],
    }).encode()  # fmt: skip


def test_serve_reward_loopback_load(benchmark, server: str, body: bytes) -> None:
    benchmark.group = f"serve-reward: {CLIENTS} clients, {BATCH} queries per request"
    latencies: list[float] = []

    def client(n: int) -> None:
        with httpx.Client(base_url=server, timeout=60) as http:
            for _ in range(n):
                t0 = time.perf_counter()
                answer = http.post("/get_reward", content=body,
                                   headers={"content-type": "application/json"})  # fmt: skip
                latencies.append(time.perf_counter() - t0)
                assert answer.status_code == 200 and len(answer.json()["rewards"]) == BATCH

    client(WARMUP)
    latencies.clear()

    def load() -> float:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(client, [REQUESTS // CLIENTS] * CLIENTS))
        return time.perf_counter() - t0

    wall = benchmark.pedantic(load, rounds=1, iterations=1)
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * len(ordered)) - 1)]
    benchmark.extra_info.update(
        responses_per_s=round(REQUESTS * BATCH / wall),
        request_p50_ms=round(statistics.median(ordered) * 1e3, 1),
        request_p99_ms=round(p99 * 1e3, 1),
        body_mb=round(len(body) / 1e6, 2),
    )
    print(benchmark.extra_info)
