"""The command line as a user meets it: help for every option, JSON output, JSON lines on
stdin, a closed pipe, --dry-run of one cell."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

import cogstar
from cogstar.cli import build_parser, main
from cogstar.tasks import rl_prompt

ROOT = Path(__file__).parents[2]


def _parsers(parser: argparse.ArgumentParser, name: str = "cogstar"):  # type: ignore[no-untyped-def]
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, child in action.choices.items():
                yield from _parsers(child, f"{name} {sub}")


def test_every_option_has_help_text() -> None:
    missing = [
        f"{name} {'/'.join(a.option_strings) or a.dest}"
        for name, parser in _parsers(build_parser())
        for a in parser._actions
        if not isinstance(a, argparse._SubParsersAction | argparse._HelpAction) and not a.help
    ]
    assert missing == []


ROWS = [  # cogstar's own evaluation rows: the completion without its prompt
    {"numbers": [44, 19, 35], "target": 98, "completion": " </think>\n<answer>44 + 19 + 35</answer>"},
    {"numbers": [1, 2, 3], "target": 6, "completion": " no answer"},
    {"numbers": [1, 2, 3], "target": 6, "prompt": rl_prompt([1, 2, 3], 6),
     "completion": " <answer>1 * 2 * 3</answer>"},
]  # fmt: skip


def test_score_json_lines_on_stdin_with_json_output(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(json.dumps(r) + "\n" for r in ROWS)))
    assert main(["score", "--json", "--per-item"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["value"] for x in lines[:3]] == [1.0, 0.0, 1.0]
    assert lines[3] == {"source": "<stdin>", "n": 3, "mode": "tinyzero",
                        "accuracy": pytest.approx(2 / 3), "mean_reward": pytest.approx(2 / 3),
                        "outcomes": {"correct": 2, "no_answer": 1}}  # fmt: skip
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"numbers": [1], "target": 1}\nnot json\n'))
    assert main(["score"]) == 2
    assert "<stdin>:2: invalid JSON" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"numbers": [1], "target": 1}\n'))
    assert main(["score"]) == 2
    assert (
        "<stdin>:1: not a completion row (no 'completion' or 'text' field"
        in capsys.readouterr().err
    )


def test_score_one_response_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    text = rl_prompt([1, 2, 3], 6) + "<answer>1+2+3</answer>"
    assert main(["score", text, "--numbers", "1", "2", "3", "--target", "6", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got == {"value": 1.0, "outcome": "correct", "answer": "1+2+3", "result": 6.0}
    assert got["value"] == cogstar.score(text, [1, 2, 3], 6).value


def test_a_closed_pipe_is_not_a_traceback() -> None:
    done = subprocess.run(
        f"{sys.executable} -m cogstar.cli generate puzzles --count 200000 --seed 0 | head -1",
        shell=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert json.loads(done.stdout)["target"] > 0
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr


def test_dry_run_honours_cell(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["run", "experiments/priming_sweep.toml", "--dry-run", "--cell", "empty_cot"]) == 0
    out = capsys.readouterr().out
    assert "1 cells in" in out and "empty_cot" in out
    assert "all_strategies" not in out
    assert main(["run", "experiments/priming_sweep.toml", "--dry-run", "--cell", "nope"]) == 2
    assert "no cell named nope" in capsys.readouterr().err
