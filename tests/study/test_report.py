"""The report: a fake run directory (one complete cell, one without behavior counts, one with
only step 0) read back into tables, a ranking, figures and summary.json; the packaged paper data."""

from __future__ import annotations

import csv
import importlib.resources as resources
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import cogstar
from cogstar.cli import main
from cogstar.errors import DataError
from cogstar.study.figures import figures
from cogstar.study.report import DASH, build_report, ranking, tables, write_summary
from cogstar.study.results import (
    PaperPoint,
    load_run,
    paper_curves,
    paper_final,
    resolve_paper,
)

PNG = b"\x89PNG\r\n\x1a\n"
BEHAVIORS = ("verification", "backtracking", "subgoal", "backward")

# cell -> step -> (accuracy, mean_chars, behavior means or None)
CELLS: dict[str, dict[int, tuple[float, float, dict[str, float] | None]]] = {
    "all_strategies": {
        0: (
            0.25,
            410.5,
            {"verification": 1.5, "backtracking": 2.25, "subgoal": 3.0, "backward": 1.0},
        ),
        10: (
            0.5,
            380.0,
            {"verification": 2.0, "backtracking": 3.5, "subgoal": 1.25, "backward": 0.5},
        ),
        20: (
            0.625,
            350.25,
            {"verification": 2.5, "backtracking": 4.0, "subgoal": 0.5, "backward": 0.0},
        ),
    },
    "unprimed": {0: (0.0, 620.0, None), 10: (0.125, 140.0, None)},
    "dots": {0: (0.1, 300.0, None)},
}


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _summary(accuracy: float, chars: float) -> dict[str, Any]:
    n = 16
    correct = round(accuracy * n)
    return {
        "n": n,
        "accuracy": accuracy,
        "pass_at_k": {"1": accuracy},
        "outcomes": {"correct": correct, "wrong_value": n - correct},
        "mean_chars": chars,
        "mean_tokens": chars / 4,
        "seconds": 1.5,
        "extra": {},
    }


@pytest.fixture
def run(tmp_path: Path) -> Path:
    root = tmp_path / "sweep"
    manifest = {
        "experiment": "sweep",
        "cells": {name: {"axes": {"condition": name, "seed": 0}, "stages": {}} for name in CELLS},
    }
    _write(root / "manifest.json", json.dumps(manifest))
    _write(
        root / "spec.toml",
        '[experiment]\nname = "sweep"\n\n[model]\nsource = "meta-llama/Llama-3.2-3B"\n\n'
        '[report]\npaper = "auto"\n\n[ppo]\nsteps = 30\n',
    )
    for cell, steps in CELLS.items():
        for step, (acc, chars, means) in steps.items():
            _write(
                root / cell / "eval" / f"step_{step:06d}.summary.json",
                json.dumps(_summary(acc, chars)),
            )
            _write(root / cell / "eval" / f"step_{step:06d}.jsonl", "")
            if means is not None:
                share = {b: min(1.0, v / 4) for b, v in means.items()}
                _write(
                    root / cell / "behaviors" / f"step_{step:06d}.json",
                    json.dumps(
                        {"step": step, "n": 16, "judge": "rules", "mean": means, "share": share}
                    ),
                )
    lines = [
        json.dumps({"step": s, "reward": 0.1 + s / 100, "accuracy": s / 40, "kl": 0.0})
        for s in range(1, 21)
    ]
    _write(root / "all_strategies" / "ppo" / "metrics.jsonl", "\n".join(lines) + '\n{"step": 2')
    _write(root / "unprimed" / "ppo" / "metrics.jsonl", "\n".join(lines[:10]) + "\n")
    return root


def _render(*renderables: Any) -> str:
    console = Console(record=True, width=200)
    for r in renderables:
        console.print(r)
    return console.export_text()


def _rows(text: str) -> list[list[str]]:
    """The body rows of rendered Rich tables, as lists of stripped cell texts."""
    return [
        [c.strip() for c in line.split("│")[1:-1]]
        for line in text.splitlines()
        if line.startswith("│")
    ]


def test_load_run_reads_what_exists(run: Path) -> None:
    results = load_run(run)
    assert results.experiment == "sweep"
    assert results.model_source == "meta-llama/Llama-3.2-3B"
    assert results.planned_steps == 30
    assert [c.name for c in results.cells] == ["all_strategies", "unprimed", "dots"]
    full, partial, start = results.cells
    assert [c.step for c in full.checkpoints] == [0, 10, 20]
    assert full.checkpoints[2].accuracy == 0.625
    assert full.checkpoints[2].behaviors == CELLS["all_strategies"][20][2]
    assert full.checkpoints[1].outcomes == {"correct": 8, "wrong_value": 8}
    assert len(full.train) == 20  # the torn last line is skipped
    assert [c.behaviors for c in partial.checkpoints] == [None, None]
    assert len(partial.train) == 10
    assert start.final is not None and start.final.step == 0
    assert start.train == []
    assert resolve_paper(results) == "llama"
    assert resolve_paper(results, "qwen") == "qwen"
    assert resolve_paper(results, "none") is None


