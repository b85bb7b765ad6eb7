"""The run directory: resolved spec, manifest, per-unit locks and resume (paths: cogstar.layout).

One experiment lives in one folder::

    runs/<experiment>/
      spec.toml       the resolved spec (a rerun with a different one is refused)
      manifest.json   stage status, inputs' hashes, package versions, git revision
      report/         tables, figures, summary.json
      shared/         stages common to every cell (data, base model)
      <cell>/         one folder per sweep cell: data/ priming/ sft/ ppo/ eval/ behaviors/ ...

Work is done in *units*: ``shared`` and each cell. A process takes a unit's lock (``.lock`` in
its folder, ``flock``) for as long as it works there, so the ``--cell`` jobs of one sweep can run
at once on a shared filesystem while two jobs can never write the same cell. The manifest is
read, changed and written back under a short ``manifest.lock``, so concurrent jobs never lose
each other's updates. Every write is atomic (a temp sibling, fsync, ``os.replace``): after a
crash or SIGKILL a file holds its old content or the whole new one. A stage left "running" by a
dead process reads as "interrupted", and running it again resumes it (the stage itself restarts
from its own checkpoints)::

    run = RunDir.create("runs/exp", spec_text, "exp", {"all_strategies": {"condition": "all"}})
    with run.lock("all_strategies"):
        key = hash_json({"spec": spec_section, "model": base_hash})  # cogstar.io
        if not run.is_done("all_strategies", "sft", key):
            with run.stage("all_strategies", "sft", key) as stage:
                ...  # train, resuming from the newest checkpoint under all_strategies/sft/
                stage.outputs["model"] = "sft/final"
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import errno
import fcntl
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cogstar
from cogstar.errors import ArgumentError, DataError, RunLocked, RunMismatch, StageError
from cogstar.io import atomic_write_json, atomic_write_text, dumps, host, pid_alive
from cogstar.layout import SHARED, RunLayout, check_cell_name

__all__ = ["RunDir", "StageHandle", "git_revision", "versions"]

_PACKAGES = ("cogstar", "torch", "transformers", "trl", "accelerate", "vllm")
# A status probe holds a unit's lock for microseconds; a few short retries keep a job that
# starts at that instant from failing with RunLocked.
_LOCK_TRIES = 5
_LOCK_RETRY_S = 0.02

PathLike = str | os.PathLike[str]


# --- helpers ------------------------------------------------------------------------------


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    """Python, the installed packages of the training stack (only those present), platform."""
    found = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            if name == "cogstar":
                found[name] = cogstar.__version__
    found["platform"] = platform.platform()
    return found


def _git(where: Path, *args: str) -> str | None:
    done = subprocess.run(
        ["git", "-C", str(where), *args],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def git_revision(path: PathLike | None = None) -> str | None:
    """``git rev-parse HEAD`` of the cogstar source checkout (or of ``path``), or None.

    ``+dirty`` is appended when tracked files have changes. Without ``path``, a cogstar that is
    not run from its own checkout (an installed wheel, even inside another repository) gives
    None. Never raises.
    """
    package = Path(__file__).resolve().parents[1]
    try:
        where = package if path is None else Path(path)
        if where.is_file():
            where = where.parent
        top = _git(where, "rev-parse", "--show-toplevel")
        if top is None or (path is None and Path(top).resolve() != package.parent.parent):
            return None
        head = _git(where, "rev-parse", "HEAD")
        if not head:
            return None
        dirty = _git(where, "status", "--porcelain", "--untracked-files=no")
        return f"{head}+dirty" if dirty else head
    except Exception:  # the contract: provenance is best effort, never a crash
        return None


# --- locks --------------------------------------------------------------------------------


@dataclass
class _Held:
    pid: int
    fd: int
    depth: int


# Locks this process holds, by the lock file's real path. The pid guards against a forked
# child believing it holds its parent's locks.
_HELD: dict[str, _Held] = {}


def _holder(fd: int) -> dict[str, Any] | None:
    try:
        found = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _locked_message(folder: Path, holder: dict[str, Any] | None) -> str:
    if holder is None:
        who = "another process (it has not recorded its pid yet)"
    else:
        who = (
            f"pid {holder.get('pid')} on {holder.get('host')}, running since "
            f"{holder.get('started')}"
        )
    return (
        f"{folder} is in use by {who}. Wait for it to finish, or stop it; a stale lock from a "
        "dead process is released automatically because flock dies with the process."
    )


def _acquire(lock_path: Path, folder: Path) -> int:
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        for attempt in range(_LOCK_TRIES):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == _LOCK_TRIES - 1:
                    raise RunLocked(_locked_message(folder, _holder(fd))) from None
                time.sleep(_LOCK_RETRY_S)
            except OSError as err:
                if err.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                    raise DataError(
                        f"cannot lock {lock_path}: the filesystem does not support flock "
                        f"({err.strerror}); put the run directory on a local disk or an NFSv4 "
                        "mount"
                    ) from err
                raise
        holder = dumps({"pid": os.getpid(), "host": host(), "started": _now()}) + "\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode("utf-8"), 0)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _release(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)  # no holder recorded while nobody holds it
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _lock_free(lock_path: Path) -> bool:
    """Whether nobody holds ``lock_path`` (probed with a shared lock, released at once).

    Never call it for a lock this process holds: on NFS flock is emulated with POSIX locks, and
    closing any descriptor of the file would drop the process's own lock.
    """
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


# --- the run directory --------------------------------------------------------------------


@dataclass
class StageHandle:
    """A stage being run. Fill ``outputs`` (paths, counts) and ``info`` for the manifest."""

    unit: str
    name: str
    inputs_hash: str
    outputs: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def _mismatch_message(spec_path: Path, old: str, new: str, source: PathLike | None) -> str:
    theirs = str(source) if source is not None else "the spec given"
    diff = list(
        difflib.unified_diff(
            old.splitlines(), new.splitlines(), str(spec_path), theirs, lineterm="", n=0
        )
    )
    shown = diff[:24] + ([f"... ({len(diff) - 24} more diff lines)"] if len(diff) > 24 else [])
    return (
        f"{spec_path} holds a different spec from {theirs}:\n"
        + "\n".join(shown)
        + f"\nThe results in {spec_path.parent} belong to the old spec. Use a new experiment "
        "name or output folder to keep both, or pass --force to reuse this folder: stages whose "
        "inputs changed are redone, the others are kept, nothing is deleted."
    )


def _elapsed(started: object) -> float | None:
    try:
        since = dt.datetime.fromisoformat(str(started))
    except ValueError:
        return None
    return round((dt.datetime.now(dt.timezone.utc) - since).total_seconds(), 3)


class RunDir:
    """One experiment's folder: its spec, manifest, unit locks and stage records."""

    def __init__(self, root: PathLike) -> None:
        self.root = Path(root)
        self.layout = RunLayout(self.root)

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r})"

    @classmethod
    def create(
        cls,
        root: PathLike,
        spec_toml: str,
        experiment: str,
        cells: Mapping[str, Mapping[str, Any]],
        *,
        force: bool = False,
        source: PathLike | None = None,
    ) -> RunDir:
        """Make (or reopen) the run directory for a resolved spec and its sweep cells.

        ``cells`` maps each cell name to its sweep axes. A ``spec.toml`` already there with
        other content raises :class:`RunMismatch` (``source``, the user's spec file, is named in
        it) unless ``force``: then the spec is replaced and stages whose inputs hash changed
        are redone when run; nothing is deleted. Safe to call from concurrent ``--cell`` jobs.
        """
        for name in cells:
            check_cell_name(name)
        run = cls(root)
        run.root.mkdir(parents=True, exist_ok=True)
        spec_path = run.layout.spec
        found_versions, revision = versions(), git_revision()
        with run._manifest_lock():
            try:
                old = spec_path.read_text(encoding="utf-8")
            except FileNotFoundError:
                old = None
            if old is not None and old != spec_toml and not force:
                raise RunMismatch(_mismatch_message(spec_path, old, spec_toml, source))
            if old != spec_toml:
                atomic_write_text(spec_path, spec_toml)
            before = run._read_manifest() if run.layout.manifest.exists() else {}
            now = _now()
            manifest: dict[str, Any] = {
                "experiment": experiment,
                "created": before.get("created", now),
                "updated": now,
                # sha256 of the resolved spec's text: which spec.toml these results belong to
                "spec_sha256": hashlib.sha256(spec_toml.encode("utf-8")).hexdigest()[:16],
                "versions": found_versions,
                "git": revision,
                SHARED: before.get(SHARED, {"stages": {}}),
                "cells": before.get("cells", {}),
            }
            for name, axes in cells.items():
                entry = manifest["cells"].setdefault(name, {"axes": {}, "stages": {}})
                entry["axes"] = dict(axes)
                entry.setdefault("stages", {})
            atomic_write_json(run.layout.manifest, manifest)
        return run

    # -- paths

    def _lock_key(self, unit: str) -> str:
        return os.path.realpath(self.layout.lock(unit))

    # -- manifest

    def manifest(self) -> dict[str, Any]:
        """The manifest as it is on disk now."""
        return self._read_manifest()

    def _read_manifest(self) -> dict[str, Any]:
        path = self.layout.manifest
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DataError(
                f"{path} not found: {self.root} is not a cogstar run directory yet "
                "(`cogstar run` creates it)"
            ) from None
        try:
            found = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(
                f"{path}:{err.lineno}: invalid JSON ({err.msg} at column {err.colno}); the "
                "manifest is only ever replaced whole, so it was edited or damaged"
            ) from None
        if not isinstance(found, dict) or not isinstance(found.get("cells"), dict):
            raise DataError(f"{path}: not a cogstar manifest (no 'cells' object)")
        return found

    @contextlib.contextmanager
    def _manifest_lock(self) -> Iterator[None]:
        fd = os.open(self.layout.manifest_lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # blocking: held only for one read-modify-write
            yield
        finally:
            os.close(fd)

    def _update(self, change: Callable[[dict[str, Any]], None]) -> None:
        with self._manifest_lock():
            manifest = self._read_manifest()
            change(manifest)
            manifest["updated"] = _now()
            atomic_write_json(self.layout.manifest, manifest)

    def _stages(self, manifest: dict[str, Any], unit: str) -> dict[str, Any]:
        if unit == SHARED:
            stages: dict[str, Any] = manifest.setdefault(SHARED, {}).setdefault("stages", {})
            return stages
        if unit not in manifest["cells"]:
            known = ", ".join(manifest["cells"]) or "none"
            raise ArgumentError(
                f"no cell {unit!r} in {self.layout.manifest} (cells: {known}); "
                "check the --cell name against the spec's sweep"
            )
        stages = manifest["cells"][unit].setdefault("stages", {})
        return stages

    # -- locks

    @contextlib.contextmanager
    def lock(self, unit: str) -> Iterator[None]:
        """Hold the lock of ``unit`` (a cell name or ``"shared"``) for the block.

        Raises :class:`RunLocked` if another process holds it. Re-entrant within a process.
        """
        self._stages(self.manifest(), unit)  # a clear error for a cell the sweep lacks
        folder = self.layout.unit(unit)
        folder.mkdir(parents=True, exist_ok=True)
        key = self._lock_key(unit)
        held = _HELD.get(key)
        if held is not None and held.pid == os.getpid():
            held.depth += 1
            try:
                yield
            finally:
                held.depth -= 1
            return
        fd = _acquire(Path(key), folder)
        _HELD[key] = _Held(os.getpid(), fd, 1)
        try:
            yield
        finally:
            del _HELD[key]
            _release(fd)

    def _holds(self, unit: str) -> bool:
        held = _HELD.get(self._lock_key(unit))
        return held is not None and held.pid == os.getpid()

    # -- stages

    @contextlib.contextmanager
    def stage(self, unit: str, name: str, inputs_hash: str) -> Iterator[StageHandle]:
        """Record stage ``name`` of ``unit`` as running, then done, failed or interrupted.

        The unit's lock must be held. A stage found "running" (its process was killed) is
        simply started again; check :meth:`is_done` first to skip finished work.
        """
        if not self._holds(unit):
            raise StageError(
                f"stage {name!r} of {unit!r} needs the unit's lock: run it inside "
                f"`with run.lock({unit!r}):`"
            )
        started = _now()

        def start(manifest: dict[str, Any]) -> None:
            stages = self._stages(manifest, unit)
            attempts = int(stages.get(name, {}).get("attempts", 0)) + 1
            stages[name] = {
                "status": "running",
                "inputs_hash": inputs_hash,
                "started": started,
                "pid": os.getpid(),
                "host": host(),
                "attempts": attempts,
            }

        self._update(start)
        clock = time.monotonic()
        handle = StageHandle(unit, name, inputs_hash)

        def finish(status: str, **fields: Any) -> None:
            def change(manifest: dict[str, Any]) -> None:
                record = self._stages(manifest, unit)[name]
                record.update(
                    status=status,
                    finished=_now(),
                    seconds=round(time.monotonic() - clock, 3),
                    **fields,
                )

            self._update(change)

        try:
            yield handle
        except Exception as err:
            finish("failed", error=f"{type(err).__name__}: {err}")
            raise
        except BaseException as err:  # KeyboardInterrupt, SystemExit
            finish("interrupted", error=type(err).__name__)
            raise
        try:
            outputs = json.loads(dumps(handle.outputs))
            info = json.loads(dumps(handle.info))
        except (TypeError, ValueError) as err:
            message = f"stage {name!r} of {unit!r}: outputs and info must be JSON data: {err}"
            finish("failed", error=message)
            raise TypeError(message) from err
        finish("done", outputs=outputs, info=info)

    def _alive(self, unit: str, record: Mapping[str, Any]) -> bool:
        """Whether the process that marked ``record`` running is still running it."""
        if self._holds(unit):
            return record.get("pid") == os.getpid() and record.get("host") == host()
        pid = record.get("pid")
        if record.get("host") == host() and isinstance(pid, int) and not pid_alive(pid):
            return False
        return not _lock_free(Path(self._lock_key(unit)))

    def status(self, unit: str, name: str) -> dict[str, Any] | None:
        """The manifest record of a stage, or None if it never started.

        A "running" record whose process is gone (dead pid on this host, or the unit's lock
        free) reads as "interrupted".
        """
        record = self._stages(self.manifest(), unit).get(name)
        if record is None:
            return None
        record = dict(record)
        if record.get("status") == "running" and not self._alive(unit, record):
            record["status"] = "interrupted"
        return record

    def is_done(self, unit: str, name: str, inputs_hash: str) -> bool:
        """Whether the stage finished with these same inputs."""
        record = self._stages(self.manifest(), unit).get(name)
        return (
            record is not None
            and record.get("status") == "done"
            and record.get("inputs_hash") == inputs_hash
        )

    def summary(self) -> list[tuple[str, str, str, float | None]]:
        """``(unit, stage, status, seconds)`` for every stage, shared first; for a stage still
        running, the seconds so far."""
        manifest = self.manifest()
        units = [SHARED, *manifest["cells"]]
        rows: list[tuple[str, str, str, float | None]] = []
        for unit in units:
            for name, record in self._stages(manifest, unit).items():
                status, seconds = record.get("status", "?"), record.get("seconds")
                if status == "running":
                    if self._alive(unit, record):
                        seconds = _elapsed(record.get("started"))
                    else:
                        status = "interrupted"
                rows.append((unit, name, status, seconds))
        return rows
