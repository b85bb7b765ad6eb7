"""Stage configs: frozen pydantic models that check themselves, and the one loader that reads them.

Every stage has one config class beside its code (``DataConfig`` in :mod:`cogstar.tasks`,
``PrimingConfig``, ``BehaviorsConfig``, ``SFTConfig``, ``PPOConfig``, ``GRPOConfig``,
``EvalConfig``, ``CurationConfig`` and ``PretrainConfig``). Each is a :class:`StageConfig`:
unknown keys, wrong types and values out of range are refused by pydantic, and the rules that
tie several of its keys together live in its :meth:`~StageConfig.problems`. The study spec
(:mod:`cogstar.study.spec`) composes them and adds only the rules that span stages.

Every problem is reported as ``SOURCE: key.path: what is wrong; fix: how`` and all of them at
once, in one :class:`~cogstar.errors.ConfigError`. A stage's command line reads its config
with the same machinery as ``cogstar run`` reads a spec::

    python -m cogstar.train.ppo MODEL OUT --puzzles train.jsonl --config ppo.toml --set steps=20

where ``ppo.toml`` holds the keys (or a ``[ppo]`` table, so a whole spec works too) and the
resolved JSON a run writes beside each stage (``ppo/config.json``) works as well.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import itertools
import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import tomli_w
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import ErrorDetails

from cogstar.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "Found",
    "Loc",
    "Problem",
    "Sources",
    "StageConfig",
    "add_config_arguments",
    "apply_overrides",
    "closest",
    "config_from_args",
    "describe",
    "divisor_at_most",
    "is_loading",
    "keypath",
    "load_config",
    "loading",
    "parse_value",
    "problems_of",
    "read_config_file",
    "round_up",
    "set_path",
    "toml_key",
    "toml_value",
    "unknown_in_path",
    "validate",
]

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str, str]  # key path, what is wrong, the fix

C = TypeVar("C", bound=BaseModel)

# Set while a loader validates: configs leave their cross-key rules to the loader, which runs
# them itself so that it can place every problem (file, key, origin) and report all at once.
_LOADING: ContextVar[bool] = ContextVar("cogstar_config_loading", default=False)


def is_loading() -> bool:
    """Whether a loader is validating now (see :func:`loading`)."""
    return _LOADING.get()


@contextmanager
def loading() -> Iterator[None]:
    """Inside the block, validating a config skips its :meth:`StageConfig.problems`."""
    token = _LOADING.set(True)
    try:
        yield
    finally:
        _LOADING.reset(token)


class Found(list[Problem]):
    """Problems as they are found."""

    def add(self, loc: Loc, what: str, fix: str) -> None:
        self.append((loc, what, fix))


def problems_of(model: BaseModel, prefix: Loc = ()) -> list[Problem]:
    """The cross-key problems of ``model`` and of every config inside it, with full key paths."""
    found: list[Problem] = []
    own = getattr(model, "problems", None)
    if callable(own):
        found += [((*prefix, *loc), what, fix) for loc, what, fix in own()]
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            found += problems_of(value, (*prefix, name))
    return found


class StageConfig(BaseModel):
    """Base of the stage configs: frozen, no unknown keys, its own cross-key rules.

    ``SECTION`` is the config's table in a spec (``[ppo]``). ``NOT_HASHED`` names the fields
    that do not change what the stage produces (where an LLM server is reached, how often the
    study evaluates), left out of :meth:`inputs`, which is what the stage's inputs hash covers.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    SECTION: ClassVar[str] = ""
    NOT_HASHED: ClassVar[frozenset[str]] = frozenset()

    def problems(self) -> list[Problem]:
        """Rules over more than one key (key paths relative to this config)."""
        return []

    @classmethod
    def key(cls, name: str) -> str:
        """``name`` as a spec writes it (``ppo.micro_batch``), for messages."""
        return f"{cls.SECTION}.{name}" if cls.SECTION else name

    @model_validator(mode="after")
    def _check(self) -> StageConfig:
        if not _LOADING.get():
            found = problems_of(self)
            if found:
                within = tuple(self.SECTION.split(".")) if self.SECTION else ()
                raise ValueError(
                    "; ".join(f"{keypath((*within, *k))}: {w}; fix: {f}" for k, w, f in found)
                )
        return self

    def inputs(self) -> dict[str, Any]:
        """What the stage's inputs hash covers: every field but ``NOT_HASHED``, nested configs
        by their own :meth:`inputs`."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            if name in self.NOT_HASHED:
                continue
            value = getattr(self, name)
            if isinstance(value, StageConfig):
                out[name] = value.inputs()
            elif isinstance(value, BaseModel):
                out[name] = value.model_dump(mode="json")
            else:
                out[name] = json.loads(json.dumps(value, default=str))
        return out


# -- key paths and suggestions ----------------------------------------------------------------


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def keypath(loc: Iterable[str | int]) -> str:
    """``("ppo", "k", 0)`` as ``ppo.k[0]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{toml_key(part)}" if out else toml_key(part)
    return out or "(top level)"


