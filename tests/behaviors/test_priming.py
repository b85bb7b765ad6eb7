"""Priming records: the LLM source against a scripted server, the controls, JSONL I/O."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cogstar
from cogstar.behaviors.priming import (
    CONDITIONS,
    SYSTEM_PROMPTS,
    build_llm_records,
    dots,
    empty_cot,
    split_completion,
)
from cogstar.errors import DataError
from cogstar.io import Record, read_records, write_records
from cogstar.llm import OpenAIBackend
from cogstar.tasks import priming_prompt
from loopback import openai_server

TRACE = (
    "<think> 44 + 19 = 63, that is 35 short of 98. 63 + 35 = 98, the target. </think>\n"
    "<answer> 44 + 19 + 35 </answer>"
)


def words(text: str) -> int:
    """A stand-in tokenizer: one token per whitespace-separated piece."""
    return len(text.split())


def test_every_condition_has_its_own_prompt() -> None:
    assert set(SYSTEM_PROMPTS) == set(CONDITIONS)
    assert len(set(SYSTEM_PROMPTS.values())) == len(CONDITIONS)
    only = SYSTEM_PROMPTS["only_backtracking"]
    assert "go back to an earlier state" in only
    assert "Do not state whether a result matches" in only
    assert "Do not work backwards" in only
    assert "Step 1" in SYSTEM_PROMPTS["negative_control"]


def test_empty_cot_keeps_only_the_answer() -> None:
    out = empty_cot(TRACE)
    assert out == "<think> </think>\n<answer> 44 + 19 + 35 </answer>"
    assert cogstar.score(priming_prompt([44, 19, 35], 98) + out, [44, 19, 35], 98).value == 1.0


def test_dots_match_the_token_count() -> None:
    thoughts, _ = split_completion(TRACE)
    out = dots(TRACE, words)
    dotted, rest = split_completion(out)
    assert set(dotted.split()) == {"."}
    assert words(dotted) == words(thoughts)
    assert rest == "\n<answer> 44 + 19 + 35 </answer>"


def test_dots_with_a_tokenizer_that_merges_pairs() -> None:
    def pairs(text: str) -> int:  # every two characters make a token
        return (len(text) + 1) // 2

    thoughts, _ = split_completion(TRACE)
    dotted, _ = split_completion(dots(TRACE, pairs))
    assert abs(pairs(dotted.rstrip()) - pairs(thoughts)) <= 1


def test_controls_need_delimited_thoughts() -> None:
    with pytest.raises(ValueError, match="no <think>"):
        empty_cot("<answer>1</answer>")


def _author(user: str) -> str:
    """Answers [44, 19, 35] -> 98 correctly; anything else wrongly and without <think>."""
    if "[44, 19, 35]" in user:
        return TRACE
    return "I will try 1 + 2. </think>\n<answer> 1 + 2 </answer>"


@pytest.fixture
def author() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with openai_server(_author) as server:
        yield server


def test_llm_records(author: tuple[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    url, seen = author
    puzzles = [cogstar.Puzzle([44, 19, 35], 98), cogstar.Puzzle([1, 2, 4], 7)]
    with OpenAIBackend(model="author", base_url=url, api_key_env=None, cache_dir=tmp_path) as b:
        records = build_llm_records("backtracking_verification", puzzles, b)
    assert [r.correct for r in records] == [True, False]
    assert records[1].completion.startswith("<think>I will try")
    assert records[0].prompt == priming_prompt([44, 19, 35], 98)
    body = seen[0]
    assert body["temperature"] == 0.5 and body["max_tokens"] == 1024
    messages = body["messages"]
    assert isinstance(messages, list)
    assert messages[0]["content"] == SYSTEM_PROMPTS["backtracking_verification"]
    with pytest.raises(ValueError, match="unknown condition 'lots'"):
        build_llm_records("lots", puzzles, b)


def test_jsonl_round_trip_and_broken_lines(tmp_path: Path) -> None:
    record = Record("p", TRACE, [44, 19, 35], 98, "all_strategies", True)
    path = tmp_path / "priming" / "all_strategies.jsonl"
    assert write_records(path, [record, record]) == 2
    assert list(read_records(path)) == [record, record]
    with path.open("a", encoding="utf-8") as f:
        f.write('{"prompt": "p", "completion": \n')
    with pytest.raises(DataError, match=r"all_strategies.jsonl:3: invalid JSON"):
        list(read_records(path))
    path.write_text('{"prompt": "p"}\n', encoding="utf-8")
    with pytest.raises(
        DataError, match=r":1: not a record \(missing field\(s\) completion, condition"
    ):
        list(read_records(path))
