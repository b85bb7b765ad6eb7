"""`cogstar run` end to end on the shipped tiny model: every stage, resume without redoing
finished work, one cell at a time, and a real SIGKILL in the middle of PPO."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from cogstar import io  # noqa: E402
from cogstar.errors import StageError  # noqa: E402
from cogstar.study.progress import Reporter  # noqa: E402
from cogstar.study.rundir import RunDir  # noqa: E402
from cogstar.study.runner import run_experiment  # noqa: E402
from micro import write_study  # noqa: E402

STEPS = (0, 1, 2)


def _spec(tmp: Path) -> Path:
    return write_study(tmp, "micro")  # type: ignore[no-any-return]


def _results(run_dir: Path, cell: str) -> dict[str, object]:
    """What a finished cell produced: completions, eval summaries and behavior counts."""
    out: dict[str, object] = {}
    for step in STEPS:
        summary = json.loads(
            (run_dir / cell / "eval" / f"step_{step:06d}.summary.json").read_text()
        )
        out[f"acc@{step}"] = summary["accuracy"]
        out[f"completions@{step}"] = [
            r["completion"]
            for r in io.read_jsonl(run_dir / cell / "eval" / f"step_{step:06d}.jsonl")
        ]
        out[f"behaviors@{step}"] = json.loads(
            (run_dir / cell / "behaviors" / f"step_{step:06d}.json").read_text()
        )["mean"]
    return out


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted run of the micro study (both cells)."""
    tmp = tmp_path_factory.mktemp("whole")
    return run_experiment(_spec(tmp), report=Reporter("quiet"))


