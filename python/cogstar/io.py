"""Files, in one place: atomic writes, JSONL, and the two row formats every stage shares.

Every file cogstar writes is written atomically (a hidden temp sibling, fsync, ``os.replace``):
after a crash or SIGKILL it holds its old content or the whole new one. Folders are built the
same way (:func:`atomic_dir`, :func:`publish_dir`).

**JSONL.** One rule for damage everywhere: a last line without its newline that is not a JSON
object is a write cut short by a crash, dropped with a warning; any other bad line raises
:class:`~cogstar.errors.DataError` naming ``file:line``. Readers stream (:func:`iter_jsonl`);
:func:`append_jsonl` cuts a torn last line before it appends.

**Rows.** Three formats, the same field names in every file and every reader:

* a *puzzle row* is ``{"numbers": [int, ...], "target": int}`` (:func:`read_puzzles`,
  :func:`write_puzzles`);
* a *completion row* is what a model wrote for a puzzle: ``numbers``, ``target``, ``prompt``
  (the text the model continued) and ``completion`` (what it wrote), plus whatever the writer
  adds (evaluation adds ``puzzle``, ``value``, ``outcome``, ``tokens``, ``truncated``). A file
  of someone else's responses may give ``text`` (prompt and response together) instead of
  ``prompt`` and ``completion``; ``numbers`` and ``target`` may be absent where nothing needs
  them (:func:`read_completions`, :class:`Completion`);
* a *record* is a prompt/completion pair to train on (a priming trace, a curated pretraining
  text): ``prompt``, ``completion``, ``numbers``, ``target``, ``condition``, ``correct``,
  ``source`` and ``counts``, as JSONL or Parquet (:class:`Record`, :func:`read_records`,
  :func:`write_records`).
"""

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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field
from pathlib import Path
from typing import Any

from cogstar._core import BEHAVIORS, Puzzle
from cogstar.errors import ArgumentError, DataError

