"""Readers for tests/golden/*.tsv, the case tables shared with the Rust tests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"

_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|[nrt\\])")
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\"}


def unescape(field: str) -> str:
    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        return chr(int(code[1:], 16)) if code.startswith("u") else _SIMPLE[code]

    return _ESCAPE.sub(one, field)


def rows(name: str) -> Iterator[list[str]]:
    for line in (GOLDEN / name).read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            yield [unescape(f) for f in line.split("\t")]
