"""Synthetic priming sets: every condition and control, Parquet/JSONL files, dataset cards."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

import cogstar
from cogstar.behaviors import BEHAVIORS, count_behaviors
from cogstar.behaviors.cards import card_markdown, dataset_card, write_card
from cogstar.behaviors.priming import (
    ASKED,
    CONDITIONS,
    build_priming_set,
    build_synthetic_records,
    priming_puzzles,
    split_completion,
)
from cogstar.io import Record, read_records, write_records
from cogstar.tasks import priming_prompt

N = 24
ANSWER_LINE = re.compile(r"<answer>[^\n]*</answer>")


def words(text: str) -> int:
    """A stand-in tokenizer: one token per whitespace-separated piece."""
    return len(text.split())


@pytest.fixture(scope="module")
def puzzles() -> list[cogstar.Puzzle]:
    return priming_puzzles(N, seed=5)


@pytest.fixture(scope="module")
def sets(puzzles: list[cogstar.Puzzle]) -> dict[str, list[Record]]:
    """Every condition and control, built once for the module (seed 7)."""
    built = {c: build_priming_set(c, puzzles, seed=7) for c in (*CONDITIONS, "no_positive")}
    built["empty_cot"] = build_priming_set("empty_cot", puzzles, seed=7)
    built["dots"] = build_priming_set("dots", puzzles, seed=7, tokenizer_count=words)
    return built


def _shape_ok(completion: str) -> bool:
    lines = completion.rstrip().splitlines()
    return (
        completion.startswith("<think>")
        and "</think>" in completion
        and ANSWER_LINE.fullmatch(lines[-1].strip()) is not None
    )


def test_priming_puzzles_are_the_priming_distribution(puzzles: list[cogstar.Puzzle]) -> None:
    assert len(puzzles) == N
    for p in puzzles:
        assert len(p.numbers) in (3, 4)
        assert 10 <= p.target <= 25
        assert all(n < p.target for n in p.numbers)
        assert cogstar.is_solvable(p.numbers, p.target, rules="classic")
    assert priming_puzzles(N, seed=5) == puzzles


@pytest.mark.parametrize("condition", CONDITIONS)
def test_each_condition_builds_correct_traces(
    condition: str, sets: dict[str, list[Record]], puzzles: list[cogstar.Puzzle]
) -> None:
    records = sets[condition]
    assert len(records) == N
    for record, puzzle in zip(records, puzzles, strict=True):
        assert record.condition == condition
        assert record.source == "synthetic"
        assert (record.numbers, record.target) == (puzzle.numbers, puzzle.target)
        assert record.prompt == priming_prompt(puzzle.numbers, puzzle.target)
        assert _shape_ok(record.completion), record.completion
        assert record.correct, record.completion
        assert record.counts is not None and set(record.counts) == set(BEHAVIORS)
    # The reward agrees, computed independently of the builder.
    batch = cogstar.score_batch(
        [r.prompt + r.completion for r in records],
        [r.numbers for r in records],
        [r.target for r in records],
    )
    assert batch.values == [1.0] * N


def test_no_positive_keeps_the_behaviors_and_no_correct_answer(
    sets: dict[str, list[Record]],
) -> None:
    records = sets["no_positive"]
    assert len(records) == N
    assert all(r.condition == "no_positive" and _shape_ok(r.completion) for r in records)
    assert not any(r.correct for r in records)
    card = dataset_card(records, "no_positive")
    assert card.accuracy == 0.0
    assert card.truth_counts is not None
    assert all(card.truth_counts[b] > 0 for b in BEHAVIORS), card.truth_counts
    # the counter reads the records' ground truth back, as for the correct traces
    assert card.mean_counts == pytest.approx(card.truth_counts)
    for record in records:
        assert (
            record.counts
            == count_behaviors(record.completion, record.numbers, record.target).as_dict()
        ), record.completion


def test_no_positive_is_the_all_strategies_attempt_up_to_its_last_line(
    sets: dict[str, list[Record]],
) -> None:
    """The same search, checks, backtracking, subgoals and backward steps as the correct
    traces of the same seed; only the last line of the thoughts and the answer differ."""

    def head(completion: str) -> str:
        thoughts, _ = split_completion(completion)
        return thoughts.rstrip().rsplit("\n", 1)[0]

    for wrong, right in zip(sets["no_positive"], sets["all_strategies"], strict=True):
        assert head(wrong.completion) == head(right.completion)
        assert wrong.completion != right.completion


def test_no_positive_card_says_the_answers_are_wrong_by_design(
    tmp_path: Path, sets: dict[str, list[Record]]
) -> None:
    card = dataset_card(sets["no_positive"], "no_positive")
    md, _ = write_card(tmp_path / "np.card.md", card)
    text = md.read_text(encoding="utf-8")
    assert "| answers correct (reward 1.0) | 0.0% (no_positive: wrong by design) |" in text
    assert "wrong by design" in card.description
    assert "leaves a number out or uses one more often than given" in card.description
    right = dataset_card(sets["all_strategies"], "all_strategies")
    assert "wrong by design" not in card_markdown(right)


def test_empty_cot_and_dots_are_built_from_all_strategies(
    sets: dict[str, list[Record]],
) -> None:
    base = sets["all_strategies"]
    for control in ("empty_cot", "dots"):
        records = sets[control]
        assert len(records) == N
        for record, original in zip(records, base, strict=True):
            assert record.condition == control
            assert record.correct
            assert record.counts == dict.fromkeys(BEHAVIORS, 0)
            thoughts, rest = split_completion(record.completion)
            original_thoughts, original_rest = split_completion(original.completion)
            assert rest == original_rest
            if control == "empty_cot":
                assert thoughts == " "
            else:
                assert set(thoughts.split()) <= {"."}
                assert words(thoughts) == words(original_thoughts)
    card = dataset_card(sets["empty_cot"], "empty_cot")
    assert card.mean_counts == dict.fromkeys(BEHAVIORS, 0.0)


def test_dots_needs_a_tokenizer(puzzles: list[cogstar.Puzzle]) -> None:
    with pytest.raises(ValueError, match="dots control needs tokenizer_count"):
        build_priming_set("dots", puzzles[:2], seed=0)


def test_builder_arguments_are_checked(puzzles: list[cogstar.Puzzle]) -> None:
    with pytest.raises(ValueError, match=r"unknown condition 'lots'.*no_positive"):
        build_priming_set("lots", puzzles[:2])
    with pytest.raises(ValueError, match="source must be one of synthetic, llm"):
        build_priming_set("all_strategies", puzzles[:2], source="human")
    with pytest.raises(ValueError, match="source='llm' needs a backend"):
        build_priming_set("all_strategies", puzzles[:2], source="llm")
    with pytest.raises(ValueError, match="controls are built by build_priming_set"):
        build_synthetic_records("empty_cot", puzzles[:2], seed=0)


def test_same_seed_same_records(puzzles: list[cogstar.Puzzle]) -> None:
    first = build_synthetic_records("backtracking_subgoal", puzzles, seed=11)
    assert build_synthetic_records("backtracking_subgoal", puzzles, seed=11) == first
    other = build_synthetic_records("backtracking_subgoal", puzzles, seed=12)
    assert [r.completion for r in other] != [r.completion for r in first]


def test_budget_is_passed_to_the_synthesizer(puzzles: list[cogstar.Puzzle]) -> None:
    free = build_synthetic_records("all_strategies", puzzles, seed=3)
    tight = build_synthetic_records("all_strategies", puzzles, seed=3, budget=400)
    assert all(r.correct and _shape_ok(r.completion) for r in tight)
    assert sum(len(r.completion) for r in tight) <= sum(len(r.completion) for r in free)


@pytest.mark.parametrize("condition", CONDITIONS)
def test_card_shows_exactly_the_asked_behaviors(
    condition: str, sets: dict[str, list[Record]]
) -> None:
    records = sets[condition]
    card = dataset_card(records, condition)
    assert card.condition == condition
    assert card.size == N
    assert card.accuracy == 1.0
    assert card.mean_chars == pytest.approx(sum(len(r.completion) for r in records) / N)
    assert card.sources == ["synthetic"]
    asked = set(ASKED[condition])
    measured = {b for b in BEHAVIORS if card.mean_counts[b] > 0}
    assert measured == asked, card.mean_counts
    assert card.truth_counts is not None
    assert {b for b in BEHAVIORS if card.truth_counts[b] > 0} == asked, card.truth_counts
    for b in BEHAVIORS:
        assert 0.0 <= card.share_with[b] <= 1.0
        assert (card.share_with[b] > 0) == (b in asked)


def test_card_files(tmp_path: Path, sets: dict[str, list[Record]]) -> None:
    card = dataset_card(sets["only_backtracking"], "only_backtracking")
    md, js = write_card(tmp_path / "cards" / "ob.card.md", card, data_file="ob.parquet")
    assert (md.name, js.name) == ("ob.card.md", "ob.card.json")
    assert json.loads(js.read_text(encoding="utf-8")) == card.to_dict()
    text = md.read_text(encoding="utf-8")
    # a Hugging Face dataset card: YAML metadata first, the data file as the train split
    import yaml

    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta["license"] == "apache-2.0" and meta["task_categories"] == ["text-generation"]
    assert meta["size_categories"] == ["n<1K"] and "only_backtracking" in meta["tags"]
    assert meta["configs"] == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "ob.parquet"}]}
    ]
    text = body.lstrip("\n")
    assert text.startswith("# Priming set: only_backtracking\n")
    assert f"| records | {N} |" in text
    assert "| answers correct (reward 1.0) | 100.0% |" in text
    assert "| verification | 0.00 | 0.0% | 0.00 |" in text
    assert "go back to an earlier state" in text  # what the condition asks for
    assert "cogstar.synthesize_traces" in text  # how it was made
    assert sorted(p.name for p in md.parent.iterdir()) == ["ob.card.json", "ob.card.md"]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_round_trip(tmp_path: Path, suffix: str, sets: dict[str, list[Record]]) -> None:
    records = sets["all_strategies"] + sets["dots"][:3]
    path = tmp_path / "data" / f"set{suffix}"
    assert write_records(path, records) == len(records)
    assert list(read_records(path)) == records
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left
    llm = replace(records[0], source="llm", counts=None)
    write_records(path, [llm])
    assert list(read_records(path)) == [llm]


def test_old_jsonl_without_source_and_counts_still_reads(tmp_path: Path) -> None:
    old = {
        "prompt": "p",
        "completion": "<think> x </think>\n<answer> 1 + 2 </answer>",
        "numbers": [1, 2],
        "target": 3,
        "condition": "all_strategies",
        "correct": True,
    }
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps(old) + "\n", encoding="utf-8")
    (record,) = read_records(path)
    assert record == Record(**old)  # type: ignore[arg-type]
    assert (record.source, record.counts) == ("llm", None)


def test_bad_files_are_reported(tmp_path: Path) -> None:
    record = Record("p", "<think></think>\n<answer>1</answer>", [1], 1, "dots", True)
    with pytest.raises(ValueError, match=r"unknown file type '\.csv'.*\.jsonl or \.parquet"):
        write_records(tmp_path / "set.csv", [record])
    with pytest.raises(ValueError, match=r"set\.txt: unknown file type '\.txt'"):
        read_records(tmp_path / "set.txt")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(ValueError, match=r"broken\.parquet: not a readable Parquet file"):
        list(read_records(broken))
    import pyarrow as pa
    import pyarrow.parquet as pq

    partial = tmp_path / "partial.parquet"
    pq.write_table(pa.table({"prompt": ["p"], "numbers": [[1]]}), partial)
    with pytest.raises(ValueError, match=r"partial\.parquet: row 1: .*missing field\(s\) comp"):
        list(read_records(partial))
    bad_source = tmp_path / "bad.jsonl"
    bad_source.write_text(
        json.dumps({**record.__dict__, "source": "human"}) + "\n", encoding="utf-8"
    )
    with pytest.raises(ValueError, match=r"bad\.jsonl:1: .*source must be one of"):
        list(read_records(bad_source))
