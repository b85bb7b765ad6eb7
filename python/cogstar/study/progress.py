"""Progress of a running study: a Rich live display, JSON lines for batch jobs, or nothing.

The orchestrator reports through one :class:`Reporter` whatever the mode:

* ``rich``: a live display with the cells done, the current cell and stage, step/total,
  the ETA and the latest reward / accuracy / loss;
* ``plain``: for a log file (``cogstar run`` picks it when stdout is not a terminal): one
  line when a stage starts and when it ends, and a step line (step/total, the latest
  metrics, the ETA) at most every ``interval`` seconds;
* ``json``: one JSON object per event on stdout (``{"event": "step", "cell": ...}``), for
  schedulers and log collectors;
* ``quiet``: nothing (errors still go to stderr from the CLI).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from cogstar.errors import ArgumentError

__all__ = ["MODES", "Reporter"]

MODES = ("rich", "plain", "json", "quiet")


def _fmt(latest: dict[str, Any]) -> str:
    parts = []
    for key, value in latest.items():
        if value is None:
            continue
        parts.append(f"{key} {value:.3f}" if isinstance(value, float) else f"{key} {value}")
    return "  ".join(parts)


class Reporter:
    """Where a run's progress goes (see the module docstring for the modes)."""

    def __init__(
        self, mode: str = "rich", console: Console | None = None, *, interval: float = 30.0
    ) -> None:
        if mode not in MODES:
            raise ArgumentError(f"progress mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.mode = mode
        self.console = console or Console(stderr=False)
        self._progress: Progress | None = None
        self._cells: TaskID | None = None
        self._stage: TaskID | None = None
        self._unit = ""
        self._name = ""
        self._latest: dict[str, Any] = {}
        self._out = sys.stdout  # JSON events go here; other output goes to stderr meanwhile
        self.interval = interval
        self._total: int | None = None
        self._started = time.monotonic()
        self._said = 0.0  # when plain mode last wrote a step line
        self._shown = -1  # and for which step

    @property
    def enabled(self) -> bool:
        """Whether a human is watching (rich mode)."""
        return self.mode == "rich"

    @property
    def prints(self) -> bool:
        """Whether this reporter prints for people (rich and plain modes)."""
        return self.mode in ("rich", "plain")

    def _line(self, text: str) -> None:
        if self.mode == "plain":
            stamp = time.strftime("%H:%M:%S")
            self.console.print(f"{stamp} {text}", highlight=False, markup=False, soft_wrap=True)

    def _emit(self, event: str, **fields: Any) -> None:
        if self.mode == "json":
            row = {"event": event, "time": round(time.time(), 3), **fields}
            self._out.write(json.dumps(row, default=str) + "\n")
            self._out.flush()

    @contextmanager
    def live(self, total_cells: int) -> Iterator[None]:
        """The live display for the duration of a run (a no-op outside rich mode)."""
        self._emit("run", cells=total_cells)
        if self.mode == "json":  # keep stdout for events: libraries' prints go to stderr
            with redirect_stdout(sys.stderr):
                yield
            return
        if not self.enabled:
            yield
            return
        progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=28),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[latest]}"),
            console=self.console,
            transient=False,
        )
        self._progress = progress
        with progress:
            self._cells = progress.add_task("cells", total=total_cells, latest="")
            try:
                yield
            finally:
                self._progress = None

    def relay(self, line: str) -> None:
        """A line another ``cogstar run`` printed (``--jobs``): a JSON event in json mode, a
        plain line otherwise, passed on as it is."""
        if self.mode == "json":
            self._out.write(line + "\n")
            self._out.flush()
        elif self.prints:
            self.console.print(line, highlight=False, markup=False, soft_wrap=True)

    def log(self, message: str) -> None:
        """A line above the live display (or a ``log`` event)."""
        self._emit("log", message=message)
        if self.enabled:
            self.console.log(message)
        self._line(message)

    def cell(self, name: str) -> None:
        self._emit("cell", cell=name)
        if self._progress is not None and self._cells is not None:
            self._progress.update(self._cells, description=f"cells (now {name})")

    def cell_done(self, name: str) -> None:
        self._emit("cell_done", cell=name)
        self._line(f"{name}: cell done")
        if self._progress is not None and self._cells is not None:
            self._progress.advance(self._cells)
            if self._stage is not None:
                self._progress.remove_task(self._stage)
                self._stage = None

    def skip(self, unit: str, name: str) -> None:
        """A stage already done with the same inputs."""
        self._emit("skip", cell=unit, stage=name)
        self._line(f"{unit} · {name}: done before, kept")

    def stage(self, unit: str, name: str) -> None:
        """A stage starts (its total, if it has one, comes with :meth:`begin`)."""
        self._emit("stage", cell=unit, stage=name)
        self._unit, self._name, self._latest = unit, name, {}
        self._total, self._started, self._said, self._shown = None, time.monotonic(), 0.0, -1
        self._line(f"{unit} · {name}: started")
        if self._progress is not None:
            if self._stage is not None:
                self._progress.remove_task(self._stage)
            self._stage = self._progress.add_task(f"  {unit} · {name}", total=None, latest="")

    def begin(self, unit: str, name: str, total: int) -> None:
        """The current stage has ``total`` units of work (steps, puzzles)."""
        self._emit("begin", cell=unit, stage=name, total=total)
        self._unit, self._name = unit, name
        self._total, self._started, self._said = total, time.monotonic(), time.monotonic()
        if self._progress is not None and self._stage is not None:
            self._progress.update(
                self._stage, description=f"  {unit} · {name}", total=total, completed=0
            )

    def advance_to(self, done: int, **latest: Any) -> None:
        """``done`` units of the current stage are finished; ``latest`` are its newest metrics."""
        self._latest.update({k: v for k, v in latest.items() if v is not None})
        self._emit("step", cell=self._unit, stage=self._name, done=done, **self._latest)
        if self._progress is not None and self._stage is not None:
            self._progress.update(self._stage, completed=done, latest=_fmt(self._latest))
        now = time.monotonic()
        last = self._total is not None and done >= self._total
        due = now - self._said >= self.interval or (last and done != self._shown)
        if self.mode == "plain" and due:
            self._said, self._shown = now, done
            of = f"/{self._total}" if self._total else ""
            eta = ""
            if self._total and 0 < done < self._total:
                eta = f"  eta {_duration((now - self._started) / done * (self._total - done))}"
            metrics = _fmt(self._latest)
            self._line(
                f"{self._unit} · {self._name}: {done}{of}{'  ' + metrics if metrics else ''}{eta}"
            )

    def stage_done(self, unit: str, name: str) -> None:
        """The current stage finished."""
        self._emit("stage_done", cell=unit, stage=name)
        self._line(f"{unit} · {name}: finished in {_duration(time.monotonic() - self._started)}")


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