def toml_value(value: Any) -> str:
    """One TOML value; lists of scalars stay on one line (tomli_w would break them up)."""
    if isinstance(value, list | tuple) and not any(isinstance(v, dict) for v in value):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return tomli_w.dumps({"v": value}).strip().removeprefix("v = ")


def closest(word: str, options: Iterable[str]) -> list[str]:
    """The most similar option (as a 0- or 1-item list): one that the word extends or
    abbreviates by 4 or more letters ("evaluation" -> "eval", not the similar-looking
    "curation"), else by spelling, else by any shared prefix."""
    options = list(options)

    def prefixed(o: str) -> bool:
        return word.startswith(o) or o.startswith(word)

    close = [o for o in options if min(len(o), len(word)) >= 4 and prefixed(o)][:1]
    close = close or difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return close or [o for o in options if prefixed(o)][:1]


def round_up(n: int, m: int) -> int:
    """The smallest multiple of ``m`` that is at least ``n`` (and at least ``m``)."""
    return max(m, -(-n // m) * m)


def divisor_at_most(n: int, m: int) -> int:
    """The largest divisor of ``n`` that is at most ``m``."""
    return max(d for d in range(1, min(n, m) + 1) if n % d == 0)


def _submodel(annotation: Any) -> type[BaseModel] | None:
    """The model class inside ``annotation`` (``X`` or ``X | None``), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _free_keys(root: type[BaseModel]) -> frozenset[str]:
    """Top-level fields whose value is a table of free keys (a spec's ``sweep``)."""
    return frozenset(getattr(root, "FREE_KEYS", frozenset()))


def unknown_in_path(root: type[BaseModel], path: Sequence[str]) -> tuple[str, str] | None:
    """(what, fix) when ``path`` does not name a field under ``root``; None when it does."""
    model: type[BaseModel] | None = root
    for depth, key in enumerate(path):
        if model is None:
            done = ".".join(path[:depth])
            return f"{done} is a value, it has no key {key!r}", f"use {done} itself"
        fields = model.model_fields
        if key not in fields:
            where = ".".join(path[:depth])
            close = closest(key, fields)
            what = f"unknown key {key!r}" + (f" in {where}" if where else "")
            fix = (
                f"did you mean {'.'.join([*path[:depth], close[0]])!r}?"
                if close
                else f"valid keys{' in ' + where if where else ''}: {', '.join(fields)}"
            )
            return what, fix
        free = depth == 0 and key in _free_keys(root)
        model = None if free else _submodel(fields[key].annotation)
    return None


def _field_at(root: type[BaseModel], loc: Loc) -> tuple[str, Any] | None:
    """(key, field info) of the field a validation error points at, or None."""
    model: type[BaseModel] | None = root
    found: tuple[str, Any] | None = None
    for key in loc:
        if model is None or not isinstance(key, str) or key not in model.model_fields:
            break
        info = model.model_fields[key]
        found = (key, info)
        model = _submodel(info.annotation)
    return found


# -- pydantic errors as problems ---------------------------------------------------------------


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _example(root: type[BaseModel], loc: Loc) -> str:
    """``, e.g. key = default`` for the field at ``loc`` when it has a plain default."""
    if loc[:1] and str(loc[0]) in _free_keys(root) and len(loc) > 1:
        return f", e.g. {toml_key(str(loc[1]))} = [first, second]"
    found = _field_at(root, loc)
    if found is None:
        return ""
    key, info = found
    default = info.get_default(call_default_factory=True)
    if default is None or isinstance(default, BaseModel | dict):
        return ""
    return f", e.g. {key} = {toml_value(default)}"


_REQUIRED_EXAMPLES = {"name": '"my-experiment"', "provider": '"openai"', "model": '"gpt-4o-mini"'}


def describe(
    root: type[BaseModel], error: ErrorDetails, moved: Mapping[tuple[str, ...], str] = {}
) -> Problem:
    """Turn one pydantic error under ``root`` into (key path, what is wrong, fix).

    ``moved`` maps the key paths of keys that no longer exist to the fix that names their
    replacement.
    """
    loc: Loc = tuple(error["loc"])
    kind, msg, given = error["type"], error["msg"], error.get("input")
    tail = msg.removeprefix("Input should be ").removeprefix("Value should be ").split(", ")[0]
    if kind == "extra_forbidden":
        gone = moved.get(tuple(str(k) for k in loc))
        if gone is not None:
            return loc, "this key was removed", gone
        parent = _field_at(root, loc[:-1])
        model = root if not loc[:-1] else (_submodel(parent[1].annotation) if parent else None)
        valid = list(model.model_fields) if model is not None else []
        close = closest(str(loc[-1]), valid)
        where = f" in [{keypath(loc[:-1])}]" if loc[:-1] else ""
        fix = (
            f"did you mean {close[0]!r}?"
            if close
            else f"remove it; valid keys{where}: {', '.join(valid)}"
        )
        return loc, "unknown key", fix
    if kind == "missing" and isinstance(loc[-1], int):  # a [low, high] pair with one value
        return loc, "a value is missing", "give every item" + _example(root, loc)
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return (
            loc,
            f"should be a table, got {_short(given)}",
            f"write it as a [{keypath(loc)}] table",
        )
    if kind == "missing":
        found = _field_at(root, loc)
        table = _submodel(found[1].annotation) if found else None
        if table is not None:
            needed = [k for k, f in table.model_fields.items() if f.is_required()]
            keys = " and ".join(f"{k} = {_REQUIRED_EXAMPLES.get(k, '...')}" for k in needed)
            return loc, "required table is missing", f"add [{keypath(loc)}] with {keys}"
        value = _REQUIRED_EXAMPLES.get(str(loc[-1]), "...")
        under = f" under [{keypath(loc[:-1])}]" if loc[:-1] else ""
        return loc, "required key is missing", f"add {loc[-1]} = {value}{under}"
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", error.get("ctx", {}).get("expected", ""))
        near = closest(str(given), allowed)
        hint = f"did you mean {near[0]!r}? " if near else ""
        return (
            loc,
            f"{_short(given)} is not allowed",
            f"{hint}use one of {', '.join(map(repr, allowed))}",
        )
    if kind == "string_pattern_mismatch":
        return (
            loc,
            f"{_short(given)} has characters a folder name should not",
            "use only letters, digits, '_', '.' and '-'",
        )
    if kind in ("too_short", "too_long"):
        return (
            loc,
            f"{msg}, got {_short(given)}",
            "give the right number of items" + _example(root, loc),
        )
    if msg.startswith(("Input should be", "Value should be")):
        constraint = kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal")
        return (
            loc,
            f"{msg[0].lower()}{msg[1:]}, got {_short(given)}",
            f"make it {tail}" + ("" if constraint else _example(root, loc)),
        )
    return loc, f"{msg}, got {_short(given)}", "correct the value" + _example(root, loc)


def _drop(data: dict[str, Any], loc: Loc, missing: bool, fill: Mapping[Loc, Any]) -> Loc | None:
    """Remove the value at ``loc`` (its enclosing key; the table for a missing key) so the rest
    validates; returns what was dropped, or None when nothing sensible can be. A missing key
    in ``fill`` is set to the stand-in value given there instead."""
    keys = list(itertools.takewhile(lambda k: isinstance(k, str), loc))
    if missing:
        for where, value in fill.items():
            if tuple(keys) == where or tuple(keys) == where[:-1]:
                table: dict[str, Any] = data
                for part in where[:-1]:
                    table = table.setdefault(str(part), {})
                table[str(where[-1])] = value
                return where
        keys = keys[:-1]
    if len(keys) < 1 or (missing and len(keys) < 2):
        return None
    node: Any = data
    for key in keys[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict) or keys[-1] not in node:
        return None
    del node[keys[-1]]
    return tuple(keys)


def validate(
    root: type[C],
    data: Mapping[str, Any],
    *,
    moved: Mapping[tuple[str, ...], str] = {},
    fill: Mapping[Loc, Any] = {},
) -> tuple[C | None, list[Problem]]:
    """Validate ``data`` as ``root`` and find every problem, pydantic's and the configs' own.

    Keys with bad values are dropped and the rest checked again, so one pass reports the
    cross-key problems too (those that involve no dropped key). ``fill`` gives stand-in
    values for required keys, so a missing one does not hide the other problems.
    """
    work = copy.deepcopy(dict(data))
    problems: list[Problem] = []
    dropped: list[str] = []
    for _ in range(3):
        try:
            with loading():
                model = root.model_validate(work)
        except ValidationError as e:
            for error in e.errors():
                if keypath(error["loc"]) not in dropped:  # else: the gap the last pass made
                    problems.append(describe(root, error, moved))
                loc = _drop(work, tuple(error["loc"]), error["type"] == "missing", fill)
                if loc is None:
                    return None, problems
                dropped.append(keypath(loc))
            continue
        for problem in problems_of(model):
            text = f"{keypath(problem[0])} {problem[1]} {problem[2]}"
            if not any(d in text for d in dropped):
                problems.append(problem)
        return (model if not problems else None), problems
    return None, problems


# -- where values come from ---------------------------------------------------------------------


class Sources:
    """Where each value came from, to name the file, variable or --set behind a problem."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.origin: dict[tuple[str, ...], str] = {}

    def label(self, loc: Loc) -> str:
        keys = tuple(str(k) for k in loc)
        for n in range(len(keys), 0, -1):
            if keys[:n] in self.origin:
                return f"{self.file} ({self.origin[keys[:n]]})"
        return self.file

    def line(self, problem: Problem, where: str = "", prefix: Loc = ()) -> str:
        loc, what, fix = problem
        return f"{self.label(loc)}: {keypath((*prefix, *loc))}{where}: {what}; fix: {fix}"


# -- reading -----------------------------------------------------------------------------------


def read_config_file(path: Path) -> dict[str, Any]:
    """A TOML file, or a JSON object (the resolved config a run writes); problems as
    :class:`~cogstar.errors.ConfigError` naming the file, line and column."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(
            [f"{file}: (file): cannot read it ({e.strerror or e}); fix: check the path"]
        ) from None
    if path.suffix.lower() == ".json":
        try:
            found = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(
                [
                    f"{file}: line {e.lineno}, column {e.colno}: invalid JSON: {e.msg}; fix: "
                    "correct the syntax there, or write the config as TOML"
                ]
            ) from None
        if not isinstance(found, dict):
            raise ConfigError([f"{file}: (file): not a JSON object; fix: give key: value pairs"])
        return found
    try:
        parsed: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        at = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        if at:
            where = f"line {at.group(1)}, column {at.group(2)}"
        else:
            where = f"line {text.count(chr(10)) + 1} (end of file)"
        reason = re.sub(r"\s*\(at [^)]*\)$", "", msg)
        raise ConfigError(
            [
                f"{file}: {where}: invalid TOML: {reason}; fix: correct the syntax there (strings "
                "in quotes, key = value, sections as [name], lists as [1, 2])"
            ]
        ) from None
    return parsed


def parse_value(raw: str) -> Any:
    """A --set value: TOML (``3``, ``0.01``, ``true``, ``[1, 2]``, ``"x"``), else the bare string."""
    try:
        parsed = tomllib.loads(f"v = {raw}")
    except tomllib.TOMLDecodeError:
        return raw
    return parsed["v"] if list(parsed) == ["v"] else raw


def set_path(data: dict[str, Any], path: Sequence[str], value: Any) -> None:
    node = data
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value


def apply_overrides(
    data: dict[str, Any],
    overrides: Sequence[str],
    root: type[BaseModel],
    sources: Sources,
    *,
    within: tuple[str, ...] = (),
    moved: Mapping[tuple[str, ...], str] = {},
) -> list[str]:
    """Set each ``KEY=VALUE`` of ``overrides`` (``--set``) in ``data``, recording where it came
    from in ``sources``; returns a problem line for each override that names no field of
    ``root`` (a key under ``within`` may be given with or without that prefix; a key of a
    table of free keys, such as ``sweep.ppo.steps``, is taken whole)."""
    lines = []
    for item in overrides:
        key, eq, raw = item.partition("=")
        parts = tuple(p.strip() for p in key.split("."))
        if within and parts[: len(within)] == within and len(parts) > len(within):
            parts = parts[len(within) :]
        free = parts[0] in _free_keys(root) and len(parts) > 1
        if free:
            parts = (parts[0], ".".join(parts[1:]))
        where = f"{sources.file} (--set {item})"
        if not eq or not all(parts):
            example = "steps=20" if within else "ppo.steps=20"
            lines.append(
                f"{where}: {key.strip() or '(empty)'}: not of the form KEY=VALUE with a dotted "
                f"KEY; fix: write e.g. --set {example}"
            )
            continue
        if parts in moved:
            lines.append(f"{where}: {'.'.join(parts)}: this key was removed; fix: {moved[parts]}")
            continue
        wrong = None if free else unknown_in_path(root, parts)
        if wrong is not None:
            lines.append(f"{where}: {'.'.join(parts)}: {wrong[0]}; fix: {wrong[1]}")
            continue
        set_path(data, parts, parse_value(raw.strip()))
        sources.origin[parts] = f"--set {item}"
    return lines


def load_config(cls: type[C], path: str | Path | None = None, overrides: Sequence[str] = ()) -> C:
    """Read a stage config: ``path`` (TOML, or the resolved JSON a run writes; the keys at the
    top, or in a table named after the config's section, so a whole spec works too), then the
    ``KEY=VALUE`` ``overrides`` (``steps=20`` or ``ppo.steps=20``). Raises
    :class:`~cogstar.errors.ConfigError` listing every problem."""
    section = str(getattr(cls, "SECTION", ""))
    data: dict[str, Any] = {}
    sources = Sources(str(path) if path is not None else "(defaults)")
    within = tuple(section.split(".")) if section else ()
    if path is not None:
        data = read_config_file(Path(path))
        node: Any = data
        for part in within:
            node = node.get(part) if isinstance(node, dict) else None
        if within and isinstance(node, dict):
            data = dict(node)
    lines = apply_overrides(data, overrides, cls, sources, within=within)
    config, problems = validate(cls, data)
    lines += [sources.line(p, prefix=within) for p in problems]
    if config is None or lines:
        raise ConfigError(lines)
    return config


def add_config_arguments(parser: argparse.ArgumentParser, cls: type[BaseModel]) -> None:
    """``--config FILE`` and ``--set KEY=VALUE`` (repeatable) for a stage command."""
    section = str(getattr(cls, "SECTION", ""))
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"the {section} config: TOML (its keys, or a [{section}] table such as a whole "
        f"spec) or the resolved JSON a run writes ({section}/config.json); default: the "
        "defaults",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one key, e.g. --set steps=20 (repeatable; values are TOML)",
    )


def config_from_args(cls: type[C], args: argparse.Namespace) -> C:
    """The config that ``--config`` and ``--set`` describe."""
    return load_config(cls, args.config, args.set)
