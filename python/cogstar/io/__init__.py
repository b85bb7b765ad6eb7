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

from cogstar.io.files import (
    append_jsonl,
    atomic_dir,
    atomic_file,
    atomic_write_json,
    atomic_write_text,
    dumps,
    hash_json,
    host,
    iter_jsonl,
    pid_alive,
    publish_dir,
    read_json,
    read_jsonl,
    write_jsonl,
)
from cogstar.io.rows import (
    RECORD_SOURCES,
    Completion,
    Record,
    completion_from_row,
    puzzle_from_row,
    puzzle_row,
    read_completion_lines,
    read_completions,
    read_puzzles,
    read_records,
    write_puzzles,
    write_records,
)

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
    "read_completion_lines",
    "read_completions",
    "read_json",
    "read_jsonl",
    "read_puzzles",
    "read_records",
    "write_jsonl",
    "write_puzzles",
    "write_records",
]
