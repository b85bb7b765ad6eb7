"""The cogstar command line, run as a user would (a real subprocess) and in-process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cogstar.cli import main


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cogstar.cli", *args], input=stdin, capture_output=True, text=True
    )


def test_solve_all_classic() -> None:
    out = run(
        "solve", "25", "50", "75", "100", "3", "6", "--target", "952", "--rules", "classic", "--all"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "(100 + 3) * 75 * 6 / 50 + 25",
        "((100 + 6) * 75 * 3 - 50) / 25",
    ]


def test_solve_count_and_unsolvable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["solve", "1", "2", "3", "4", "--target", "24", "--count"]) == 0
    assert capsys.readouterr().out.strip().isdigit()
    assert main(["solve", "1", "1", "1", "--target", "100"]) == 1
    assert "no solution" in capsys.readouterr().err


def test_score_one_from_stdin() -> None:
    out = run(
        "score",
        "--numbers",
        "44",
        "19",
        "35",
        "--target",
        "98",
        stdin="Assistant: <answer>44+19+35</answer>",
    )
    assert out.returncode == 0, out.stderr
    assert "value 1.0  outcome correct" in out.stdout


def test_score_jsonl_and_its_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "rollouts.jsonl"
    rows = [
        {"text": "Assistant: <answer>1+2</answer>", "numbers": [1, 2], "target": 3},
        {"text": "Assistant: <answer>1*2</answer>", "numbers": [1, 2], "target": 3},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert main(["score", str(path)]) == 0
    out = capsys.readouterr().out
    assert "correct" in out and "wrong_value" in out and "accuracy 0.5000" in out
    path.write_text(json.dumps(rows[0]) + "\n{not json\n", encoding="utf-8")
    assert main(["score", str(path)]) == 2
    assert "rollouts.jsonl:2: invalid JSON" in capsys.readouterr().err
    assert main(["score", "just text"]) == 2
    assert "needs --numbers and --target" in capsys.readouterr().err


def test_generate_puzzles_to_file(tmp_path: Path) -> None:
    out = tmp_path / "data" / "priming.jsonl"
    result = run(
        "generate", "puzzles", "--count", "50", "--seed", "3", "--priming", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 50
    assert all(all(n < r["target"] for n in r["numbers"]) and 10 <= r["target"] <= 25 for r in rows)
    again = run("generate", "puzzles", "--count", "50", "--seed", "3", "--priming")
    assert [json.loads(line) for line in again.stdout.splitlines()] == rows


def test_bad_arguments_are_reported_not_raised(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "puzzles", "--count", "5", "--seed", "0", "--sizes", "9"]) == 2
    assert "sizes must be between 2 and 7" in capsys.readouterr().err