__all__ = [
    "RECORD_SOURCES",
    "Completion",
    "Record",
    "append_jsonl",
    "atomic_dir",
    "atomic_file",
    "atomic_write_json",
    "atomic_write_text",
    "completion_from_row",
    "dumps",
    "hash_json",
    "host",
    "iter_jsonl",
    "pid_alive",
    "publish_dir",
    "puzzle_from_row",
    "puzzle_row",
    "read_completions",
    "read_json",
    "read_jsonl",
    "read_puzzles",
    "read_records",
    "write_jsonl",
    "write_puzzles",
    "write_records",
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


def append_jsonl(path: PathLike, row: Mapping[str, Any]) -> None:
    """Append ``row`` as one JSON line and fsync it; a torn last line left by a crash is cut."""
    target = Path(path)
    line = (dumps(dict(row)) + "\n").encode("utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o666)
    try:
        _mend_tail(fd, target)
        view = memoryview(line)
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


# --- puzzle rows ----------------------------------------------------------------------------


def puzzle_row(puzzle: Puzzle) -> dict[str, Any]:
    """The puzzle row of ``puzzle``: ``{"numbers": [...], "target": N}``."""
    return {"numbers": list(puzzle.numbers), "target": puzzle.target}


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an integer, got {value!r}")
    return value


def puzzle_from_row(row: Mapping[str, Any]) -> Puzzle:
    """A puzzle from a puzzle row; raises ``TypeError``/``KeyError`` for a malformed one."""
    numbers = row["numbers"]
    if not isinstance(numbers, list):
        raise TypeError(f"numbers must be a list of integers, got {numbers!r}")
    return Puzzle([_int(n, "each number") for n in numbers], _int(row["target"], "target"))


def write_puzzles(path: PathLike, puzzles: Iterable[Puzzle]) -> int:
    """Write puzzle rows, atomically; returns how many."""
    return write_jsonl(path, (puzzle_row(p) for p in puzzles))


def read_puzzles(path: PathLike, fix: str) -> list[Puzzle]:
    """The puzzles of a file of puzzle rows. A missing file or a malformed row raises
    :class:`DataError` naming ``file:line`` and ending with ``fix`` (what rebuilds the file)."""
    out = []
    for number, row in iter_jsonl(path, fix):
        try:
            out.append(puzzle_from_row(row))
        except (KeyError, TypeError) as err:
            raise DataError(
                f'{path}:{number}: not a puzzle row ({_reason(err)}); expected {{"numbers": '
                f'[...], "target": N}}; {fix}'
            ) from None
    return out


def _reason(err: Exception) -> str:
    return f"no {err.args[0]!r} field" if isinstance(err, KeyError) else str(err)


# --- completion rows ------------------------------------------------------------------------


@dataclass(frozen=True)
class Completion:
    """One completion row: what a model wrote (``completion``) after ``prompt`` for the
    puzzle ``numbers`` / ``target`` (either may be None where a file does not give them).
    ``prompt`` is None where the row gave none (it must be rebuilt from the puzzle to score
    the completion) and empty for a ``text`` row (its text is the prompt and the response).
    ``text`` is the prompt and completion together, what a reward reads."""

    prompt: str | None
    completion: str
    numbers: list[int] | None
    target: int | None

    @property
    def text(self) -> str:
        return (self.prompt or "") + self.completion


_COMPLETION_HELP = (
    'a completion row: "completion" with its "prompt", or "text" (prompt and response '
    'together), and "numbers" (a list of integers) and "target" (an integer)'
)


def completion_from_row(row: Mapping[str, Any], *, require_puzzle: bool = False) -> Completion:
    """A :class:`Completion` from a completion row; raises ``TypeError``/``ValueError`` for a
    malformed one (``require_puzzle``: ``numbers`` and ``target`` must be there)."""
    prompt: Any
    if "completion" in row:
        prompt, completion = row.get("prompt"), row["completion"]
    elif "text" in row:
        prompt, completion = "", row["text"]
    else:
        other = [k for k in ("response", "output", "generation") if k in row]
        hint = f" (rename {other[0]!r} to 'completion')" if other else ""
        raise ValueError(f"no 'completion' or 'text' field{hint}")
    for name, value in (("prompt", prompt), ("completion", completion)):
        if not isinstance(value, str) and not (name == "prompt" and value is None):
            raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    numbers, target = row.get("numbers"), row.get("target")
    if require_puzzle and (numbers is None or target is None):
        raise ValueError("no 'numbers' and 'target' fields (the reward needs the puzzle)")
    if numbers is not None:
        if not isinstance(numbers, list):
            raise TypeError(f"numbers must be a list of integers, got {numbers!r}")
        numbers = [_int(n, "each number") for n in numbers]
    if target is not None:
        target = _int(target, "target")
    return Completion(prompt, completion, numbers, target)


def _parquet_rows(path: Path) -> list[dict[str, Any]]:
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    try:
        rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{path}: not a readable Parquet file ({err})") from None
    return rows


def read_completions(path: PathLike, *, require_puzzle: bool = False) -> list[Completion]:
    """The completion rows of a ``.jsonl`` or ``.parquet`` file (see the module docstring).

    A malformed row raises :class:`DataError` naming ``file:line`` (``file: row N`` for
    Parquet) and the fields expected.
    """
    source = Path(path)
    suffix = source.suffix.lower()
    if suffix not in (".jsonl", ".parquet"):
        raise DataError(
            f"{source}: completions are read from .jsonl or .parquet files, not "
            f"{source.suffix or '(no suffix)'!r}"
        )
    rows: Sequence[tuple[str, Mapping[str, Any]]]
    if suffix == ".jsonl":
        rows = [(f"{source}:{n}", row) for n, row in iter_jsonl(source)]
    else:
        rows = [(f"{source}: row {n}", row) for n, row in enumerate(_parquet_rows(source), 1)]
    out = []
    for where, row in rows:
        try:
            out.append(completion_from_row(row, require_puzzle=require_puzzle))
        except (TypeError, ValueError) as err:
            raise DataError(
                f"{where}: not a completion row ({err}); expected {_COMPLETION_HELP}"
            ) from None
    return out


# --- records: prompt/completion pairs to train on -----------------------------------------

RECORD_SOURCES: tuple[str, ...] = ("synthetic", "llm")


@dataclass(frozen=True)
class Record:
    """One prompt/completion example to train on: a priming trace (``condition`` names it)
    or a curated pretraining text (``condition`` is ``pretrain_<pool>``, no puzzle behind it:
    ``numbers`` empty, ``target`` 0).

    ``correct`` is the reward's verdict on prompt + completion; ``source`` is ``"synthetic"``
    or ``"llm"`` (files written before it existed were all LLM-written, so that is the
    default); ``counts`` holds the synthesizer's ground-truth behavior counts of the
    completion (``None`` for LLM-written records).
    """

    prompt: str
    completion: str
    numbers: list[int]
    target: int
    condition: str
    correct: bool
    source: str = "llm"
    counts: dict[str, int] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.source not in RECORD_SOURCES:
            raise ArgumentError(
                f"source must be one of {', '.join(RECORD_SOURCES)}, got {self.source!r}"
            )
        if self.counts is not None and set(self.counts) != set(BEHAVIORS):
            raise ArgumentError(
                f"counts must have exactly the keys {', '.join(BEHAVIORS)}, "
                f"got {', '.join(sorted(self.counts)) or 'none'}"
            )


_RECORD_SUFFIXES = (".jsonl", ".parquet")


def _record_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _RECORD_SUFFIXES:
        raise DataError(
            f"{path}: unknown file type {path.suffix or '(no suffix)'!r}; records are "
            "written and read as .jsonl or .parquet"
        )
    return suffix


def _record(data: Mapping[str, Any]) -> Record:
    required = {
        name
        for name, f in Record.__dataclass_fields__.items()
        if f.default is MISSING and f.default_factory is MISSING
    }
    missing = required - set(data)
    if missing:
        raise ValueError(f"missing field(s) {', '.join(sorted(missing))}")
    kwargs = {k: v for k, v in data.items() if k in Record.__dataclass_fields__}
    if kwargs.get("source", "llm") is None:  # a Parquet column that some rows lack
        del kwargs["source"]
    return Record(**kwargs)


def _records_schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("prompt", pa.string()),
            ("completion", pa.string()),
            ("numbers", pa.list_(pa.int64())),
            ("target", pa.int64()),
            ("condition", pa.string()),
            ("correct", pa.bool_()),
            ("source", pa.string()),
            ("counts", pa.struct([(b, pa.int64()) for b in BEHAVIORS])),
        ]
    )


