"""How long the bootstrap intervals take weighted (all resamples at once) and resample by resample (README item 37).

`pipeline.reliability.bootstrap` computes a coefficient in every resample from weighted unit counts
(`pipeline.reliability.resampled`): one matrix product for all resamples. Before, each resample's ratings were
formed and the coefficient computed on them, which `bootstrap.on_resampled_units` still does for any other
statistic. This tool times both on seeded random ratings (4 categories, a second coder who agrees with the
first on about 70% of units, 5% of ratings missing) of the shapes the pipeline bootstraps:

- ``crossval_alpha``: Krippendorff's alpha of 2 codings of 47 quotes, the interval `capcode crossval` draws
  for each axis, system and seed (hundreds per run);
- ``summary_500`` and ``summary_5000``: `agreement_summary` (all seven coefficients) of 2 coders on 500 and
  5,000 units, what `capcode agreement` computes for a project and for each of its codes.

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
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.reliability.bootstrap import (
    agreement_summary,
    alpha_interval,
    bootstrap_intervals,
    on_resampled_units,
)
from pipeline.reliability.coefficients import (
    brennan_prediger,
    cohen_kappa,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    percent_agreement,
    scott_pi,
)
from pipeline.tools import write_result
from pipeline.tools.predict_precision_experiment import this_cpu_description

N_BOOT, SEED, CATEGORIES = 1000, 0, 4


def bench_ratings(n_units: int, seed: int = 0) -> np.ndarray:
    """Two coders' ratings of `n_units` units: the second agrees with the first on about 70%, 5% missing."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, CATEGORIES, n_units)
    second = np.where(rng.random(n_units) < 0.7, first, rng.integers(0, CATEGORIES, n_units))
    ratings = np.vstack([first, second]).astype(float)
    ratings[rng.random(ratings.shape) < 0.05] = np.nan
    return ratings


def per_resample_summary(ratings: np.ndarray) -> dict[str, list[float] | None]:
    """`agreement_summary`'s intervals the way they were computed before: every coefficient on every resample's
    ratings (units nobody rated dropped first, as the summary does)."""
    ratings = ratings[:, ~np.isnan(ratings).all(axis=0)]
    plain: dict[str, Callable[[np.ndarray], float]] = {
        "percent_agreement": percent_agreement, "krippendorff_alpha": krippendorff_alpha, "cohen_kappa": cohen_kappa,
        "scott_pi": scott_pi, "fleiss_kappa": fleiss_kappa, "gwet_ac1": partial(gwet_ac1, n_categories=CATEGORIES),
        "brennan_prediger": partial(brennan_prediger, n_categories=CATEGORIES)}
    intervals = bootstrap_intervals({name: on_resampled_units(statistic, ratings) for name, statistic in plain.items()},
                                    ratings.shape[1], n_boot=N_BOOT, seed=SEED, confidence=0.95)
    return {name: None if interval is None else list(interval) for name, interval in intervals.items()}


def weighted_summary(ratings: np.ndarray) -> dict[str, list[float] | None]:
    return agreement_summary(ratings, categories=list(range(CATEGORIES)), n_boot=N_BOOT, seed=SEED)["ci95"]


def per_resample_alpha(ratings: np.ndarray) -> dict[str, list[float] | None]:
    def alpha(r: np.ndarray) -> float:
        return krippendorff_alpha(r, level="nominal")
    ratings = ratings[:, ~np.isnan(ratings).all(axis=0)]
    interval = bootstrap_intervals({"alpha": on_resampled_units(alpha, ratings)}, ratings.shape[1], n_boot=N_BOOT,
                                   seed=SEED, confidence=0.95)["alpha"]
    return {"krippendorff_alpha": None if interval is None else list(interval)}


def weighted_alpha(ratings: np.ndarray) -> dict[str, list[float] | None]:
    interval = alpha_interval(ratings, n_boot=N_BOOT, seed=SEED)
    return {"krippendorff_alpha": None if interval is None else list(interval)}


SHAPES: dict[str, tuple[int, Callable[[np.ndarray], dict[str, Any]], Callable[[np.ndarray], dict[str, Any]]]] = {
    "crossval_alpha": (47, weighted_alpha, per_resample_alpha),
    "summary_500": (500, weighted_summary, per_resample_summary),
    "summary_5000": (5000, weighted_summary, per_resample_summary),
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
    """Medians of `repeats` timings of the weighted and the per-resample form on one shape, alternated."""
    n_units, weighted, per_resample = SHAPES[name]
    ratings = bench_ratings(n_units)
    forms = {"weighted": weighted, "per_resample": per_resample}
    results = {form: run(ratings) for form, run in forms.items()}  # warm-up, and the intervals compared
    seconds: dict[str, list[float]] = {form: [] for form in forms}
    for repeat in range(repeats):
        for form in (list(forms) if repeat % 2 == 0 else list(reversed(forms))):
            start = time.perf_counter()
            forms[form](ratings)
            seconds[form].append(time.perf_counter() - start)
    medians = {form: statistics.median(times) for form, times in seconds.items()}
    return {"units": n_units, "coders": 2, "n_boot": N_BOOT, "repeats": repeats,
            "coefficients": sorted(results["weighted"]), "weighted_seconds": seconds["weighted"],
            "per_resample_seconds": seconds["per_resample"], "weighted_median": medians["weighted"],
            "per_resample_median": medians["per_resample"],
            "speedup": medians["per_resample"] / medians["weighted"],
            "max_interval_difference": _largest_difference(results["weighted"], results["per_resample"])}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    shapes = {name: bench_shape(name, args.repeats) for name in SHAPES}
    write_result(args.output, {"machine": {**this_cpu_description(), "cores": os.cpu_count()}, "shapes": shapes})
    for name, figures in shapes.items():
        print(f"{name}: weighted {figures['weighted_median']:.3f} s, per resample {figures['per_resample_median']:.3f} s "
              f"({figures['speedup']:.1f}x), interval ends differ by {figures['max_interval_difference']:.1e}")


if __name__ == "__main__":
    main()
