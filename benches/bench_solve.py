"""Benchmarks of the Countdown solver and generator as seen from Python (pytest-benchmark).

What is measured:
- first solution, rational rules: `cogstar.solve(numbers, target)` against the plain Python
  pairwise-combine DFS (`dfs_first_solution` in tests/reference_solver.py) on the same fixed
  sets of solvable 3-, 4-, 5- and 6-number puzzles (values 1..100, targets 1..100); one round
  solves the whole set, so compare rows within a group;
- all distinct solutions, classic rules, of six-number Countdown puzzles: one row per puzzle, so
  the median over puzzles can be read off the table; the pure-Python subset DP of the reference
  runs once per puzzle as a point of comparison;
- generating 10,000 puzzles of the RL distribution (3 or 4 numbers, 1..100, targets 1..100,
  rational, solvable).

Run:  pytest benches/bench_solve.py --benchmark-only --benchmark-columns=min,median,mean,rounds
The Python baselines are slow (the 6-number DFS set takes about 6 s a round), so their rounds
are capped. Rayon uses all cores unless RAYON_NUM_THREADS says otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from reference_solver import all_solutions_by_subsets, dfs_first_solution

# Drawn with random.Random(2025 + size): numbers uniform in 1..100, target uniform in 1..100,
# kept when the reference DFS finds a solution under rational rules (the first 12 such for 3 to 5
# numbers, the first 8 for 6). The same lists feed both sides.
FIRST_SOLUTION_PUZZLES: dict[int, list[tuple[list[int], int]]] = {
    3: [
        ([20, 5, 13], 87), ([60, 72, 85], 47), ([20, 25, 74], 69), ([72, 65, 84], 77),
        ([74, 86, 88], 37), ([29, 4, 47], 80), ([68, 62, 64], 66), ([66, 67, 29], 28),
        ([33, 15, 47], 95), ([13, 18, 22], 53), ([33, 50, 47], 11), ([87, 48, 57], 96),
    ],
    4: [
        ([66, 13, 64, 24], 25), ([38, 78, 10, 10], 14), ([60, 12, 79, 21], 48),
        ([90, 2, 27, 2], 40), ([10, 65, 52, 55], 36), ([14, 57, 5, 6], 60),
        ([7, 94, 57, 77], 67), ([84, 94, 50, 24], 36), ([30, 94, 47, 59], 52),
        ([63, 39, 9, 30], 15), ([89, 6, 19, 39], 2), ([96, 21, 13, 39], 89),
    ],
    5: [
        ([37, 50, 48, 65, 1], 61), ([88, 59, 56, 49, 17], 94), ([78, 39, 12, 75, 55], 8),
        ([45, 30, 67, 70, 70], 49), ([20, 30, 51, 35, 14], 27), ([18, 25, 44, 63, 70], 26),
        ([86, 30, 15, 35, 46], 5), ([23, 22, 28, 30, 25], 29), ([7, 70, 85, 98, 84], 75),
        ([9, 7, 21, 14, 15], 5), ([89, 52, 3, 2, 77], 59), ([47, 36, 26, 92, 94], 50),
    ],
    6: [
        ([86, 23, 43, 48, 100, 36], 59), ([57, 75, 26, 29, 62, 37], 52),
        ([9, 71, 22, 25, 87, 53], 8), ([35, 26, 73, 48, 6, 54], 56),
        ([30, 55, 36, 94, 16, 44], 28), ([44, 22, 48, 93, 48, 50], 30),
        ([2, 12, 3, 18, 99, 91], 74), ([31, 76, 65, 72, 67, 49], 100),
    ],
}  # fmt: skip

# Six-number Countdown puzzles (one or two of 25/50/75/100, the rest from two copies of 1..10,
# target 101..999; drawn with random.Random(952) and kept when classic-solvable) with their
# number of distinct classic solutions as found by the reference.
CLASSIC_SIX_NUMBER_PUZZLES: list[tuple[list[int], int, int]] = [
    ([25, 50, 75, 100, 3, 6], 952, 2),
    ([25, 5, 7, 2, 6, 8], 860, 12),
    ([100, 1, 4, 3, 2, 9], 220, 146),
    ([25, 100, 5, 2, 4, 9], 597, 6),
    ([25, 100, 10, 4, 3, 5], 793, 4),
    ([75, 50, 2, 8, 4, 1], 279, 71),
]

SIZES = sorted(FIRST_SOLUTION_PUZZLES)
PYTHON_ROUNDS = 3


def _size_id(size: int) -> str:
    return f"{size}numbers-{len(FIRST_SOLUTION_PUZZLES[size])}puzzles"


def _puzzle_id(case: tuple[list[int], int, int]) -> str:
    numbers, target, _ = case
    return "-".join(map(str, numbers)) + f"-to-{target}"


@pytest.fixture(scope="module")
def cogstar():
    pytest.importorskip("cogstar._core")
    import cogstar

    return cogstar


# ------------------------------------------------------------------------------------------
# First solution, rational rules
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES, ids=_size_id)
def test_first_solution_rational_cogstar_solve(benchmark, cogstar, size: int) -> None:
    puzzles = FIRST_SOLUTION_PUZZLES[size]
    benchmark.group = f"first solution, rational, {_size_id(size)}"

    def solve_all() -> list[list[str]]:
        return [
            cogstar.solve(numbers, target, rules="rational", limit=1) for numbers, target in puzzles
        ]

    results = benchmark(solve_all)
    assert all(len(found) == 1 for found in results)


@pytest.mark.parametrize("size", SIZES, ids=_size_id)
def test_first_solution_rational_python_dfs(benchmark, size: int) -> None:
    puzzles = FIRST_SOLUTION_PUZZLES[size]
    benchmark.group = f"first solution, rational, {_size_id(size)}"

    def solve_all() -> list[str | None]:
        return [dfs_first_solution(numbers, target, "rational") for numbers, target in puzzles]

    results = benchmark.pedantic(solve_all, rounds=PYTHON_ROUNDS, iterations=1)
    assert all(found is not None for found in results)


# ------------------------------------------------------------------------------------------
# All distinct solutions, classic rules, six numbers (one row per puzzle)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CLASSIC_SIX_NUMBER_PUZZLES, ids=_puzzle_id)
def test_all_solutions_classic_six_numbers_cogstar_solve(benchmark, cogstar, case) -> None:
    numbers, target, expected = case
    benchmark.group = "all solutions, classic, 6 numbers, one puzzle"
    solutions = benchmark(cogstar.solve, numbers, target, rules="classic", limit=None)
    assert len(solutions) == expected


@pytest.mark.parametrize("case", CLASSIC_SIX_NUMBER_PUZZLES, ids=_puzzle_id)
def test_all_solutions_classic_six_numbers_python_reference(benchmark, case) -> None:
    numbers, target, expected = case
    benchmark.group = "all solutions, classic, 6 numbers, one puzzle"
    solutions = benchmark.pedantic(
        all_solutions_by_subsets, args=(numbers, target, "classic"), rounds=1, iterations=1
    )
    assert len(solutions) == expected


# ------------------------------------------------------------------------------------------
# Generation
# ------------------------------------------------------------------------------------------


def test_generate_10000_rl_distribution_puzzles(benchmark, cogstar) -> None:
    benchmark.group = "generate 10,000 puzzles"
    puzzles = benchmark(cogstar.generate_puzzles, 10_000, seed=2025)
    assert len(puzzles) == 10_000
