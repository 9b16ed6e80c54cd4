"""How long the bootstrap intervals take weighted (all resamples at once) and as before item 37 (README item 37).

`pipeline.reliability.bootstrap` computes a coefficient in every resample from weighted unit counts
(`pipeline.reliability.resampled`): one matrix product for all resamples. Before (commit 8d4b7b3), each
resample's unit indices were drawn, the resample's ratings and value counts formed once, and every coefficient
computed on them; `old_bootstrap_intervals` here is that loop, kept as the reference this tool times against
(the same draws, the same coefficient functions). The shapes are the ones capcode bootstraps, on seeded random
ratings (a second coder who agrees with the first on about 70% of units, 5% of ratings missing):

- ``crossval_alpha``: nominal Krippendorff's alpha of 2 codings of 47 quotes over 4 categories, the interval
  `capcode crossval` draws for each axis, system and seed (hundreds per run);
- ``summary_500`` and ``summary_5000``: `agreement_summary` (all seven coefficients, 4 categories) of 2 coders
  on 500 and 5,000 units, what `capcode agreement` and `capcode evaluate` compute for a set or a code;
- ``summary_interval``: `agreement_summary` at interval level of 300 units scored 0-100 (about 100 distinct
  values), a ratings table of scores (`capcode agreement ratings.csv --level interval`).

Per shape, after one untimed run of each form: the median over ``--repeats`` of each form's seconds (the
forms take turns, the first one alternating, so a busy shared machine slows both alike), their ratio, and the
largest difference between the two forms' interval ends (the same resamples; only the order of the
floating-point sums differs). Run: ``python -m pipeline.tools.bootstrap_bench -o
reports/hardware/<cpu>/bootstrap_bench.json`` (about two minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.reliability.bootstrap import alpha_interval, percentile_interval
from pipeline.reliability.coefficients import (
    UndefinedCoefficient,
    count_statistics,
    krippendorff_alpha,
    number_of_categories,
    prepared_counts,
)
from pipeline.reliability.summary import agreement_summary
from pipeline.tools import write_result
from pipeline.tools.predict_precision_experiment import this_cpu_description

N_BOOT, SEED = 1000, 0
Intervals = dict[str, list[float] | None]


def bench_ratings(n_units: int, categories: int = 4, seed: int = 0) -> np.ndarray:
    """Two coders' ratings of `n_units` units over values 0..categories-1: the second agrees with the first on
    about 70%, 5% of ratings missing."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, categories, n_units)
    second = np.where(rng.random(n_units) < 0.7, first, rng.integers(0, categories, n_units))
    ratings = np.vstack([first, second]).astype(float)
    ratings[rng.random(ratings.shape) < 0.05] = np.nan
    return ratings


def old_bootstrap_intervals(statistics: Mapping[str, Callable[[Any], float]], n_units: int,
                            resample: Callable[[np.ndarray], Any]) -> Intervals:
    """The bootstrap of commit 8d4b7b3: per drawn resample, ``resample(units)`` forms the data once and every
    statistic is computed on it (an undefined one skipped)."""
    estimates: dict[str, list[float]] = {name: [] for name in statistics}
    for units in np.random.default_rng(SEED).integers(0, n_units, size=(N_BOOT, n_units)):
        data = resample(units)
        for name, statistic in statistics.items():
            try:
                estimates[name].append(statistic(data))
            except UndefinedCoefficient:
                estimates[name].append(np.nan)
    intervals = {name: percentile_interval(np.array(values), 0.95, 0.5) for name, values in estimates.items()}
    return {name: None if interval is None else list(interval) for name, interval in intervals.items()}


def old_summary(ratings: np.ndarray, level: str, categories: list[float]) -> Intervals:
    """`agreement_summary`'s intervals as 8d4b7b3 computed them: the resample's ratings and counts formed once
    and shared by the seven coefficients (units and coders nobody rated dropped first, as the summary does)."""
    ratings, values, counts = prepared_counts(ratings)
    present = ~np.isnan(ratings)
    ratings, counts = ratings[present.any(axis=1)][:, present.any(axis=0)], counts[present.any(axis=0)]
    on_counts = count_statistics(values, level, number_of_categories(values, categories, None))
    defined = {name: (lambda data, statistic=statistic: statistic(*data)) for name, statistic in on_counts.items()}
    return old_bootstrap_intervals(defined, ratings.shape[1], lambda units: (ratings[:, units], counts[units]))


