"""The paired bootstrap against cases computed by hand, and the verdict rules at their edges.

Claims on a whole run directory are tested in test_report.py (a sweep over two seeds)."""

from __future__ import annotations

import numpy as np
import pytest

from cogstar.errors import ArgumentError
from cogstar.study.stats import (
    BASELINES,
    PRIMED,
    RL_CONTROLS,
    Bootstrap,
    Estimate,
    Series,
    better_verdict,
    within_verdict,
)


def _series(*seeds: list[float]) -> Series:
    """Seeds 1, 2, ... each with its puzzles' scores, puzzle indices 0, 1, ..."""
    return {s: dict(enumerate(scores)) for s, scores in enumerate(seeds, 1)}


def _random(seeds: int, puzzles: int, p: float, seed: int) -> Series:
    rng = np.random.default_rng(seed)
    return _series(*(list(rng.binomial(1, p, puzzles).astype(float)) for _ in range(seeds)))


def test_identical_conditions_give_zero_and_a_zero_width_interval() -> None:
    a = _random(3, 50, 0.4, seed=1)
    est = Bootstrap().difference(a, a)
    assert est == Estimate(0.0, 0.0, 0.0, seeds=3, puzzles=50)


def test_better_on_every_puzzle_gives_an_interval_above_zero() -> None:
    low = _random(2, 30, 0.3, seed=2)
    high = {s: {p: v + 0.1 for p, v in scores.items()} for s, scores in low.items()}
    est = Bootstrap().difference(high, low)
    assert est is not None
    assert est.effect == pytest.approx(0.1)
    assert est.low == pytest.approx(0.1) and est.high == pytest.approx(0.1)
    # better on most puzzles, worse on none: still above 0
    mostly = {s: {p: v + (p % 3 > 0) for p, v in scores.items()} for s, scores in low.items()}
    est = Bootstrap().difference(mostly, low)
    assert est is not None and est.low > 0 and better_verdict(est) == "supported"


def test_two_puzzles_one_seed_by_hand() -> None:
    # resampled means of (0, 1): 0, 0.5 or 1 with chances 1/4, 1/2, 1/4
    est = Bootstrap().mean(_series([0.0, 1.0]))
    assert est == Estimate(0.5, 0.0, 1.0, seeds=1, puzzles=2)
    # one seed: only puzzles are resampled, the seed's weight is always 1
    assert (Bootstrap().weights(0, 1) == 1.0).all()


def test_seeds_are_resampled() -> None:
    # two seeds, every puzzle alike within a seed: only the seed draw moves the mean
    est = Bootstrap().mean(_series([0.0] * 20, [1.0] * 20))
    assert est is not None and (est.seeds, est.puzzles) == (2, 20)
    assert (est.effect, est.low, est.high) == pytest.approx((0.5, 0.0, 1.0))
    theta = Bootstrap(draws=4000)._draw(np.array([[0.0] * 20, [1.0] * 20]))
    assert set(np.round(theta, 12)) == {0.0, 0.5, 1.0}
    assert np.mean(np.isclose(theta, 0.5)) == pytest.approx(0.5, abs=0.05)


def test_the_same_draw_resamples_every_condition_alike() -> None:
    # b = a + 0.2 on every (seed, puzzle): if a draw resampled the conditions apart, the
    # difference would vary from draw to draw
    a = _random(3, 40, 0.5, seed=3)
    b = {s: {p: v + 0.2 for p, v in scores.items()} for s, scores in a.items()}
    est = Bootstrap().difference(b, a)
    assert est is not None and est.high - est.low == pytest.approx(0.0, abs=1e-12)


def test_matches_a_direct_resampling() -> None:
    # the weighted form equals resampling rows and columns of Z with the same counts
    boot = Bootstrap(draws=50)
    z = np.random.default_rng(4).random((3, 7))
    seeds, puzzles = boot.weights(0, 3) * 3, boot.weights(1, 7) * 7
    direct = [
        z[np.repeat(np.arange(3), seeds[b].astype(int))][
            :, np.repeat(np.arange(7), puzzles[b].astype(int))
        ].mean()
        for b in range(50)
    ]
    assert boot._draw(z) == pytest.approx(direct)


def test_deterministic_for_the_seed() -> None:
    a, b = _random(2, 60, 0.5, seed=5), _random(2, 60, 0.4, seed=6)
    first = Bootstrap().difference(a, b)
    assert first == Bootstrap().difference(a, b)
    # and whatever was computed before: draws depend on (seed, role, size) only
    boot = Bootstrap()
    boot.mean(_random(2, 60, 0.5, seed=7))
    assert boot.difference(a, b) == first
    other = Bootstrap(seed=99).difference(a, b)
    assert other is not None and first is not None
    assert other.effect == first.effect and other.interval != first.interval


