"""Intervals, and the paper's claims tested on a run: a paired bootstrap over seeds and puzzles.

    from cogstar.study.results import load_run
    from cogstar.study.stats import Bootstrap, claims
    results = load_run("runs/priming_sweep")
    for claim in claims(results, Bootstrap()):
        print(claim.name, claim.estimate, claim.verdict)

**Scores.** A cell (one condition, one seed) scores each test puzzle at a step: the mean value
of its k sampled completions (``metric = "sampled"``, the paper's protocol) or the value of its
greedy completion (``"greedy"``). A :data:`Series` is one condition at one step: seed -> puzzle
index -> score.

**The bootstrap.** A contrast is a weighted sum of series, each term a condition's mean accuracy
at a step: ``acc(a, 20) - acc(b, 20)``, or a difference of RL gains. Its terms are paired: only
the seeds every term has and the puzzles every (term, seed) has are kept, giving S x P scores per
term and the contrast per cell, ``Z[s, p] = sum_t w_t X_t[s, p]``. The effect is ``mean(Z)``.
Each of the ``draws`` resamples the seeds with replacement (the same seed labels for every
condition: cells pair by seed) and the puzzles with replacement (the same puzzle indices for every
condition, seed and step in that draw); as the contrast is linear, a draw is two multinomial
count vectors ``a`` (over seeds) and ``c`` (over puzzles) and

    theta_b = sum_s sum_p (a_bs / S) (c_bp / P) Z[s, p]

The 95% interval is the 2.5th and 97.5th percentiles of ``theta``. With one seed only puzzles
are resampled. Draws come from a numpy Generator seeded with ``(seed, role, n)``, so a report is
the same every time, whatever order its intervals are computed in, and contrasts over the same
seeds and puzzles share their draws.

**Conditions.** :func:`curve` gives a condition's mean accuracy over its seeds at each step,
with the interval of the same bootstrap (one term); :func:`rank_conditions` ranks the
conditions by it, with their gains.

**Claims** (:func:`claims`), within each setting of the other swept axes, on the seeds every
involved condition has, at the last step > 0 every involved cell has (the "final" step) and at
step 0, with these verdict rules (``lo``, ``hi``: the interval's ends):

(a) after RL, each behavior-primed condition beats ``unprimed``, ``empty_cot`` and ``dots``:
    effect = acc(primed) - acc(control); *supported* when lo > 0, *not supported* when hi <= 0
    (the data rule out a gain; identical conditions land here), *inconclusive* otherwise.
(b) ``no_positive`` is within 0.05 of ``all_strategies`` after RL: effect = acc(no_positive) -
    acc(all_strategies); *supported* when -0.05 <= lo and hi <= 0.05, *not supported* when
    hi < -0.05 or lo > 0.05, *inconclusive* otherwise.
(c) RL gains more in the behavior-primed conditions than in the controls (``unprimed``,
    ``empty_cot``, ``dots`` and ``negative_control`` where run): effect = mean over primed
    conditions of (final - step 0) minus the same over the controls; verdicts as in (a).

A claim whose cells, seeds, puzzles or steps are missing is *not available*, with no effect.
``paper_agrees`` compares the verdict with the paper's own Llama-3.2-3B finals (and step 0, for
gains): the claim's rule applied to the paper's point effect; None where the paper lacks a
condition or our verdict is inconclusive or not available.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from cogstar.behaviors.priming import ASKED, CONDITIONS, CONTROLS
from cogstar.errors import ArgumentError
from cogstar.study.results import (
    METRICS,
    CellResults,
    RunResults,
    by_condition,
    paper_curves,
)

__all__ = [
    "BASELINES",
    "DRAWS",
    "MARGIN",
    "NOT_AVAILABLE",
    "PAPER_MODEL",
    "PRIMED",
    "RL_CONTROLS",
    "SEED",
    "Bootstrap",
    "Claim",
    "CurvePoint",
    "Curves",
    "Estimate",
    "Ranked",
    "Series",
    "better_verdict",
    "claims",
    "curve",
    "curves",
    "rank_conditions",
    "span",
    "within_verdict",
]

DRAWS = 2000
SEED = 14  # the Generator's seed: a report's intervals are the same every time
LEVEL = 0.95
MARGIN = 0.05  # claim (b): "within 0.05"
PAPER_MODEL = "llama"  # the claims are the paper's Llama-3.2-3B findings

# Behavior-primed: every condition whose traces ask for a behavior, and no_positive, which
# primes all four behaviors with no correct answer (the package files it under the controls).
PRIMED: tuple[str, ...] = (*(c for c in CONDITIONS if ASKED.get(c)), "no_positive")
# Claim (a)'s baselines: no priming, and the controls that prime no behavior.
BASELINES: tuple[str, ...] = ("unprimed", *(c for c in CONTROLS if c not in PRIMED))
# Claim (c)'s controls: the baselines and the conditions that ask for no behavior.
RL_CONTROLS: tuple[str, ...] = (*BASELINES, *(c for c in CONDITIONS if c not in PRIMED))

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"
NOT_AVAILABLE = "not available"

# seed (any hashable: Mapping's key type is invariant) -> puzzle index -> score
Series = Mapping[Any, Mapping[int, float]]
_SEEDS, _PUZZLES = 0, 1  # the Generator's roles


@dataclass(frozen=True)
class Estimate:
    """A contrast's effect and its percentile interval, and what it was computed over."""

    effect: float
    low: float
    high: float
    seeds: int
    puzzles: int

    @property
    def interval(self) -> tuple[float, float]:
        return (self.low, self.high)


