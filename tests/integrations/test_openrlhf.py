"""OpenRLHF: reward_func and the reward server, fed what OpenRLHF sends (full queries through
a chat template, their prompts, labels as JSON strings), and the server's answers to bad
requests."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

import cogstar
from cogstar.integrations.openrlhf import make_app, reward_func, score_queries
from cogstar.tasks import user_text
from rollouts import make_completions

torch = pytest.importorskip("torch")
pytest.importorskip("starlette")

CHAT = "<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\nLet me solve this step by step.\n<think>"
ITEMS = make_completions(300, seed=13)


def _openrlhf_batch(n: int = 300) -> tuple[list[str], list[str], list[str], list[float]]:
    queries, prompts, labels, want = [], [], [], []
    for k, (_, completion, numbers, target) in enumerate(ITEMS[:n]):
        prompt = CHAT.format(user=user_text(numbers, target))
        queries.append(prompt + completion)
        prompts.append(prompt if k % 5 else "a prompt the query does not start with")
        labels.append(json.dumps({"numbers": numbers, "target": target}))
        want.append(cogstar.score(prompt + completion, numbers, target).value)
    return queries, prompts, labels, want


def test_reward_func_scores_as_the_full_query() -> None:
    queries, prompts, labels, want = _openrlhf_batch()
    got = reward_func(queries, prompts, labels)
    assert got["rewards"].tolist() == pytest.approx(want)
    assert torch.equal(got["rewards"], got["scores"])
    correct = [float(v == 1.0) for v in want]
    assert got["extra_logs"]["accuracy"].tolist() == correct
    assert 0 < sum(correct) < len(correct)
    dicts = [json.loads(x) for x in labels]  # labels as mappings work the same
    assert score_queries(queries, None, dicts).rewards == pytest.approx(want)


def _client() -> object:
    from starlette.testclient import TestClient

    return TestClient(make_app(max_body=1 << 20))


def test_the_server_answers_openrlhfs_request() -> None:
    queries, prompts, labels, want = _openrlhf_batch()
    client = _client()
    got = client.post("/get_reward", json={"query": queries, "prompts": prompts, "labels": labels})  # type: ignore[attr-defined]
    assert got.status_code == 200
    body = got.json()
    assert body["rewards"] == pytest.approx(want) and body["scores"] == body["rewards"]
    assert len(body["extra_logs"]["accuracy"]) == len(want)
    assert client.get("/health").json()["ok"] is True  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "the body is not JSON"),
        (b"[1, 2]", 422, "must be a JSON object"),
        (json.dumps({"query": ["x"]}).encode(), 422, "labels is missing"),
        (json.dumps({"query": "x", "labels": []}).encode(), 422, "query must be a list"),
        (json.dumps({"query": ["x", "y"], "labels": ['{"numbers": [1], "target": 1}']}).encode(),
         422, "labels has 1 items but query has 2"),
        (json.dumps({"query": ["x"], "labels": ["7"]}).encode(), 422, r"labels\[0\] must name the puzzle"),
        (json.dumps({"query": [3], "labels": [{"numbers": [1], "target": 1}]}).encode(), 422,
         r"query\[0\] must be a string"),
        (b"x" * (2 << 20), 413, "over the limit"),
    ],
)  # fmt: skip
def test_bad_requests_get_a_4xx_and_the_server_goes_on(
    body: bytes, status: int, message: str
) -> None:
    client = _client()
    got = client.post("/get_reward", content=body, headers={"content-type": "application/json"})  # type: ignore[attr-defined]
    assert got.status_code == status
    assert re.search(message, got.json()["error"])
    ok = client.post("/", json={"query": ["<answer>1 + 2</answer>"], "prompts": [""],  # type: ignore[attr-defined]
                                "labels": [{"numbers": [1, 2], "target": 3}]})  # fmt: skip
    assert ok.status_code == 200 and ok.json()["rewards"] == [0.0]  # no assistant marker


def test_requests_that_arrive_together_are_scored_in_one_call() -> None:
    import httpx

    queries, prompts, labels, want = _openrlhf_batch(64)
    app = make_app(wait=0.05)

    async def send_all() -> list[object]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cogstar") as client:
            return await asyncio.gather(*[
                client.post("/", json={"query": queries[i::8], "prompts": prompts[i::8],
                                       "labels": labels[i::8]})
                for i in range(8)
            ])  # fmt: skip

    answers = asyncio.run(send_all())
    for i, answer in enumerate(answers):
        assert answer.status_code == 200  # type: ignore[attr-defined]
        assert answer.json()["rewards"] == pytest.approx(want[i::8])  # type: ignore[attr-defined]
    assert app.state.batcher.calls < 8
