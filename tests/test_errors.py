"""One error hierarchy under cogstar.CogstarError, and the exact text of each class's messages."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import cogstar
from cogstar import _core, errors
from cogstar.errors import (
    ArgumentError,
    CogstarError,
    ConfigError,
    DataError,
    ExpressionError,
    GenerateError,
    LLMError,
    PuzzleError,
    RunError,
    RunLocked,
    RunMismatch,
    StageError,
    UsageError,
)

PACKAGE = Path(cogstar.__file__).parent


def test_every_class_is_a_cogstar_error_and_bad_values_are_value_errors() -> None:
    classes = [getattr(errors, n) for n in errors.__all__]
    assert all(issubclass(c, CogstarError) for c in classes)
    for c in (ExpressionError, PuzzleError, GenerateError, ArgumentError, ConfigError, DataError):
        assert issubclass(c, ValueError), c
    for c in (RunLocked, RunMismatch):
        assert issubclass(c, RunError)
    for c in (RunError, StageError, LLMError, UsageError):
        assert not issubclass(c, ValueError), c


def test_the_core_creates_its_own_classes_once() -> None:
    """The Rust core makes the classes it raises; the package re-exports those same objects."""
    for name in (
        "CogstarError",
        "ExpressionError",
        "PuzzleError",
        "GenerateError",
        "ArgumentError",
    ):
        assert getattr(errors, name) is getattr(_core, name) is getattr(cogstar, name)
        assert getattr(_core, name).__module__ == "cogstar"


def test_no_module_defines_an_exception_class_of_its_own() -> None:
    defined = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "errors.py":
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("class ") and ("Error(" in line or "Exception)" in line):
                defined.append(f"{path.relative_to(PACKAGE)}: {line}")
    assert not defined, defined
    assert inspect.getmodule(ConfigError) is errors


# -- the messages ----------------------------------------------------------------------------


def test_core_messages() -> None:
    with pytest.raises(ExpressionError) as e:
        cogstar.parse_expression("2 ** 3")
    assert str(e.value) == "'**' is not a Countdown operation (use + - * /) at byte 2"
    with pytest.raises(PuzzleError) as p:
        cogstar.solve([1], 2)
    assert str(p.value) == "a puzzle needs 2 to 7 numbers, got 1"
    with pytest.raises(PuzzleError) as t:
        cogstar.synthesize_traces([cogstar.Puzzle([1, 2], 100)], "all_strategies", seed=0)
    assert str(t.value) == (
        "puzzle 0: [1, 2] cannot reach 100 under classic rules (non-negative integers, exact "
        "division); traces are written for solvable puzzles only"
    )
    with pytest.raises(GenerateError) as g:
        cogstar.split_puzzles([cogstar.Puzzle([1, 2], 3)], 5)
    assert str(g.value) == "test_size is 5 but there are only 1 distinct puzzles"
    with pytest.raises(ArgumentError) as a:
        cogstar.score("x", [1, 2], 3, mode="fast")
    assert str(a.value) == "mode must be 'tinyzero' or 'strict', got 'fast'"


def test_config_error_lists_every_problem() -> None:
    error = ConfigError(["f.toml: ppo.steps: bad; fix: a", "f.toml: eval.k: bad; fix: b"], "spec")
    assert str(error) == (
        "invalid spec (2 problems):\n  f.toml: ppo.steps: bad; fix: a\n  f.toml: eval.k: bad; fix: b"
    )
    assert str(ConfigError(["x: y; fix: z"])) == "invalid config (1 problem):\n  x: y; fix: z"
    import pickle

    again = pickle.loads(pickle.dumps(error))  # crosses process boundaries whole
    assert again.problems == error.problems and str(again) == str(error)


def test_data_error_names_file_and_line(tmp_path: Path) -> None:
    from cogstar.io import read_jsonl

    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n[1]\n')
    with pytest.raises(DataError) as e:
        read_jsonl(path)
    assert str(e.value) == (
        f"{path}:2: a JSON array where an object was expected. Only a file's last line can be "
        "cut short by a crash, so this file was edited or damaged: fix or delete that line, or "
        "delete the file to redo what wrote it."
    )


def test_run_errors(tmp_path: Path) -> None:
    from cogstar.study.rundir import RunDir

    RunDir.create(tmp_path / "r", "a = 1\n", "r", {"c": {}})
    with pytest.raises(RunMismatch) as e:
        RunDir.create(tmp_path / "r", "a = 2\n", "r", {"c": {}}, source="exp.toml")
    assert str(e.value).startswith(f"{tmp_path / 'r' / 'spec.toml'} holds a different spec from")
    assert str(e.value).endswith(
        "Use a new experiment name or output folder to keep both, or pass --force to reuse this "
        "folder: stages whose inputs changed are redone, the others are kept, nothing is deleted."
    )


def test_stage_llm_and_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cogstar.cli import main
    from cogstar.layout import CellLayout
    from cogstar.llm import OpenAIBackend
    from cogstar.study.runner import checkpoint
    from cogstar.study.spec import Spec

    spec = Spec(experiment={"name": "x"})  # type: ignore[arg-type]
    with pytest.raises(StageError) as s:
        checkpoint(spec, CellLayout(tmp_path / "c"), "base", 10)
    assert str(s.value) == (
        f"{tmp_path / 'c' / 'ppo' / 'step_000010' / 'actor'}: no checkpoint for step 10; rerun "
        "`cogstar run` to finish the RL stage (checkpoints are written every 10 steps)"
    )
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(LLMError) as m:
        OpenAIBackend(model="m", api_key_env="NO_SUCH_KEY_VAR")
    assert str(m.value) == (
        "OpenAIBackend needs an API key: set the environment variable NO_SUCH_KEY_VAR (or pass "
        "api_key_env=None for a local server without keys)"
    )
    path = tmp_path / "r.jsonl"
    path.write_text('{"completion": "x"}\n')
    assert main(["classify", str(path), "--judge", "llm"]) == 2  # a UsageError, reported
    assert issubclass(UsageError, CogstarError)
