"""A slow, obviously-correct Python reference for the Countdown solver semantics.

The Rust core (`cogstar._core`) is tested against this module, and `benches/bench_solve.py`
uses its depth-first search as the "what people write in Python" baseline. Nothing here is
clever on purpose: exact `fractions.Fraction` arithmetic, brute-force enumeration of every
expression tree, and a plain pairwise-combine search.

Semantics (the project's spec):
- A puzzle is a multiset of non-negative integers and an integer target. A solution is a binary
  expression tree over *all* the numbers, each used once, with + - * / (no unary minus, no
  concatenation), valid under the rules, whose exact value equals the target.
- rules="rational": any intermediate value is allowed; only division by zero is invalid.
- rules="classic": every node of the tree must be a non-negative integer.
- Two solutions are the same iff their canonical forms (see `canonical`) are the same string.

Trees are plain data: an `int` is a leaf, a tuple `(op, left, right)` with op in "+-*/" is a node.

Run the self-tests with `pytest tests/test_reference_solver.py`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import product

Tree = int | tuple  # int leaf | (op, Tree, Tree)

RULES = ("rational", "classic")
OPS = "+-*/"


def _check_rules(rules: str) -> None:
    if rules not in RULES:
        raise ValueError(f"rules must be one of {RULES}, got {rules!r}")


# --------------------------------------------------------------------------------------------
# Parsing and plain printing
# --------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:([0-9]+)|(\S))")


def _tokenize(text: str) -> list[str | int]:
    tokens: list[str | int] = []
    for match in _TOKEN.finditer(text):
        number, other = match.groups()
        if number is not None:
            tokens.append(int(number))
        elif other is not None:
            if other not in "+-*/()":
                raise ValueError(f"unexpected character {other!r} in {text!r}")
            tokens.append(other)
    return tokens


def parse(text: str) -> Tree:
    """Parse `+ - * /`, parentheses and non-negative integers with the usual precedence.

    `*` and `/` bind tighter than `+` and `-`; operators of equal precedence associate to the
    left. There is no unary minus. Raises ValueError on anything else.
    """
    tokens = _tokenize(text)
    pos = 0

    def peek() -> str | int | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str | int:
        nonlocal pos
        if pos >= len(tokens):
            raise ValueError(f"unexpected end of expression in {text!r}")
        token = tokens[pos]
        pos += 1
        return token

    def expr() -> Tree:
        node = term()
        while peek() in ("+", "-"):
            op = take()
            node = (op, node, term())
        return node

    def term() -> Tree:
        node = factor()
        while peek() in ("*", "/"):
            op = take()
            node = (op, node, factor())
        return node

    def factor() -> Tree:
        token = take()
        if isinstance(token, int):
            return token
        if token == "(":
            node = expr()
            if take() != ")":
                raise ValueError(f"expected ')' in {text!r}")
            return node
        raise ValueError(f"unexpected token {token!r} in {text!r}")

    tree = expr()
    if pos != len(tokens):
        raise ValueError(f"trailing input {tokens[pos]!r} in {text!r}")
    return tree


def to_text(tree: Tree) -> str:
    """Print a tree with the fewest parentheses that make `parse(to_text(t)) == t`."""
    if isinstance(tree, int):
        return str(tree)
    op, left, right = tree
    tight = op in "*/"
    left_text = to_text(left)
    right_text = to_text(right)
    # Left operand: parenthesise a looser operator. Right operand: parenthesise a looser one,
    # and also an equal-precedence one, because parsing is left-associative.
    if tight and not isinstance(left, int) and left[0] in "+-":
        left_text = f"({left_text})"
    if not isinstance(right, int) and (right[0] in "+-" or tight):
        right_text = f"({right_text})"
    return f"{left_text} {op} {right_text}"


def leaves(tree: Tree) -> list[int]:
    """The leaf values of a tree, left to right."""
    if isinstance(tree, int):
        return [tree]
    return leaves(tree[1]) + leaves(tree[2])


# --------------------------------------------------------------------------------------------
# Exact evaluation and the rules
# --------------------------------------------------------------------------------------------


def apply(op: str, a: Fraction, b: Fraction, rules: str) -> Fraction | None:
    """`a op b`, or None when the rules forbid it (division by zero; classic: non-integer or negative)."""
    if op == "+":
        value = a + b
    elif op == "-":
        value = a - b
    elif op == "*":
        value = a * b
    elif op == "/":
        if b == 0:
            return None
        value = a / b
    else:
        raise ValueError(f"unknown operator {op!r}")
    if rules == "classic" and (value < 0 or value.denominator != 1):
        return None
    return value


def evaluate(tree: Tree, rules: str = "rational") -> Fraction | None:
    """Exact value of a tree, or None if any node breaks the rules."""
    _check_rules(rules)
    if isinstance(tree, int):
        if rules == "classic" and tree < 0:
            return None
        return Fraction(tree)
    op, left, right = tree
    a = evaluate(left, rules)
    if a is None:
        return None
    b = evaluate(right, rules)
    if b is None:
        return None
    return apply(op, a, b, rules)


def evaluate_text(text: str, rules: str = "rational") -> Fraction | None:
    """Evaluate an expression string left to right with normal precedence, under the rules.

    Under classic rules this checks every intermediate value the usual evaluation produces.
    """
    return evaluate(parse(text), rules)


# --------------------------------------------------------------------------------------------
# Canonical form
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Canon:
    """A canonical node: a leaf, a Sum (positive / negative terms) or a Product (numerator /
    denominator factors). A Sum's terms are never Sums; a Product's factors never Products.
    Each group is kept in canonical order, so `text` is the canonical string."""

    kind: str  # "leaf" | "sum" | "product"
    text: str
    value: int = 0  # the leaf's value; unused for compound nodes
    first: tuple[Canon, ...] = ()  # Sum: positive terms; Product: numerator factors
    second: tuple[Canon, ...] = ()  # Sum: negative terms; Product: denominator factors


def _order_key(node: Canon) -> tuple:
    # Compound nodes first, by their printed text (plain string order; a Sum factor's own text,
    # without the parentheses a Product adds around it); then leaves by value, largest first.
    if node.kind == "leaf":
        return (1, "", -node.value)
    return (0, node.text, 0)


def canon_leaf(value: int) -> Canon:
    return Canon("leaf", str(value), value)


def _factor_text(node: Canon) -> str:
    return f"({node.text})" if node.kind == "sum" else node.text


def combine(op: str, left: Canon, right: Canon) -> Canon:
    """The canonical form of `left op right`, given the canonical forms of both operands."""
    if op in "+-":
        kind = "sum"
        right_sign = 1 if op == "+" else -1
    elif op in "*/":
        kind = "product"
        right_sign = 1 if op == "*" else -1
    else:
        raise ValueError(f"unknown operator {op!r}")
    first: list[Canon] = []  # positive terms / numerator factors
    second: list[Canon] = []  # negative terms / denominator factors
    for operand, sign in ((left, 1), (right, right_sign)):
        if operand.kind == kind:  # flatten: a - (b - c) -> +a +c -b; a / (b / c) -> a*c / b
            same, flipped = operand.first, operand.second
        else:
            same, flipped = (operand,), ()
        (first if sign > 0 else second).extend(same)
        (second if sign > 0 else first).extend(flipped)
    first.sort(key=_order_key)
    second.sort(key=_order_key)
    if kind == "sum":
        text = " + ".join(t.text for t in first) + "".join(f" - {t.text}" for t in second)
    else:
        text = " * ".join(_factor_text(f) for f in first) + "".join(
            f" / {_factor_text(f)}" for f in second
        )
    return Canon(kind, text, 0, tuple(first), tuple(second))


def canon(tree: Tree) -> Canon:
    if isinstance(tree, int):
        return canon_leaf(tree)
    op, left, right = tree
    return combine(op, canon(left), canon(right))


def canonical(tree: Tree | str) -> str:
    """The canonical string of a tree (or of an expression string, parsed first)."""
    if isinstance(tree, str):
        tree = parse(tree)
    return canon(tree).text


# --------------------------------------------------------------------------------------------
# Brute force: every binary expression tree
# --------------------------------------------------------------------------------------------


def _ordered_splits(items: Sequence[int]) -> Iterator[tuple[list[int], list[int]]]:
    """Every way to deal the positions into a non-empty left part and a non-empty right part.

    Both (A, B) and (B, A) appear, which gives both operand orders."""
    n = len(items)
    for mask in range(1, (1 << n) - 1):
        left = [items[i] for i in range(n) if mask >> i & 1]
        right = [items[i] for i in range(n) if not mask >> i & 1]
        yield left, right


def valid_trees(numbers: Sequence[int], rules: str) -> Iterator[tuple[Fraction, Tree]]:
    """Every binary expression tree over `numbers` (each position used once) that is valid
    under the rules, with its exact value. Invalid subtrees are dropped as they appear: a tree
    with an invalid subtree is invalid."""
    if len(numbers) == 1:
        value = evaluate(numbers[0], rules)
        if value is not None:
            yield value, numbers[0]
        return
    for left_numbers, right_numbers in _ordered_splits(numbers):
        lefts = list(valid_trees(left_numbers, rules))
        rights = list(valid_trees(right_numbers, rules))
        for (a, left), (b, right), op in product(lefts, rights, OPS):
            value = apply(op, a, b, rules)
            if value is not None:
                yield value, (op, left, right)


def _check_puzzle(numbers: Sequence[int], rules: str) -> list[int]:
    _check_rules(rules)
    numbers = [int(n) for n in numbers]
    if not numbers:
        raise ValueError("a puzzle needs at least one number")
    if any(n < 0 for n in numbers):
        raise ValueError(f"numbers must be non-negative, got {numbers}")
    return numbers


def all_solutions(numbers: Sequence[int], target: int, rules: str = "rational") -> set[str]:
    """Canonical strings of all solutions, by enumerating every expression tree.

    Practical for up to 5 numbers (a few seconds for 5)."""
    numbers = _check_puzzle(numbers, rules)
    return {canonical(tree) for value, tree in valid_trees(numbers, rules) if value == target}


def all_solutions_by_subsets(
    numbers: Sequence[int], target: int, rules: str = "rational"
) -> set[str]:
    """The same set as `all_solutions`, computed fast enough for 6 numbers.

    It works bottom-up over sub-multisets and keeps, per sub-multiset, the distinct canonical
    forms of its valid trees. That loses nothing: a tree's canonical form is a function of the
    operator and its children's canonical forms (`combine`), its value is a function of its
    canonical form, and it is valid iff both children are and the operator is allowed on their
    values. Cross-checked against `all_solutions` in tests/test_reference_solver.py.
    """
    numbers = _check_puzzle(numbers, rules)
    # sub-multiset (sorted tuple) -> {value: {canonical text: Canon}}
    table: dict[tuple[int, ...], dict[Fraction, dict[str, Canon]]] = {}

    def splits(key: tuple[int, ...]) -> set[tuple[tuple[int, ...], tuple[int, ...]]]:
        return {(tuple(sorted(a)), tuple(sorted(b))) for a, b in _ordered_splits(key)}

    def build(key: tuple[int, ...]) -> dict[Fraction, dict[str, Canon]]:
        if key in table:
            return table[key]
        by_value: dict[Fraction, dict[str, Canon]] = {}
        if len(key) == 1:
            value = evaluate(key[0], rules)
            if value is not None:
                by_value[value] = {str(key[0]): canon_leaf(key[0])}
        else:
            for left_key, right_key in splits(key):
                lefts, rights = build(left_key), build(right_key)
                for (a, left_forms), (b, right_forms), op in product(
                    lefts.items(), rights.items(), OPS
                ):
                    value = apply(op, a, b, rules)
                    if value is None:
                        continue
                    forms = by_value.setdefault(value, {})
                    for left, right in product(left_forms.values(), right_forms.values()):
                        node = combine(op, left, right)
                        forms.setdefault(node.text, node)
        table[key] = by_value
        return by_value

    key = tuple(sorted(numbers))
    if len(key) == 1:
        return {str(key[0])} if evaluate(key[0], rules) == target else set()
    # Top level: only pairs of values that reach the target need canonical forms.
    found: set[str] = set()
    for left_key, right_key in splits(key):
        lefts, rights = build(left_key), build(right_key)
        for (a, left_forms), (b, right_forms), op in product(lefts.items(), rights.items(), OPS):
            if apply(op, a, b, rules) == target:
                for left, right in product(left_forms.values(), right_forms.values()):
                    found.add(combine(op, left, right).text)
    return found


def count_trees(n: int) -> int:
    """How many expression trees (valid or not) exist over n distinct positions: ordered splits,
    4 operators per node. Equals n! * Catalan(n - 1) * 4**(n - 1)."""
    if n == 1:
        return 1
    total = 0
    for mask in range(1, (1 << n) - 1):
        k = bin(mask).count("1")
        total += count_trees(k) * count_trees(n - k) * 4
    return total


# --------------------------------------------------------------------------------------------
# The baseline: a plain pairwise-combine depth-first search
# --------------------------------------------------------------------------------------------


def _pair_results(a, b, ea: str, eb: str, classic: bool) -> Iterator[tuple[object, str]]:
    """Every value one step can make from the pair (a, b), with its expression."""
    yield a + b, f"({ea} + {eb})"
    yield a * b, f"({ea} * {eb})"
    if not classic or a >= b:
        yield a - b, f"({ea} - {eb})"
    if not classic or b >= a:
        yield b - a, f"({eb} - {ea})"
    if b != 0 and (not classic or a % b == 0):
        yield (a // b if classic else a / b), f"({ea} / {eb})"
    if a != 0 and (not classic or b % a == 0):
        yield (b // a if classic else b / a), f"({eb} / {ea})"


def _dfs(values: list, exprs: list[str], target: int, classic: bool) -> str | None:
    if len(values) == 1:
        return exprs[0] if values[0] == target else None
    n = len(values)
    for i in range(n):
        for j in range(i + 1, n):
            rest_values = values[:i] + values[i + 1 : j] + values[j + 1 :]
            rest_exprs = exprs[:i] + exprs[i + 1 : j] + exprs[j + 1 :]
            for value, expr in _pair_results(values[i], values[j], exprs[i], exprs[j], classic):
                found = _dfs([*rest_values, value], [*rest_exprs, expr], target, classic)
                if found is not None:
                    return found
    return None


def dfs_first_solution(numbers: Sequence[int], target: int, rules: str = "rational") -> str | None:
    """The first solution a plain depth-first search finds, or None.

    Pick two of the current values, replace them with `a op b` (six results per pair: + * and
    both orders of - and /), recurse; stop at the first list that collapses to the target.
    Fractions for rational rules, ints for classic. No memoisation, no pruning beyond the rules.
    The expression is returned as built (fully parenthesised), not in canonical form.
    """
    numbers = _check_puzzle(numbers, rules)
    classic = rules == "classic"
    values = list(numbers) if classic else [Fraction(n) for n in numbers]
    found = _dfs(values, [str(n) for n in numbers], target, classic)
    if found is not None and len(numbers) > 1:
        found = found[1:-1]  # drop the outermost parentheses
    return found


def dfs_is_solvable(numbers: Sequence[int], target: int, rules: str = "rational") -> bool:
    """Whether the plain depth-first search finds any solution."""
    return dfs_first_solution(numbers, target, rules) is not None


# --------------------------------------------------------------------------------------------
# Checks shared by the tests
# --------------------------------------------------------------------------------------------


def check_solution(text: str, numbers: Iterable[int], target: int, rules: str) -> None:
    """Assert that `text` is a canonical solution: it uses exactly the numbers, is valid under
    the rules when evaluated left to right with normal precedence, equals the target, and is its
    own canonical form."""
    tree = parse(text)
    assert sorted(leaves(tree)) == sorted(numbers), f"{text!r} does not use exactly {numbers}"
    value = evaluate(tree, rules)
    assert value is not None, f"{text!r} breaks the {rules} rules"
    assert value == target, f"{text!r} = {value}, not {target}"
    assert canonical(tree) == text, f"{text!r} is not canonical: {canonical(tree)!r}"


# --------------------------------------------------------------------------------------------
# Shared case tables (used by the reference self-tests and the tests of the Rust core)
# --------------------------------------------------------------------------------------------

CANONICAL_EXAMPLES = [
    ("(3 + 5) * 4", "(5 + 3) * 4"),
    ("4 * (5 + 3)", "(5 + 3) * 4"),
    ("10 - (2 - 1)", "10 + 1 - 2"),
    ("8 / (3 - 8 / 3)", "8 / (3 - 8 / 3)"),
    ("2 * 3 * 4", "4 * 3 * 2"),
    ("2 * (3 * 4)", "4 * 3 * 2"),
    ("(4 * 2) * 3", "4 * 3 * 2"),
    ("3 * (2 * 4)", "4 * 3 * 2"),
    ("6 / (4 / 2)", "6 * 2 / 4"),
    ("(1 + 2) * (3 + 4)", "(2 + 1) * (4 + 3)"),
    ("100 - 4 * 3", "100 - 4 * 3"),
    # More flattening rules from the spec.
    ("5 - (2 + 1)", "5 - 2 - 1"),
    ("8 / (2 * 2)", "8 / 2 / 2"),
    ("(8 / 2) / 2", "8 / 2 / 2"),
    ("1 - 2 - 3 + 4", "4 + 1 - 3 - 2"),
    ("7 - (1 - (2 - 3))", "7 + 2 - 3 - 1"),
    ("7 / (1 / (2 / 3))", "7 * 2 / 3 / 1"),
    # Products print bare inside a Sum; compound terms come before leaves.
    ("1 + 2 * 3", "3 * 2 + 1"),
    ("9 - 6 / 3", "9 - 6 / 3"),
    ("2 - 3 * 4 - 5 * 6", "2 - 4 * 3 - 6 * 5"),
    # Compound terms ordered by their text: "(" < digits; "10 * 2" < "3 * 2" as strings.
    ("3 * 2 + 10 * 2", "10 * 2 + 3 * 2"),
    ("(1 + 2) * 3 + 4 / 2", "(2 + 1) * 3 + 4 / 2"),
    # Sum factors: ordered by the Sum's own text, without the parentheses the Product adds.
    ("(3 + 2 - 1) * (3 + 2)", "(3 + 2) * (3 + 2 - 1)"),
    ("(3 + 2 + 1) * (3 + 2)", "(3 + 2) * (3 + 2 + 1)"),
    # Leaves: largest first; zero is an ordinary leaf.
    ("0 + 7 + 0", "7 + 0 + 0"),
    ("0 / 5", "0 / 5"),
]


HAND_CHECKED_SOLUTIONS = [
    # numbers, target, rules, the full set of canonical solutions (worked out by hand)
    ([2, 3], 6, "rational", {"3 * 2"}),
    ([2, 2], 4, "rational", {"2 + 2", "2 * 2"}),
    ([2, 2], 1, "classic", {"2 / 2"}),
    ([1, 1], 1, "rational", {"1 * 1", "1 / 1"}),
    ([3, 6], 2, "classic", {"6 / 3"}),
    ([3, 6], -3, "rational", {"3 - 6"}),
    ([3, 6], -3, "classic", set()),
    ([0, 5], 0, "rational", {"5 * 0", "0 / 5"}),  # 5 / 0 is invalid
    ([0, 5], 5, "classic", {"5 + 0", "5 - 0"}),
    ([0, 5], -5, "rational", {"0 - 5"}),
    ([1, 2, 3], 6, "rational", {"3 + 2 + 1", "3 * 2 * 1", "3 * 2 / 1"}),
    ([1, 2, 3], 6, "classic", {"3 + 2 + 1", "3 * 2 * 1", "3 * 2 / 1"}),
    # Zero from {1, 2, 3}: 3 - (1 + 2) and (1 + 2) - 3 are different canonical forms.
    ([1, 2, 3], 0, "rational", {"3 - 2 - 1", "2 + 1 - 3"}),
    ([1, 2, 3], 0, "classic", {"3 - 2 - 1", "2 + 1 - 3"}),
    (
        [1, 2, 3, 4],
        24,
        "rational",
        {"4 * 3 * 2 * 1", "4 * 3 * 2 / 1", "(3 + 2 + 1) * 4", "(3 + 1) * (4 + 2)"},
    ),
    (
        [1, 2, 3, 4],
        24,
        "classic",
        {"4 * 3 * 2 * 1", "4 * 3 * 2 / 1", "(3 + 2 + 1) * 4", "(3 + 1) * (4 + 2)"},
    ),
    # The famous one: only with a fractional intermediate (8/3).
    ([3, 3, 8, 8], 24, "rational", {"8 / (3 - 8 / 3)"}),
    ([3, 3, 8, 8], 24, "classic", set()),
]


# The classic Countdown puzzle [25, 50, 75, 100, 3, 6] -> 952 and all its solutions, as found by
# `all_solutions_by_subsets` (checked again by the slow reference self-test).
COUNTDOWN_952 = ([25, 50, 75, 100, 3, 6], 952)
COUNTDOWN_952_CLASSIC = {
    "((100 + 6) * 75 * 3 - 50) / 25",
    "(100 + 3) * 75 * 6 / 50 + 25",
}
COUNTDOWN_952_RATIONAL = COUNTDOWN_952_CLASSIC | {
    "(100 + 75) * (6 - (25 + 3) / 50)",
    "(100 - 50) * (3 / 75 + 25 - 6)",
    "(50 - 100) * (6 - 3 / 75 - 25)",
    "(6 / 75 + 50) * 25 - 100 * 3",
    "(75 / 6 - 3) * 100 + 50 / 25",
    "50 / 25 - (3 - 75 / 6) * 100",
}


def random_tree(rng: random.Random, numbers: Sequence[int]) -> Tree:
    """A random expression tree over the numbers: join two random subtrees until one is left."""
    trees: list[Tree] = list(numbers)
    rng.shuffle(trees)
    while len(trees) > 1:
        i, j = sorted(rng.sample(range(len(trees)), 2))
        node = (rng.choice(OPS), trees[i], trees[j])
        trees = [*trees[:i], *trees[i + 1 : j], *trees[j + 1 :], node]
    return trees[0]


def random_puzzles(
    seed: int,
    count: int,
    sizes: Sequence[int],
    value_range: tuple[int, int],
    target_range: tuple[int, int],
    rules: str = "rational",
) -> list[tuple[list[int], int]]:
    """Seeded puzzles. Half of the targets are the value of a random tree over the numbers when
    that tree is valid under the rules and integral (so those are solvable), the rest are drawn
    from `target_range` (often unsolvable for few numbers)."""
    rng = random.Random(seed)
    puzzles = []
    for _ in range(count):
        numbers = [rng.randint(*value_range) for _ in range(rng.choice(sizes))]
        target = rng.randint(*target_range)
        if rng.random() < 0.5:
            value = evaluate(random_tree(rng, numbers), rules)
            if value is not None and value.denominator == 1:
                target = int(value)
        puzzles.append((numbers, target))
    return puzzles