def test_every_stage_is_done_and_reported(whole: Path) -> None:
    manifest = json.loads((whole / "manifest.json").read_text())
    assert manifest["shared"]["stages"]["data"]["status"] == "done"
    primed = manifest["cells"]["all_strategies"]["stages"]
    unprimed = manifest["cells"]["unprimed"]["stages"]
    for name in ("priming", "sft", "rl", "eval@0", "eval@1", "eval@2", "behaviors@2"):
        assert primed[name]["status"] == "done", name
    assert "sft" not in unprimed and unprimed["rl"]["status"] == "done"
    assert (whole / "all_strategies" / "sft" / "final" / "config.json").exists()
    assert (whole / "all_strategies" / "ppo" / "step_000002" / "state.json").exists()
    summary = json.loads((whole / "report" / "summary.json").read_text())
    assert set(summary["cells"]) == {"unprimed", "all_strategies"}
    assert (whole / "report" / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the held-out test puzzles never appear among the training or priming puzzles
    data = whole / "shared" / "data"
    test = {(tuple(sorted(r["numbers"])), r["target"]) for r in io.read_jsonl(data / "test.jsonl")}
    for rows in (
        io.read_jsonl(data / "train.jsonl"),
        io.read_jsonl(whole / "all_strategies" / "priming" / "train.jsonl"),
    ):
        assert rows and not test & {(tuple(sorted(r["numbers"])), r["target"]) for r in rows}


def test_cogstar_score_reads_the_runs_own_completions(
    whole: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cogstar.cli import main

    for step in STEPS:
        rows = whole / "all_strategies" / "eval" / f"step_{step:06d}.jsonl"
        summary = json.loads(rows.with_name(f"step_{step:06d}.summary.json").read_text())
        assert main(["score", str(rows)]) == 0
        assert f"accuracy {summary['accuracy']:.4f}" in capsys.readouterr().out


def test_rerun_redoes_nothing(whole: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _results(whole, "all_strategies")
    spec = whole.parent.parent / "micro.toml"
    run_experiment(spec, report=Reporter("json"), make_report=False)
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert not [e for e in events if e["event"] == "stage"], "a finished stage was redone"
    assert {e["stage"] for e in events if e["event"] == "skip"} >= {"data", "sft", "rl", "eval@2"}
    assert _results(whole, "all_strategies") == before


def _training(run_dir: Path, cell: str) -> dict[str, object]:
    """What training drew: the priming records, the SFT weights, PPO's per-step metrics."""
    metrics = [
        {k: v for k, v in row.items() if k not in ("seconds", "rollout_tokens_per_s")}
        for row in io.read_jsonl(run_dir / cell / "ppo" / "metrics.jsonl")
    ]
    return {
        "priming": (run_dir / cell / "priming" / "train.jsonl").read_bytes(),
        "sft": (run_dir / cell / "sft" / "final" / "model.safetensors").read_bytes(),
        "ppo": metrics,
    }


def test_replicate_seeds_differ_and_each_repeats_exactly(whole: Path, tmp_path: Path) -> None:
    """`experiment.seed = [0, 1]`: the replicates draw differently in priming, SFT, PPO and
    evaluation over the same puzzles, and seed 0 repeats the uninterrupted run bit for bit."""
    path = _spec(tmp_path)
    text = path.read_text().replace(
        'condition = ["unprimed", "all_strategies"]',
        'condition = ["all_strategies"]\n"experiment.seed" = [0, 1]',
    )
    path.write_text(text.replace('name = "micro"', 'name = "replicates"'))
    run_dir = run_experiment(path, report=Reporter("quiet"), make_report=False)
    zero, one = "all_strategies__seed=0", "all_strategies__seed=1"
    assert _results(run_dir, zero) == _results(whole, "all_strategies")
    assert _training(run_dir, zero) == _training(whole, "all_strategies")
    for what, value in _training(run_dir, one).items():
        assert value != _training(run_dir, zero)[what], f"seed 1 drew the same {what}"
    assert _results(run_dir, one)["completions@0"] != _results(run_dir, zero)["completions@0"]
    data = whole / "shared" / "data"
    for name in ("train.jsonl", "test.jsonl"):  # the puzzles are the replicates' common ground
        assert (run_dir / "shared" / "data" / name).read_bytes() == (data / name).read_bytes()


def test_jobs_run_the_cells_in_processes_and_equal_one_process(
    whole: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--jobs 2`: the shared work here, each cell in a child of one thread; the results
    equal the one-process run's bit for bit, and every child's lines come through."""
    import io as stdio

    from rich.console import Console

    from cogstar.study.jobs import job_order
    from cogstar.study.spec import load_spec
    from cogstar.study.sweep import expand_cells

    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # one thread per child, as this process
    spec = _spec(tmp_path)
    cells = expand_cells(load_spec(spec))
    # the costlier cell (it primes) is taken first
    assert [c.name for c in job_order(load_spec(spec), cells)] == ["all_strategies", "unprimed"]
    out = stdio.StringIO()
    reporter = Reporter("plain", Console(file=out, width=200))
    run_dir = run_experiment(spec, report=reporter, jobs=2)
    log = out.getvalue()
    assert "2 cells in 2 processes" in log
    for cell in ("unprimed", "all_strategies"):
        assert f"{cell} · eval@2: finished" in log
        assert _results(run_dir, cell) == _results(whole, cell)
    assert (run_dir / "report" / "summary.json").exists()


def test_jobs_refuse_a_launcher(tmp_path: Path) -> None:
    from cogstar.errors import UsageError

    spec = _spec(tmp_path)
    with pytest.raises(UsageError, match=r"--jobs 2 runs cells as CPU processes, but \[launch\]"):
        run_experiment(spec, overrides=['launch.launcher="torchrun"'], jobs=2)


def test_one_cell_and_unknown_cell(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    with pytest.raises(StageError, match=r"no cell named nope.*unprimed, all_strategies"):
        run_experiment(spec, cells=["nope"])
    run_dir = run_experiment(spec, cells=["unprimed"], report=Reporter("quiet"))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["cells"]["unprimed"]["stages"]["eval@2"]["status"] == "done"
    assert manifest["cells"]["all_strategies"]["stages"] == {}
    assert not (run_dir / "report").exists()  # the report waits for the whole sweep


def test_sigkill_mid_ppo_then_resume_equals_uninterrupted(whole: Path, tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    cmd = [sys.executable, "-m", "cogstar.cli", "run", str(spec), "--json-log", "--no-report"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    assert proc.stdout is not None
    killed = False
    for line in proc.stdout:
        event = json.loads(line)
        # step 1 of all_strategies' PPO is done and checkpointed: kill before step 2 ends
        if (
            event.get("cell") == "all_strategies"
            and event.get("stage") == "ppo"
            and event.get("done") == 1
        ):
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
            break
    proc.wait(timeout=120)
    assert killed and proc.returncode == -signal.SIGKILL
    run_dir = tmp_path / "runs" / "micro"
    stages = json.loads((run_dir / "manifest.json").read_text())["cells"]["all_strategies"][
        "stages"
    ]
    assert stages["rl"]["status"] == "running"  # as the killed process left it
    assert RunDir(run_dir).status("all_strategies", "rl")["status"] == "interrupted"
    assert (run_dir / "all_strategies" / "ppo" / "step_000001" / "state.json").exists()
    assert not (run_dir / "all_strategies" / "ppo" / "step_000002").exists()

    run_experiment(spec, report=Reporter("quiet"), make_report=False)
    for cell in ("unprimed", "all_strategies"):
        assert _results(run_dir, cell) == _results(whole, cell), cell


def test_sft_and_ppo_as_two_process_jobs(tmp_path: Path) -> None:
    """`[launch]`: the SFT and PPO stages run as torchrun jobs of two CPU processes (DDP on
    gloo), each process with its own share of the prompts and its own sampling RNG."""
    spec = _spec(tmp_path)
    text = spec.read_text().replace('["unprimed", "all_strategies"]', '["all_strategies"]')
    text = text.replace("global_batch = 4\nmicro_batch = 4", "global_batch = 4\nmicro_batch = 2")
    with socket.socket() as free:  # a port no other test run is using
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    launch = f'launcher = "torchrun"\nargs = ["--nproc_per_node", "2", "--master_port", "{port}"]'
    spec.write_text(text + f"\n[launch]\n{launch}\n")
    run_dir = run_experiment(spec, report=Reporter("quiet"), make_report=False)
    cell = run_dir / "all_strategies"
    assert "torch.distributed.run" in (cell / "sft" / "launch.log").read_text()
    assert (cell / "sft" / "final" / "config.json").exists()
    last = cell / "ppo" / "step_000002"
    assert (last / "rng.pt").exists() and (last / "rng_1.pt").exists()  # one per process
    metrics = io.read_jsonl(cell / "ppo" / "metrics.jsonl")
    # outcomes are gathered from both processes: 4 prompts x 2 samples per step
    assert [sum(m["outcomes"].values()) for m in metrics] == [8, 8]
    assert json.loads((cell / "eval" / "step_000002.summary.json").read_text())["n"] == 8


def test_ctrl_c_stops_at_a_safe_point_and_the_run_resumes(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    cmd = [sys.executable, "-m", "cogstar.cli", "run", str(spec), "--json-log", "--no-report"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # A shell starts background jobs with SIGINT ignored and Python keeps an ignored SIGINT
    # ignored, so a suite run as `bash .ci/run &` would hand that on: give the child the
    # default, as a terminal would.
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stdout is not None and proc.stderr is not None
    for line in proc.stdout:
        event = json.loads(line)
        if event.get("stage") == "ppo" and event.get("done") == 1:
            proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
            break
    proc.stdout.read()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 130
    assert "stopped" in err and "run the same command again" in err
    run_dir = tmp_path / "runs" / "micro"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    statuses = {s["status"] for c in manifest["cells"].values() for s in c["stages"].values()}
    assert "interrupted" in statuses and "running" not in statuses
    run_experiment(spec, report=Reporter("quiet"), make_report=False)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for cell in manifest["cells"].values():
        assert all(s["status"] == "done" for s in cell["stages"].values())


def test_a_missing_checkpoint_says_what_to_rerun(tmp_path: Path) -> None:
    from cogstar.layout import CellLayout
    from cogstar.study.runner import checkpoint
    from cogstar.study.spec import load_spec

    spec = load_spec(_spec(tmp_path))
    with pytest.raises(StageError, match=r"step_000001.*no checkpoint for step 1; rerun"):
        checkpoint(spec, CellLayout(tmp_path / "cell"), "start", 1)
    assert checkpoint(spec, CellLayout(tmp_path / "cell"), "start", 0) == "start"


def test_jobs_keep_n_processes_busy_and_name_a_failed_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five cells on two processes: each free process takes the next cell in order, never
    more than two run at once, and a cell whose process fails is named with its last lines
    after the others have finished."""
    from types import SimpleNamespace

    from cogstar.errors import StageError
    from cogstar.study import jobs

    log = tmp_path / "log"
    fake = tmp_path / "fake-python"  # stands in for `python -m cogstar.cli run ... --cell C`
    fake.write_text(
        "#!/usr/bin/env bash\n"
        'cell="${@: -1}"\n'
        f'echo "start $cell" >> {log}\n'
        'echo "working on $cell"\n'
        "sleep 0.3\n"
        f'echo "end $cell" >> {log}\n'
        '[ "$cell" != c2 ] || { echo "c2 broke"; exit 3; }\n'
    )
    fake.chmod(0o755)
    monkeypatch.setattr(jobs.sys, "executable", str(fake))
    cells = [SimpleNamespace(name=f"c{i}") for i in range(5)]
    said: list[str] = []
    with pytest.raises(StageError, match=r"cell c2 \(exit 3\):\nworking on c2\nc2 broke"):
        jobs.run_jobs("spec.toml", [], cells, 2, said.append)  # type: ignore[arg-type]
    assert sorted(said) == sorted([f"working on c{i}" for i in range(5)] + ["c2 broke"])
    events = log.read_text().split("\n")[:-1]
    starts = [e.split()[1] for e in events if e.startswith("start")]
    assert sorted(starts[:2]) == ["c0", "c1"] and sorted(starts) == [f"c{i}" for i in range(5)]
    running = 0
    for event in events:
        running += 1 if event.startswith("start") else -1
        assert running <= 2
