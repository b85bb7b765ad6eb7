"""`cogstar run` with behavior-curated continued pretraining, offline: the sample corpus,
a scripted OpenAI-compatible rewriter (and judge) on 127.0.0.1, the shipped tiny model.

Both pools of the sweep are curated once (shared), each cell continues pretraining on its
own pool and starts PPO from that checkpoint; a rerun redoes nothing, and a curate stage
killed in the middle of rewriting resumes without asking the server again."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from cogstar import io  # noqa: E402
from cogstar.errors import LLMError  # noqa: E402
from cogstar.llm import BackendConfig, make_backend  # noqa: E402
from cogstar.pretrain import BEHAVIORS, Document  # noqa: E402
from cogstar.pretrain.label import DEFINITIONS, heuristic_label  # noqa: E402
from cogstar.pretrain.rewrite import read_rewrites  # noqa: E402
from cogstar.study.progress import Reporter  # noqa: E402
from cogstar.study.rundir import RunDir  # noqa: E402
from cogstar.study.runner import (  # noqa: E402
    Context,
    _continued_pretraining,
    curate,
    run_experiment,
)
from cogstar.study.spec import dump_toml, load_spec  # noqa: E402
from cogstar.study.stages import stage_keys  # noqa: E402
from cogstar.study.sweep import expand_cells  # noqa: E402
from cogstar.train.base import base_model  # noqa: E402
from loopback import openai_server  # noqa: E402
from micro import DATA_AND_MODEL, RL_AND_EVAL, TRAINING  # noqa: E402

SPEC = """\
[experiment]
name = "curated"
out = "{out}"

{data_and_model}
[curation]
source = "{source}"
labeller = "{labeller}"
budget_tokens = 100000
test_fraction = 0.25
retries = 2

[curation.labeller_backend]
provider = "openai"
model = "scripted-judge"
base_url = "{url}"
api_key_env = "none"

[curation.rewriter_backend]
provider = "openai"
model = "scripted-writer"
base_url = "{url}"
api_key_env = "none"

[curation.training]
{training}
{rl_and_eval}
[sweep]
condition = ["unprimed"]
"curation.pool" = ["rich", "minimized"]
"""

CELLS = ("unprimed__pool=rich", "unprimed__pool=minimized")
MINIMIZED = "plain direct steps only"  # the minimized pool's reminder in each rewrite request


def _document(user: str) -> str:
    found = re.search(r"<document>\n(.*)\n</document>", user, re.S)
    assert found is not None, user[:200]
    return found.group(1)


def _flaky(text: str) -> bool:
    """Every third document or so gets an invalid first rewrite (a retry fixes it)."""
    return zlib.crc32(text.encode()) % 3 == 0


def scripted(user: str) -> str:
    """A judge and a rewriter: the judge answers what the heuristic labeller finds, the
    rewriter makes question / thoughts / answer out of the document's own lines."""
    text = _document(user)
    if "count how often one reasoning behavior" in user:
        behavior = next(b for b in BEHAVIORS if DEFINITIONS[b] in user)
        return f"- found\n<count>{getattr(heuristic_label(Document('x', text)), behavior)}</count>"
    if "Answer two questions about it" in user:
        label = heuristic_label(Document("x", text))
        yes = {True: "yes", False: "no"}
        return (
            f"<problem>{yes[label.has_problem]}</problem> "
            f"<solution>{yes[label.has_solution]}</solution>"
        )
    if _flaky(text) and "Note (attempt" not in user:
        return "<question>only a question</question><thoughts>and no answer</thoughts>"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    numbers = re.findall(r"\d+", text) or ["0"]
    return (
        f"<question>{lines[0]}</question>\n<thoughts>I read it. {' '.join(lines[1:3])}</thoughts>"
        f"\n<answer>{numbers[-1]}</answer>"
    )


def _write_spec(
    tmp: Path, url: str, source: str = "sample:24", labeller: str = "heuristic"
) -> Path:
    path = tmp / "curated.toml"
    path.write_text(
        SPEC.format(
            out=tmp / "runs",
            url=url,
            source=source,
            labeller=labeller,
            data_and_model=DATA_AND_MODEL,
            training=TRAINING,
            rl_and_eval=RL_AND_EVAL,
        )
    )
    return path


def _users(seen: list[dict[str, Any]]) -> list[str]:
    return [str(body["messages"][-1]["content"]) for body in seen]


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[dict[str, Any]]]]:
    """One run of the two-cell study, with its server still up (for the rerun)."""
    tmp = tmp_path_factory.mktemp("curated")
    with openai_server(scripted) as (url, seen):
        run_dir = run_experiment(_write_spec(tmp, url), report=Reporter("quiet"))
        yield run_dir, seen


