"""cogstar.io: atomic files and folders, JSONL with one torn-line rule, hashes, the row formats."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import socket
import warnings
from pathlib import Path

import pytest

import cogstar
from cogstar.errors import DataError
from cogstar.io import (
    append_jsonl,
    atomic_dir,
    atomic_write_json,
    atomic_write_text,
    hash_json,
    read_jsonl,
)

CTX = mp.get_context("spawn")


def siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir())


# --- atomic writes ------------------------------------------------------------------------


def test_atomic_write_text_and_json_replace_whole_and_leave_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "a.json"
    atomic_write_json(path, {"x": 1, "p": Path("m/final")})
    assert json.loads(path.read_text()) == {"x": 1, "p": "m/final"}
    atomic_write_text(path, "new\n")
    assert path.read_text() == "new\n"
    assert siblings(path) == ["a.json"]


def test_atomic_write_that_fails_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.txt"
    atomic_write_text(path, "old")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        atomic_write_text(path, "new" * 1000)
    assert path.read_text() == "old"
    assert siblings(path) == ["a.txt"]


def test_atomic_dir_moves_into_place_and_replaces_an_old_folder(tmp_path: Path) -> None:
    out = tmp_path / "final"
    with atomic_dir(out) as tmp:
        assert tmp.parent == tmp_path and tmp != out and not out.exists()
        (tmp / "model.bin").write_bytes(b"v1")
        (tmp / "old_only.txt").write_text("x")
    assert sorted(p.name for p in out.iterdir()) == ["model.bin", "old_only.txt"]
    with atomic_dir(out) as tmp:
        (tmp / "model.bin").write_bytes(b"v2")
    assert sorted(p.name for p in out.iterdir()) == ["model.bin"]
    assert (out / "model.bin").read_bytes() == b"v2"
    assert siblings(out) == ["final"]


def test_atomic_dir_that_raises_leaves_nothing_or_the_old_folder(tmp_path: Path) -> None:
    out = tmp_path / "final"
    with pytest.raises(RuntimeError, match="crash"), atomic_dir(out) as tmp:
        (tmp / "half.bin").write_bytes(b"\0" * 100)
        raise RuntimeError("crash mid-write")
    assert siblings(out) == []

    with atomic_dir(out) as tmp:
        (tmp / "model.bin").write_bytes(b"good")
    with pytest.raises(KeyboardInterrupt), atomic_dir(out) as tmp:
        (tmp / "model.bin").write_bytes(b"ha")
        raise KeyboardInterrupt
    assert (out / "model.bin").read_bytes() == b"good"
    assert siblings(out) == ["final"]


def test_atomic_dir_removes_the_leftovers_of_a_dead_writer(tmp_path: Path) -> None:
    child = CTX.Process(target=int)
    child.start()
    child.join(60)
    dead = child.pid
    assert dead is not None
    host = socket.gethostname()
    leftover = tmp_path / f".final.{host}.{dead}.0123abcd.tmp"
    leftover.mkdir()
    (leftover / "half.bin").write_bytes(b"\0")
    live = tmp_path / f".final.{host}.{os.getpid()}.0123abcd.tmp"  # a live writer's: kept
    live.mkdir()
    with atomic_dir(tmp_path / "final") as tmp:
        (tmp / "x").write_text("x")
    assert siblings(tmp_path / "final") == [live.name, "final"]


# --- JSONL --------------------------------------------------------------------------------


def test_read_jsonl_names_file_and_line_of_a_damaged_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n{"b": \n{"c": 3}\n')
    with pytest.raises(DataError, match=r"rows\.jsonl:2: invalid JSON: .* column") as err:
        read_jsonl(path)
    assert isinstance(err.value, cogstar.CogstarError)

    path.write_text('{"a": 1}\n\n[1, 2]\n')
    with pytest.raises(DataError, match=r"rows\.jsonl:3: a JSON array where an object"):
        read_jsonl(path)

    path.write_bytes(b'{"a": 1}\n{"b": "\xff"}\n')
    with pytest.raises(DataError, match=r"rows\.jsonl:2: not UTF-8"):
        read_jsonl(path)


def test_a_torn_last_line_is_dropped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1}\n{"step": 2, "lo')
    with pytest.warns(UserWarning, match=r"metrics\.jsonl:2: dropped a torn last line"):
        assert read_jsonl(path) == [{"step": 1}]
    # the same line *with* its newline was written whole: it is damage, not a torn write
    path.write_text('{"step": 1}\n{"step": 2, "lo\n')
    with pytest.raises(DataError, match=r"metrics\.jsonl:2"):
        read_jsonl(path)
    # a complete last object without a newline is kept
    path.write_text('{"step": 1}\n{"step": 2}')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_jsonl(path) == [{"step": 1}, {"step": 2}]


def test_append_jsonl_cuts_a_torn_tail_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    append_jsonl(path, {"step": 1})
    with open(path, "ab") as f:
        f.write(b'{"step": 2, "rew')  # a crash mid-append
    with pytest.warns(UserWarning, match="torn last line"):
        append_jsonl(path, {"step": 3, "path": Path("ppo/step_000003")})
    assert read_jsonl(path) == [{"step": 1}, {"step": 3, "path": "ppo/step_000003"}]
    assert path.read_text().endswith("}\n")

    path.write_text('{"step": 1}')  # hand-written, complete, no newline: kept
    append_jsonl(path, {"step": 2})
    assert read_jsonl(path) == [{"step": 1}, {"step": 2}]


# --- hashes -------------------------------------------------------------------------------


def test_hashes_are_canonical_and_short(tmp_path: Path) -> None:
    assert hash_json({"a": 1, "b": [1, 2]}) == hash_json({"b": [1, 2], "a": 1})
    assert hash_json({"a": 1}) != hash_json({"a": 2})
    assert len(hash_json({})) == 16


# --- rows -------------------------------------------------------------------------------------


def test_puzzle_rows_round_trip_and_bad_rows_name_file_and_line(tmp_path: Path) -> None:
    from cogstar.io import read_puzzles, write_puzzles

    path = tmp_path / "train.jsonl"
    puzzles = [cogstar.Puzzle([1, 2], 3), cogstar.Puzzle([4, 5, 6], 7)]
    assert write_puzzles(path, puzzles) == 2
    assert read_puzzles(path, "rebuild it") == puzzles
    path.write_text('{"numbers": [1, 2], "target": 3}\n{"numbers": [1, 2], "target"\n{}\n')
    with pytest.raises(DataError, match=r"train\.jsonl:2: invalid JSON"):
        read_puzzles(path, "rebuild it")
    path.write_text('{"numbers": [1, 2], "target": 3}\n{"numbers": [1, 2]}\n')
    with pytest.raises(DataError, match=r"train\.jsonl:2: not a puzzle row \(no 'target' field\)"):
        read_puzzles(path, "rebuild it")
    path.write_text('{"numbers": [1, "2"], "target": 3}\n')
    with pytest.raises(DataError, match=r"train\.jsonl:1: .*each number must be an integer"):
        read_puzzles(path, "rebuild it")
    with pytest.raises(DataError, match=r"missing\.jsonl: no such file; rerun `cogstar run`"):
        read_puzzles(tmp_path / "missing.jsonl", "rerun `cogstar run`")


def test_completion_rows_take_a_prompt_and_completion_or_a_text(tmp_path: Path) -> None:
    from cogstar.io import read_completions, write_jsonl

    path = tmp_path / "eval.jsonl"
    write_jsonl(
        path,
        [
            {"numbers": [1, 2], "target": 3, "prompt": "P", "completion": "C", "value": 1.0},
            {"numbers": [1, 2], "target": 3, "completion": "C"},
            {"text": "Assistant: <answer>1+2</answer>"},
        ],
    )
    rows = read_completions(path)
    assert (rows[0].prompt, rows[0].completion, rows[0].text) == ("P", "C", "PC")
    assert rows[1].prompt is None and rows[1].text == "C"  # the prompt must be rebuilt
    assert rows[2].prompt == "" and rows[2].numbers is None
    with pytest.raises(DataError, match=r"eval\.jsonl:3: .*needs the puzzle|eval\.jsonl:3: not a"):
        read_completions(path, require_puzzle=True)
    write_jsonl(path, [{"response": "r"}])
    with pytest.raises(DataError, match=r"eval\.jsonl:1: .*rename 'response' to 'completion'"):
        read_completions(path)
    with pytest.raises(DataError, match=r"eval\.csv: completions are read from \.jsonl"):
        read_completions(tmp_path / "eval.csv")
