"""The weighted bootstrap: every coefficient over all resamples at once equals the coefficient of each resample.

The oracle is the plain computation: repeat each unit as often as the resample drew it and call the
coefficient of `pipeline.reliability.coefficients` on those ratings.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeline.reliability import bootstrap, resampled
from pipeline.reliability.bootstrap import (
    agreement_summary,
    alpha_interval,
    bootstrap_ci,
    on_resampled_units,
    resample_weights,
)
from pipeline.reliability.coefficients import (
    LEVELS,
    UndefinedCoefficient,
    brennan_prediger,
    cohen_kappa,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    percent_agreement,
    scott_pi,
)

nan = np.nan


def ratings_matrices(min_coders: int = 2, max_coders: int = 4, values: int = 4):
    """Random reliability matrices (n_coders, n_units) over values 1..values, about 1 in values+1 missing."""
    cell = st.sampled_from([*map(float, range(1, values + 1)), nan])
    return st.integers(min_coders, max_coders).flatmap(
        lambda m: st.lists(st.lists(cell, min_size=m, max_size=m), min_size=1, max_size=12)
    ).map(lambda units: np.array(units, dtype=float).T)


def _each_resample(statistic: Callable[[np.ndarray], float], ratings: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The oracle: the statistic of every resample's ratings, nan where undefined."""
    out = []
    for row in weights:
        try:
            out.append(statistic(ratings[:, np.repeat(np.arange(ratings.shape[1]), row.astype(int))]))
        except UndefinedCoefficient:
            out.append(nan)
    return np.array(out)


def _random_weights(n_units: int, seed: int, n_boot: int = 25) -> np.ndarray:
    weights = np.vstack(list(resample_weights(n_units, n_boot, seed)))
    weights[0] = 1.0  # the data itself is one of the rows
    return weights


@settings(max_examples=150, deadline=None)
@given(ratings=ratings_matrices(), level=st.sampled_from(LEVELS), seed=st.integers(0, 2**16))
@example(ratings=np.array([[1.0, 1.0, nan], [1.0, 1.0, 2.0]]), level="nominal", seed=0)  # no variation
@example(ratings=np.array([[1.0, nan], [nan, 2.0]]), level="ordinal", seed=0)  # no unit rated twice
def test_weighted_coefficients_equal_each_resamples_coefficient(ratings: np.ndarray, level: str, seed: int) -> None:
    weights = _random_weights(ratings.shape[1], seed)
    units = resampled.unit_counts(ratings, level=level)
    q = 5  # a codebook of five categories, one more than the data can use
    cases = {
        "percent_agreement": (units.percent_agreement, percent_agreement),
        "scott_pi": (units.scott_pi, scott_pi),
        "fleiss_kappa": (units.fleiss_kappa, fleiss_kappa),
        "gwet_ac1": (partial(units.gwet_ac1, q=q), partial(gwet_ac1, n_categories=q)),
        "brennan_prediger": (partial(units.brennan_prediger, q=q), partial(brennan_prediger, n_categories=q)),
        "krippendorff_alpha": (partial(units.krippendorff_alpha, level=level),
                               partial(krippendorff_alpha, level=level)),
    }
    if ratings.shape[0] == 2:
        cases["cohen_kappa"] = (partial(resampled.cohen_kappa, ratings), cohen_kappa)
    for name, (weighted, plain) in cases.items():
        expected = _each_resample(plain, ratings, weights)
        found = weighted(weights)
        assert np.array_equal(np.isnan(found), np.isnan(expected)), name  # undefined in the same resamples
        assert found[~np.isnan(found)] == pytest.approx(expected[~np.isnan(expected)], abs=1e-12), name


