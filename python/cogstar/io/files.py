"""Files, written whole or not at all, and JSON Lines with one rule for damage (see
:mod:`cogstar.io`)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from cogstar.errors import DataError

__all__ = [
    "append_jsonl",
    "atomic_dir",
    "atomic_file",
    "atomic_write_json",
    "atomic_write_text",
    "dumps",
    "hash_json",
    "host",
    "iter_jsonl",
    "pid_alive",
    "publish_dir",
    "read_json",
    "read_jsonl",
    "write_jsonl",
]

PathLike = str | os.PathLike[str]


# --- small helpers ------------------------------------------------------------------------


def host() -> str:
    """This machine's name, as run files record it."""
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process on this host (a zombie counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is someone else's
    return True


def _json_default(obj: object) -> Any:
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable: {obj!r}")


def dumps(obj: Any, **kwargs: Any) -> str:
    """JSON text, UTF-8 kept as it is, paths written as strings."""
    return json.dumps(obj, ensure_ascii=False, default=_json_default, **kwargs)


def hash_json(obj: Any) -> str:
    """The first 16 hex digits of the sha256 of ``obj`` as canonical JSON (sorted keys)."""
    text = json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (a no-op where directories cannot be fsynced)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _temp_sibling(path: Path, kind: str) -> Path:
    """A hidden sibling named after the writer, so leftovers of dead writers can be found."""
    return path.with_name(f".{path.name}.{host()}.{os.getpid()}.{secrets.token_hex(4)}.{kind}")


def _remove_leftovers(path: Path) -> None:
    """Delete temp siblings of ``path`` left by writers on this host that have since died."""
    pattern = re.compile(
        rf"\.{re.escape(path.name)}\.(?P<host>.+)\.(?P<pid>\d+)\.[0-9a-f]{{8}}\.(?:tmp|old)"
    )
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return
    for entry in entries:
        found = pattern.fullmatch(entry.name)
        if found and found["host"] == host() and not pid_alive(int(found["pid"])):
            _remove(Path(entry.path))


# --- atomic files and folders -------------------------------------------------------------


@contextlib.contextmanager
def atomic_file(path: PathLike) -> Iterator[Path]:
    """Yield a temp path beside ``path`` to write to (by any library); when the block ends
    cleanly the file is fsynced and renamed onto ``path``, and if it raises it is removed."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(final)
    tmp = _temp_sibling(final, "tmp")
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(final.parent)


def _atomic_write_bytes(path: PathLike, data: bytes) -> None:
    # os.open with 0o666 lets the umask decide the mode, as for a file written directly.
    with (
        atomic_file(path) as tmp,
        open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as f,
    ):
        f.write(data)


def atomic_write_text(path: PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` so that readers see the old file or the whole new one."""
    _atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically (paths are written as strings)."""
    _atomic_write_bytes(path, (dumps(obj, indent=2) + "\n").encode("utf-8"))


def _fsync_tree(root: Path) -> None:
    for folder, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(folder))


def publish_dir(tmp: PathLike, path: PathLike, *, fsync: bool = True) -> Path:
    """Move the finished folder ``tmp`` onto ``path``, replacing what is there.

    The new folder appears whole or not at all: an old ``path`` is first moved aside (and
    put back if the rename fails), then deleted. With ``fsync`` every file is flushed first,
    so the folder is complete even after a power cut.
    """
    new, final = Path(tmp), Path(path)
    if fsync:
        _fsync_tree(new)
    if final.exists() or final.is_symlink():
        # rename() cannot replace a non-empty folder: move the old one aside first.
        old = _temp_sibling(final, "old")
        os.replace(final, old)
        try:
            os.replace(new, final)
        except BaseException:
            os.replace(old, final)
            raise
        _remove(old)
    else:
        os.replace(new, final)
    _fsync_dir(final.parent)
    return final


@contextlib.contextmanager
def atomic_dir(path: PathLike, *, fsync: bool = True) -> Iterator[Path]:
    """Build a folder in a temp sibling and publish it at ``path`` when the block ends cleanly
    (:func:`publish_dir`); if the block raises, the temp folder is removed and ``path`` is
    left as it was. Leftovers of dead processes on this host go on the next call."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(final)
    tmp = _temp_sibling(final, "tmp")
    tmp.mkdir()
    try:
        yield tmp
        publish_dir(tmp, final, fsync=fsync)
    except BaseException:
        _remove(tmp)
        raise


# --- JSON and JSONL -----------------------------------------------------------------------


def read_json(path: PathLike, fix: str) -> Any:
    """A JSON file; a missing or damaged one raises :class:`DataError` ending with ``fix``."""
    source = Path(path)
    try:
        return json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{source}: no such file; {fix}") from None
    except json.JSONDecodeError as err:
        raise DataError(
            f"{source}:{err.lineno}: not valid JSON ({err.msg} at column {err.colno}); {fix}"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{source}: cannot read it ({err}); {fix}") from None


def _is_json_object(data: bytes) -> bool:
    try:
        return isinstance(json.loads(data.decode("utf-8")), dict)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        return False


def _mend_tail(fd: int, path: Path) -> None:
    """Before appending: a last line without its newline is a torn write; cut it off.

    A complete JSON object that merely lacks the newline (a hand-edited file) gets one instead.
    """
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    keep, end = 0, size
    while end > 0:  # find the last newline, reading backwards in chunks
        start = max(0, end - 65536)
        at = os.pread(fd, end - start, start).rfind(b"\n")
        if at >= 0:
            keep = start + at + 1
            break
        end = start
    if _is_json_object(os.pread(fd, size - keep, keep)):
        os.write(fd, b"\n")
        return
    warnings.warn(
        f"{path}: dropped a torn last line ({size - keep} bytes without a newline, "
        "left by an interrupted write)",
        stacklevel=3,
    )
    os.ftruncate(fd, keep)


def append_jsonl(path: PathLike, *rows: Mapping[str, Any]) -> None:
    """Append each row as one JSON line, with one fsync for all of them; a torn last line left
    by a crash is cut first."""
    target = Path(path)
    data = "".join(dumps(dict(row)) + "\n" for row in rows).encode("utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
    try:
        _mend_tail(fd, target)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def write_jsonl(path: PathLike, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write ``rows`` as a whole JSONL file, atomically; returns how many were written."""
    n = 0
    with atomic_file(path) as tmp, tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(dumps(dict(row)) + "\n")
            n += 1
    return n


_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


def iter_jsonl(path: PathLike, fix: str | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each line of a JSONL file of objects; blank lines are
    skipped.

    A damaged line raises :class:`DataError` naming ``file:line`` (ending with ``fix`` when
    given), except a damaged last line without a trailing newline: that is a write cut short
    by a crash, dropped with a warning. A missing file raises :class:`DataError` too.
    """
    source = Path(path)
    try:
        f = source.open("rb")
    except FileNotFoundError:
        raise DataError(f"{source}: no such file" + (f"; {fix}" if fix else "")) from None
    with f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as err:
                problem = f"not UTF-8 (byte {err.start + 1})"
            except json.JSONDecodeError as err:
                problem = f"invalid JSON: {err.msg} at column {err.colno}"
            else:
                if isinstance(obj, dict):
                    yield number, obj
                    continue
                problem = (
                    f"a JSON {_JSON_TYPES.get(type(obj), 'null')} where an object was expected"
                )
            if not raw.endswith(b"\n"):  # only the last line can lack its newline
                warnings.warn(
                    f"{source}:{number}: dropped a torn last line ({problem}; no newline, "
                    "left by an interrupted write)",
                    stacklevel=2,
                )
                return
            raise DataError(
                f"{source}:{number}: {problem}. Only a file's last line can be cut short by a "
                "crash, so this file was edited or damaged: "
                + (fix or "fix or delete that line, or delete the file to redo what wrote it.")
            )


def read_jsonl(path: PathLike, fix: str | None = None) -> list[dict[str, Any]]:
    """Every object of a JSONL file, by the rules of :func:`iter_jsonl`."""
    return [row for _, row in iter_jsonl(path, fix)]
