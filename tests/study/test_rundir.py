"""The run directory: the manifest under concurrent jobs, locks, resume, provenance."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import socket
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest

import cogstar
from cogstar.errors import RunLocked, RunMismatch, StageError
from cogstar.study.rundir import RunDir, git_revision, versions

SPEC = 'experiment = "exp"\n[sweep]\ncondition = ["c0", "c1", "c2", "c3"]\n'
CELLS = {f"c{i}": {"condition": f"c{i}"} for i in range(4)}
# spawn, not fork: the children start clean (no inherited locks or threads).
CTX = mp.get_context("spawn")


def make_run(tmp_path: Path) -> RunDir:
    return RunDir.create(tmp_path / "exp", SPEC, "exp", CELLS)


def state(run: RunDir, unit: str, name: str) -> str | None:
    record = run.status(unit, name)
    return None if record is None else str(record["status"])


def siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


# --- child processes (module level, so spawn can import them) ----------------------------


def _mark_many(root: str, cell: str, count: int) -> None:
    run = RunDir(root)
    with run.lock(cell):
        for i in range(count):
            with run.stage(cell, f"s{i:03d}", f"h{i}") as stage:
                stage.outputs["i"] = i


def _hold(root: str, unit: str, ready: Event, release: Event) -> None:
    run = RunDir(root)
    with run.lock(unit), run.stage(unit, "sft", "h1"):
        ready.set()
        release.wait(60)


def _start_holder(root: Path, unit: str) -> tuple[mp.process.BaseProcess, Event]:
    ready, release = CTX.Event(), CTX.Event()
    child = CTX.Process(target=_hold, args=(str(root), unit, ready, release))
    child.start()
    assert ready.wait(60), "the child never took the lock"
    return child, release


# --- provenance ---------------------------------------------------------------------------


def test_versions_and_git_revision(tmp_path: Path) -> None:
    found = versions()
    assert found["python"].count(".") == 2
    assert found["cogstar"] == cogstar.__version__
    assert "platform" in found and all(isinstance(v, str) for v in found.values())
    revision = git_revision()
    assert revision is None or (len(revision.removesuffix("+dirty")) == 40)
    assert git_revision(tmp_path) is None  # not a checkout
    assert git_revision(tmp_path / "missing") is None  # never raises


# --- the run directory --------------------------------------------------------------------


def test_create_writes_spec_and_manifest(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    assert (run.root / "spec.toml").read_text() == SPEC
    manifest = run.manifest()
    assert manifest["experiment"] == "exp"
    assert manifest["cells"]["c2"] == {"axes": {"condition": "c2"}, "stages": {}}
    assert manifest["shared"] == {"stages": {}}
    assert "python" in manifest["versions"] and "git" in manifest
    assert run.layout.cell("c1").root == run.root / "c1"
    assert run.layout.shared == run.root / "shared"
    assert run.layout.report == run.root / "report"
    # reopening with the same spec keeps the records and the creation time
    again = RunDir.create(run.root, SPEC, "exp", CELLS)
    assert again.manifest()["created"] == manifest["created"]
    with pytest.raises(ValueError, match="cell name 'shared'"):
        RunDir.create(tmp_path / "other", SPEC, "exp", {"shared": {}})


def test_a_different_spec_is_refused_unless_forced(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    with run.lock("c0"), run.stage("c0", "sft", "h-old"):
        pass
    changed = SPEC.replace('"c3"]', '"c3", "c4"]')
    with pytest.raises(RunMismatch, match="--force") as err:
        RunDir.create(run.root, changed, "exp", CELLS, source="specs/exp.toml")
    message = str(err.value)
    assert str(run.root / "spec.toml") in message and "specs/exp.toml" in message
    assert '+condition = ["c0", "c1", "c2", "c3", "c4"]' in message
    assert (run.root / "spec.toml").read_text() == SPEC

    forced = RunDir.create(run.root, changed, "exp", {**CELLS, "c4": {}}, force=True)
    assert (run.root / "spec.toml").read_text() == changed
    assert forced.is_done("c0", "sft", "h-old")  # nothing deleted
    assert not forced.is_done("c0", "sft", "h-new")  # a changed input is redone
    assert "c4" in forced.manifest()["cells"]


def test_stage_records_done_failed_and_interrupted(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    assert run.status("c0", "sft") is None
    with run.lock("c0"):
        with run.stage("c0", "sft", "h1") as stage:
            assert state(run, "c0", "sft") == "running"
            assert run.summary() == [("c0", "sft", "running", pytest.approx(0, abs=5))]
            stage.outputs["model"] = Path("sft/final")
            stage.info["loss"] = 0.5
        with pytest.raises(ValueError, match="bad batch"), run.stage("c0", "ppo", "h2"):
            raise ValueError("bad batch")
        with pytest.raises(KeyboardInterrupt), run.stage("c0", "eval", "h3"):
            raise KeyboardInterrupt
    done = run.status("c0", "sft")
    assert done is not None and done["status"] == "done"
    assert done["outputs"] == {"model": "sft/final"} and done["info"] == {"loss": 0.5}
    assert done["seconds"] >= 0 and done["inputs_hash"] == "h1"
    failed = run.status("c0", "ppo")
    assert failed is not None and failed["status"] == "failed"
    assert failed["error"] == "ValueError: bad batch"
    assert state(run, "c0", "eval") == "interrupted"
    assert [row[:3] for row in run.summary()] == [
        ("c0", "sft", "done"),
        ("c0", "ppo", "failed"),
        ("c0", "eval", "interrupted"),
    ]
    assert run.is_done("c0", "sft", "h1")
    assert not run.is_done("c0", "sft", "h9")
    assert not run.is_done("c0", "ppo", "h2")
    assert not run.is_done("c1", "sft", "h1")


def test_stage_needs_the_lock_and_a_known_cell(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    with pytest.raises(StageError, match=r"run\.lock\('c0'\)"), run.stage("c0", "sft", "h"):
        pass
    with pytest.raises(ValueError, match=r"no cell 'c9'.*cells: c0, c1, c2, c3"), run.lock("c9"):
        pass
    with run.lock("shared"), run.lock("shared"), run.stage("shared", "data", "h"):
        pass  # re-entrant within one process
    assert run.is_done("shared", "data", "h")


def test_outputs_that_are_not_json_fail_the_stage(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    with (
        pytest.raises(TypeError, match="JSON data"),
        run.lock("c0"),
        run.stage("c0", "sft", "h") as stage,
    ):
        stage.outputs["model"] = object()
    assert state(run, "c0", "sft") == "failed"


def test_concurrent_cell_jobs_lose_no_manifest_update(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    count = 15
    jobs = [CTX.Process(target=_mark_many, args=(str(run.root), cell, count)) for cell in CELLS]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(120)
        assert job.exitcode == 0
    manifest = run.manifest()
    for cell in CELLS:
        stages = manifest["cells"][cell]["stages"]
        assert len(stages) == count
        assert all(record["status"] == "done" for record in stages.values())
        assert all(run.is_done(cell, f"s{i:03d}", f"h{i}") for i in range(count))
    assert not [p for p in run.root.iterdir() if p.name.endswith(".tmp")]


def test_a_second_process_cannot_take_a_held_lock(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    child, release = _start_holder(run.root, "c1")
    try:
        with pytest.raises(RunLocked) as err, run.lock("c1"):
            pass
        message = str(err.value)
        assert f"pid {child.pid} on {socket.gethostname()}" in message
        assert (
            str(run.layout.cell("c1").root) in message and "flock dies with the process" in message
        )
        assert state(run, "c1", "sft") == "running"
        with run.lock("c2"):  # other cells are free
            pass
    finally:
        release.set()
        child.join(60)
    assert child.exitcode == 0
    assert run.is_done("c1", "sft", "h1")


def test_sigkill_frees_the_lock_and_the_stage_resumes(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    child, _ = _start_holder(run.root, "c3")
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join(60)
    assert child.exitcode == -signal.SIGKILL
    record = run.status("c3", "sft")
    assert record is not None and record["status"] == "interrupted"
    assert record["pid"] == child.pid
    assert ("c3", "sft", "interrupted") in [row[:3] for row in run.summary()]
    with run.lock("c3"):
        assert state(run, "c3", "sft") == "interrupted"
        assert not run.is_done("c3", "sft", "h1")
        with run.stage("c3", "sft", "h1"):
            pass
    record = run.status("c3", "sft")
    assert record is not None and record["status"] == "done" and record["attempts"] == 2
