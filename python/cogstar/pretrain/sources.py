"""Documents for curation: a Hugging Face dataset (streamed), a local file, or our own sample.

    from cogstar.pretrain.sources import iter_documents

    for doc in iter_documents("hf:open-web-math/open-web-math", limit=10_000):
        ...                                   # Document(id=<url>, text=..., truncated=...)
    iter_documents("hf:HuggingFaceTB/finemath:finemath-4plus")   # dataset id, then config
    iter_documents("data/pages.jsonl")        # or .parquet; field `text`, optional `id`/`url`
    iter_documents("sample:200")              # the generated sample below (offline)

Every document is cut to at most ``max_tokens`` tokens (the paper labels documents truncated
to about 3k tokens). The cut falls on a line boundary, so a formula or a sentence split across
the budget is dropped whole rather than left dangling; only when the first line alone exceeds
the budget is it cut on a word boundary (and a single word longer than the budget is cut
mid-word, the only way to honour the budget). Token counts come from ``count_tokens``; the
default, :func:`default_count_tokens`, is the number of whitespace-separated words times 1.3
(rounded up), a rough figure for BPE tokenizers on English prose that undercounts LaTeX-heavy
text. Pass :func:`token_counter` of the model's tokenizer for exact budgets.

A document's id is the row's ``id`` field, else its ``url`` field, else ``<source>#<row>`` with
the row's 0-based index in the source (local paths as given: pass the same spelling to resume).
``sample:<n>[:<seed>]`` is :func:`cogstar.pretrain.sample.sample_math_corpus`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cogstar.errors import ArgumentError, DataError
from cogstar.io import iter_jsonl
from cogstar.pretrain import Document
from cogstar.pretrain.sample import sample_math_corpus

__all__ = ["default_count_tokens", "iter_documents", "token_counter", "truncate"]

TokenCounter = Callable[[str], int]


# --- token budget ---------------------------------------------------------------------------


def default_count_tokens(text: str) -> int:
    """Whitespace-separated words times 1.3, rounded up (about right for BPE on English)."""
    return math.ceil(len(text.split()) * 1.3)


def token_counter(tokenizer: Any) -> TokenCounter:
    """An exact counter from a Hugging Face tokenizer (special tokens not counted)."""

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    return count


def _longest_fitting(n: int, fits: Callable[[int], bool]) -> int:
    """The largest k in [0, n) with ``fits(k)``, by bisection; ``fits(0)`` is taken as true and
    ``fits(n)`` as false. Token counts of prefixes grow with the prefix (for a tokenizer, almost
    always), so this finds the cut with O(log n) counts instead of one per line."""
    lo, hi = 0, n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo


def truncate(
    text: str, max_tokens: int, count_tokens: TokenCounter | None = None
) -> tuple[str, bool]:
    """``text`` cut to at most ``max_tokens`` tokens on a line boundary; ``(text, was_cut)``.

    Only a first line that alone exceeds the budget is cut inside, on a word boundary.
    Trailing whitespace of a cut text is dropped.
    """
    if max_tokens < 1:
        raise ArgumentError(f"max_tokens must be >= 1, got {max_tokens}")
    count = count_tokens or default_count_tokens
    if count(text) <= max_tokens:
        return text, False
    lines = text.splitlines(keepends=True)
    # Count exactly what would be returned (the cut text loses its trailing white space).
    k = _longest_fitting(len(lines), lambda k: count("".join(lines[:k]).rstrip()) <= max_tokens)
    kept = "".join(lines[:k]).rstrip()
    if kept:
        return kept, True
    first = "".join(lines[: k + 1])  # any blank lines, then the line too long for the budget
    words = re.findall(r"\s*\S+", first)  # each piece: leading whitespace + one word
    k = _longest_fitting(len(words), lambda k: count("".join(words[:k])) <= max_tokens)
    if k > 0:
        return "".join(words[:k]), True
    # One word longer than the whole budget (a URL, a base64 blob): cut it.
    k = _longest_fitting(len(first), lambda k: count(first[:k]) <= max_tokens)
    return first[:k].rstrip(), True


# --- sources --------------------------------------------------------------------------------

_FORMS = (
    "hf:<dataset id>[:<config>] (e.g. hf:open-web-math/open-web-math), "
    "a local .jsonl or .parquet file, or sample:<n>[:<seed>]"
)


def iter_documents(
    source: str | os.PathLike[str],
    *,
    limit: int | None = None,
    max_tokens: int = 3000,
    count_tokens: TokenCounter | None = None,
    text_field: str = "text",
    split: str = "train",
) -> Iterator[Document]:
    """Documents of ``source`` in order, each cut to ``max_tokens``; at most ``limit`` of them.

    Rows whose text is blank or null are skipped (they do not count towards ``limit``); a row
    without the text field, or with a non-string one, raises :class:`DataError` naming the
    file and line (or row) when it is reached. The source itself is opened by this call, so an
    unknown form, a missing file or an unreachable dataset fail here, before any work is done.
    Hugging Face datasets are streamed, never downloaded whole.
    """
    if limit is not None and limit < 0:
        raise ArgumentError(f"limit must be >= 0 or None, got {limit}")
    if max_tokens < 1:
        raise ArgumentError(f"max_tokens must be >= 1, got {max_tokens}")
    name = os.fspath(source)
    if name.startswith("sample:"):
        rows: Iterator[tuple[str, dict[str, Any]]] = _sample_rows(name)
    elif name.startswith("hf:"):
        rows = _hf_rows(name, split)
    else:
        path = Path(name)
        suffix = path.suffix.lower()
        if suffix not in (".jsonl", ".parquet"):
            raise DataError(f"{name}: not a source cogstar can read; give {_FORMS}")
        if not path.is_file():
            raise DataError(f"{name}: no such file (sources are {_FORMS})")
        rows = _jsonl_rows(path) if suffix == ".jsonl" else _parquet_rows(path, text_field)
    return _documents(rows, name, limit, max_tokens, count_tokens, text_field)


def _documents(
    rows: Iterator[tuple[str, dict[str, Any]]],
    name: str,
    limit: int | None,
    max_tokens: int,
    count_tokens: TokenCounter | None,
    text_field: str,
) -> Iterator[Document]:
    if limit == 0:
        return
    yielded = 0
    for index, (where, row) in enumerate(rows):
        if text_field not in row:
            fields = ", ".join(sorted(map(str, row))) or "none"
            raise DataError(
                f"{where}: no {text_field!r} field (fields: {fields}); pass text_field= to "
                "read another one"
            )
        text = row[text_field]
        if text is None:
            continue
        if not isinstance(text, str):
            raise DataError(
                f"{where}: field {text_field!r} is a {type(text).__name__}, not a string"
            )
        if not text.strip():
            continue
        text, cut = truncate(text, max_tokens, count_tokens)
        if not text.strip():
            continue  # a budget too small for even one word
        yield Document(id=_row_id(row, name, index), text=text, source=name, truncated=cut)
        yielded += 1
        if limit is not None and yielded >= limit:
            return


def _row_id(row: dict[str, Any], source: str, index: int) -> str:
    for key in ("id", "url"):
        value = row.get(key)
        if value is not None and str(value) != "":
            return str(value)
    return f"{source}#{index}"


def _jsonl_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """The objects of a JSONL file, by :func:`cogstar.io.iter_jsonl`'s rules."""
    for number, row in iter_jsonl(path, "fix or delete that line"):
        yield f"{path}:{number}", row


