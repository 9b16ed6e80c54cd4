"""Bootstrap intervals of agreement figures (`pipeline.reliability.summary` uses them for every coefficient).

The one bootstrap of capcode. A resample draws ``n_units`` unit indices with replacement, ``n_boot`` times,
from ``np.random.default_rng(seed)`` (the draws are the same whatever the block size: numpy's generator
gives the same stream in blocks as in one call, tested). A statistic sees a block of resamples as weights
(k, n_units): how often each resample drew each unit. The coefficients of
`pipeline.reliability.resampled` turn weights into estimates with a matrix product; any other statistic of
the resampled units goes through `on_resampled_units`, which computes it resample by resample. A statistic
must not depend on the order of the units (no agreement coefficient does): a resample's units are passed in
unit order, not in the order they were drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import Any, TypeVar

import numpy as np

from pipeline.reliability import resampled
from pipeline.reliability.coefficients import UndefinedCoefficient, as_ratings, krippendorff_alpha

Key = TypeVar("Key", bound=Hashable)  # a statistic's name: a coefficient, or (matrix, coefficient)

WeightedStatistic = Callable[[np.ndarray], np.ndarray]
"""Weights (k, n_units) -> k estimates, nan where the statistic is undefined on that resample."""

BLOCK_ENTRIES = 2_000_000  # weights per block (16 MB as float64): resamples are processed this many units at a time


def resample_weights(n_units: int, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """The ``n_boot`` resamples of ``n_units`` units as blocks of weights (k, n_units), float, in draw order.

    Row b counts how often resample b drew each unit; each row sums to ``n_units``."""
    rng = np.random.default_rng(seed)
    block = max(1, min(n_boot, BLOCK_ENTRIES // max(n_units, 1)))
    for start in range(0, n_boot, block):
        k = min(block, n_boot - start)
        units = rng.integers(0, n_units, size=(k, n_units))
        flat = (units + n_units * np.arange(k)[:, None]).ravel()
        yield np.bincount(flat, minlength=k * n_units).reshape(k, n_units).astype(float)


def on_resampled_units(statistic: Callable[[np.ndarray], float], data: np.ndarray) -> WeightedStatistic:
    """A statistic of ``data``'s resampled columns (units) as a `WeightedStatistic`, one resample at a time.

    For statistics with no weighted form: each resample's units are repeated as often as it drew them (in
    unit order), and `UndefinedCoefficient` becomes nan."""
    def weighted(weights: np.ndarray) -> np.ndarray:
        estimates = np.full(len(weights), np.nan)
        for b, row in enumerate(weights):
            try:
                estimates[b] = statistic(data[:, np.repeat(np.arange(len(row)), row.astype(int))])
            except UndefinedCoefficient:
                pass
        return estimates
    return weighted


def percentile_interval(estimates: np.ndarray, confidence: float, min_defined: float) -> tuple[float, float] | None:
    """Percentile interval of the defined (not nan) ``estimates``; None if fewer than ``min_defined`` of them
    are defined: an interval from a few lucky resamples would mislead."""
    defined = estimates[~np.isnan(estimates)]
    if not defined.size or defined.size < min_defined * estimates.size:
        return None
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(defined, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_intervals(
    statistics: Mapping[Key, WeightedStatistic],
    n_units: int,
    *,
    n_boot: int,
    seed: int,
    confidence: float,
    min_defined: float = 0.5,
) -> dict[Key, tuple[float, float] | None]:
    """Percentile bootstrap intervals of several statistics over the same ``n_boot`` resamples of ``n_units``
    units (`resample_weights`). An interval is None when more than ``1 - min_defined`` of the resamples are
    undefined for that statistic."""
    if not statistics:  # nothing defined to bootstrap: no resamples drawn
        return {}
    estimates: dict[Key, list[np.ndarray]] = {name: [] for name in statistics}
    for weights in resample_weights(n_units, n_boot, seed):
        for name, statistic in statistics.items():
            estimates[name].append(np.asarray(statistic(weights), dtype=float))
    return {name: percentile_interval(np.concatenate(values), confidence, min_defined)
            for name, values in estimates.items()}


def bootstrap_ci(
    statistic: Callable[[np.ndarray], float],
    ratings: Any,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    min_defined: float = 0.5,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ``statistic(ratings)`` over units, ``ratings`` (n_coders, n_units).

    Units (columns) with at least one rating are resampled with replacement, ``n_boot`` times (the draws of
    `resample_weights`). Resamples where the statistic raises `UndefinedCoefficient` are skipped. Returns
    None when the statistic is undefined on the data itself or on more than ``1 - min_defined`` of the
    resamples. Any statistic of the ratings that does not depend on the order of the units works, one resample
    at a time (`on_resampled_units`); `alpha_interval` is the fast form for Krippendorff's alpha.
    """
    ratings = _rated_units(ratings, n_boot, confidence, min_defined)
    try:
        statistic(ratings)
    except UndefinedCoefficient:
        return None
    return bootstrap_intervals({"statistic": on_resampled_units(statistic, ratings)}, ratings.shape[1],
                               n_boot=n_boot, seed=seed, confidence=confidence, min_defined=min_defined)["statistic"]


def alpha_interval(
    ratings: Any,
    *,
    level: str = "nominal",
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    min_defined: float = 0.5,
) -> tuple[float, float] | None:
    """`bootstrap_ci` of Krippendorff's alpha at ``level``, every resample at once (`resampled.UnitCounts`):
    the same resamples and, up to the order of floating-point sums, the same interval."""
    ratings = _rated_units(ratings, n_boot, confidence, min_defined)
    try:
        krippendorff_alpha(ratings, level=level)
    except UndefinedCoefficient:
        return None
    units = resampled.unit_counts(ratings, level=level)
    return bootstrap_intervals({"alpha": lambda weights: units.krippendorff_alpha(weights, level)}, ratings.shape[1],
                               n_boot=n_boot, seed=seed, confidence=confidence, min_defined=min_defined)["alpha"]


def _rated_units(ratings: Any, n_boot: int, confidence: float, min_defined: float) -> np.ndarray:
    """``ratings`` without the units nobody rated, after checking the bootstrap settings."""
    ratings = as_ratings(ratings)
    if n_boot < 1 or not 0 < confidence < 1 or not 0 < min_defined <= 1:
        raise ValueError("need n_boot >= 1, 0 < confidence < 1 and 0 < min_defined <= 1")
    return ratings[:, ~np.isnan(ratings).all(axis=0)]