def _seed_order(seed: Hashable) -> tuple[int, float, str]:
    if isinstance(seed, int | float) and not isinstance(seed, bool):
        return (0, float(seed), "")
    return (1, 0.0, str(seed))


class Bootstrap:
    """Paired bootstrap intervals: ``draws`` resamples of seeds and puzzles (see the module)."""

    def __init__(self, draws: int = DRAWS, seed: int = SEED, level: float = LEVEL) -> None:
        if draws < 1 or not 0.0 < level < 1.0:
            raise ArgumentError(f"need draws >= 1 and 0 < level < 1, got {draws} and {level}")
        self.draws, self.seed, self.level = draws, seed, level
        self._weights: dict[tuple[int, int], npt.NDArray[np.float64]] = {}

    def weights(self, role: int, n: int) -> npt.NDArray[np.float64]:
        """(draws, n): how often each of n items is picked in each draw, over n."""
        key = (role, n)
        if key not in self._weights:
            if n == 1:
                counts = np.ones((self.draws, 1), dtype=np.int64)
            else:
                rng = np.random.default_rng([self.seed, role, n])
                counts = rng.multinomial(n, np.full(n, 1.0 / n), size=self.draws)
            self._weights[key] = counts / n
        return self._weights[key]

    def contrast(self, terms: Sequence[tuple[float, Series]]) -> Estimate | None:
        """The effect and interval of ``sum w * mean(series)`` over paired seeds and puzzles;
        None when the terms share no seed or no puzzle."""
        if not terms:
            return None
        seeds = set.intersection(*(set(series) for _, series in terms))
        ordered = sorted(seeds, key=_seed_order)
        puzzle_sets = [set(series[s]) for _, series in terms for s in ordered]
        puzzles = sorted(set.intersection(*puzzle_sets)) if puzzle_sets else []
        if not ordered or not puzzles:
            return None
        z = np.zeros((len(ordered), len(puzzles)))  # Z[s, p] = sum_t w_t X_t[s, p]
        for weight, series in terms:
            if weight:
                z += weight * np.array([[series[s][p] for p in puzzles] for s in ordered])
        theta = self._draw(z)
        tail = (1.0 - self.level) / 2
        low, high = np.quantile(theta, [tail, 1.0 - tail])
        return Estimate(float(z.mean()), float(low), float(high), len(ordered), len(puzzles))

    def _draw(self, z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        seeds = self.weights(_SEEDS, z.shape[0])  # (B, S)
        puzzles = self.weights(_PUZZLES, z.shape[1])  # (B, P)
        out: npt.NDArray[np.float64] = ((seeds @ z) * puzzles).sum(axis=1)  # (B,)
        return out

    def mean(self, series: Series) -> Estimate | None:
        """One condition's mean score at one step."""
        return self.contrast([(1.0, series)])

    def difference(self, a: Series, b: Series) -> Estimate | None:
        """mean(a) - mean(b), paired by seed and puzzle."""
        return self.contrast([(1.0, a), (-1.0, b)])

    def gain_difference(
        self, group_a: Sequence[tuple[Series, Series]], group_b: Sequence[tuple[Series, Series]]
    ) -> Estimate | None:
        """Mean RL gain of group a minus that of group b; each condition is (start, final)."""
        if not group_a or not group_b:
            return None
        terms: list[tuple[float, Series]] = []
        for group, sign in ((group_a, 1.0), (group_b, -1.0)):
            w = sign / len(group)
            for start, final in group:
                terms += [(w, final), (-w, start)]
        return self.contrast(terms)


def better_verdict(estimate: Estimate | None) -> str:
    """Claims (a) and (c), "x beats y": supported when lo > 0, not supported when hi <= 0."""
    if estimate is None:
        return NOT_AVAILABLE
    if estimate.low > 0:
        return SUPPORTED
    return NOT_SUPPORTED if estimate.high <= 0 else INCONCLUSIVE


def within_verdict(estimate: Estimate | None, margin: float = MARGIN) -> str:
    """Claim (b), "x is within margin of y": supported when the interval lies in
    [-margin, margin], not supported when it lies wholly outside it."""
    if estimate is None:
        return NOT_AVAILABLE
    if -margin <= estimate.low and estimate.high <= margin:
        return SUPPORTED
    return NOT_SUPPORTED if estimate.high < -margin or estimate.low > margin else INCONCLUSIVE


@dataclass(frozen=True)
class Claim:
    """One claim tested on one setting of a run, with one metric."""

    name: str
    description: str
    metric: str  # "sampled" or "greedy"
    step: int | None  # the final step compared (None: not available)
    estimate: Estimate | None
    verdict: str
    paper_effect: float | None  # the same contrast on the paper's curves
    paper_agrees: bool | None

    def row(self) -> dict[str, Any]:
        """The claim as summary.json writes it."""
        est = self.estimate
        return {
            "name": self.name,
            "description": self.description,
            "metric": self.metric,
            "step": self.step,
            "effect": None if est is None else est.effect,
            "interval": None if est is None else [est.low, est.high],
            "verdict": self.verdict,
            "paper_agrees": self.paper_agrees,
            "paper_effect": self.paper_effect,
            "seeds": None if est is None else est.seeds,
            "puzzles": None if est is None else est.puzzles,
        }


Replicates = Mapping[Hashable, CellResults]  # seed -> cell


class _Claims:
    """The claims of one setting of a run (its conditions and their replicates)."""

    def __init__(
        self,
        results: RunResults,
        boot: Bootstrap,
        conditions: Mapping[str, Replicates],
        metric: str,
        setting: str,
    ) -> None:
        self.results, self.boot, self.metric = results, boot, metric
        self.conditions, self.setting = conditions, setting
        paper = paper_curves(PAPER_MODEL)
        self.paper_final = {c: pts[-1].accuracy for c, pts in paper.items()}
        self.paper_gain = {c: pts[-1].accuracy - pts[0].accuracy for c, pts in paper.items()}

    def series(self, condition: str, step: int, seeds: Sequence[Hashable]) -> Series:
        out = {}
        for seed in seeds:
            scores = self.results.puzzle_scores(self.conditions[condition][seed], step, self.metric)
            if scores is not None:
                out[seed] = scores
        return out

    def final_step(self, involved: Sequence[str]) -> tuple[int | None, list[Hashable]]:
        """The last step > 0 at which every involved cell (the seeds all involved conditions
        have) has scores, and those seeds."""
        seeds = set.intersection(*(set(self.conditions[c]) for c in involved))
        ordered = sorted(seeds, key=_seed_order)
        cells = [self.conditions[c][s] for c in involved for s in ordered]
        if not cells:
            return None, []
        steps = set.intersection(*(set(cell.rows.get(self.metric, {})) for cell in cells))
        for step in sorted((s for s in steps if s > 0), reverse=True):
            if all(self.results.puzzle_scores(c, step, self.metric) is not None for c in cells):
                return step, ordered
        return None, ordered

    def claim(
        self,
        name: str,
        description: str,
        step: int | None,
        estimate: Estimate | None,
        verdict: str,
        paper_effect: float | None,
        paper_holds: bool | None,
    ) -> Claim:
        agrees = None
        if paper_holds is not None and verdict in (SUPPORTED, NOT_SUPPORTED):
            agrees = (verdict == SUPPORTED) == paper_holds
        where = f" [{self.setting}]" if self.setting else ""
        at = f" ({self.metric} accuracy at step {step})" if step is not None else ""
        return Claim(
            name + where,
            description + at,
            self.metric,
            step if estimate is not None else None,
            estimate,
            verdict if estimate is not None else NOT_AVAILABLE,
            paper_effect,
            agrees,
        )

    def _after_rl(self, a: str, b: str) -> tuple[int | None, Estimate | None, float | None]:
        """acc(a) - acc(b) at the final step, paired; and the same on the paper's finals."""
        step, seeds = self.final_step([a, b])
        est = None
        if step is not None:
            est = self.boot.difference(self.series(a, step, seeds), self.series(b, step, seeds))
        paper = None
        if a in self.paper_final and b in self.paper_final:
            paper = self.paper_final[a] - self.paper_final[b]
        return step, est, paper

    def beats(self, primed: str, control: str) -> Claim:
        step, est, paper = self._after_rl(primed, control)
        return self.claim(
            f"(a) {primed} > {control}",
            f"after RL, {primed} beats {control}",
            step,
            est,
            better_verdict(est),
            paper,
            None if paper is None else paper > 0,
        )

    def within(self, a: str, b: str) -> Claim:
        step, est, paper = self._after_rl(a, b)
        return self.claim(
            f"(b) {a} ≈ {b}",
            f"after RL, {a} is within {MARGIN:g} of {b}",
            step,
            est,
            within_verdict(est),
            paper,
            None if paper is None else abs(paper) <= MARGIN,
        )

    def gains(self, primed: Sequence[str], controls: Sequence[str]) -> Claim:
        step, seeds = self.final_step([*primed, *controls])
        est = None
        if step is not None:

            def pairs(group: Sequence[str]) -> list[tuple[Series, Series]]:
                return [(self.series(c, 0, seeds), self.series(c, step, seeds)) for c in group]

            est = self.boot.gain_difference(pairs(primed), pairs(controls))
        ours = [c for c in primed if c in self.paper_gain]
        theirs = [c for c in controls if c in self.paper_gain]
        paper = None
        if ours and theirs:
            paper = sum(self.paper_gain[c] for c in ours) / len(ours) - sum(
                self.paper_gain[c] for c in theirs
            ) / len(theirs)
        return self.claim(
            "(c) gain(primed) > gain(controls)",
            f"RL gains more in {', '.join(primed)} (mean) than in {', '.join(controls)} (mean)",
            step,
            est,
            better_verdict(est),
            paper,
            None if paper is None else paper > 0,
        )


def claims(
    results: RunResults, boot: Bootstrap | None = None, metrics: Sequence[str] | None = None
) -> list[Claim]:
    """Claims (a), (b) and (c) for each setting of the run's other swept axes, first with the
    sampled accuracy, then (when the run has greedy files) with the greedy one; only for the
    conditions present in the run (see the module for the rules)."""
    boot = boot if boot is not None else Bootstrap()
    if metrics is None:
        metrics = ("sampled", "greedy") if results.has_greedy else ("sampled",)
    settings: dict[str, dict[str, Replicates]] = {}
    for (setting, condition), replicates in by_condition(results).items():
        settings.setdefault(setting, {})[condition] = replicates
    out = []
    for metric in metrics:
        for setting, conditions in settings.items():
            test = _Claims(results, boot, conditions, metric, setting)
            primed = [c for c in PRIMED if c in conditions]
            out += [test.beats(p, c) for p in primed for c in BASELINES if c in conditions]
            if "no_positive" in conditions and "all_strategies" in conditions:
                out.append(test.within("no_positive", "all_strategies"))
            controls = [c for c in RL_CONTROLS if c in conditions]
            if primed and controls:
                out.append(test.gains(primed, controls))
    return out


@dataclass(frozen=True)
class CurvePoint:
    """A condition's mean accuracy over its seeds at one step; the interval is None where a
    cell has no per-puzzle rows (the mean is then that of the summaries)."""

    step: int
    mean: float
    low: float | None
    high: float | None
    seeds: int


def curve(
    results: RunResults, replicates: Replicates, boot: Bootstrap, metric: str = "sampled"
) -> list[CurvePoint]:
    """One condition's accuracy at each step any of its cells evaluated: the mean over the
    cells that have that step, with the bootstrap interval over their seeds and puzzles (the
    mean of their summaries, with no interval, where a cell has no completion rows)."""

    def summary(cell: CellResults, step: int) -> float | None:
        cp = cell.at(step)
        value = None
        if cp is not None:
            value = cp.accuracy if metric == "sampled" else cp.greedy_accuracy
        if value is None and step in cell.rows.get(metric, {}):
            scores = results.puzzle_scores(cell, step, metric)
            value = None if scores is None else sum(scores.values()) / len(scores)
        return value

    steps = sorted({c.step for cell in replicates.values() for c in cell.checkpoints})
    points = []
    for step in steps:
        values = {s: v for s, c in replicates.items() if (v := summary(c, step)) is not None}
        if not values:
            continue
        scores = {s: results.puzzle_scores(replicates[s], step, metric) for s in values}
        series = {s: v for s, v in scores.items() if v is not None}
        est = boot.mean(series) if len(series) == len(values) else None
        if est is not None:
            points.append(CurvePoint(step, est.effect, est.low, est.high, len(values)))
        else:
            mean = sum(values.values()) / len(values)
            points.append(CurvePoint(step, mean, None, None, len(values)))
    return points


Curves = dict[tuple[str, str], dict[str, list[CurvePoint]]]  # (setting, condition) -> metric ->


def curves(results: RunResults, boot: Bootstrap | None = None) -> Curves:
    """:func:`curve` of every (setting, condition) of the run, for each metric."""
    boot = boot if boot is not None else Bootstrap()
    return {
        key: {metric: curve(results, replicates, boot, metric) for metric in METRICS}
        for key, replicates in by_condition(results).items()
    }


@dataclass(frozen=True)
class Ranked:
    """A condition (in one setting of the other swept axes) in the ranking: its cells' mean
    accuracy over seeds at step 0 and at the last step all of them evaluated, and the gain,
    each with its 95% interval (None where a cell has no completion rows)."""

    rank: int | None
    condition: str
    setting: str
    seeds: int
    cells: list[str]
    start_accuracy: float | None
    start_interval: list[float] | None
    final_accuracy: float | None
    final_interval: list[float] | None
    final_step: int | None
    gain: float | None
    gain_interval: list[float] | None


def span(point: CurvePoint | None) -> list[float] | None:
    """A point's interval as ``[low, high]``, or None."""
    if point is None or point.low is None or point.high is None:
        return None
    return [point.low, point.high]


def rank_conditions(results: RunResults, found: Curves, boot: Bootstrap) -> list[Ranked]:
    """The conditions ranked by final accuracy (``found``: :func:`curves` of the run)."""
    ranks = []
    for (setting, condition), replicates in by_condition(results).items():
        points = {p.step: p for p in found[(setting, condition)]["sampled"]}
        cells = list(replicates.values())
        # the last step every cell of the condition has evaluated
        shared = set.intersection(
            *({c.step for c in cell.checkpoints if c.accuracy is not None} for cell in cells)
        )
        final_step = max(shared, default=None)
        start, final = points.get(0), None if final_step is None else points[final_step]
        gain, gain_interval = None, None
        if start is not None and final is not None:
            gain = final.mean - start.mean
            if span(start) and span(final):
                series = [
                    {s: results.puzzle_scores(c, step) or {} for s, c in replicates.items()}
                    for step in (final.step, 0)
                ]
                est = boot.difference(*series)
                if est is not None:
                    gain, gain_interval = est.effect, [est.low, est.high]
        ranks.append(
            Ranked(
                rank=None,
                condition=condition,
                setting=setting,
                seeds=len(cells),
                cells=[c.name for c in cells],
                start_accuracy=None if start is None else start.mean,
                start_interval=span(start),
                final_accuracy=None if final is None else final.mean,
                final_interval=span(final),
                final_step=final_step,
                gain=gain,
                gain_interval=gain_interval,
            )
        )
    # Best final accuracy first; conditions without one last, all in manifest order on ties.
    ranks.sort(key=lambda r: (r.final_accuracy is None, -(r.final_accuracy or 0.0)))
    return [
        replace(r, rank=i if r.final_accuracy is not None else None) for i, r in enumerate(ranks, 1)
    ]