def write_records(path: PathLike, records: Iterable[Record]) -> int:
    """Write records atomically; the suffix chooses the format: ``.jsonl`` (one JSON object
    per line) or ``.parquet`` (one row per record, ``counts`` a struct of the four
    behaviors). Returns how many were written."""
    target = Path(path)
    if _record_format(target) == ".jsonl":
        return write_jsonl(target, (asdict(r) for r in records))
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [asdict(r) for r in records]
    with atomic_file(target) as tmp:
        pq.write_table(pa.Table.from_pylist(rows, schema=_records_schema()), tmp)
    return len(rows)


def read_records(path: PathLike) -> list[Record]:
    """The records of a ``.jsonl`` or ``.parquet`` file; files written before ``source`` and
    ``counts`` existed still read. A broken line raises :class:`DataError` naming
    ``file:line`` (``file: row N`` for Parquet)."""
    source = Path(path)
    fix = "fix or delete that line, or rebuild the file"
    if _record_format(source) == ".jsonl":
        rows = [(f"{source}:{n}", row) for n, row in iter_jsonl(source, fix)]
    else:
        rows = [(f"{source}: row {n}", row) for n, row in enumerate(_parquet_rows(source), 1)]
    out = []
    for where, row in rows:
        try:
            out.append(_record(row))
        except (ValueError, TypeError) as err:
            raise DataError(f"{where}: not a record ({err}); {fix}") from None
    return out
