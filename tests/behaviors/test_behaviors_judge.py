"""The LLM behavior judge: prompts, the <count>N</count> contract, batching, via a real server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from cogstar.behaviors import BEHAVIORS
from cogstar.behaviors.judge import DEFINITIONS, judge_counts, judge_requests, parse_count
from cogstar.llm import OpenAIBackend
from loopback import openai_server


@pytest.mark.parametrize(
    ("reply", "count"),
    [
        ("<count>3</count>", 3),
        ("I see two checks.\n<count> 2 </count>", 2),
        ("first <count>1</count>, on reflection <COUNT>4</COUNT>", 4),
        ("no tag at all", 0),
        ("<count>three</count>", 0),
        ("<count>-1</count>", 0),
        ("", 0),
    ],
)
def test_parse_count_contract(reply: str, count: int) -> None:
    assert parse_count(reply) == count


def test_one_prompt_per_behavior_with_the_puzzle() -> None:
    requests = judge_requests("<think>55 is not 32</think>", [25, 30, 3], 32)
    assert list(requests) == list(BEHAVIORS)
    for behavior, request in requests.items():
        assert DEFINITIONS[behavior] in request.user
        assert "Numbers: 25, 30, 3" in request.user and "Target: 32" in request.user
        assert "<response>\n<think>55 is not 32</think>\n</response>" in request.user
        assert request.temperature == 0.0
    unknown = judge_requests("x", None, None)["subgoal"].user
    assert "Numbers: unknown" in unknown and "Target: unknown" in unknown


def _planted_count(prompt: str) -> str:
    """A judge that 'counts' by echoing the digit planted in the response for its behavior."""
    behavior = next(b for b in BEHAVIORS if DEFINITIONS[b] in prompt)
    planted = re.search(rf"{behavior}=(\d+)", prompt)
    return f"<count>{planted.group(1)}</count>" if planted else "no idea"


@pytest.fixture
def judge_server() -> Iterator[str]:
    with openai_server(_planted_count) as (url, _):
        yield url


def test_judge_counts_batches_and_maps_back(judge_server: str, tmp_path: Path) -> None:
    texts = [
        "verification=3 backtracking=1",
        "subgoal=2 backward=5 verification=0",
        "nothing planted",
    ]
    with OpenAIBackend(
        model="judge", base_url=judge_server, api_key_env=None, cache_dir=tmp_path
    ) as b:
        counts = judge_counts(texts, [[1, 2], [3, 4], None], [3, 7, None], b)
        assert b.usage.requests == 12
    assert counts == [
        {"verification": 3, "backtracking": 1, "subgoal": 0, "backward": 0},
        {"verification": 0, "backtracking": 0, "subgoal": 2, "backward": 5},
        {"verification": 0, "backtracking": 0, "subgoal": 0, "backward": 0},
    ]


def test_judge_counts_checks_lengths(judge_server: str, tmp_path: Path) -> None:
    with (
        OpenAIBackend(
            model="judge", base_url=judge_server, api_key_env=None, cache_dir=tmp_path
        ) as b,
        pytest.raises(ValueError, match="got 2, 1 and 2"),
    ):
        judge_counts(["a", "b"], [[1]], [1, 2], b)
