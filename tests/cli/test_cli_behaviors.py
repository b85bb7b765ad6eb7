"""``cogstar generate priming`` and ``cogstar classify``, run in-process (and against a server)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cogstar
from cogstar.behaviors import BEHAVIORS
from cogstar.behaviors.cards import dataset_card
from cogstar.behaviors.judge import DEFINITIONS
from cogstar.behaviors.priming import build_priming_set, priming_puzzles
from cogstar.cli import main
from cogstar.io import read_records
from loopback import openai_server


def _generate(out: Path, condition: str, *extra: str, count: int = 12) -> int:
    return main(
        [
            "generate",
            "priming",
            "--condition",
            condition,
            "--count",
            str(count),
            "--seed",
            "3",
            "--out",
            str(out),
            *extra,
        ]
    )


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_generate_priming_writes_records_and_card(
    tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "data" / f"ob{suffix}"
    assert _generate(out, "only_backtracking") == 0
    records = list(read_records(out))
    expected = build_priming_set("only_backtracking", priming_puzzles(12, seed=3), seed=3)
    assert records == expected
    captured = capsys.readouterr()
    assert "only_backtracking" in captured.out and "accuracy" in captured.out
    assert "100.0%" in captured.out and "backtracking" in captured.out
    assert "wrote 12 records" in captured.err
    card_md, card_json = tmp_path / "data" / "ob.card.md", tmp_path / "data" / "ob.card.json"
    text = card_md.read_text(encoding="utf-8")
    assert text.startswith("---\n") and f"path: ob{suffix}\n" in text  # the Hub's metadata
    assert "\n# Priming set: only_backtracking\n" in text
    card = json.loads(card_json.read_text(encoding="utf-8"))
    assert card["size"] == 12 and card["accuracy"] == 1.0
    assert card["mean_counts"] == dataset_card(expected, "only_backtracking").mean_counts
    assert "--condition only_backtracking --count 12 --source synthetic" in card["generation"]


def test_generate_priming_controls_and_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _generate(tmp_path / "np.jsonl", "no_positive", "--budget", "2000", count=4) == 0
    records = list(read_records(tmp_path / "np.jsonl"))
    assert len(records) == 4 and not any(r.correct for r in records)
    assert _generate(tmp_path / "e.jsonl", "empty_cot", count=4) == 0
    assert all(
        r.completion.startswith("<think> </think>") for r in read_records(tmp_path / "e.jsonl")
    )
    capsys.readouterr()
    assert _generate(tmp_path / "d.jsonl", "dots") == 2
    assert "dots control needs the primed model's tokenizer" in capsys.readouterr().err
    assert _generate(tmp_path / "x.csv", "all_strategies") == 2
    assert "unknown file type '.csv'; use .jsonl or .parquet" in capsys.readouterr().err
    assert _generate(tmp_path / "x.jsonl", "all_strategies", "--source", "llm") == 2
    assert "--source llm needs --model" in capsys.readouterr().err
    assert (
        _generate(tmp_path / "x.jsonl", "all_strategies", "--source", "llm", "--budget", "9") == 2
    )
    assert "--budget (rough characters per trace) applies to --source synthetic" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "x.jsonl").exists() and not (tmp_path / "d.jsonl").exists()


@pytest.mark.parametrize("command", [["generate", "priming"], ["classify"]])
def test_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: cogstar" in capsys.readouterr().out


@pytest.fixture
def priming_file(tmp_path: Path) -> Path:
    out = tmp_path / "as.parquet"
    assert _generate(out, "all_strategies", count=8) == 0
    return out


def test_classify_rules(priming_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["classify", str(priming_file)]) == 0
    out = capsys.readouterr().out
    assert "8 items, judge=rules" in out
    assert all(b in out for b in BEHAVIORS)
    assert main(["classify", str(priming_file), "--per-item"]) == 0
    out = capsys.readouterr().out
    assert "per item" in out
    rows = [line for line in out.splitlines() if re.match(r"^│ +\d+ │", line)]
    assert len(rows) == 8
    assert main(["classify", str(priming_file), "--json", "--per-item"]) == 0
    report = json.loads(capsys.readouterr().out)
    records = list(read_records(priming_file))
    card = dataset_card(records, "all_strategies")
    assert report["n"] == 8 and report["judge"] == "rules"
    assert report["mean"] == pytest.approx(card.mean_counts)
    assert report["share_with_any"] == pytest.approx(card.share_with)
    assert [item["numbers"] for item in report["items"]] == [r.numbers for r in records]


def test_classify_text_fields_and_broken_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "responses.jsonl"
    rows = [
        {"text": "<think>6 * 5 = 30, which is 6 more than 24.</think>", "target": 24},
        {"completion": "no numbers, no target"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert main(["classify", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 2
    path.write_text(json.dumps(rows[0]) + "\n{not json\n", encoding="utf-8")
    assert main(["classify", str(path)]) == 2
    err = capsys.readouterr().err
    assert "responses.jsonl:2: invalid JSON" in err
    assert "Traceback" not in err
    path.write_text(json.dumps({"completion": "x", "numbers": "1 2"}) + "\n", encoding="utf-8")
    assert main(["classify", str(path)]) == 2
    assert "responses.jsonl:1:" in capsys.readouterr().err
    path.write_text(json.dumps({"prompt": "no text field"}) + "\n", encoding="utf-8")
    assert main(["classify", str(path)]) == 2
    assert "no 'completion' or 'text' field" in capsys.readouterr().err
    path.write_text(json.dumps({"response": "another name"}) + "\n", encoding="utf-8")
    assert main(["classify", str(path)]) == 2
    assert "(rename 'response' to 'completion')" in capsys.readouterr().err
    assert main(["classify", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl: no such file" in capsys.readouterr().err
    assert main(["classify", str(tmp_path / "notes.txt")]) == 2
    assert "completions are read from .jsonl or .parquet files" in capsys.readouterr().err
    assert main(["classify", str(path), "--judge", "llm"]) == 2
    assert "--judge llm needs --model" in capsys.readouterr().err


def _planted_count(prompt: str) -> str:
    """A judge that 'counts' by echoing the digit planted in the response for its behavior."""
    behavior = next(b for b in BEHAVIORS if DEFINITIONS[b] in prompt)
    planted = re.search(rf"{behavior}=(\d+)", prompt)
    return f"<count>{planted.group(1)}</count>" if planted else "no idea"


@pytest.fixture
def judge_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    with openai_server(_planted_count) as server:
        yield server


def test_classify_with_an_llm_judge(
    tmp_path: Path,
    judge_server: tuple[str, list[dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, seen = judge_server
    path = tmp_path / "planted.jsonl"
    rows = [
        {"completion": "verification=3 backtracking=1", "numbers": [1, 2], "target": 3},
        {"completion": "subgoal=2 backward=5"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    args = ["classify", str(path), "--judge", "llm", "--model", "judge", "--base-url", url]
    args += ["--api-key-env", "none", "--cache-dir", str(tmp_path / "cache"), "--json"]
    assert main([*args, "--per-item"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(seen) == 8  # four questions per item
    assert report["judge"] == "llm"
    assert [{b: item[b] for b in BEHAVIORS} for item in report["items"]] == [
        {"verification": 3, "backtracking": 1, "subgoal": 0, "backward": 0},
        {"verification": 0, "backtracking": 0, "subgoal": 2, "backward": 5},
    ]
    assert report["mean"] == {
        "verification": 1.5,
        "backtracking": 0.5,
        "subgoal": 1,
        "backward": 2.5,
    }
    assert main(args[:-1]) == 0  # the Rich table; replies now come from the cache
    assert len(seen) == 8
    assert "2 items, judge=llm" in capsys.readouterr().out


_PUZZLE = re.compile(r"Using the numbers \[([\d, ]+)\], create an equation that equals (\d+)")


def _author(user: str) -> str:
    """Solves the puzzle in the user message, in the priming format."""
    m = _PUZZLE.search(user)
    assert m is not None
    numbers, target = [int(n) for n in m.group(1).split(", ")], int(m.group(2))
    solution = cogstar.solve(numbers, target, rules="classic")[0]
    return f"<think> {solution} = {target}, the target. </think>\n<answer> {solution} </answer>"


def test_generate_priming_from_an_llm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "llm.jsonl"
    with openai_server(_author) as (url, seen):
        code = _generate(
            out,
            "backtracking_verification",
            "--source",
            "llm",
            "--model",
            "author",
            "--base-url",
            url,
            "--api-key-env",
            "none",
            "--cache-dir",
            str(tmp_path / "cache"),
            count=5,
        )
    assert code == 0, capsys.readouterr().err
    assert len(seen) == 5
    records = list(read_records(out))
    assert [r.source for r in records] == ["llm"] * 5
    assert all(r.correct and r.counts is None for r in records)
    card = json.loads((tmp_path / "llm.card.json").read_text(encoding="utf-8"))
    assert card["accuracy"] == 1.0 and card["truth_counts"] is None
    assert "openai model author" in card["generation"]
