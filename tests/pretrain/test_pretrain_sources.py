"""Pretraining sources: the generated sample, truncation on line boundaries, JSONL, Parquet, hf:."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cogstar.errors import DataError
from cogstar.pretrain import BEHAVIORS
from cogstar.pretrain.sample import KINDS, sample_math_corpus, sample_math_corpus_with_truth
from cogstar.pretrain.sources import default_count_tokens, iter_documents, token_counter, truncate

# --- the generated sample -------------------------------------------------------------------


def test_sample_is_seeded_and_prefix_stable() -> None:
    small, large = sample_math_corpus(20, seed=3), sample_math_corpus(60, seed=3)
    assert small == large[:20]
    assert sample_math_corpus(20, seed=4) != small
    assert len({d.id for d in large}) == 60


def test_sample_truth_is_consistent() -> None:
    rows = sample_math_corpus_with_truth(400, seed=0)
    kinds = Counter(t["kind"] for _, t in rows)
    assert set(kinds) == set(KINDS) and min(kinds.values()) >= 40
    families = Counter(t["family"] for _, t in rows if t["family"])
    assert len(families) == 5
    for doc, truth in rows:
        assert doc.text.strip() and not doc.truncated
        total = sum(truth[b] for b in BEHAVIORS)
        if truth["kind"] == "rich":
            assert total >= 1
        else:
            assert total == 0, doc.text
        assert truth["has_problem"] == (truth["kind"] != "expository")
        assert truth["has_solution"] == (truth["kind"] in ("plain", "rich"))
    # Several behaviors together, and each behavior alone, both occur.
    rich = [t for _, t in rows if t["kind"] == "rich"]
    assert any(sum(t[b] > 0 for b in BEHAVIORS) >= 3 for t in rich)
    for b in BEHAVIORS:
        assert any(t[b] > 0 and sum(t[o] for o in BEHAVIORS) == t[b] for t in rich)


def test_sample_arithmetic_is_right() -> None:
    """Every 'a op b = c' the sample writes holds (a wrong step uses a wrong formula, never
    wrong arithmetic)."""
    op = r"[-+*/\u00d7\u00b7]"
    step = re.compile(rf"(?<![\d.(])(?<!{op} )(\d+) ({op}) (\d+) = (\d+)(?![\d.])(?! {op})")
    ops: dict[str, Callable[[int, int], float]] = {
        "+": lambda p, q: p + q,
        "-": lambda p, q: p - q,
        "*": lambda p, q: p * q,
        "\u00d7": lambda p, q: p * q,
        "\u00b7": lambda p, q: p * q,
        "/": lambda p, q: p / q,
    }
    checked = 0
    for doc in sample_math_corpus(600, seed=1):
        for a, o, b, c in step.findall(doc.text):
            assert ops[o](int(a), int(b)) == int(c), doc.text
            checked += 1
    assert checked > 300


# --- truncation -----------------------------------------------------------------------------


def _bpe_counter() -> Callable[[str], int]:
    """A real (tiny) BPE tokenizer trained on the sample, counting ids like a model's would."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["[UNK]"], show_progress=False)
    tok.train_from_iterator([d.text for d in sample_math_corpus(200)], trainer)
    return lambda text: len(tok.encode(text).ids)


TEXT = "\n".join(
    f"Line {i}: we compute {i} + {i} = {2 * i}, then {i} * 3 = {3 * i}." for i in range(40)
)


@pytest.mark.parametrize("budget", [30, 100, 257, 600])
def test_truncation_cuts_on_a_line_boundary(budget: int) -> None:
    count = _bpe_counter()
    assert count(TEXT) > 600
    cut, was_cut = truncate(TEXT, budget, count)
    assert was_cut
    assert count(cut) <= budget
    lines = TEXT.split("\n")
    kept = cut.split("\n")
    assert kept == lines[: len(kept)]  # whole lines only
    assert count("\n".join(lines[: len(kept) + 1])) > budget  # and as many as fit


def test_truncation_leaves_short_text_alone() -> None:
    text = "Find x.\n\n  x + 1 = 2  \n"
    assert truncate(text, 100) == (text, False)


def test_a_first_line_over_budget_is_cut_on_a_word_boundary() -> None:
    line = " ".join(f"word{i}" for i in range(100))
    cut, was_cut = truncate(line + "\nsecond line", 20)
    assert was_cut and line.startswith(cut) and line[len(cut)] == " "
    assert default_count_tokens(cut) <= 20 < default_count_tokens(cut + " word")


def test_blank_lines_before_an_overlong_line_do_not_empty_the_document() -> None:
    text = "\n  \n" + " ".join(["long"] * 50) + "\nnext"
    cut, was_cut = truncate(text, 13)
    assert was_cut and cut.split() == ["long"] * 10 and text.startswith(cut)