def test_curated_pools_feed_continued_pretraining_then_ppo(
    whole: tuple[Path, list[dict[str, Any]]],
) -> None:
    run_dir, seen = whole
    manifest = json.loads((run_dir / "manifest.json").read_text())
    shared = manifest["shared"]["stages"]
    assert shared["data"]["status"] == "done" and shared["curate"]["status"] == "done"
    info = shared["curate"]["info"]
    assert info["documents"] == 24
    assert info["labels"]["done"] == 24 and "requests" not in info["labels"]  # heuristic
    assert (info["pools"]["rich"], info["pools"]["minimized"]) == (4, 8)
    rewrites = info["rewrites"]
    assert rewrites["rich"]["done"] + rewrites["minimized"]["done"] == 12
    retried = rewrites["rich"]["retried"] + rewrites["minimized"]["retried"]
    assert retried > 0 and len(seen) == 12 + retried  # each invalid reply asked once more

    curation = run_dir / "shared" / "curation"
    for name in ("documents.jsonl", "labels.jsonl", "pools.json"):
        assert (curation / name).exists(), name
    for pool, n in (("rich", 4), ("minimized", 8)):
        assert len(read_rewrites(curation / "rewrites" / f"{pool}.jsonl")) == n
        folder = curation / "datasets" / pool
        card = json.loads((folder / "card.json").read_text())
        assert card["pool"] == pool and card["selected"]["records"] == n
        train, test = (
            io.read_jsonl(folder / "train.jsonl"),
            io.read_jsonl(folder / "test.jsonl"),
        )
        assert len(train) + len(test) == n and test
        assert all(r["condition"] == f"pretrain_{pool}" for r in train)

    tiny = Path(base_model(load_spec(run_dir / "spec.toml", env={}).model))
    starts = {}
    for cell in CELLS:
        stages = manifest["cells"][cell]["stages"]
        for name in ("continued_pretraining", "rl", "eval@0", "eval@2", "behaviors@2"):
            assert stages[name]["status"] == "done", (cell, name)
        assert "priming" not in stages and "sft" not in stages  # unprimed
        final = run_dir / cell / "cpt" / "final"
        assert stages["continued_pretraining"]["outputs"]["model"] == str(final)
        assert stages["continued_pretraining"]["info"]["pool"] == cell.rsplit("=", 1)[1]
        weights = (final / "model.safetensors").read_bytes()
        assert weights != (tiny / "model.safetensors").read_bytes()  # training changed them
        assert stages["rl"]["info"]["start"] == str(final)  # PPO started from the checkpoint
        starts[cell] = stages["rl"]["inputs_hash"]
    # the same PPO settings and data: the RL inputs differ only by the checkpoint they start from
    assert starts[CELLS[0]] != starts[CELLS[1]]
    summary = json.loads((run_dir / "report" / "summary.json").read_text())
    assert set(summary["cells"]) == set(CELLS)


