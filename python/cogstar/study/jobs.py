"""A study's cells in several processes at once: ``cogstar run SPEC --jobs N``.

On a CPU a small model's steps use few threads well, so N processes of (cores / N) threads
finish a sweep sooner than one process with every thread. The runner first does everything
the cells share (the data, the base model, every priming set and the checks on them) in its
own process, then starts N ``cogstar run SPEC --cell ...`` children over groups of cells of
about equal planned cost, forwards their progress lines as they come, and writes the report
when all are done. The children share the run directory as concurrent ``--cell`` jobs do (one
lock per cell), so a child that fails or is stopped loses nothing finished, and rerunning the
same command resumes every cell.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from cogstar.errors import StageError
from cogstar.study.plan import plan
from cogstar.study.spec import Spec
from cogstar.study.sweep import Cell

__all__ = ["job_groups", "run_jobs", "threads_per_job"]


def threads_per_job(jobs: int, cores: int | None = None) -> int:
    """Threads for each of ``jobs`` processes on ``cores`` cores (all of this machine's)."""
    return max(1, (cores or os.cpu_count() or 1) // jobs)


def job_groups(spec: Spec, cells: Sequence[Cell], jobs: int) -> list[list[Cell]]:
    """``cells`` in at most ``jobs`` groups of about equal planned time
    (:meth:`cogstar.study.plan.Plan.groups`)."""
    by_name = {c.name: c for c in cells}
    return [[by_name[n] for n in g] for g in plan(spec, cells=list(by_name)).groups(jobs)]


def _forward(stream: IO[str], say: Callable[[str], None], tail: list[str]) -> None:
    for line in stream:
        line = line.rstrip("\n")
        tail.append(line)
        del tail[:-20]
        say(line)


def run_jobs(
    spec_path: str | Path,
    overrides: Sequence[str],
    groups: Sequence[Sequence[Cell]],
    say: Callable[[str], None],
    *,
    json_log: bool = False,
    threads: int | None = None,
) -> None:
    """Run each group of cells as a ``cogstar run --cell ...`` child with ``threads``
    threads; every line a child prints goes to ``say``. Raises
    :class:`~cogstar.errors.StageError` naming the cells of any child that failed (after the
    others finish), with the end of its output."""
    threads = threads or threads_per_job(len(groups))
    # torch sizes its thread pool from these when a child imports it
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    lock = threading.Lock()

    def said(line: str) -> None:
        with lock:
            say(line)

    children = []
    for group in groups:
        cmd = [sys.executable, "-m", "cogstar.cli", "run", str(spec_path), "--no-report"]
        for item in overrides:
            cmd += ["--set", item]
        for cell in group:
            cmd += ["--cell", cell.name]
        if json_log:
            cmd.append("--json-log")
        child = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, bufsize=1
        )
        tail: list[str] = []
        assert child.stdout is not None
        reader = threading.Thread(target=_forward, args=(child.stdout, said, tail), daemon=True)
        reader.start()
        children.append((group, child, reader, tail))
    try:
        for _, child, reader, _ in children:
            child.wait()
            reader.join()
    except BaseException:  # Ctrl-C reaches the children too: let them stop at a safe point
        for _, child, _, _ in children:
            child.wait()
        raise
    failed = [(g, c, t) for g, c, _, t in children if c.returncode != 0]
    if failed:
        parts = []
        for group, child, tail in failed:
            names = ", ".join(c.name for c in group)
            parts.append(f"cells {names} (exit {child.returncode}):\n" + "\n".join(tail[-8:]))
        raise StageError(
            "a --jobs process failed; what finished is kept, and rerunning the same command "
            "resumes every cell:\n" + "\n".join(parts)
        )
