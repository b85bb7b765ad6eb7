"""Property tests of expressions: printing round-trips, canonical forms are invariant."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

import cogstar

OPS = "+-*/"

# A random tree over small integers, as (text with full parentheses, exact value or None).
leaves = st.integers(min_value=0, max_value=99).map(lambda n: (str(n), Fraction(n)))


def combine(
    children: st.SearchStrategy[tuple[str, Fraction | None]],
) -> st.SearchStrategy[tuple[str, Fraction | None]]:
    def build(
        a: tuple[str, Fraction | None], op: str, b: tuple[str, Fraction | None]
    ) -> tuple[str, Fraction | None]:
        (ta, va), (tb, vb) = a, b
        value: Fraction | None
        if va is None or vb is None or (op == "/" and vb == 0):
            value = None
        else:
            value = {"+": va + vb, "-": va - vb, "*": va * vb, "/": va / vb if vb else va}[op]
        return f"({ta} {op} {tb})", value

    return st.builds(build, children, st.sampled_from(OPS), children)


# Small enough that no exact intermediate can leave the 128-bit range.
trees = st.recursive(leaves, combine, max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(trees)
def test_print_then_parse_is_the_same_tree(tree: tuple[str, Fraction | None]) -> None:
    text, value = tree
    e = cogstar.parse_expression(text)
    printed = str(e)
    assert cogstar.parse_expression(printed) == e
    assert str(cogstar.parse_expression(printed)) == printed
    if value is not None:
        assert e.value == value


@settings(max_examples=300, deadline=None)
@given(trees)
def test_canonical_form_is_a_fixed_point_with_the_same_value(
    tree: tuple[str, Fraction | None],
) -> None:
    text, value = tree
    canon = cogstar.canonical_form(text)
    again = cogstar.parse_expression(canon)
    assert again.canonical == canon
    assert sorted(again.numbers) == sorted(cogstar.parse_expression(text).numbers)
    if value is not None:
        assert again.value == value


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=50), min_size=2, max_size=5), st.randoms())
def test_canonical_form_ignores_operand_order(numbers: list[int], rnd) -> None:  # type: ignore[no-untyped-def]
    shuffled = numbers[:]
    rnd.shuffle(shuffled)
    assert cogstar.canonical_form(" + ".join(map(str, numbers))) == cogstar.canonical_form(
        " + ".join(map(str, shuffled))
    )
    assert cogstar.canonical_form(" * ".join(map(str, numbers))) == cogstar.canonical_form(
        "(" + " * ".join(map(str, shuffled)) + ")"
    )
