"""The Python face of the Rust core: golden tables, exact messages, types, import hygiene."""

from __future__ import annotations

import pickle
import subprocess
import sys
from fractions import Fraction

import pytest

import cogstar
from golden_tables import rows


@pytest.mark.parametrize("row", list(rows("expressions.tsv")), ids=lambda r: repr(r[0])[:40])
def test_expression_table(row: list[str]) -> None:
    text, want = row
    try:
        value = cogstar.parse_expression(text).value
    except cogstar.ExpressionError as err:
        assert str(err) == want
    else:
        assert value == Fraction(want)


@pytest.mark.parametrize("mode", ["tinyzero", "strict"])
def test_score_tables(mode: str) -> None:
    for response, numbers, target, value, outcome in rows(f"{mode}_scores.tsv"):
        nums = [int(x) for x in numbers.split(",")]
        got = cogstar.score(response, nums, int(target), mode=mode)
        assert (got.value, str(got.outcome)) == (float(value), outcome), response


def test_expression_errors_are_cogstar_errors() -> None:
    with pytest.raises(cogstar.ExpressionError, match=r"^unmatched '\)' at byte 5$"):
        cogstar.parse_expression("1 + 2)")
    assert issubclass(cogstar.ExpressionError, cogstar.CogstarError)
    assert issubclass(cogstar.CogstarError, Exception)


def test_expr_api() -> None:
    e = cogstar.parse_expression("((4)) * (5 + 3)")
    assert str(e) == "4 * (5 + 3)"
    assert e.canonical == "(5 + 3) * 4"
    assert e.numbers == [4, 5, 3]
    assert e.value == Fraction(32)
    assert e == cogstar.parse_expression("4 * (5 + 3)")
    assert cogstar.parse_expression(str(e)) == e
    # Division by zero is found at parse time but raised when the value is asked for.
    z = cogstar.parse_expression("1 / (2 - 2)")
    assert z.numbers == [1, 2, 2]
    with pytest.raises(cogstar.ExpressionError, match="division by zero at byte 2"):
        _ = z.value


def test_limits_reject_without_hanging() -> None:
    deep = "(" * 10_000 + "1" + ")" * 10_000
    with pytest.raises(cogstar.ExpressionError, match="expression is 20001 bytes long"):
        cogstar.parse_expression(deep)
    nested = "(" * 101 + "1" + ")" * 101
    with pytest.raises(cogstar.ExpressionError, match="nested deeper than 100 at byte 100"):
        cogstar.parse_expression(nested)


def test_score_fields_and_outcomes() -> None:
    s = cogstar.score("Assistant: <answer> 3 * 4 </answer>", [3, 4], 12)
    assert (s.value, s.outcome, s.answer, s.result) == (1.0, cogstar.Outcome.CORRECT, "3 * 4", 12.0)
    assert cogstar.Outcome.CORRECT.label == "correct"
    miss = cogstar.score("Assistant: nothing", [3, 4], 12)
    assert (miss.value, miss.answer, miss.result) == (0.0, None, None)
    custom = cogstar.score(
        "Assistant: <answer>3+3</answer>", [3, 3], 7, format_score=-1, correct_score=2
    )
    assert custom.value == -1.0
    assert "Outcome.WRONG_VALUE" in repr(custom)


def test_every_outcome_has_its_own_label() -> None:
    names = [
        "CORRECT",
        "WRONG_VALUE",
        "WRONG_NUMBERS",
        "UNPARSABLE",
        "EVAL_ERROR",
        "TOO_LARGE",
        "NO_ANSWER",
        "ANSWER_NOT_LAST_LINE",
        "NO_ASSISTANT",
    ]
    for name in names:
        outcome = getattr(cogstar.Outcome, name)
        assert str(outcome) == outcome.label == name.lower()


def test_batch_object() -> None:
    texts = ["Assistant: <answer>1+2</answer>", "Assistant: <answer>1*2</answer>", "Assistant:"]
    b = cogstar.score_batch(texts, [[1, 2]] * 3, [3, 3, 3])
    assert len(b) == 3
    assert b.values == [1.0, 0.1, 0.0]
    assert [str(o) for o in b.outcomes] == ["correct", "wrong_value", "no_answer"]
    assert b[-1].outcome == cogstar.Outcome.NO_ANSWER
    assert b.accuracy == pytest.approx(1 / 3)
    with pytest.raises(IndexError):
        b[3]


def test_caller_mistakes_raise_value_error() -> None:
    with pytest.raises(ValueError, match="mode must be 'tinyzero' or 'strict', got 'fast'"):
        cogstar.score("x", [1], 1, mode="fast")
    with pytest.raises(ValueError, match="targets has 1 entries but there are 2 texts"):
        cogstar.score_batch(["a", "b"], [[1], [1]], [1])
    with pytest.raises(ValueError, match="numbers has 1 entries but there are 2 texts"):
        cogstar.score_batch(["a", "b"], [[1]], [1, 1])
    with pytest.raises(ValueError, match="rules must be 'rational' or 'classic'"):
        cogstar.solve([1, 2], 3, rules="exact")


def test_puzzle_value_semantics() -> None:
    p = cogstar.Puzzle([44, 19, 35], 98)
    assert p == cogstar.Puzzle([44, 19, 35], 98)
    assert len({p, cogstar.Puzzle([44, 19, 35], 98)}) == 1
    assert pickle.loads(pickle.dumps(p)) == p
    assert repr(p) == "Puzzle(numbers=[44, 19, 35], target=98)"


def test_import_does_not_load_torch() -> None:
    code = (
        "import sys, cogstar; cogstar.score('Assistant: <answer>1+1</answer>', [1, 1], 2); "
        "cogstar.solve([1, 2, 3], 6); cogstar.generate_puzzles(3, seed=0); "
        "print(sorted(m for m in ('torch', 'transformers', 'trl') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
