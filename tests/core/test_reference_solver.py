"""Self-tests of the Python reference solver (tests/reference_solver.py).

The Rust solver is checked against this reference, so the reference is checked here against hand
counts, the spec's canonical-form examples, and properties (round trips, invariance of the
canonical form under commutativity and associativity, agreement of the three solvers).
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference_solver import (
    CANONICAL_EXAMPLES,
    COUNTDOWN_952,
    COUNTDOWN_952_CLASSIC,
    COUNTDOWN_952_RATIONAL,
    HAND_CHECKED_SOLUTIONS,
    all_solutions,
    all_solutions_by_subsets,
    canonical,
    check_solution,
    count_trees,
    dfs_first_solution,
    dfs_is_solvable,
    evaluate,
    evaluate_text,
    leaves,
    parse,
    random_puzzles,
    to_text,
    valid_trees,
)

# ------------------------------------------------------------------------------------------
# Canonical form: the spec's examples
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), CANONICAL_EXAMPLES)
def test_canonical_spec_examples(text: str, expected: str) -> None:
    assert canonical(text) == expected
    assert canonical(parse(text)) == expected
    # The canonical form is a fixed point and keeps the value.
    assert canonical(expected) == expected
    assert evaluate_text(expected) == evaluate_text(text)


# ------------------------------------------------------------------------------------------
# Parser
# ------------------------------------------------------------------------------------------


def test_parse_precedence_and_associativity() -> None:
    assert parse("1 + 2 * 3") == ("+", 1, ("*", 2, 3))
    assert parse("1 - 2 - 3") == ("-", ("-", 1, 2), 3)
    assert parse("8 / 4 / 2") == ("/", ("/", 8, 4), 2)
    assert parse("(1 + 2) * 3") == ("*", ("+", 1, 2), 3)
    assert parse(" ( ( 42 ) ) ") == 42
    assert parse("12*34") == ("*", 12, 34)
    assert evaluate_text("8 / 4 / 2") == 1
    assert evaluate_text("2 - 3") == -1
    assert evaluate_text("1 / 3") == Fraction(1, 3)


@pytest.mark.parametrize(
    "bad", ["", "1 +", "(1 + 2", "1 + 2)", "-1 + 2", "1 ** 2", "2 (3)", "1.5", "a"]
)
def test_parse_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        parse(bad)


def test_evaluate_rules() -> None:
    assert evaluate(parse("1 / 0")) is None
    assert evaluate(parse("1 / (2 - 2)")) is None
    assert evaluate(parse("2 - 3"), "classic") is None
    assert evaluate(parse("3 / 2"), "classic") is None
    assert evaluate(parse("3 / 2 * 2"), "classic") is None  # intermediate 3/2 is not an integer
    assert evaluate(parse("3 * 2 / 2"), "classic") == 3
    assert evaluate(parse("0 / 5"), "classic") == 0
    assert evaluate(parse("2 - 3 + 1"), "classic") is None
    assert evaluate(parse("2 + 1 - 3"), "classic") == 0
    with pytest.raises(ValueError):
        evaluate(1, "lenient")


# ------------------------------------------------------------------------------------------
# Hand-verified solution sets
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("numbers", "target", "rules", "expected"), HAND_CHECKED_SOLUTIONS)
def test_hand_checked_solution_sets(
    numbers: list[int], target: int, rules: str, expected: set[str]
) -> None:
    assert all_solutions(numbers, target, rules) == expected
    assert all_solutions_by_subsets(numbers, target, rules) == expected
    assert dfs_is_solvable(numbers, target, rules) == bool(expected)
    for text in expected:
        check_solution(text, numbers, target, rules)


def test_classic_and_rational_differ() -> None:
    # -4 from {1, 2, 3} needs a negative value: none under classic rules.
    rational = all_solutions([1, 2, 3], -4, "rational")
    assert "(1 - 3) * 2" in rational
    assert "1 - 3 - 2" in rational
    assert all_solutions([1, 2, 3], -4, "classic") == set()
    # Classic solutions are always a subset of rational ones.
    for numbers, target in [([1, 2, 3, 4], 10), ([2, 4, 6, 8], 3), ([5, 5, 5, 1], 24)]:
        assert all_solutions(numbers, target, "classic") <= all_solutions(
            numbers, target, "rational"
        )
    # 5 * (5 - 1 / 5) = 24 is the only way, and it goes through 1/5.
    assert all_solutions([5, 5, 5, 1], 24, "rational") == {"(5 - 1 / 5) * 5"}
    assert all_solutions([5, 5, 5, 1], 24, "classic") == set()


def test_countdown_952() -> None:
    # The classic Countdown puzzle: two classic solutions.
    numbers, target = COUNTDOWN_952
    assert all_solutions_by_subsets(numbers, target, "classic") == COUNTDOWN_952_CLASSIC
    for text in COUNTDOWN_952_CLASSIC:
        check_solution(text, numbers, target, "classic")
    assert dfs_is_solvable(numbers, target, "classic")


@pytest.mark.slow
def test_countdown_952_rational() -> None:
    # Eight rational ones (about 10 s in pure Python).
    numbers, target = COUNTDOWN_952
    assert all_solutions_by_subsets(numbers, target, "rational") == COUNTDOWN_952_RATIONAL
    for text in COUNTDOWN_952_RATIONAL:
        check_solution(text, numbers, target, "rational")


# ------------------------------------------------------------------------------------------
# The brute force covers every tree
# ------------------------------------------------------------------------------------------


def test_count_trees_formula() -> None:
    # n! * Catalan(n - 1) * 4**(n - 1)
    assert [count_trees(n) for n in range(1, 6)] == [1, 8, 192, 7680, 430080]


def test_valid_trees_enumerates_every_tree() -> None:
    # With distinct positive numbers where no proper sub-expression can be zero, every tree is
    # valid under rational rules, so the enumeration must produce exactly count_trees(n) trees,
    # all different.
    for numbers in ([2, 3], [2, 3, 7]):
        trees = [tree for _, tree in valid_trees(numbers, "rational")]
        assert len(trees) == count_trees(len(numbers))
        assert len(set(trees)) == len(trees)
    # {2, 3, 7} makes no zero, and any sub-expression with 1000003 in it is far from zero.
    assert all(value != 0 for value, _ in valid_trees([2, 3, 7], "rational"))
    numbers = [2, 3, 7, 1000003]
    trees = [tree for _, tree in valid_trees(numbers, "rational")]
    assert len(trees) == count_trees(4) == len(set(trees))
    assert all(sorted(leaves(tree)) == sorted(numbers) for tree in trees)


def test_valid_trees_values_match_evaluate() -> None:
    for rules in ("rational", "classic"):
        for value, tree in valid_trees([6, 2, 3, 0], rules):
            assert evaluate(tree, rules) == value


# ------------------------------------------------------------------------------------------
# Agreement between the brute force, the subset DP and the DFS on random puzzles
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rules", ["rational", "classic"])
def test_solvers_agree_small(rules: str) -> None:
    for numbers, target in random_puzzles(7, 60, (2, 3, 4), (0, 12), (-5, 40), rules):
        brute = all_solutions(numbers, target, rules)
        assert all_solutions_by_subsets(numbers, target, rules) == brute, (numbers, target)
        first = dfs_first_solution(numbers, target, rules)
        assert (first is not None) == bool(brute), (numbers, target)
        if first is not None:
            assert canonical(first) in brute
            assert evaluate_text(first, rules) == target
        for text in brute:
            check_solution(text, numbers, target, rules)


@pytest.mark.parametrize("rules", ["rational", "classic"])
def test_solvers_agree_five_numbers(rules: str) -> None:
    for numbers, target in random_puzzles(11, 1, (5,), (0, 9), (0, 40), rules):
        brute = all_solutions(numbers, target, rules)
        assert all_solutions_by_subsets(numbers, target, rules) == brute, (numbers, target)
        assert dfs_is_solvable(numbers, target, rules) == bool(brute)


@pytest.mark.slow
@pytest.mark.parametrize("rules", ["rational", "classic"])
def test_solvers_agree_many(rules: str) -> None:
    for numbers, target in random_puzzles(13, 400, (3, 4), (0, 30), (-5, 60), rules):
        brute = all_solutions(numbers, target, rules)
        assert all_solutions_by_subsets(numbers, target, rules) == brute, (numbers, target)
        assert dfs_is_solvable(numbers, target, rules) == bool(brute)
    for numbers, target in random_puzzles(17, 10, (5,), (0, 20), (0, 60), rules):
        brute = all_solutions(numbers, target, rules)
        assert all_solutions_by_subsets(numbers, target, rules) == brute, (numbers, target)


def test_dfs_returns_expression_over_the_numbers() -> None:
    first = dfs_first_solution([25, 50, 75, 100, 3, 6], 250, "rational")
    assert first is not None
    assert sorted(leaves(parse(first))) == [3, 6, 25, 50, 75, 100]
    assert evaluate_text(first) == 250
    assert dfs_first_solution([3, 3, 8, 8], 24, "rational") == "8 / (3 - (8 / 3))"
    assert dfs_first_solution([3, 3, 8, 8], 24, "classic") is None
    assert dfs_first_solution([7], 7) == "7"
    with pytest.raises(ValueError):
        dfs_first_solution([1, 2], 3, "lenient")


# ------------------------------------------------------------------------------------------
# Properties of print, parse and canonical
# ------------------------------------------------------------------------------------------

trees = st.recursive(
    st.integers(min_value=0, max_value=20),
    lambda children: st.tuples(st.sampled_from("+-*/"), children, children),
    max_leaves=7,
)


@given(trees)
def test_parse_to_text_round_trip(tree) -> None:
    assert parse(to_text(tree)) == tree


@given(trees)
def test_canonical_is_a_fixed_point_with_the_same_value_and_leaves(tree) -> None:
    text = canonical(tree)
    assert canonical(text) == text
    assert sorted(leaves(parse(text))) == sorted(leaves(tree))
    for rules in ("rational", "classic"):
        value = evaluate(tree, rules)
        if value is not None:
            # A valid tree's canonical string is valid too, evaluated left to right, and equal.
            assert evaluate_text(text, rules) == value


def _rewrites(tree):
    """Trees equal to `tree` up to commutativity and associativity at the root."""
    if isinstance(tree, int):
        return []
    op, a, b = tree
    out = []
    if op in "+*":
        out.append((op, b, a))
    inverse = {"+": "-", "*": "/"}
    for plus, minus in inverse.items():
        # (x + y) + z -> x + (y + z);  x - (y - z) -> (x - y) + z;  x - (y + z) -> (x - y) - z
        if op == plus and not isinstance(a, int) and a[0] == plus:
            out.append((plus, a[1], (plus, a[2], b)))
        if op == minus and not isinstance(b, int) and b[0] == minus:
            out.append((plus, (minus, a, b[1]), b[2]))
        if op == minus and not isinstance(b, int) and b[0] == plus:
            out.append((minus, (minus, a, b[1]), b[2]))
    return out


@given(trees, st.randoms(use_true_random=False))
@settings(max_examples=200)
def test_canonical_invariant_under_commutativity_and_associativity(tree, rng) -> None:
    expected = canonical(tree)
    current = tree
    for _ in range(20):
        # Rewrite at a random node.
        path = []
        node = current
        while not isinstance(node, int) and rng.random() < 0.6:
            side = rng.choice((1, 2))
            path.append(side)
            node = node[side]
        options = _rewrites(node)
        if not options:
            continue
        node = rng.choice(options)
        for depth in reversed(range(len(path))):
            parent = current
            for side in path[:depth]:
                parent = parent[side]
            parent = list(parent)
            parent[path[depth]] = node
            node = tuple(parent)
        current = node
        assert canonical(current) == expected
