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
    alpha_interval,
    bootstrap_ci,
    on_resampled_units,
    resample_weights,
)
from pipeline.reliability.coefficients import (
    LEVELS,
    brennan_prediger,
    cohen_kappa,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    percent_agreement,
    scott_pi,
)
from pipeline.reliability.summary import agreement_summary
from tests.test_reliability import ratings_matrices

nan = np.nan


def _each_resample(statistic: Callable[[np.ndarray], float], ratings: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The oracle: the statistic of every resample's ratings, nan where undefined (`on_resampled_units`)."""
    return on_resampled_units(statistic, ratings)(weights)


def _random_weights(n_units: int, seed: int, n_boot: int = 25) -> np.ndarray:
    weights = np.vstack(list(resample_weights(n_units, n_boot, seed)))
    weights[0] = 1.0  # the data itself is one of the rows
    return weights


@settings(max_examples=200, deadline=None)
@given(ratings=st.integers(1, 12).flatmap(lambda values: ratings_matrices(values=values, min_units=1,
                                                                          max_units=12)),
       level=st.sampled_from(LEVELS), seed=st.integers(0, 2**16), codebook=st.booleans())
@example(ratings=np.array([[1.0, 1.0, nan], [1.0, 1.0, 2.0]]), level="nominal", seed=0, codebook=False)  # no variation
@example(ratings=np.array([[1.0, nan], [nan, 2.0]]), level="ordinal", seed=0, codebook=True)  # no unit rated twice
@example(ratings=np.array([[3.0, 3.0], [3.0, 3.0]]), level="interval", seed=0, codebook=False)  # one value: q = 1
def test_weighted_coefficients_equal_each_resamples_coefficient(ratings: np.ndarray, level: str, seed: int,
                                                                 codebook: bool) -> None:
    weights = _random_weights(ratings.shape[1], seed)
    units = resampled.unit_counts(ratings, level=level)
    # AC1 and Brennan-Prediger: a codebook of 13 categories, or q from the whole data as the summary takes it
    q = 13 if codebook else max(1, len(np.unique(ratings[~np.isnan(ratings)])))
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


@pytest.mark.parametrize("level", ["ordinal", "interval", "ratio"])
def test_alpha_with_many_values_is_the_per_resample_alpha(level: str) -> None:
    """Scores with about a hundred distinct values (a ratings table of 0-100 scores): the weighted alpha at
    the metric levels still equals the per-resample one, without a values x values matrix per resample."""
    rng = np.random.default_rng(4)
    first = rng.integers(0, 101, 120).astype(float)
    ratings = np.vstack([first, np.clip(first + rng.normal(0, 12, 120).round(), 0, 100)])
    ratings[1, :7] = nan
    assert len(np.unique(ratings[~np.isnan(ratings)])) > 80
    weights = _random_weights(120, 3, n_boot=40)
    expected = _each_resample(partial(krippendorff_alpha, level=level), ratings, weights)
    found = resampled.unit_counts(ratings, level=level).krippendorff_alpha(weights, level)
    assert found == pytest.approx(expected, abs=1e-12)


def test_nothing_to_bootstrap_draws_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_draws(*args: object, **kwargs: object) -> None:
        raise AssertionError("resamples drawn for no statistic")
    monkeypatch.setattr(bootstrap, "resample_weights", no_draws)
    assert bootstrap.bootstrap_intervals({}, 10, n_boot=100, seed=0, confidence=0.95) == {}
    summary = agreement_summary(np.array([[1.0, nan, 2.0], [nan, 2.0, nan]]), n_boot=100)  # no unit rated twice
    assert all(interval is None for interval in summary["ci95"].values())


@settings(max_examples=40, deadline=None)
@given(matrices=st.lists(ratings_matrices(max_coders=3, min_units=1, max_units=9), min_size=1, max_size=6),
       n_boot=st.sampled_from([0, 60]), level=st.sampled_from(LEVELS))
def test_summaries_that_share_their_resamples_are_each_matrix_alone(matrices: list[np.ndarray], n_boot: int,
                                                                    level: str) -> None:
    """`agreement_summaries` draws the resamples once per number of units, and gives every matrix exactly what
    `agreement_summary` gives it alone (the same resamples: they depend on the number of units and the seed)."""
    from pipeline.reliability.summary import agreement_summaries, point_estimates

    estimates = {k: point_estimates(m, level=level, categories=[1, 2, 3, 4]) for k, m in enumerate(matrices)}
    drawn: list[int] = []
    draw = bootstrap.resample_weights

    def counted(n_units: int, n_boot: int, seed: int):
        drawn.append(n_units)
        return draw(n_units, n_boot, seed)

    bootstrap.resample_weights = counted
    try:
        together = agreement_summaries(estimates, n_boot=n_boot, seed=4)
    finally:
        bootstrap.resample_weights = draw
    alone = {k: agreement_summary(m, level=level, categories=[1, 2, 3, 4], n_boot=n_boot, seed=4)
             for k, m in enumerate(matrices)}
    assert together == alone
    assert len(drawn) == len(set(drawn)) <= len({e.n_units for e in estimates.values()})  # once per unit count
    assert n_boot or not drawn


def test_a_projects_codes_are_summarised_as_each_alone_with_one_draw_per_unit_count(monkeypatch) -> None:
    """`codes_block` (what `capcode agreement` reports per code) draws once per number of compared units and gives
    each code and axis what `summarise` gives it alone, with two and four categories in one draw."""
    from pipeline.core.codebook import Axis
    from pipeline.reliability.ratings import axis_ratings, codes_block, summarise

    rng = np.random.default_rng(2)
    labels = [{"ann": {"a": int(rng.random() < 0.4), "b": int(rng.random() < 0.2), "c": 1},
               "bob": {"a": int(rng.random() < 0.5), "b": int(rng.random() < 0.3), "c": 1}} for _ in range(40)]
    for fragment in labels[:10]:  # code d on 10 fragments only, e nowhere
        fragment["ann"]["d"], fragment["bob"]["d"] = int(rng.random() < 0.5), int(rng.random() < 0.5)
    drawn: list[int] = []
    draw = bootstrap.resample_weights
    monkeypatch.setattr(bootstrap, "resample_weights", lambda n, b, s: drawn.append(n) or draw(n, b, s))
    axis = Axis(id="a_b", label="a / b", poles=("a", "b"))
    block = codes_block(labels, ["ann", "bob"], ["a", "b", "c", "d", "e"], [axis], n_boot=200, seed=1)
    assert sorted(drawn) == [10, 40, 130]  # a, b, c and axis a_b share 40 units; d 10; pooled: 3 x 40 + 10
    monkeypatch.setattr(bootstrap, "resample_weights", draw)
    for code in "abcde":
        ratings = np.array([[f[c][code] if code in f[c] else np.nan for f in labels] for c in ("ann", "bob")], float)
        assert block["per_code"][code] == summarise(ratings, categories=[0, 1], n_boot=200, seed=1)
    assert block["per_code"]["e"]["notes"] == ["no unit is rated by two or more of these coders: nothing to compare"]
    assert block["per_code"]["a"]["ci95"]["krippendorff_alpha"] is not None
    assert block["per_axis"]["a_b"] == summarise(axis_ratings(labels, ["ann", "bob"], axis), categories=[0, 1, 2, 3],
                                                 n_boot=200, seed=1)
