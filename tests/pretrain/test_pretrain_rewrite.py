"""Rewriting documents into question / thoughts / answer against a scripted local server."""

from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from cogstar.io import read_jsonl
from cogstar.llm import OpenAIBackend, Price
from cogstar.pretrain import Document, Rewrite
from cogstar.pretrain.rewrite import (
    SYSTEM_PROMPTS,
    failures_path,
    parse_rewrite,
    read_rewrites,
    rewrite_documents,
    rewrite_requests,
)
from loopback import openai_server, serve

GOOD = "<question>What is {n} + {n}?</question>\n<thoughts>I add {n} and {n}.</thoughts>\n<answer>{m}</answer>"


def _docs(n: int, prefix: str = "doc") -> list[Document]:
    return [Document(f"{prefix}-{i}", f"[{prefix}-{i}] Compute {i} + {i}.") for i in range(n)]


def _doc_id(user: str) -> str:
    m = re.search(r"\[([\w-]+)\]", user)
    assert m is not None, user
    return m.group(1)


def _good(user: str) -> str:
    n = int(_doc_id(user).rsplit("-", 1)[1])
    return GOOD.format(n=n, m=2 * n)


def _backend(url: str, cache: Path | None = None) -> OpenAIBackend:
    return OpenAIBackend(
        model="writer",
        base_url=url,
        api_key_env=None,
        cache_dir=cache,
        backoff_s=0.01,
        price=Price(1.0, 2.0),
    )


def _ids_requested(seen: list[dict[str, object]]) -> list[str]:
    return sorted(_doc_id(b["messages"][-1]["content"]) for b in seen)  # type: ignore[index]


def test_valid_replies_are_parsed_and_written(tmp_path: Path) -> None:
    docs = _docs(5)
    out = tmp_path / "rich.jsonl"
    with openai_server(_good) as (url, seen):
        stats = rewrite_documents(docs, "rich", out, backend=_backend(url))
    assert (stats.done, stats.failed, stats.skipped, stats.retried) == (5, 0, 0, 0)
    assert stats.usage.requests == 5 and stats.usage.input_tokens == 50
    assert stats.cost == pytest.approx((50 * 1.0 + 15 * 2.0) / 1e6)
    assert stats.docs_per_second > 0
    rewrites = {r.id: r for r in read_rewrites(out)}
    assert rewrites["doc-3"] == Rewrite("doc-3", "rich", "What is 3 + 3?", "I add 3 and 3.", "6")
    assert not failures_path(out).exists()
    assert len(seen) == 5


def test_invalid_reply_is_retried_with_a_new_request_and_recovers(tmp_path: Path) -> None:
    def reply(user: str) -> str:
        if "Note (attempt" in user:
            return _good(user)
        return "<question>q</question><thoughts>t</thoughts>"  # no <answer>

    out = tmp_path / "rich.jsonl"
    with openai_server(reply) as (url, seen):  # with a cache: the retry must not be served from it
        stats = rewrite_documents(_docs(1), "rich", out, backend=_backend(url, tmp_path / "c"))
    assert (stats.done, stats.failed, stats.retried) == (1, 0, 1)
    assert len(seen) == 2
    first, second = (b["messages"][-1]["content"] for b in seen)
    assert second.startswith(first) and "missing <answer>" in second
    assert read_rewrites(out)[0].answer == "0"


def test_reply_that_always_fails_is_reported_with_its_reason(tmp_path: Path) -> None:
    def reply(user: str) -> str:
        if "broken" in _doc_id(user):
            return "<question>q</question><thoughts>t</thoughts><answer>  </answer>"
        return _good(user)

    docs = _docs(3) + _docs(1, "broken")
    out = tmp_path / "minimized.jsonl"
    with openai_server(reply) as (url, seen):
        stats = rewrite_documents(docs, "minimized", out, backend=_backend(url), retries=2)
        assert (stats.done, stats.failed, stats.retried) == (3, 1, 2)
        assert len(seen) == 3 + 3  # one request per good doc, three for the broken one
        [failure] = read_jsonl(failures_path(out))
        assert failure["id"] == "broken-0" and failure["reason"] == "<answer> is empty"
        assert failure["attempts"] == 3 and len(failure["reasons"]) == 3
        assert failure["reply"].endswith("<answer>  </answer>")
        assert len(read_rewrites(out)) == 3
        # settled either way: a rerun asks for nothing
        again = rewrite_documents(docs, "minimized", out, backend=_backend(url))
        assert (again.done, again.failed, again.skipped) == (0, 0, 4) and len(seen) == 6