def test_rerun_redoes_nothing_and_asks_nothing(
    whole: tuple[Path, list[dict[str, Any]]], capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir, seen = whole
    before = len(seen)
    run_experiment(
        run_dir.parent.parent / "curated.toml", report=Reporter("json"), make_report=False
    )
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert not [e for e in events if e["event"] == "stage"], "a finished stage was redone"
    skipped = {(e["cell"], e["stage"]) for e in events if e["event"] == "skip"}
    assert ("shared", "curate") in skipped
    assert {(c, "continued_pretraining") for c in CELLS} <= skipped
    assert len(seen) == before


def test_continued_pretraining_as_a_torchrun_job(
    whole: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    """`[launch]`: the stage runs `python -m cogstar.pretrain.train` under torchrun, here on
    the datasets the whole run curated."""
    run_dir, _ = whole
    with socket.socket() as free:  # a port no other test run is using
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    overrides = [
        'launch.launcher="torchrun"',
        f'launch.args=["--nproc_per_node", "1", "--master_port", "{port}"]',
        f'experiment.out="{tmp_path}"',
    ]
    spec = load_spec(run_dir.parent.parent / "curated.toml", overrides, env={})
    cells = expand_cells(spec)
    run = RunDir.create(
        spec.run_dir, dump_toml(spec), spec.experiment.name, {c.name: c.axes for c in cells}
    )
    ctx = Context(spec, run, Reporter("quiet"))
    shutil.copytree(run_dir / "shared" / "curation", run.layout.curation)  # made by `whole`
    cell = cells[1]
    with run.lock(cell.name):
        final = _continued_pretraining(
            ctx, cell, run.layout.cell(cell.name), stage_keys(cell), base_model(spec.model)
        )
    assert final == run.layout.cell(cell.name).cpt.final
    assert (final / "config.json").exists()
    log = (final.parent / "launch.log").read_text()
    assert "torch.distributed.run" in log and "-m cogstar.pretrain.train" in log
    assert "--config" in log and "minimized/test.jsonl" in log  # the config and the test split
    written = json.loads((final.parent / "config.json").read_text())["curation"]["training"]
    assert written["max_steps"] == 2  # the cell's settings reached the job


def test_backend_key_from_a_named_variable_or_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def backend(key: str | None) -> dict[str, str]:
        config = BackendConfig(provider="openai", model="m", api_key_env=key)
        return make_backend(config, tmp_path)._headers()

    monkeypatch.delenv("COGSTAR_TEST_KEY", raising=False)
    with pytest.raises(LLMError, match="COGSTAR_TEST_KEY"):
        backend("COGSTAR_TEST_KEY")
    monkeypatch.setenv("COGSTAR_TEST_KEY", "k")
    assert backend("COGSTAR_TEST_KEY") == {"authorization": "Bearer k"}
    assert backend("none") == {}
    monkeypatch.setenv("OPENAI_API_KEY", "default")
    assert backend(None) == {"authorization": "Bearer default"}


def test_curate_killed_while_rewriting_resumes_without_asking_again(tmp_path: Path) -> None:
    """A judge labels (LLM labeller), the rich pool is rewritten, then the process is killed
    with some of the minimized pool done; the rerun (its reply cache deleted, so only what is
    on disk counts) asks for exactly the minimized documents that were not settled."""
    keep = 3  # minimized documents answered before the kill
    state: dict[str, Any] = {"proc": None, "served": [], "killed": False}
    lock = threading.Lock()
    out = tmp_path / "runs" / "curated" / "shared" / "curation" / "rewrites" / "minimized.jsonl"

    def settled() -> int:
        return len(out.read_text().splitlines()) if out.exists() else 0

    def reply(user: str) -> str:
        if MINIMIZED in user and state["proc"] is not None:
            text = _document(user)
            with lock:
                if text not in state["served"] and len(state["served"]) < keep:
                    state["served"].append(text)
                first = text in state["served"]
            if not first:  # kill once `keep` documents are on disk; this reply is lost
                deadline = time.monotonic() + 30
                while settled() < keep and time.monotonic() < deadline:
                    time.sleep(0.02)
                with lock:
                    if not state["killed"]:
                        os.kill(state["proc"].pid, signal.SIGKILL)
                        state["killed"] = True
                time.sleep(0.3)
        return scripted(user)

    with openai_server(reply) as (url, seen):
        spec_path = _write_spec(tmp_path, url, source="sample:48", labeller="llm")
        cmd = [sys.executable, "-m", "cogstar.cli", "run", str(spec_path), "--json-log"]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        state["proc"] = proc
        _, err = proc.communicate(timeout=240)
        assert state["killed"] and proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
        first = _users(seen)

        run_dir = tmp_path / "runs" / "curated"
        assert RunDir(run_dir).status("shared", "curate")["status"] == "interrupted"
        curation = run_dir / "shared" / "curation"
        labels = (curation / "labels.jsonl").read_bytes()
        rich = {r.id for r in read_rewrites(curation / "rewrites" / "rich.jsonl")}
        assert settled() == keep
        shutil.rmtree(run_dir / "shared" / "llm_cache")  # resume from the files, not the cache

        state["proc"] = None
        seen.clear()
        spec = load_spec(spec_path, env={})
        cells = expand_cells(spec)
        run = RunDir.create(
            spec.run_dir, dump_toml(spec), spec.experiment.name, {c.name: c.axes for c in cells}
        )
        ctx = Context(spec, run, Reporter("quiet"))
        curate(ctx, cells, base_model(spec.model))
        again = _users(seen)

    assert len(first) > 5 * 48  # the judge's five questions per document came first
    assert (curation / "labels.jsonl").read_bytes() == labels  # labelling was not redone
    assert again and all(MINIMIZED in u for u in again)  # no label, no rich request
    settled_docs = set(state["served"])
    asked = {_document(u) for u in again}
    assert not asked & settled_docs
    record = RunDir(run_dir).status("shared", "curate")
    assert record is not None and record["status"] == "done"
    info = record["info"]
    assert info["labels"]["done"] == 0 and info["labels"]["skipped"] == 48
    assert (
        info["rewrites"]["rich"]["skipped"] == len(rich) and info["rewrites"]["rich"]["done"] == 0
    )
    minimized = info["rewrites"]["minimized"]
    assert minimized["skipped"] == keep and minimized["done"] == info["pools"]["minimized"] - keep
    assert len(asked) == minimized["done"]
    assert len(again) == minimized["done"] + minimized["retried"]
