"""The seeded puzzle generator (`cogstar.generate_puzzles`), `cogstar.Puzzle` and
`cogstar.split_puzzles`.

Generation must be a pure function of its arguments: the same seed gives the same list whatever
the number of threads. Solvability is checked with the plain Python DFS of
tests/reference_solver.py, which shares no code with the Rust solver.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest

pytest.importorskip("cogstar._core")

import cogstar
from reference_solver import dfs_is_solvable


def key(puzzle) -> tuple[tuple[int, ...], int]:
    """What makes two puzzles the same problem: the multiset of numbers and the target."""
    return tuple(sorted(puzzle.numbers)), puzzle.target


def as_data(puzzles) -> list[tuple[list[int], int]]:
    return [(list(p.numbers), p.target) for p in puzzles]


# ------------------------------------------------------------------------------------------
# Puzzle
# ------------------------------------------------------------------------------------------


def test_puzzle_value_semantics() -> None:
    a = cogstar.Puzzle([1, 2, 3], 6)
    assert list(a.numbers) == [1, 2, 3]
    assert a.target == 6
    b = cogstar.Puzzle([1, 2, 3], 6)
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    c = cogstar.Puzzle([1, 2, 3], 7)
    assert a != c
    assert sorted([c, a]) == sorted([a, c])  # comparable: a total order
    assert (a < c) != (c < a)
    assert {a: 1}[b] == 1


def test_generated_puzzles_are_puzzles() -> None:
    puzzles = cogstar.generate_puzzles(50, seed=0)
    assert len(puzzles) == 50
    assert all(isinstance(p, cogstar.Puzzle) for p in puzzles)
    assert len(set(puzzles)) <= 50  # hashable
    assert sorted(puzzles) == sorted(sorted(puzzles))  # comparable


# ------------------------------------------------------------------------------------------
# Determinism
# ------------------------------------------------------------------------------------------


def test_same_seed_same_puzzles() -> None:
    for kwargs in (
        {},
        {"sizes": (3, 4, 5), "rules": "classic"},
        {"solvable": False, "value_range": (1, 10)},
    ):
        first = cogstar.generate_puzzles(500, seed=123, **kwargs)
        second = cogstar.generate_puzzles(500, seed=123, **kwargs)
        assert first == second
        assert as_data(first) == as_data(second)


def test_different_seed_different_puzzles() -> None:
    a = cogstar.generate_puzzles(200, seed=1)
    b = cogstar.generate_puzzles(200, seed=2)
    assert a != b
    # Not a shifted copy either: most puzzles differ.
    assert len(set(a) & set(b)) < 20


def test_count_zero() -> None:
    assert cogstar.generate_puzzles(0, seed=0) == []


_THREAD_SCRIPT = """
import json, cogstar
out = []
for kwargs in ({}, {"rules": "classic", "sizes": (3, 4, 5)}, {"solvable": False}):
    puzzles = cogstar.generate_puzzles(3000, seed=99, **kwargs)
    out.append([[list(p.numbers), p.target] for p in puzzles])
