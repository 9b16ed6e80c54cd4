"""The agreement summary: every coefficient of a reliability matrix with its bootstrap interval.

The point estimates come from `coefficients` (the value counts prepared once and shared by the seven); the
intervals from `bootstrap`, all coefficients over the same resamples, each computed for all resamples at once
from the weighted unit counts of `resampled`. Several matrices over as many units (`capcode agreement`'s
codes of one project) share their resamples outright: `agreement_summaries` draws each block of resamples once
for all of them (README item 38), and every interval is the one `agreement_summary` gives the matrix alone.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from pipeline.reliability import resampled
from pipeline.reliability.bootstrap import WeightedStatistic, bootstrap_intervals
from pipeline.reliability.coefficients import (
    COEFFICIENTS,
    UndefinedCoefficient,
    check_level,
    check_ratio,
    count_statistics,
    number_of_categories,
    prepared_counts,
)

Name = TypeVar("Name", bound=Hashable)  # a matrix's name in `agreement_summaries`


def _weighted_statistics(ratings: np.ndarray, counts: np.ndarray, values: np.ndarray, level: str,
                         q: int) -> dict[str, WeightedStatistic]:
    """The seven coefficients over resample weights, from the same ratings and counts as the point estimates."""
    units = resampled.UnitCounts.of(counts, values)
    return {
        "percent_agreement": units.percent_agreement,
        "krippendorff_alpha": lambda weights: units.krippendorff_alpha(weights, level),
        "cohen_kappa": lambda weights: resampled.cohen_kappa(ratings, weights),
        "scott_pi": units.scott_pi,
        "fleiss_kappa": units.fleiss_kappa,
        "gwet_ac1": lambda weights: units.gwet_ac1(weights, q),
        "brennan_prediger": lambda weights: units.brennan_prediger(weights, q),
    }


def agreement_summary(
    ratings: Any,
    *,
    level: str = "nominal",
    categories: Sequence[float] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """All coefficients of ``ratings`` (n_coders, n_units) with bootstrap intervals, as a dict.

    Keys: ``n_units`` (units with at least one rating), ``n_units_compared`` (units with two or more
    ratings: the only ones any coefficient uses), ``n_coders`` (coders with at least one rating),
    the seven coefficients of `COEFFICIENTS` (float or None), ``notes`` (one line per None, and one per
    missing interval), ``ci95`` (coefficient -> [low, high] or None: the ``confidence`` interval, 95% unless
    params say otherwise; the key keeps its name so reports stay readable by older tools). Empty coders and units are dropped
    first, so a coder who rated nothing does not stop Cohen's kappa. ``categories`` is the codebook, for
    AC1 and Brennan-Prediger; without it their q is the number of categories in the data, the same for
    every resample. Krippendorff's alpha uses ``level``; the other coefficients treat values as unordered
    categories. Intervals are `bootstrap_intervals` (seed ``seed``, the same resamples for every coefficient,
    all computed from the same weighted unit counts); ``n_boot=0`` skips them.
    """
    return agreement_summaries({"": point_estimates(ratings, level=level, categories=categories)}, n_boot=n_boot,
                               seed=seed, confidence=confidence)[""]


@dataclass
class PointEstimates:
    """A summary's point estimates and notes (`point_estimates`), with what its bootstrap needs."""

    summary: dict[str, Any]
    notes: list[str]
    n_units: int
    weighted: Callable[[], dict[str, WeightedStatistic]]  # the defined coefficients over resample weights


def point_estimates(ratings: Any, *, level: str = "nominal",
                    categories: Sequence[float] | None = None) -> PointEstimates:
    """`agreement_summary`'s point estimates of ``ratings`` (n_coders, n_units), before any resample."""
    check_level(level)
    ratings, values, counts = prepared_counts(ratings)
    check_ratio(ratings, level)
    present = ~np.isnan(ratings)
    ratings, counts = ratings[present.any(axis=1)][:, present.any(axis=0)], counts[present.any(axis=0)]
    q = number_of_categories(values, categories, None)
    n_coders, n_units = ratings.shape
    statistics = count_statistics(values, level, q)
    notes: list[str] = []
    if level != "nominal":
        notes.append(
            f"level {level}: only krippendorff_alpha uses it; percent agreement, kappa, pi, AC1 and "
            "Brennan-Prediger treat the values as unordered categories"
        )
    if n_coders != 2:
        del statistics["cohen_kappa"]
        notes.append(f"cohen_kappa: defined for exactly two coders; there are {n_coders}")
    n_compared = int(((~np.isnan(ratings)).sum(axis=0) >= 2).sum())
    summary: dict[str, Any] = {"n_units": n_units, "n_units_compared": n_compared, "n_coders": n_coders,
                               **dict.fromkeys(COEFFICIENTS)}
    for name, statistic in statistics.items():
        try:
            summary[name] = statistic(ratings, counts)
        except UndefinedCoefficient as undefined:
            notes.append(f"{name}: undefined, {undefined.reason}")
    defined = [name for name in statistics if summary[name] is not None]

    def weighted() -> dict[str, WeightedStatistic]:  # built only where intervals are asked for
        every = _weighted_statistics(ratings, counts, values, level, q)
        return {name: every[name] for name in defined}
    return PointEstimates(summary, notes, n_units, weighted)


def agreement_summaries(estimates: Mapping[Name, PointEstimates], *, n_boot: int = 1000, seed: int = 0,
                        confidence: float = 0.95) -> dict[Name, dict[str, Any]]:
    """`agreement_summary` of each of several matrices (their `point_estimates`, by name), with intervals.

    Matrices with as many units share one `bootstrap_intervals` call: every block of resamples is drawn once
    and every statistic of every such matrix is computed on it. Each matrix's own call would draw the very same
    resamples (`resample_weights` depends on the number of units and the seed only), so each interval is the
    one `agreement_summary` gives that matrix alone; only the drawing is shared."""
    intervals: dict[tuple[Name, str], tuple[float, float] | None] = {}
    bootstrapped: dict[Name, list[str]] = {}  # per matrix, the coefficients with an interval computed
    for n_units in sorted({e.n_units for e in estimates.values()}) if n_boot > 0 else []:
        statistics = {}  # the weighted forms of one unit count's matrices at a time
        for name, e in estimates.items():
            if e.n_units == n_units:
                weighted = e.weighted()
                bootstrapped[name] = list(weighted)
                statistics.update({(name, coefficient): statistic for coefficient, statistic in weighted.items()})
        intervals.update(bootstrap_intervals(statistics, n_units, n_boot=n_boot, seed=seed, confidence=confidence))
    summaries: dict[Name, dict[str, Any]] = {}
    for name, e in estimates.items():
        notes = list(e.notes)
        ci95: dict[str, list[float] | None] = dict.fromkeys(COEFFICIENTS)
        if n_boot > 0:
            for coefficient in bootstrapped[name]:
                interval = intervals[(name, coefficient)]
                ci95[coefficient] = None if interval is None else list(interval)
                if interval is None:
                    notes.append(f"ci95 {coefficient}: undefined in more than half of {n_boot} bootstrap resamples")
        else:
            notes.append("ci95: bootstrap skipped (n_boot=0)")
        summaries[name] = {**e.summary, "notes": notes, "ci95": ci95}
    return summaries
