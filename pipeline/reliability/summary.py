"""The agreement summary: every coefficient of a reliability matrix with its bootstrap interval.

The point estimates come from `coefficients` (the value counts prepared once and shared by the seven); the
intervals from `bootstrap`, all coefficients over the same resamples, each computed for all resamples at once
from the weighted unit counts of `resampled`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
    ci95: dict[str, list[float] | None] = dict.fromkeys(COEFFICIENTS)
    if n_boot > 0:
        weighted = _weighted_statistics(ratings, counts, values, level, q)
        defined = {name: weighted[name] for name in statistics if summary[name] is not None}
        intervals = bootstrap_intervals(defined, n_units, n_boot=n_boot, seed=seed, confidence=confidence)
        for name, interval in intervals.items():
            ci95[name] = None if interval is None else list(interval)
            if interval is None:
                notes.append(f"ci95 {name}: undefined in more than half of {n_boot} bootstrap resamples")
    else:
        notes.append("ci95: bootstrap skipped (n_boot=0)")
    return {**summary, "notes": notes, "ci95": ci95}