print(json.dumps(out))
"""


def _generate_with_threads(threads: int) -> list:
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    result = subprocess.run(
        [sys.executable, "-c", _THREAD_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(result.stdout)


def test_independent_of_thread_count() -> None:
    one = _generate_with_threads(1)
    two = _generate_with_threads(2)
    assert one == two
    here = cogstar.generate_puzzles(3000, seed=99)
    assert [[list(p.numbers), p.target] for p in here] == one[0]


# ------------------------------------------------------------------------------------------
# The arguments are respected
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"sizes": (3,)},
        {"sizes": (2, 5, 6), "value_range": (1, 25), "target_range": (50, 500)},
        {"sizes": (4,), "value_range": (10, 20), "target_range": (1, 1000), "rules": "classic"},
        {"sizes": (7,), "value_range": (0, 9), "target_range": (0, 0), "solvable": False},
        {"sizes": (3, 4), "value_range": (5, 5), "target_range": (1, 50), "solvable": False},
    ],
)
def test_sizes_and_ranges_respected(kwargs: dict) -> None:
    puzzles = cogstar.generate_puzzles(400, seed=4, **kwargs)
    assert len(puzzles) == 400
    sizes = kwargs.get("sizes", (3, 4))
    lo, hi = kwargs.get("value_range", (1, 100))
    target_lo, target_hi = kwargs.get("target_range", (1, 100))
    for p in puzzles:
        assert len(p.numbers) in sizes
        assert all(lo <= n <= hi for n in p.numbers), p
        assert target_lo <= p.target <= target_hi, p
    # Every allowed size shows up.
    assert {len(p.numbers) for p in puzzles} == set(sizes)


@pytest.mark.parametrize("rules", ["rational", "classic"])
def test_solvable_puzzles_are_solvable(rules: str) -> None:
    puzzles = cogstar.generate_puzzles(150, seed=8, rules=rules)
    for p in puzzles:
        assert dfs_is_solvable(p.numbers, p.target, rules), p
        assert cogstar.is_solvable(p.numbers, p.target, rules=rules)


def test_solvable_false_includes_unsolvable() -> None:
    puzzles = cogstar.generate_puzzles(300, seed=9, sizes=(3,), solvable=False)
    unsolvable = [p for p in puzzles if not dfs_is_solvable(p.numbers, p.target, "rational")]
    # With 3 numbers from 1..100 and targets 1..100 most puzzles have no solution.
    assert len(unsolvable) >= 30
    assert len(unsolvable) < len(puzzles)


@pytest.mark.parametrize("solvable", [False, True])
def test_size_weights(solvable: bool) -> None:
    puzzles = cogstar.generate_puzzles(
        4000, seed=10, sizes=(3, 4), size_weights=(0.25, 0.75), solvable=solvable
    )
    share_of_four = Counter(len(p.numbers) for p in puzzles)[4] / len(puzzles)
    assert 0.70 <= share_of_four <= 0.80
    even = cogstar.generate_puzzles(4000, seed=10, sizes=(3, 4), solvable=solvable)
    share_of_four = Counter(len(p.numbers) for p in even)[4] / len(even)
    assert 0.45 <= share_of_four <= 0.55


def test_exclude_multisets() -> None:
    kwargs = {"sizes": (4,), "value_range": (1, 4), "target_range": (1, 24)}
    banned = (1, 2, 3, 4)
    baseline = cogstar.generate_puzzles(400, seed=11, **kwargs)
    # Without the exclusion the banned set is common (about 1 in 11 draws), so the test can fail.
    assert any(tuple(sorted(p.numbers)) == banned for p in baseline)
    for exclude in ([[1, 2, 3, 4]], [[4, 3, 2, 1]], [[3, 1, 4, 2], [2, 2, 2, 2]]):
        puzzles = cogstar.generate_puzzles(400, seed=11, exclude=exclude, **kwargs)
        assert len(puzzles) == 400
        excluded = {tuple(sorted(e)) for e in exclude}
        assert not any(tuple(sorted(p.numbers)) in excluded for p in puzzles), exclude


def test_exclude_is_by_multiset_not_by_subset() -> None:
    # Excluding {1, 2, 3, 4} must not exclude its near neighbours such as {1, 2, 3, 3}.
    puzzles = cogstar.generate_puzzles(
        400, seed=12, sizes=(4,), value_range=(1, 4), target_range=(1, 24), exclude=[[1, 2, 3, 4]]
    )
    assert any(set(p.numbers) < {1, 2, 3, 4} for p in puzzles)


def test_priming_distribution() -> None:
    # The paper's priming problems: 3 or 4 numbers, targets 10-25, every number below the
    # target, solvable with non-negative integer steps.
    puzzles = cogstar.generate_puzzles(
        300,
        seed=13,
        sizes=(3, 4),
        target_range=(10, 25),
        numbers_below_target=True,
        rules="classic",
    )
    assert len(puzzles) == 300
    assert {len(p.numbers) for p in puzzles} == {3, 4}
    for p in puzzles:
        assert 10 <= p.target <= 25, p
        assert all(1 <= n < p.target for n in p.numbers), p
        assert dfs_is_solvable(p.numbers, p.target, "classic"), p


def test_rl_distribution_has_variety() -> None:
    puzzles = cogstar.generate_puzzles(2000, seed=14)
    assert len({key(p) for p in puzzles}) > 1900
    targets = Counter(p.target for p in puzzles)
    assert len(targets) > 80


# ------------------------------------------------------------------------------------------
# Splitting
# ------------------------------------------------------------------------------------------


def _unique_by_key(puzzles):
    seen, out = set(), []
    for p in puzzles:
        if key(p) not in seen:
            seen.add(key(p))
            out.append(p)
    return out


def test_split_sizes_and_no_shared_key() -> None:
    puzzles = _unique_by_key(cogstar.generate_puzzles(1200, seed=15))[:1000]
    assert len(puzzles) == 1000
    train, test = cogstar.split_puzzles(puzzles, 100, seed=0)
    assert len(test) == 100
    assert len(train) == 900
    assert sorted(train + test) == sorted(puzzles)  # a partition: nothing lost, nothing added
    assert not {key(p) for p in train} & {key(p) for p in test}


def test_split_keeps_same_key_together() -> None:
    # The same problem written in different orders (and duplicated) never straddles the split:
    # test holds exactly test_size distinct problems, train every puzzle whose key is not in
    # test, and copies of a test problem are dropped rather than leaked into train.
    puzzles = [
        cogstar.Puzzle([1, 2, 3], 6),
        cogstar.Puzzle([3, 2, 1], 6),
        cogstar.Puzzle([2, 1, 3], 6),
        cogstar.Puzzle([1, 2, 3], 6),
        *cogstar.generate_puzzles(60, seed=16),
    ]
    for seed in range(10):
        train, test = cogstar.split_puzzles(puzzles, 20, seed=seed)
        test_keys = {key(p) for p in test}
        assert len(test) == len(test_keys) == 20
        assert not {key(p) for p in train} & test_keys
        assert train == [p for p in puzzles if key(p) not in test_keys]
        assert all(p in puzzles for p in test)


def test_split_is_deterministic() -> None:
    puzzles = cogstar.generate_puzzles(500, seed=17)
    assert cogstar.split_puzzles(puzzles, 50, seed=3) == cogstar.split_puzzles(puzzles, 50, seed=3)
    assert cogstar.split_puzzles(puzzles, 50) == cogstar.split_puzzles(puzzles, 50, seed=0)
    _, test_a = cogstar.split_puzzles(puzzles, 50, seed=3)
    _, test_b = cogstar.split_puzzles(puzzles, 50, seed=4)
    assert sorted(test_a) != sorted(test_b)


def test_split_edge_sizes() -> None:
    puzzles = _unique_by_key(cogstar.generate_puzzles(50, seed=18))
    train, test = cogstar.split_puzzles(puzzles, 0)
    assert test == []
    assert sorted(train) == sorted(puzzles)
    train, test = cogstar.split_puzzles(puzzles, len(puzzles))
    assert train == []
    assert sorted(test) == sorted(puzzles)


# ------------------------------------------------------------------------------------------
# Caller mistakes
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"count": -1},
        {"sizes": ()},
        {"sizes": (1,)},
        {"sizes": (3, 8)},
        {"value_range": (10, 1)},
        {"target_range": (100, 1)},
        {"size_weights": (1.0,)},
        {"size_weights": (1.0, 2.0, 3.0)},
        {"size_weights": (1.0, -1.0)},
        {"rules": "integer"},
    ],
)
def test_generate_bad_arguments(kwargs: dict) -> None:
    count = kwargs.pop("count", 10)
    with pytest.raises(ValueError):
        cogstar.generate_puzzles(count, seed=0, **kwargs)


def test_split_bad_arguments() -> None:
    puzzles = cogstar.generate_puzzles(10, seed=0)
    with pytest.raises((ValueError, OverflowError)):
        cogstar.split_puzzles(puzzles, -1)
    with pytest.raises(ValueError):
        cogstar.split_puzzles(puzzles, 11)