def test_the_interval_narrows_with_more_puzzles() -> None:
    widths = []
    for n in (20, 200, 2000):
        est = Bootstrap().difference(_random(1, n, 0.6, seed=n), _random(1, n, 0.4, seed=n + 1))
        assert est is not None
        widths.append(est.high - est.low)
    assert widths[0] > widths[1] > widths[2]
    assert widths[2] < 0.1


def test_pairs_on_shared_seeds_and_puzzles() -> None:
    a = {1: {0: 1.0, 1: 1.0, 2: 1.0}, 2: {0: 1.0, 1: 1.0}, 3: {0: 0.0}}
    b = {2: {0: 0.0, 1: 0.0, 2: 0.0}, 3: {0: 0.0, 1: 0.0}, 4: {0: 0.0}}
    est = Bootstrap().difference(a, b)
    # seeds 2 and 3 (the shared ones), puzzle 0 (the one every paired cell has)
    assert est == Estimate(0.5, 0.0, 1.0, seeds=2, puzzles=1)


def test_missing_cells_are_not_available() -> None:
    boot = Bootstrap()
    assert boot.difference({1: {0: 1.0}}, {2: {0: 1.0}}) is None  # no shared seed
    assert boot.difference({1: {0: 1.0}}, {1: {1: 1.0}}) is None  # no shared puzzle
    assert boot.difference({}, {1: {0: 1.0}}) is None
    assert boot.contrast([]) is None
    assert boot.gain_difference([], [({1: {0: 0.0}}, {1: {0: 1.0}})]) is None
    assert better_verdict(None) == within_verdict(None) == "not available"


def test_gain_difference_by_hand() -> None:
    zero, one = _series([0.0, 0.0]), _series([1.0, 1.0])
    boot = Bootstrap()
    assert boot.gain_difference([(zero, one)], [(zero, zero)]) == Estimate(1.0, 1.0, 1.0, 1, 2)
    # a group's gain is the mean of its conditions': (1 + 0) / 2 - 0
    half = boot.gain_difference([(zero, one), (one, one)], [(zero, zero)])
    assert half == Estimate(0.5, 0.5, 0.5, 1, 2)
    # gains, not finals: the control ends higher but gains less
    est = boot.gain_difference([(zero, _series([0.5, 0.5]))], [(_series([0.8, 0.8]), one)])
    assert est is not None and est.effect == pytest.approx(0.3)


def _est(low: float, high: float) -> Estimate:
    return Estimate((low + high) / 2, low, high, 1, 10)


@pytest.mark.parametrize(
    ("low", "high", "verdict"),
    [
        (0.01, 0.2, "supported"),
        (0.0, 0.2, "inconclusive"),  # the low end must be above 0
        (-0.1, 0.1, "inconclusive"),
        (-0.2, 0.0, "not supported"),  # the high end at 0 rules out a gain
        (0.0, 0.0, "not supported"),  # identical conditions
        (-0.3, -0.1, "not supported"),
    ],
)
def test_better_verdict(low: float, high: float, verdict: str) -> None:
    assert better_verdict(_est(low, high)) == verdict


@pytest.mark.parametrize(
    ("low", "high", "verdict"),
    [
        (-0.05, 0.05, "supported"),  # the edges count as inside
        (-0.01, 0.02, "supported"),
        (0.01, 0.07, "inconclusive"),
        (-0.2, 0.2, "inconclusive"),
        (0.051, 0.2, "not supported"),
        (-0.2, -0.051, "not supported"),
        (-0.05, -0.05, "supported"),
    ],
)
def test_within_verdict(low: float, high: float, verdict: str) -> None:
    assert within_verdict(_est(low, high)) == verdict


def test_condition_groups() -> None:
    assert PRIMED == (
        "all_strategies",
        "only_backtracking",
        "backtracking_verification",
        "backtracking_subgoal",
        "backtracking_backward",
        "no_positive",
    )
    assert BASELINES == ("unprimed", "empty_cot", "dots")
    assert RL_CONTROLS == ("unprimed", "empty_cot", "dots", "negative_control")


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ArgumentError, match="draws >= 1"):
        Bootstrap(draws=0)
    with pytest.raises(ArgumentError, match="0 < level < 1"):
        Bootstrap(level=1.0)
