"""A study's cells in several processes at once: ``cogstar run SPEC --jobs N``.

On a CPU a small model's steps use few threads well, so N processes of (cores / N) threads
finish a sweep sooner than one process with every thread. The runner first does everything
the cells share (the data, the base model, every priming set and the checks on them) in its
own process, then keeps N ``cogstar run SPEC --cell C`` children going, one cell each, the
cells of longest planned time first (each free process takes the next, so a wrong estimate
costs at most one cell's imbalance), forwards their progress lines as they come, and writes
the report when all are done. The children share the run directory as concurrent ``--cell`` jobs do (one
lock per cell), so a child that fails or is stopped loses nothing finished, and rerunning the
same command resumes every cell.

N may exceed the cores: the processes then share them, one thread each. That pays when a
few long cells would otherwise leave a core idle at the end (three primed cells on two
cores: with ``--jobs 2`` two of them run one after the other, with ``--jobs 3`` all three
run at two thirds of the speed and both cores stay busy).
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from cogstar.errors import StageError
from cogstar.study.plan import plan
from cogstar.study.spec import Spec
from cogstar.study.sweep import Cell

__all__ = ["job_order", "run_jobs", "threads_per_job"]


def threads_per_job(jobs: int, cores: int | None = None) -> int:
    """Threads for each of ``jobs`` processes on ``cores`` cores (all of this machine's)."""
    return max(1, (cores or os.cpu_count() or 1) // jobs)


def job_order(spec: Spec, cells: Sequence[Cell]) -> list[Cell]:
    """``cells`` by planned time, the longest first (the order free processes take them)."""
    cost = plan(spec, cells=[c.name for c in cells]).cell_seconds()
    return sorted(cells, key=lambda c: -cost[c.name])


def _forward(stream: IO[str], say: Callable[[str], None], tail: list[str]) -> None:
    for line in stream:
        line = line.rstrip("\n")
        tail.append(line)
        del tail[:-20]
        say(line)


@dataclass
class _Child:
    cell: Cell
    process: subprocess.Popen[str]
    tail: list[str] = field(default_factory=list)  # its last lines, for an error


def run_jobs(
    spec_path: str | Path,
    overrides: Sequence[str],
    cells: Sequence[Cell],
    jobs: int,
    say: Callable[[str], None],
    *,
    json_log: bool = False,
    threads: int | None = None,
) -> None:
    """Run ``cells`` in that order, each as a ``cogstar run --cell`` child of ``threads``
    threads, at most ``jobs`` at once; every line a child prints goes to ``say``. Raises
    :class:`~cogstar.errors.StageError` naming the cells whose child failed (after the others
    finish), with the end of its output."""
    threads = threads or threads_per_job(jobs)
    # torch sizes its thread pool from these when a child imports it
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    lock = threading.Lock()
    ended: queue.Queue[_Child] = queue.Queue()  # a child whose output has closed

    def said(line: str) -> None:
        with lock:
            say(line)

    def forward(child: _Child) -> None:
        try:
            assert child.process.stdout is not None
            _forward(child.process.stdout, said, child.tail)
        finally:
            ended.put(child)

    def start(cell: Cell) -> _Child:
        cmd = [sys.executable, "-m", "cogstar.cli", "run", str(spec_path), "--no-report"]
        for item in overrides:
            cmd += ["--set", item]
        cmd += ["--cell", cell.name]
        if json_log:
            cmd.append("--json-log")
        process = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1
        )
        child = _Child(cell, process)
        threading.Thread(target=forward, args=(child,), daemon=True).start()
        return child

    waiting = list(cells)
    running: list[_Child] = []
    done: list[_Child] = []
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                running.append(start(waiting.pop(0)))
            child = ended.get()  # its output has closed: it has ended or is ending
            child.process.wait()
            running.remove(child)
            done.append(child)
    except BaseException:  # Ctrl-C reaches the children too: let them stop at a safe point
        for child in running:
            child.process.wait()
        raise
    failed = [c for c in done if c.process.returncode != 0]
    if failed:
        parts = [
            f"cell {c.cell.name} (exit {c.process.returncode}):\n" + "\n".join(c.tail[-8:])
            for c in failed
        ]
        raise StageError(
            "a --jobs process failed; what finished is kept, and rerunning the same command "
            "resumes every cell:\n" + "\n".join(parts)
        )