def test_a_single_word_over_budget_is_cut_inside() -> None:
    blob = "A" * 10_000
    cut, was_cut = truncate(blob, 5, lambda s: len(s) // 100)
    assert was_cut and blob.startswith(cut) and len(cut) == 599


def test_default_counter_and_token_counter() -> None:
    assert default_count_tokens("") == 0
    assert default_count_tokens("one two three") == 4  # ceil(3 * 1.3)

    def fake_tokenizer(text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        assert add_special_tokens is False
        return {"input_ids": list(range(len(text)))}

    assert token_counter(fake_tokenizer)("abcde") == 5


def test_truncate_rejects_a_zero_budget() -> None:
    with pytest.raises(ValueError, match="max_tokens must be >= 1"):
        truncate("x", 0)


# --- local files ----------------------------------------------------------------------------


def _write_jsonl(path: Path, rows: list[Any]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_jsonl_ids_skips_and_limit(tmp_path: Path) -> None:
    path = tmp_path / "pages.jsonl"
    _write_jsonl(
        path,
        [
            {"id": "a1", "url": "http://x/1", "text": "Find x if x + 1 = 2."},
            {"url": "http://x/2", "text": "Solve 2y = 8."},
            {"text": "   \n "},  # blank: skipped
            {"text": None},  # null: skipped
            {"id": 7, "text": "Compute 3 + 4."},
            {"text": "No id here."},
        ],
    )
    docs = list(iter_documents(str(path)))
    assert [d.id for d in docs] == ["a1", "http://x/2", "7", f"{path}#5"]
    assert all(d.source == str(path) and not d.truncated for d in docs)
    assert [d.id for d in iter_documents(path, limit=2)] == ["a1", "http://x/2"]
    assert list(iter_documents(path, limit=0)) == []


def test_jsonl_truncates_with_the_given_counter(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    _write_jsonl(path, [{"id": "long", "text": TEXT}])
    count = _bpe_counter()
    (doc,) = iter_documents(path, max_tokens=200, count_tokens=count)
    assert doc.truncated and count(doc.text) <= 200 and TEXT.startswith(doc.text + "\n")


def test_jsonl_broken_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok"}\n\n{"text": "cut\n{"text": "fine"}\n', encoding="utf-8")
    docs = iter_documents(path)
    assert next(docs).text == "ok"
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}:3: invalid JSON"):
        next(docs)


def test_jsonl_missing_or_wrong_text_field(tmp_path: Path) -> None:
    path = tmp_path / "fields.jsonl"
    _write_jsonl(path, [{"content": "Find x.", "id": "q"}])
    with pytest.raises(
        DataError, match=rf"{re.escape(str(path))}:1: no 'text' field \(fields: content, id\)"
    ):
        list(iter_documents(path))
    assert [d.text for d in iter_documents(path, text_field="content")] == ["Find x."]
    _write_jsonl(path, [{"text": ["a", "list"]}])
    with pytest.raises(DataError, match=r":1: field 'text' is a list, not a string"):
        list(iter_documents(path))
    _write_jsonl(path, [[1, 2]])
    with pytest.raises(DataError, match=r":1: a JSON array where an object was expected"):
        list(iter_documents(path))


def test_parquet_source(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "pages.parquet"
    table = pa.table(
        {
            "url": ["http://a", None, "http://c"],
            "text": ["Find 2 + 2.", "Solve x - 1 = 0.", ""],
            "date": ["2020", "2021", "2022"],
        }
    )
    pq.write_table(table, path)
    docs = list(iter_documents(path))
    assert [(d.id, d.text) for d in docs] == [
        ("http://a", "Find 2 + 2."),
        (f"{path}#1", "Solve x - 1 = 0."),
    ]
    with pytest.raises(DataError, match=r"no 'body' column \(columns: url, text, date\)"):
        list(iter_documents(path, text_field="body"))
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        iter_documents(broken)


def test_unknown_and_missing_sources_fail_at_the_call(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a source cogstar can read"):
        iter_documents(tmp_path / "pages.csv")
    with pytest.raises(DataError, match="no such file"):
        iter_documents(tmp_path / "absent.jsonl")
    with pytest.raises(DataError, match=r"sample:<n>\[:<seed>\]"):
        iter_documents("sample:many")
    with pytest.raises(ValueError, match="limit must be >= 0"):
        iter_documents("sample:3", limit=-1)


def test_sample_source() -> None:
    docs = list(iter_documents("sample:30:2", limit=10))
    assert [d.id for d in docs] == [d.id for d in sample_math_corpus(10, seed=2)]
    assert all(d.source == "sample:30:2" for d in docs)


# --- Hugging Face (no network: load_dataset is replaced) ------------------------------------


def test_hf_source_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    datasets = pytest.importorskip("datasets")
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def fake_load_dataset(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        return iter(
            [
                {"url": "https://m.example/1", "text": "Find x if 2x = 6.", "date": "2023"},
                {"url": "", "text": "Expository text."},
                {"url": "https://m.example/3", "text": "Solve y + 1 = 3."},
            ]
        )

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    docs = list(iter_documents("hf:HuggingFaceTB/finemath:finemath-4plus", limit=2))
    assert calls == [
        (("HuggingFaceTB/finemath", "finemath-4plus"), {"split": "train", "streaming": True})
    ]
    assert [d.id for d in docs] == [
        "https://m.example/1",
        "hf:HuggingFaceTB/finemath:finemath-4plus#1",
    ]

    calls.clear()
    list(iter_documents("hf:open-web-math/open-web-math", split="validation"))
    assert calls == [(("open-web-math/open-web-math",), {"split": "validation", "streaming": True})]


def test_hf_source_errors_name_the_source(monkeypatch: pytest.MonkeyPatch) -> None:
    datasets = pytest.importorskip("datasets")

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("no route to host")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    with pytest.raises(DataError, match=r"hf:some/set: cannot open the dataset .*no route"):
        iter_documents("hf:some/set")

    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: iter([{"content": "x"}]))
    with pytest.raises(DataError, match=r"hf:some/set: row 1: no 'text' field"):
        list(iter_documents("hf:some/set"))