def test_resume_after_an_interrupted_write_asks_only_for_the_missing(tmp_path: Path) -> None:
    docs = _docs(6)
    out = tmp_path / "rich.jsonl"
    with openai_server(_good) as (url, seen):
        rewrite_documents(docs[:3], "rich", out, backend=_backend(url))
        data = out.read_bytes()
        out.write_bytes(data[: len(data) - 20])  # the last line cut mid-write
        lost = json.loads(data.splitlines()[-1])["id"]
        seen.clear()
        with pytest.warns(UserWarning, match="torn last line"):
            stats = rewrite_documents(docs, "rich", out, backend=_backend(url))
    assert sorted(_ids_requested(seen)) == sorted([lost, "doc-3", "doc-4", "doc-5"])
    assert (stats.done, stats.skipped) == (4, 2)
    assert sorted(r.id for r in read_rewrites(out)) == [d.id for d in docs]


def test_progress_callable_counts_settled_and_skipped_documents(tmp_path: Path) -> None:
    out = tmp_path / "rich.jsonl"
    ticks: list[tuple[int, int]] = []
    with openai_server(_good) as (url, _):
        rewrite_documents(_docs(2), "rich", out, backend=_backend(url))
        rewrite_documents(
            _docs(5), "rich", out, backend=_backend(url), progress=lambda d, t: ticks.append((d, t))
        )
    assert sorted(ticks) == [(n, 5) for n in range(1, 6)]


def test_each_pool_has_its_own_instructions(tmp_path: Path) -> None:
    rich, plain = SYSTEM_PROMPTS["rich"], SYSTEM_PROMPTS["minimized"]
    for needle in ("first person", "present tense", "checking a result", "go back"):
        assert needle in rich and needle not in plain
    assert "intermediate goal" in rich and "backward" in rich
    assert "plain, direct steps" in plain and "Leave out any checking" in plain
    doc = Document("d", "[d-1] text")
    assert rewrite_requests(doc, "rich").system == rich
    assert rewrite_requests(doc, "minimized").system == plain
    assert "<document>\n[d-1] text\n</document>" in rewrite_requests(doc, "rich").user
    with openai_server(_good) as (url, seen):
        rewrite_documents([doc], "minimized", tmp_path / "m.jsonl", backend=_backend(url))
    assert seen[0]["messages"][0] == {"role": "system", "content": plain}
    with pytest.raises(ValueError, match="pool must be one of rich, minimized"):
        rewrite_requests(doc, "medium")
    with (
        openai_server(_good) as (url, _),
        pytest.raises(ValueError, match="holds rewrites for pool 'minimized'"),  # one file per pool
    ):
        rewrite_documents([doc], "rich", tmp_path / "m.jsonl", backend=_backend(url))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<thoughts>t</thoughts><answer>a</answer>", "missing <question>"),
        ("<question>q</question><thoughts></thoughts><answer>a</answer>", "<thoughts> is empty"),
        ("<question>q</question><thoughts>t<answer>a</answer>", "<thoughts> is never closed"),
        ("<question>q</question>t</thoughts><answer>a</answer>", "</thoughts> without <thoughts>"),
        (
            "<question>q</question><thoughts>t</thoughts><answer>a</answer><answer>b</answer>",
            "<answer> duplicated (2 opening, 2 closing tags)",
        ),
        (
            "<question>q</question><thoughts>t</thoughts></answer>a<answer>",
            "</answer> comes before",
        ),
        (
            "<question>q<thoughts>t</thoughts></question><answer>a</answer>",
            "<question> contains <thoughts>",
        ),
        (
            "<question>q</question><thoughts><think>t</thoughts><answer>a</answer>",
            "<thoughts> contains <think>",
        ),
    ],
)
def test_parse_rewrite_names_what_is_wrong(text: str, reason: str) -> None:
    got = parse_rewrite("x", "rich", text)
    assert isinstance(got, str) and got.startswith(reason)


def test_parse_rewrite_ignores_text_around_the_sections() -> None:
    text = "Sure!\n<question> Q? </question>\n\n<thoughts>\nI do it.\n</thoughts><answer>7</answer>\nBye"
    assert parse_rewrite("x", "minimized", text) == Rewrite("x", "minimized", "Q?", "I do it.", "7")


def test_a_reply_cut_at_max_tokens_says_so(tmp_path: Path) -> None:
    class Cut(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            body = json.dumps(
                {
                    "choices": [
                        {
                            "message": {"content": "<question>q</question><thoughts>I go on"},
                            "finish_reason": "length",
                        }
                    ],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 64},
                }
            ).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    out = tmp_path / "r.jsonl"
    with serve(Cut) as url:
        backend = _backend(f"{url}/v1")
        stats = rewrite_documents(_docs(1), "rich", out, backend=backend, retries=0, max_tokens=64)
    [failure] = read_jsonl(failures_path(out))
    assert stats.failed == 1 and failure["finish_reason"] == "length"
    assert (
        failure["reason"] == "<thoughts> is never closed (the reply was cut off at max_tokens=64)"
    )
