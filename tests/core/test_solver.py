"""The Rust solver (`cogstar.solve`, `count_solutions`, `is_solvable`, `canonical_form`) against
the slow Python reference in tests/reference_solver.py.

Differential: on many seeded 3- and 4-number puzzles (both rules, small and large values,
solvable and unsolvable targets) the set of all solutions must equal the brute force's set.
Properties: every returned string, for 2 to 7 numbers, uses each number once, evaluates exactly
to the target, is its own canonical form, obeys the rules when read left to right, and scores 1.0.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

pytest.importorskip("cogstar._core")

import cogstar
from reference_solver import (
    CANONICAL_EXAMPLES,
    COUNTDOWN_952,
    COUNTDOWN_952_CLASSIC,
    COUNTDOWN_952_RATIONAL,
    HAND_CHECKED_SOLUTIONS,
    RULES,
    all_solutions,
    canonical,
    check_solution,
    dfs_is_solvable,
    evaluate,
    random_puzzles,
    to_text,
)


def check_returned(solutions: list[str], numbers: list[int], target: int, rules: str) -> None:
    """Everything the spec promises about strings `solve` returns, checked with the reference and
    with the Rust scorer."""
    assert len(set(solutions)) == len(solutions), "duplicate solutions"
    for text in solutions:
        check_solution(text, numbers, target, rules)
        assert cogstar.canonical_form(text) == text
        # TinyZero evaluates the answer in floating point and accepts |value - target| < 1e-5.
        # An exact solution can in principle miss that by rounding (huge intermediates), and
        # then tinyzero mode must give the format score 0.1 like the original. check_solution
        # has already parsed the text, so it holds only digits, operators and parentheses.
        float_value = eval(text, {"__builtins__": {}})
        expected = 1.0 if abs(float_value - target) < 1e-5 else 0.1
        score = cogstar.score(f"Assistant: <answer>{text}</answer>", numbers, target)
        assert score.value == expected, (text, score)


# ------------------------------------------------------------------------------------------
# Canonical form
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), CANONICAL_EXAMPLES)
def test_canonical_form_spec_examples(text: str, expected: str) -> None:
    assert cogstar.canonical_form(text) == expected
    assert cogstar.canonical_form(expected) == expected


def test_canonical_form_ignores_spacing() -> None:
    assert cogstar.canonical_form("(3+5)*4") == "(5 + 3) * 4"
    assert cogstar.canonical_form("  10-(2 -1) ") == "10 + 1 - 2"


trees = st.recursive(
    st.integers(min_value=0, max_value=1000),
    lambda children: st.tuples(st.sampled_from("+-*/"), children, children),
    max_leaves=7,
)


@given(trees)
@settings(max_examples=300, deadline=None)
def test_canonical_form_matches_reference(tree) -> None:
    # Only expressions that are valid rationally: what canonical_form does with a division by
    # zero is not part of the spec.
    assume(evaluate(tree) is not None)
    text = to_text(tree)
    expected = canonical(tree)
    assert cogstar.canonical_form(text) == expected
    assert cogstar.canonical_form(expected) == expected


@pytest.mark.parametrize("bad", ["", "1 +", "(1 + 2", "1 + 2)", "1 ** 2", "-1 + 2"])
def test_canonical_form_rejects_malformed_text(bad: str) -> None:
    with pytest.raises((ValueError, getattr(cogstar, "CogstarError", ValueError))):
        cogstar.canonical_form(bad)


# ------------------------------------------------------------------------------------------
# Hand-checked puzzles and the classic Countdown example
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("numbers", "target", "rules", "expected"), HAND_CHECKED_SOLUTIONS)
def test_hand_checked_solution_sets(
    numbers: list[int], target: int, rules: str, expected: set[str]
) -> None:
    assert set(cogstar.solve(numbers, target, rules=rules, limit=None)) == expected
    assert cogstar.count_solutions(numbers, target, rules=rules) == len(expected)
    assert cogstar.is_solvable(numbers, target, rules=rules) == bool(expected)


def test_default_rules_are_rational() -> None:
    assert cogstar.solve([3, 3, 8, 8], 24) == ["8 / (3 - 8 / 3)"]
    assert cogstar.solve([3, 3, 8, 8], 24, rules="classic") == []
    assert cogstar.is_solvable([3, 3, 8, 8], 24)
    assert cogstar.count_solutions([3, 3, 8, 8], 24) == 1


@pytest.mark.parametrize(
    ("rules", "expected"),
    [("classic", COUNTDOWN_952_CLASSIC), ("rational", COUNTDOWN_952_RATIONAL)],
)
def test_countdown_952(rules: str, expected: set[str]) -> None:
    numbers, target = COUNTDOWN_952
    solutions = cogstar.solve(numbers, target, rules=rules, limit=None)
    assert set(solutions) == expected
    check_returned(solutions, numbers, target, rules)
    assert cogstar.count_solutions(numbers, target, rules=rules) == len(expected)
    first = cogstar.solve(numbers, target, rules=rules)
    assert len(first) == 1
    assert first[0] in expected


def test_unsolvable() -> None:
    assert cogstar.solve([1, 1], 5) == []
    assert cogstar.solve([1, 1], 5, limit=None) == []
    assert cogstar.count_solutions([1, 1], 5) == 0
    assert not cogstar.is_solvable([1, 1], 5)
    # Negative and zero targets are ordinary integers.
    assert set(cogstar.solve([3, 6], -3, limit=None)) == {"3 - 6"}
    assert cogstar.solve([3, 6], -3, rules="classic") == []
    assert set(cogstar.solve([4, 4], 0, rules="classic", limit=None)) == {"4 - 4"}


# ------------------------------------------------------------------------------------------
# Differential: all solutions of many 3- and 4-number puzzles
# ------------------------------------------------------------------------------------------

DIFFERENTIAL_CASES = [
    (rules, value_range, size)
    for rules in RULES
    for value_range in ((1, 20), (1, 100))
    for size in (3, 4)
]


@pytest.mark.parametrize(("rules", "value_range", "size"), DIFFERENTIAL_CASES)
def test_all_solutions_equal_brute_force(
    rules: str, value_range: tuple[int, int], size: int
) -> None:
    seed = 1000 * size + value_range[1] + (7 if rules == "classic" else 0)
    puzzles = random_puzzles(seed, 40, (size,), value_range, (1, 100), rules)
    solvable = 0
    for numbers, target in puzzles:
        expected = all_solutions(numbers, target, rules)
        solutions = cogstar.solve(numbers, target, rules=rules, limit=None)
        assert len(solutions) == len(set(solutions)), (numbers, target)
        assert set(solutions) == expected, (numbers, target, rules)
        assert cogstar.count_solutions(numbers, target, rules=rules) == len(expected)
        assert cogstar.is_solvable(numbers, target, rules=rules) == bool(expected)
        first = cogstar.solve(numbers, target, rules=rules, limit=1)
        assert len(first) == min(1, len(expected))
        assert set(first) <= expected
        solvable += bool(expected)
    # The seeded lists mix solvable and unsolvable puzzles.
    assert 0 < solvable < len(puzzles)


@pytest.mark.parametrize("rules", RULES)
def test_all_solutions_equal_brute_force_five_numbers(rules: str) -> None:
    for numbers, target in random_puzzles(55, 2, (5,), (1, 12), (1, 100), rules):
        expected = all_solutions(numbers, target, rules)
        assert set(cogstar.solve(numbers, target, rules=rules, limit=None)) == expected
        assert cogstar.count_solutions(numbers, target, rules=rules) == len(expected)


@pytest.mark.slow
@pytest.mark.parametrize("rules", RULES)
def test_all_solutions_equal_brute_force_many(rules: str) -> None:
    for numbers, target in random_puzzles(77, 500, (2, 3, 4), (0, 30), (0, 100), rules):
        expected = all_solutions(numbers, target, rules)
        assert set(cogstar.solve(numbers, target, rules=rules, limit=None)) == expected
        assert cogstar.count_solutions(numbers, target, rules=rules) == len(expected)
        assert cogstar.is_solvable(numbers, target, rules=rules) == bool(expected)
    for numbers, target in random_puzzles(78, 12, (5,), (1, 25), (1, 100), rules):
        expected = all_solutions(numbers, target, rules)
        assert set(cogstar.solve(numbers, target, rules=rules, limit=None)) == expected


@given(
    numbers=st.lists(st.integers(min_value=0, max_value=15), min_size=2, max_size=4),
    target=st.integers(min_value=0, max_value=60),
    rules=st.sampled_from(RULES),
)
@settings(max_examples=150, deadline=None)
def test_all_solutions_property(numbers: list[int], target: int, rules: str) -> None:
    # Zeros and repeated numbers included: 0 / 0, x / 0 and x - x are the edge cases.
    expected = all_solutions(numbers, target, rules)
    assert set(cogstar.solve(numbers, target, rules=rules, limit=None)) == expected
    assert cogstar.count_solutions(numbers, target, rules=rules) == len(expected)
    assert cogstar.is_solvable(numbers, target, rules=rules) == bool(expected)


# ------------------------------------------------------------------------------------------
# Limits
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rules", RULES)
def test_limit_returns_that_many_distinct_solutions(rules: str) -> None:
    for numbers, target in random_puzzles(31, 20, (4,), (1, 12), (1, 30), rules):
        full = set(cogstar.solve(numbers, target, rules=rules, limit=None))
        for limit in (1, 2, 3, 5, 1000):
            some = cogstar.solve(numbers, target, rules=rules, limit=limit)
            assert len(some) == len(set(some))
            assert len(some) == min(limit, len(full)), (numbers, target, limit)
            assert set(some) <= full


def test_solve_is_deterministic() -> None:
    for numbers, target in random_puzzles(32, 20, (4, 5, 6), (1, 100), (1, 100)):
        assert cogstar.solve(numbers, target) == cogstar.solve(numbers, target)


# ------------------------------------------------------------------------------------------
# Properties of returned solutions for 2 to 7 numbers
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rules", RULES)
@pytest.mark.parametrize("size", [2, 3, 4, 5])
def test_solutions_are_valid_small(rules: str, size: int) -> None:
    for numbers, target in random_puzzles(40 + size, 15, (size,), (1, 100), (1, 100), rules):
        solutions = cogstar.solve(numbers, target, rules=rules, limit=None)
        check_returned(solutions, numbers, target, rules)
        first = cogstar.solve(numbers, target, rules=rules)
        assert len(first) == min(1, len(solutions))
        assert set(first) <= set(solutions)
        check_returned(first, numbers, target, rules)


@pytest.mark.parametrize("size", [6, 7])
@pytest.mark.parametrize("rules", RULES)
def test_solutions_are_valid_large(rules: str, size: int) -> None:
    rng = random.Random(50 + size)
    found = 0
    for _ in range(8):
        numbers = [rng.randint(1, 100) for _ in range(size)]
        target = rng.randint(1, 100)
        first = cogstar.solve(numbers, target, rules=rules)
        check_returned(first, numbers, target, rules)
        some = cogstar.solve(numbers, target, rules=rules, limit=50)
        check_returned(some, numbers, target, rules)
        assert (not first) == (not some)
        if first:
            assert first[0] in some or len(some) == 50
        assert cogstar.is_solvable(numbers, target, rules=rules) == bool(first)
        found += bool(first)
    assert found > 0


@pytest.mark.parametrize(
    ("numbers", "target"),
    [
        ([25, 50, 75, 100, 3, 6], 952),
        ([100, 75, 50, 25, 6, 3], 813),
        ([1, 3, 7, 10, 25, 50], 765),
        ([2, 4, 6, 8, 10, 75], 531),
        ([9, 8, 7, 6, 5, 4], 999),
    ],
)
def test_all_classic_solutions_of_six_numbers(numbers: list[int], target: int) -> None:
    solutions = cogstar.solve(numbers, target, rules="classic", limit=None)
    check_returned(solutions, numbers, target, "classic")
    assert cogstar.count_solutions(numbers, target, rules="classic") == len(solutions)
    assert cogstar.is_solvable(numbers, target, rules="classic") == bool(solutions)
    # The plain DFS agrees on solvability.
    assert dfs_is_solvable(numbers, target, "classic") == bool(solutions)


@pytest.mark.slow
@pytest.mark.parametrize(("rules", "size"), [("rational", 6), ("classic", 6), ("classic", 7)])
def test_all_solutions_valid_six_and_seven_numbers(rules: str, size: int) -> None:
    # Large targets keep the solution lists to a size Python can check one by one.
    rng = random.Random(60 + size)
    for _ in range(3):
        numbers = [rng.randint(1, 100) for _ in range(size)]
        target = rng.randint(100, 999)
        solutions = cogstar.solve(numbers, target, rules=rules, limit=None)
        check_returned(solutions, numbers, target, rules)
        assert cogstar.count_solutions(numbers, target, rules=rules) == len(solutions)


# ------------------------------------------------------------------------------------------
# Caller mistakes
# ------------------------------------------------------------------------------------------

CALLS = [
    lambda numbers, target, rules: cogstar.solve(numbers, target, rules=rules),
    lambda numbers, target, rules: cogstar.solve(numbers, target, rules=rules, limit=None),
    lambda numbers, target, rules: cogstar.count_solutions(numbers, target, rules=rules),
    lambda numbers, target, rules: cogstar.is_solvable(numbers, target, rules=rules),
]


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize(
    ("numbers", "rules"),
    [
        ([], "rational"),
        ([5], "rational"),
        ([1, 2, 3, 4, 5, 6, 7, 8], "rational"),
        ([1, 2, 3], "integer"),
        ([1, 2, 3], ""),
    ],
)
def test_bad_arguments_raise_value_error(call, numbers: list[int], rules: str) -> None:
    with pytest.raises(ValueError):
        call(numbers, 5, rules)


def test_negative_numbers_are_rejected() -> None:
    with pytest.raises((ValueError, OverflowError)):
        cogstar.solve([-1, 2, 3], 5)


def test_seven_numbers_are_accepted() -> None:
    numbers = [1, 2, 3, 4, 5, 6, 7]
    solutions = cogstar.solve(numbers, 28)
    check_returned(solutions, numbers, 28, "rational")
    assert solutions
