"""``extends``: a spec that starts from another spec (see :mod:`cogstar.study.spec`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from cogstar.config import Sources, read_config_file
from cogstar.errors import ConfigError

__all__ = ["extended", "merge"]


def merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``: tables merge key by key, any other value replaces."""
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def extended(
    path: Path, data: dict[str, Any], sources: Sources, chain: tuple[Path, ...] = ()
) -> dict[str, Any]:
    """``data`` on top of the spec its top-level ``extends`` names (a path relative to the
    spec's folder), recursively: tables merge key by key, any other value (a list too)
    replaces the base's. A key that comes from a base file is reported as that file's."""
    base_name = data.pop("extends", None)
    if base_name is None:
        return data
    chain = (*chain, path.resolve())
    if not isinstance(base_name, str):
        raise ConfigError(
            [f'{path}: extends: {base_name!r} is not a path; fix: write extends = "OTHER.toml"'],
            "spec",
        )
    base_path = path.parent / base_name
    if base_path.resolve() in chain:
        names = " -> ".join(str(p) for p in (*chain, base_path))
        raise ConfigError(
            [f"{path}: extends: {names} is a cycle; fix: make one spec the base of the others"],
            "spec",
        )
    try:
        base = read_config_file(base_path)
    except ConfigError as err:
        raise ConfigError([f"{path}: extends: {line}" for line in err.problems], "spec") from None
    base = extended(base_path, base, sources, chain)

    def leaves(node: Mapping[str, Any], keys: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
        for key, value in node.items():
            if isinstance(value, Mapping):
                yield from leaves(value, (*keys, key))
            else:
                yield (*keys, key)

    own = set(leaves(data))
    for keys in leaves(base):
        if keys not in own:
            sources.origin.setdefault(keys, f"from {base_path}")
    return merge(base, data)