def _parquet_rows(path: Path, text_field: str) -> Iterator[tuple[str, dict[str, Any]]]:
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    try:
        table = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{path}: not a readable Parquet file ({err})") from None
    names = list(table.schema_arrow.names)
    if text_field not in names:
        raise DataError(
            f"{path}: no {text_field!r} column (columns: {', '.join(names) or 'none'}); pass "
            "text_field= to read another one"
        )
    columns = [text_field, *(c for c in ("id", "url") if c in names)]

    def rows() -> Iterator[tuple[str, dict[str, Any]]]:
        number = 0
        for batch in table.iter_batches(batch_size=256, columns=columns):
            for row in batch.to_pylist():
                number += 1
                yield f"{path}: row {number}", row

    return rows()


def _hf_rows(source: str, split: str) -> Iterator[tuple[str, dict[str, Any]]]:
    name, _, config = source[len("hf:") :].partition(":")
    if not name:
        raise DataError(f"{source}: no dataset id; give hf:<dataset id>[:<config>]")
    try:
        from datasets import load_dataset  # type: ignore[import-untyped]
    except ImportError:
        raise DataError(
            f"{source}: reading Hugging Face datasets needs the `datasets` package "
            "(pip install datasets)"
        ) from None
    args = (name, config) if config else (name,)
    try:
        rows = load_dataset(*args, split=split, streaming=True)
    except Exception as err:  # network, auth, unknown dataset/config: say which source
        raise DataError(f"{source}: cannot open the dataset (split {split!r}): {err}") from err
    return ((f"{source}: row {n}", dict(row)) for n, row in enumerate(rows, start=1))


def _sample_rows(source: str) -> Iterator[tuple[str, dict[str, Any]]]:
    parts = source.split(":")[1:]
    try:
        if not 1 <= len(parts) <= 2:
            raise ValueError
        n, seed = int(parts[0]), int(parts[1]) if len(parts) == 2 else 0
        if n < 0:
            raise ValueError
    except ValueError:
        raise DataError(f"{source}: give sample:<n>[:<seed>] with n >= 0") from None
    return (
        (f"{source}: document {doc.id}", {"id": doc.id, "text": doc.text})
        for doc in sample_math_corpus(n, seed)
    )