def weighted_summary(ratings: np.ndarray, level: str, categories: list[float]) -> Intervals:
    return agreement_summary(ratings, level=level, categories=categories, n_boot=N_BOOT, seed=SEED)["ci95"]


def old_alpha(ratings: np.ndarray, level: str, categories: list[float]) -> Intervals:
    """`crossval`'s alpha interval as 8d4b7b3 computed it (`bootstrap_ci` of `krippendorff_alpha`)."""
    ratings = ratings[:, ~np.isnan(ratings).all(axis=0)]
    return old_bootstrap_intervals({"krippendorff_alpha": lambda r: krippendorff_alpha(r, level=level)},
                                   ratings.shape[1], lambda units: ratings[:, units])


def weighted_alpha(ratings: np.ndarray, level: str, categories: list[float]) -> Intervals:
    interval = alpha_interval(ratings, level=level, n_boot=N_BOOT, seed=SEED)
    return {"krippendorff_alpha": None if interval is None else list(interval)}


Form = Callable[[np.ndarray, str, list[float]], Intervals]
# name: (units, categories, level, weighted form, old form)
SHAPES: dict[str, tuple[int, int, str, Form, Form]] = {
    "crossval_alpha": (47, 4, "nominal", weighted_alpha, old_alpha),
    "summary_500": (500, 4, "nominal", weighted_summary, old_summary),
    "summary_5000": (5000, 4, "nominal", weighted_summary, old_summary),
    "summary_interval": (300, 101, "interval", weighted_summary, old_summary),
}


def _largest_difference(first: dict[str, Any], second: dict[str, Any]) -> float:
    """The largest difference between two sets of interval ends; inf where one is None and the other is not."""
    differences = [0.0]
    for name in first:
        a, b = first[name], second[name]
        if (a is None) != (b is None):
            return float("inf")
        if a is not None:
            differences.append(float(np.abs(np.subtract(a, b)).max()))
    return max(differences)


def bench_shape(name: str, repeats: int) -> dict[str, Any]:
    """Medians of `repeats` timings of the weighted and the old form on one shape, alternated."""
    n_units, categories, level, weighted, old = SHAPES[name]
    ratings = bench_ratings(n_units, categories)
    codebook = [float(c) for c in range(categories)]
    forms = {"weighted": weighted, "old": old}
    results = {form: run(ratings, level, codebook) for form, run in forms.items()}  # warm-up, and the intervals
    seconds: dict[str, list[float]] = {form: [] for form in forms}
    for repeat in range(repeats):
        for form in (list(forms) if repeat % 2 == 0 else list(reversed(forms))):
            start = time.perf_counter()
            forms[form](ratings, level, codebook)
            seconds[form].append(time.perf_counter() - start)
    medians = {form: statistics.median(times) for form, times in seconds.items()}
    return {"units": n_units, "coders": 2, "categories": categories, "level": level, "n_boot": N_BOOT,
            "repeats": repeats, "coefficients": sorted(results["weighted"]), "weighted_seconds": seconds["weighted"],
            "old_seconds": seconds["old"], "weighted_median": medians["weighted"], "old_median": medians["old"],
            "speedup": medians["old"] / medians["weighted"],
            "max_interval_difference": _largest_difference(results["weighted"], results["old"])}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    shapes = {name: bench_shape(name, args.repeats) for name in SHAPES}
    write_result(args.output, {"machine": {**this_cpu_description(), "cores": os.cpu_count()}, "shapes": shapes})
    for name, figures in shapes.items():
        print(f"{name}: weighted {figures['weighted_median']:.3f} s, old {figures['old_median']:.3f} s "
              f"({figures['speedup']:.1f}x), interval ends differ by {figures['max_interval_difference']:.1e}")


if __name__ == "__main__":
    main()