def test_tables_show_checkpoints_and_dashes(run: Path) -> None:
    results = load_run(run)
    out = tables(results)
    assert [t.title for t in out] == ["all_strategies", "unprimed", "dots"]
    text = _render(*out)
    assert "length (chars)" in text
    rows = _rows(text)
    assert len(rows) == 3 + 2 + 1
    assert rows[2] == ["20", "0.625", "350.2", "2.50", "4.00", "0.50", "0.00"]
    assert rows[4] == ["10", "0.125", "140.0", DASH, DASH, DASH, DASH]
    assert rows[5] == ["0", "0.100", "300.0", DASH, DASH, DASH, DASH]
    words = " ".join(text.split())
    assert "cell all_strategies; RL step 20, reward 0.300" in words
    assert "cell unprimed; RL step 10, reward 0.200" in words
    assert "cell dots; no RL steps logged" in words


def test_tables_of_cells_sharing_a_condition_are_titled_by_cell(run: Path) -> None:
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["cells"]["dots"]["axes"]["condition"] = "unprimed"
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert [t.title for t in tables(load_run(run))] == ["all_strategies", "unprimed", "dots"]
    assert [c.condition for c in load_run(run).cells] == ["all_strategies", "unprimed", "unprimed"]


def test_ranking_with_paper_values(run: Path) -> None:
    results = load_run(run)
    final = paper_final("llama")
    text = _render(ranking(results, "llama"))
    assert "paper final: Llama-3.2-3B" in text
    # rank, cell, condition, start acc, final acc, at step, gain, paper final
    assert _rows(text) == [
        ["1", "all_strategies", "all_strategies", "0.250", "0.625", "20", "+0.375",
         f"{final['all_strategies']:.3f}"],
        ["2", "unprimed", "unprimed", "0.000", "0.125", "10", "+0.125", f"{final['unprimed']:.3f}"],
        ["3", "dots", "dots", "0.100", "0.100", "0", "+0.000", f"{final['dots']:.3f}"],
    ]  # fmt: skip
    assert [row[-1] for row in _rows(_render(ranking(results, None)))] == [DASH] * 3


def test_summary_json_equals_inputs(run: Path, tmp_path: Path) -> None:
    results = load_run(run)
    path = write_summary(results, tmp_path / "out" / "summary.json", "llama")
    data = json.loads(path.read_text())
    assert data["experiment"] == "sweep"
    assert data["paper"]["model"] == "llama"
    assert data["paper"]["final_accuracy"]["unprimed"] == paper_final("llama")["unprimed"]
    assert "generated" in data
    for name, steps in CELLS.items():
        cell = data["cells"][name]
        assert cell["condition"] == name
        assert [c["step"] for c in cell["checkpoints"]] == sorted(steps)
        for cp in cell["checkpoints"]:
            acc, chars, means = steps[cp["step"]]
            assert cp["accuracy"] == acc
            assert cp["mean_chars"] == chars
            assert cp["behaviors"] == means
        last = max(steps)
        assert cell["final"]["step"] == last
        assert cell["final"]["accuracy"] == steps[last][0]
        assert cell["start_accuracy"] == steps[0][0]
    assert data["cells"]["all_strategies"]["gain"] == pytest.approx(0.375)
    assert data["cells"]["all_strategies"]["train"]["steps_logged"] == 20
    assert data["cells"]["all_strategies"]["train"]["last"]["step"] == 20
    assert [r["cell"] for r in data["ranking"]] == ["all_strategies", "unprimed", "dots"]
    assert data["ranking"][0] == {
        "rank": 1,
        "cell": "all_strategies",
        "condition": "all_strategies",
        "start_accuracy": 0.25,
        "final_accuracy": 0.625,
        "final_step": 20,
        "gain": 0.375,
        "paper_final": paper_final("llama")["all_strategies"],
    }


def test_figures_are_pngs(run: Path, tmp_path: Path) -> None:
    results = load_run(run)
    for paper in ("llama", None):
        out = tmp_path / f"figs-{paper}"
        paths = figures(results, out, paper, dpi=30)
        assert [p.name for p in paths] == ["accuracy.png", "behaviors.png", "length.png"]
        for p in paths:
            data = p.read_bytes()
            assert len(data) > len(PNG) and data.startswith(PNG)
        assert sorted(q.name for q in out.iterdir()) == sorted(p.name for p in paths)  # no temps


