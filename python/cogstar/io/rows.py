"""The row formats every stage shares: puzzles, completions and training records (see
:mod:`cogstar.io`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field
from pathlib import Path
from typing import Any

from cogstar._core import BEHAVIORS, Puzzle
from cogstar.errors import ArgumentError, DataError
from cogstar.io.files import PathLike, atomic_file, iter_jsonl, write_jsonl

__all__ = [
    "RECORD_SOURCES",
    "Completion",
    "Record",
    "completion_from_row",
    "puzzle_from_row",
    "puzzle_row",
    "read_completion_lines",
    "read_completions",
    "read_puzzles",
    "read_records",
    "write_puzzles",
    "write_records",
]


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


_PUZZLE_SUFFIXES = (".jsonl", ".parquet")


def _puzzle_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _PUZZLE_SUFFIXES:
        raise DataError(
            f"{path}: unknown file type {path.suffix or '(no suffix)'!r}; puzzles are written "
            "and read as .jsonl or .parquet"
        )
    return suffix


def write_puzzles(path: PathLike, puzzles: Iterable[Puzzle]) -> int:
    """Write puzzle rows, atomically, as the suffix says (``.jsonl`` or ``.parquet``, whose
    columns are ``numbers`` and ``target``); returns how many."""
    target = Path(path)
    if _puzzle_format(target) == ".jsonl":
        return write_jsonl(target, (puzzle_row(p) for p in puzzles))
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    rows = [puzzle_row(p) for p in puzzles]
    schema = pa.schema([("numbers", pa.list_(pa.int64())), ("target", pa.int64())])
    with atomic_file(target) as tmp:
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp)
    return len(rows)


def read_puzzles(path: PathLike, fix: str) -> list[Puzzle]:
    """The puzzles of a ``.jsonl`` or ``.parquet`` file of puzzle rows. A missing file or a
    malformed row raises :class:`DataError` naming ``file:line`` (or row) and ending with
    ``fix`` (what rebuilds the file)."""
    source = Path(path)
    if _puzzle_format(source) == ".parquet":
        rows = [(f"{source}: row {n}", r) for n, r in enumerate(_parquet_rows(source), 1)]
    else:
        rows = [(f"{source}:{n}", r) for n, r in iter_jsonl(source, fix)]
    out = []
    for where, row in rows:
        try:
            out.append(puzzle_from_row(row))
        except (KeyError, TypeError) as err:
            raise DataError(
                f'{where}: not a puzzle row ({_reason(err)}); expected {{"numbers": '
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
    import pyarrow as pa
    import pyarrow.parquet as pq

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
    return _completions(rows, require_puzzle)


def read_completion_lines(
    lines: Iterable[str], source: str = "<stdin>", *, require_puzzle: bool = False
) -> list[Completion]:
    """Completion rows from JSON lines (a pipe, stdin); blank lines are skipped, and a bad
    line raises :class:`DataError` naming ``source:line``."""
    import json

    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(
                f"{source}:{n}: invalid JSON ({err.msg}); one JSON object per line"
            ) from None
        if not isinstance(row, dict):
            raise DataError(f"{source}:{n}: not a JSON object; one completion row per line")
        rows.append((f"{source}:{n}", row))
    return _completions(rows, require_puzzle)


def _completions(
    rows: Sequence[tuple[str, Mapping[str, Any]]], require_puzzle: bool
) -> list[Completion]:
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