def test_weights_blocks_are_the_draws_of_one_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of any size give the resamples `default_rng(seed).integers` draws in one call, in order."""
    units = np.random.default_rng(11).integers(0, 7, size=(30, 7))
    expected = np.vstack([np.bincount(row, minlength=7) for row in units]).astype(float)
    for entries in (7, 20, 100, 10**6):  # one resample per block, a few, all at once
        monkeypatch.setattr(bootstrap, "BLOCK_ENTRIES", entries)
        blocks = list(resample_weights(7, 30, 11))
        assert np.array_equal(np.vstack(blocks), expected)
        assert len(blocks) == -(-30 // max(1, min(30, entries // 7)))


def test_fast_alpha_interval_is_the_interval_of_each_resample() -> None:
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 4, 60).astype(float)
    ratings = np.vstack([truth, np.where(rng.random(60) < 0.7, truth, rng.integers(0, 4, 60))])
    ratings[1, :5] = nan
    for level in LEVELS:
        fast = alpha_interval(ratings, level=level, n_boot=300, seed=9)
        plain = bootstrap_ci(partial(krippendorff_alpha, level=level), ratings, n_boot=300, seed=9)
        assert fast is not None and fast == pytest.approx(plain, abs=1e-12)
    assert alpha_interval(np.ones((2, 5)), n_boot=50) is None  # undefined on the data: no interval
    with pytest.raises(ValueError, match="n_boot"):
        alpha_interval(ratings, n_boot=0)


def test_summary_intervals_equal_the_plain_bootstrap_of_each_coefficient() -> None:
    """Every interval of the summary, weighted, is the interval of the plain per-resample bootstrap."""
    rng = np.random.default_rng(2)
    truth = rng.integers(1, 4, 80).astype(float)
    ratings = np.vstack([np.where(rng.random(80) < 0.75, truth, rng.integers(1, 4, 80)) for _ in range(2)])
    ratings[0, :6] = nan
    summary = agreement_summary(ratings, categories=[1, 2, 3, 4], n_boot=200, seed=4)
    plain = {
        "percent_agreement": percent_agreement,
        "krippendorff_alpha": krippendorff_alpha,
        "cohen_kappa": cohen_kappa,
        "scott_pi": scott_pi,
        "fleiss_kappa": fleiss_kappa,
        "gwet_ac1": partial(gwet_ac1, n_categories=4),
        "brennan_prediger": partial(brennan_prediger, n_categories=4),
    }
    for name, statistic in plain.items():
        expected = bootstrap.bootstrap_intervals({name: on_resampled_units(statistic, ratings)}, 80, n_boot=200,
                                                 seed=4, confidence=0.95)[name]
        assert summary["ci95"][name] == pytest.approx(list(expected), abs=1e-12), name


def test_crossval_intervals_equal_the_plain_bootstrap_of_their_statistics() -> None:
    """`mean_coder_alpha` and `paired_difference` compute their intervals weighted; the same intervals come
    from computing their statistics resample by resample."""
    from pipeline.core.codebook import load_codebook
    from pipeline.crossval import (
        _alpha_difference,
        _mean_alpha,
        axis_category_rows,
        mean_coder_alpha,
        paired_difference,
    )

    codebook = load_codebook(None)
    rng = np.random.default_rng(3)
    n = 50

    def coding(share: float) -> np.ndarray:
        return (rng.random((n, len(codebook.code_ids))) < share).astype(float)
    reference, model, coders = coding(0.5), coding(0.5), [coding(0.5), coding(0.4)]
    reference[:4, :2] = nan  # the reference left some fragments uncoded on the first axis
    found = {"mean": mean_coder_alpha(reference, coders, codebook, n_boot=150, confidence=0.95, seed=6),
             "difference": paired_difference(reference, model, coders, codebook, n_boot=150, confidence=0.95, seed=6)}
    statistics = {"mean": (_mean_alpha, [reference, *coders]), "difference": (_alpha_difference, [reference, model, *coders])}
    for name, (statistic, codings) in statistics.items():
        for axis, stacked in axis_category_rows(codebook, *codings):
            stacked = stacked[:, ~np.isnan(stacked[0])]
            expected = bootstrap.bootstrap_intervals({"s": on_resampled_units(statistic, stacked)}, stacked.shape[1],
                                                     n_boot=150, seed=6, confidence=0.95)["s"]
            assert found[name][axis.id]["ci"] == pytest.approx(list(expected), abs=1e-12), (name, axis.id)