def test_x_axis_is_training_progress_for_short_runs(run: Path) -> None:
    from cogstar.study.figures import _x_axis

    results = load_run(run)
    curves = paper_curves("llama")
    axis = _x_axis(results, curves)  # our last step 20 < 125: both on 0..1
    assert axis.progress and axis.our_total == 30  # [ppo].steps of the spec
    assert axis.ours(15) == 0.5 and axis.paper(125, 250) == 0.5
    assert not _x_axis(results, {}).progress  # no paper curves: steps
    _write(run / "unprimed" / "eval" / "step_000200.summary.json", json.dumps(_summary(0.3, 50.0)))
    axis = _x_axis(load_run(run), curves)
    assert not axis.progress and axis.ours(200) == 200.0


def test_paper_data_is_packaged() -> None:
    folder = resources.files("cogstar").joinpath("data").joinpath("paper")
    names = {p.name for p in folder.iterdir()}
    assert {"llama_results.csv", "qwen_results.csv", "claude_accs.csv", "SOURCE.md"} <= names
    assert "Apache" in folder.joinpath("SOURCE.md").read_text(encoding="utf-8")


def test_paper_curves() -> None:
    folder = resources.files("cogstar").joinpath("data").joinpath("paper")
    rows = list(csv.DictReader(folder.joinpath("llama_results.csv").open(encoding="utf-8")))
    last = max(
        (r for r in rows if r["condition"] == "all_strategies"), key=lambda r: int(r["step"])
    )
    assert paper_final("llama")["all_strategies"] == float(last["accuracy"])
    assert paper_final("llama")["all_strategies"] == pytest.approx(0.74, abs=0.01)
    qwen = paper_curves("qwen")
    assert "base_ppo" not in qwen and "no_positive_all_strategies" not in qwen
    assert qwen["unprimed"][0] == PaperPoint(
        step=0,
        accuracy=0.005859375,
        response_length=621.763671875,
        verification=0.62109375,
        backtracking=0.6484375,
        subgoal=0.5390625,
        backward=0.0654296875,
    )
    assert "no_positive" in qwen
    # human_cot's rows are all in the file twice; each step is kept once, in order
    steps = [p.step for p in qwen["human_cot"]]
    assert len(steps) == 24 and steps == sorted(set(steps))
    assert "negative_control" not in paper_curves("llama")
    with pytest.raises(ValueError, match="qwen and llama"):
        paper_curves("gpt")


def test_corrupt_summary_names_the_file(run: Path) -> None:
    bad = run / "unprimed" / "eval" / "step_000010.summary.json"
    bad.write_text('{"accuracy": 0.1,')
    with pytest.raises(DataError, match=r"step_000010\.summary\.json") as info:
        load_run(run)
    assert isinstance(info.value, cogstar.CogstarError)
    assert "cogstar run SPEC" in str(info.value)
    assert main(["report", str(run), "--no-figures"]) == 2


def test_corrupt_middle_metrics_line_raises(run: Path) -> None:
    path = run / "unprimed" / "ppo" / "metrics.jsonl"
    lines = path.read_text().splitlines()
    lines[3] = "{oops"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"metrics\.jsonl:4"):
        load_run(run)


def test_partial_runs_never_crash(tmp_path: Path) -> None:
    # No manifest or spec: cells are the folders with eval, behaviors or ppo in them.
    root = tmp_path / "partial"
    _write(root / "c1" / "ppo" / "metrics.jsonl", '{"step": 1, "reward": 0.1}\n')
    _write(root / "c2" / "behaviors" / "step_000000.json", json.dumps({"mean": {"backward": 1}}))
    console = Console(record=True, width=200)
    report = build_report(root, console, figures=False)
    text = console.export_text()
    assert "no evaluations yet" in text
    assert _rows(text)[0] == ["0", DASH, DASH, DASH, DASH, DASH, "1.00"]
    assert [row[0] for row in _rows(text)[1:]] == [DASH, DASH]  # unranked: no accuracy
    summary = json.loads((report / "summary.json").read_text())
    assert summary["paper"]["model"] is None
    assert summary["cells"]["c1"]["final"] is None
    assert (report / "report.md").read_text().startswith("# partial\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert build_report(empty, Console(record=True), paper="qwen", dpi=30).is_dir()
    with pytest.raises(DataError, match="no such run directory"):
        load_run(tmp_path / "missing")


def test_cli_report(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(run), "--paper", "qwen"]) == 0
    out = capsys.readouterr().out
    assert "Ranking by final accuracy" in out
    assert f"report written to {run / 'report'}" in out
    report = run / "report"
    for name in ("report.md", "summary.json", "accuracy.png", "behaviors.png", "length.png"):
        assert (report / name).stat().st_size > 0
    assert json.loads((report / "summary.json").read_text())["paper"]["model"] == "qwen"
    markdown = (report / "report.md").read_text()
    assert (
        "| rank | cell | condition | start acc (step 0) | final acc | at step | gain |" in markdown
    )
    assert "| 1 | all_strategies | all_strategies | 0.250 | 0.625 | 20 | +0.375 |" in markdown
    assert "![accuracy](accuracy.png)" in markdown
    assert main(["report", str(run / "nope"), "--no-figures"]) == 2
    assert "no such run directory" in capsys.readouterr().err
