"""Agreement coefficients against published values, edge cases, bootstrap and the ratings CSV reader."""

from __future__ import annotations

from functools import partial

import krippendorff
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from pipeline.core.errors import InputError
from pipeline.reliability.bootstrap import bootstrap_ci
from pipeline.reliability.coefficients import (
    COEFFICIENTS,
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
from pipeline.reliability.summary import agreement_summary
from pipeline.reliability.table import read_ratings_csv

nan = np.nan

# Krippendorff (2011) "Computing Krippendorff's Alpha-Reliability", section C: 4 observers x 12 units with
# missing data. irrCAC ships the same data, transposed, as `cac.raw4raters`.
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ]
)


def from_distribution(table: list[list[int]]) -> np.ndarray:
    """Ratings (n_raters, n_units) from a units x categories table of rater counts (categories 1..q)."""
    return np.array([np.repeat(np.arange(1, len(row) + 1), row) for row in table], dtype=float).T


def from_contingency(table: list[list[int]]) -> np.ndarray:
    """Ratings (2, n_units) from a two-rater contingency table (rows: coder A, columns: coder B)."""
    pairs = [(i, j) for i, row in enumerate(table) for j, count in enumerate(row) for _ in range(count)]
    return np.array(pairs, dtype=float).T


# Wikipedia "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5 categories; kappa = 0.210.
FLEISS_WIKIPEDIA = from_distribution(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)
# irrCAC (Gwet), README: `distrib.6raters`, 15 patients x 6 psychiatrists, 5 diagnoses.
DISTRIB_6RATERS = from_distribution(
    [
        [0, 0, 0, 6, 0],
        [0, 3, 0, 0, 3],
        [0, 1, 4, 0, 1],
        [0, 0, 0, 0, 6],
        [0, 3, 0, 3, 0],
        [2, 0, 4, 0, 0],
        [0, 0, 4, 0, 2],
        [2, 0, 3, 1, 0],
        [2, 0, 0, 4, 0],
        [0, 0, 0, 0, 6],
        [1, 0, 0, 5, 0],
        [1, 1, 0, 4, 0],
        [0, 3, 3, 0, 0],
        [1, 0, 0, 5, 0],
        [0, 2, 0, 3, 1],
    ]
)
# irrCAC (Gwet), README: `cont3x3abstractors`, two abstractors, 100 pregnancies, 3 categories.
CONT3X3_ABSTRACTORS = from_contingency([[13, 0, 0], [0, 20, 7], [0, 4, 56]])
# Wikipedia "Cohen's kappa", 50 grant proposals: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no; kappa = 0.40.
COHEN_WIKIPEDIA = from_contingency([[20, 5], [10, 15]])


# --------------------------------------------------------------------------- published values


@pytest.mark.parametrize(
    ("level", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)]
)
def test_krippendorff_2011_example(level: str, published: float) -> None:
    assert round(krippendorff_alpha(KRIPPENDORFF_2011, level=level), 3) == published


def test_fleiss_wikipedia_example() -> None:
    assert round(fleiss_kappa(FLEISS_WIKIPEDIA), 3) == 0.210
    assert round(percent_agreement(FLEISS_WIKIPEDIA), 3) == 0.378  # P-bar on the same page


def test_cohen_wikipedia_example() -> None:
    assert round(cohen_kappa(COHEN_WIKIPEDIA), 2) == 0.40
    assert cohen_kappa(COHEN_WIKIPEDIA) == pytest.approx(cohen_kappa_score(*COHEN_WIKIPEDIA))


def test_irrcac_raw4raters_with_missing_ratings() -> None:
    """Gwet's irrCAC README (github.com/kgwet/irrCAC), `cac.raw4raters`: coefficients printed to 5 places."""
    assert round(percent_agreement(KRIPPENDORFF_2011), 7) == 0.8181818
    assert round(gwet_ac1(KRIPPENDORFF_2011), 5) == 0.77544
    assert round(fleiss_kappa(KRIPPENDORFF_2011), 5) == 0.76117
    assert round(brennan_prediger(KRIPPENDORFF_2011), 5) == 0.77273
    assert round(krippendorff_alpha(KRIPPENDORFF_2011), 5) == 0.74342


def test_irrcac_distrib_6raters() -> None:
    """irrCAC README, `distrib.6raters` (gwet.ac1.dist, fleiss.kappa.dist, krippen.alpha.dist, bp.coeff.dist)."""
    assert round(percent_agreement(DISTRIB_6RATERS), 7) == 0.5511111
    assert round(gwet_ac1(DISTRIB_6RATERS), 7) == 0.4448007
    assert round(fleiss_kappa(DISTRIB_6RATERS), 7) == 0.4139265
    assert round(krippendorff_alpha(DISTRIB_6RATERS), 7) == 0.4204384
    assert round(brennan_prediger(DISTRIB_6RATERS), 7) == 0.4388889


def test_irrcac_cont3x3_abstractors_two_raters() -> None:
    """irrCAC README, `cont3x3abstractors` (kappa2.table, scott2.table, gwet.ac1.table, bp2.table, ...)."""
    assert round(cohen_kappa(CONT3X3_ABSTRACTORS), 7) == 0.7964094
    assert round(scott_pi(CONT3X3_ABSTRACTORS), 7) == 0.7962397
    assert round(gwet_ac1(CONT3X3_ABSTRACTORS), 7) == 0.8493305
    assert round(brennan_prediger(CONT3X3_ABSTRACTORS), 3) == 0.835
    assert round(krippendorff_alpha(CONT3X3_ABSTRACTORS), 7) == 0.7972585
    assert round(percent_agreement(CONT3X3_ABSTRACTORS), 2) == 0.89


# --------------------------------------------------------------------------- edge cases

CHANCE_CORRECTED = [
    cohen_kappa,
    scott_pi,
    fleiss_kappa,
    gwet_ac1,
    brennan_prediger,
    partial(gwet_ac1, categories=[0, 1]),
    partial(brennan_prediger, categories=[0, 1]),
    *(partial(krippendorff_alpha, level=level) for level in LEVELS),
]


@pytest.mark.parametrize("coefficient", CHANCE_CORRECTED)
def test_no_variation_is_undefined_not_one(coefficient) -> None:
    ratings = np.array([[0, 0, 0, nan], [0, 0, 0, 1.0]])  # the 1 is in a unit rated once: not comparable
    with pytest.raises(UndefinedCoefficient, match="no variation"):
        coefficient(ratings)
    assert percent_agreement(ratings) == 1.0


@pytest.mark.parametrize("coefficient", [percent_agreement, *CHANCE_CORRECTED])
def test_no_pairable_unit_is_undefined(coefficient) -> None:
    with pytest.raises(UndefinedCoefficient, match="no unit"):
        coefficient(np.array([[0, nan, 1], [nan, 1, nan]]))


def test_summary_of_constant_ratings_reports_none_with_reasons() -> None:
    summary = agreement_summary(np.zeros((2, 6)), categories=[0, 1], n_boot=50)
    assert summary["percent_agreement"] == 1.0
    for name in COEFFICIENTS[1:]:
        assert summary[name] is None
        assert summary["ci95"][name] is None
        assert any(note.startswith(f"{name}: undefined, no variation") for note in summary["notes"])


def test_unused_codebook_category_changes_only_bp_and_ac1() -> None:
    ratings = np.array([[0, 0, 1, 1, 0, 1], [0, 1, 1, 1, 0, 0]], dtype=float)
    p_o = 4 / 6
    assert brennan_prediger(ratings) == pytest.approx((p_o - 1 / 2) / (1 - 1 / 2))
    assert brennan_prediger(ratings, categories=[0, 1, 2]) == pytest.approx((p_o - 1 / 3) / (1 - 1 / 3))
    assert brennan_prediger(ratings, n_categories=3) == brennan_prediger(ratings, categories=[0, 1, 2])
    # pi = (1/2, 1/2, 0): p_e = sum pi (1 - pi) / (q - 1) = 0.5 / 2 with the codebook, 0.5 / 1 without.
    assert gwet_ac1(ratings) == pytest.approx((p_o - 0.5) / 0.5)
    assert gwet_ac1(ratings, categories=[0, 1, 2]) == pytest.approx((p_o - 0.25) / 0.75)
    with_unused = agreement_summary(ratings, categories=[0, 1, 2], n_boot=0)
    without = agreement_summary(ratings, n_boot=0)
    for name in ("percent_agreement", "krippendorff_alpha", "cohen_kappa", "scott_pi", "fleiss_kappa"):
        assert with_unused[name] == without[name]
    assert with_unused["gwet_ac1"] > without["gwet_ac1"]


def test_categories_must_cover_the_ratings() -> None:
    ratings = np.array([[0, 1, 2], [0, 1, 2]], dtype=float)
    with pytest.raises(ValueError, match="not in categories"):
        gwet_ac1(ratings, categories=[0, 1])
    with pytest.raises(ValueError, match="n_categories"):
        brennan_prediger(ratings, n_categories=2)
    with pytest.raises(ValueError, match="not both"):
        brennan_prediger(ratings, categories=[0, 1, 2], n_categories=3)


def test_missing_ratings_and_single_ratings_drop_out() -> None:
    base = KRIPPENDORFF_2011[:, :11]  # unit 12 has one rating only
    padded = np.hstack([KRIPPENDORFF_2011, np.full((4, 2), nan)])  # and two units nobody rated
    for coefficient in (percent_agreement, scott_pi, krippendorff_alpha, brennan_prediger):
        assert coefficient(padded) == pytest.approx(coefficient(base))
    # Fleiss and AC1 use units rated once for the category proportions (Gwet 2014), empty units not.
    assert fleiss_kappa(padded) == pytest.approx(fleiss_kappa(KRIPPENDORFF_2011))
    assert fleiss_kappa(padded) != pytest.approx(fleiss_kappa(base))
    # Cohen's kappa only counts units rated by both coders.
    two = np.array([[0, 1, 1, 0, nan, 1], [0, 1, 0, 0, 1, nan]])
    assert cohen_kappa(two) == pytest.approx(cohen_kappa_score(two[0, :4], two[1, :4]))


def test_preconditions_raise_value_error() -> None:
    with pytest.raises(ValueError, match="2-D"):
        percent_agreement([0, 1, 1])
    with pytest.raises(ValueError, match="inf"):
        fleiss_kappa([[0, np.inf], [0, 1]])
    with pytest.raises(ValueError, match="exactly two coders"):
        cohen_kappa(KRIPPENDORFF_2011)
    with pytest.raises(ValueError, match="level"):
        krippendorff_alpha(KRIPPENDORFF_2011, level="circular")
    with pytest.raises(ValueError, match=">= 0"):
        krippendorff_alpha([[-1, 2], [1, 2]], level="ratio")


# --------------------------------------------------------------------------- properties


def ratings_matrices(min_coders: int = 2, max_coders: int = 4, values: int = 4, min_units: int = 2,
                     max_units: int = 15):
    """Random reliability matrices (n_coders, n_units) over values 1..values, about 1 in values+1 missing."""
    cell = st.sampled_from([*map(float, range(1, values + 1)), nan])
    return st.integers(min_coders, max_coders).flatmap(
        lambda m: st.lists(st.lists(cell, min_size=m, max_size=m), min_size=min_units, max_size=max_units)
    ).map(lambda units: np.array(units, dtype=float).T)


@settings(max_examples=150, deadline=None)
@given(ratings=ratings_matrices(), level=st.sampled_from(LEVELS))
# undefined on both sides, always tried: no variation among pairable values; a single value
@example(ratings=np.array([[1.0, 1.0, nan], [1.0, 1.0, 2.0]]), level="nominal")
@example(ratings=np.array([[3.0, 3.0], [3.0, 3.0]]), level="interval")
def test_alpha_matches_the_krippendorff_package(ratings: np.ndarray, level: str) -> None:
    try:
        ours = krippendorff_alpha(ratings, level=level)
    except UndefinedCoefficient:
        # undefined for us (no pairable values, or no variation): the reference must not give a number either
        try:
            with np.errstate(all="ignore"):
                reference = krippendorff.alpha(ratings, level_of_measurement=level)
        except ValueError:  # the package refuses data with fewer than two distinct values
            return
        assert not np.isfinite(reference), f"alpha undefined here but the reference gives {reference}"
        return
    assert ours == pytest.approx(krippendorff.alpha(ratings, level_of_measurement=level), abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=2, max_size=30))
def test_cohen_matches_sklearn(pairs: list[tuple[int, int]]) -> None:
    ratings = np.array(pairs, dtype=float).T
    try:
        ours = cohen_kappa(ratings)
    except UndefinedCoefficient:
        assert len(np.unique(ratings)) == 1
        return
    assert ours == pytest.approx(cohen_kappa_score(ratings[0], ratings[1]), abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(ratings=ratings_matrices(), seed=st.integers(0, 2**16))
def test_coefficients_ignore_coder_and_unit_order(ratings: np.ndarray, seed: int) -> None:
    rng = np.random.default_rng(seed)
    shuffled = ratings[rng.permutation(ratings.shape[0])][:, rng.permutation(ratings.shape[1])]
    for coefficient in (percent_agreement, scott_pi, fleiss_kappa, gwet_ac1, brennan_prediger, krippendorff_alpha):
        try:
            value = coefficient(ratings)
        except UndefinedCoefficient:
            with pytest.raises(UndefinedCoefficient):
                coefficient(shuffled)
            continue
        assert coefficient(shuffled) == pytest.approx(value, abs=1e-12)
        assert value <= 1.0 + 1e-12


@settings(max_examples=100, deadline=None)
@given(ratings=ratings_matrices().map(np.nan_to_num))
def test_scott_equals_fleiss_on_complete_data(ratings: np.ndarray) -> None:
    try:
        expected = fleiss_kappa(ratings)
    except UndefinedCoefficient:  # then Scott's pi is undefined too, not some number
        with pytest.raises(UndefinedCoefficient):
            scott_pi(ratings)
        return
    assert scott_pi(ratings) == pytest.approx(expected, abs=1e-12)


# --------------------------------------------------------------------------- bootstrap and summary


def test_bootstrap_is_seeded_and_brackets_the_estimate() -> None:
    first = bootstrap_ci(fleiss_kappa, FLEISS_WIKIPEDIA, n_boot=300, seed=7)
    assert first == bootstrap_ci(fleiss_kappa, FLEISS_WIKIPEDIA, n_boot=300, seed=7)
    assert first != bootstrap_ci(fleiss_kappa, FLEISS_WIKIPEDIA, n_boot=300, seed=8)
    low, high = first
    assert low < fleiss_kappa(FLEISS_WIKIPEDIA) < high
    narrow = bootstrap_ci(fleiss_kappa, FLEISS_WIKIPEDIA, n_boot=300, seed=7, confidence=0.5)
    assert low < narrow[0] <= narrow[1] < high


def test_bootstrap_returns_none_when_too_often_undefined() -> None:
    assert bootstrap_ci(scott_pi, np.zeros((2, 5)), n_boot=20) is None
    rare = np.zeros((2, 40))
    rare[:, 0] = 1  # one unit of the rare category: about 37% of resamples miss it and have no variation
    assert bootstrap_ci(scott_pi, rare, n_boot=200, min_defined=0.9) is None
    assert bootstrap_ci(scott_pi, rare, n_boot=200) == (1.0, 1.0)


def test_summary_keys_notes_and_intervals() -> None:
    summary = agreement_summary(KRIPPENDORFF_2011, n_boot=200)
    assert set(summary) == {
        "n_units", "n_units_compared", "n_coders", *COEFFICIENTS, "notes", "ci95",
    }  # fmt: skip
    assert (summary["n_units"], summary["n_coders"]) == (12, 4)
    assert summary["n_units_compared"] == 11  # unit 12 has one rating (coder B's) and pairs with nobody
    assert round(summary["krippendorff_alpha"], 3) == 0.743
    assert summary["cohen_kappa"] is None
    assert summary["notes"] == ["cohen_kappa: defined for exactly two coders; there are 4"]
    assert set(summary["ci95"]) == set(COEFFICIENTS)
    assert summary["ci95"]["cohen_kappa"] is None
    low, high = summary["ci95"]["gwet_ac1"]
    assert low <= summary["gwet_ac1"] <= high
    assert summary == agreement_summary(KRIPPENDORFF_2011, n_boot=200)


def test_summary_intervals_are_bootstrap_ci_with_shared_resamples() -> None:
    """The summary resamples counts once for all coefficients; it must agree with `bootstrap_ci`."""
    ratings = np.hstack([CONT3X3_ABSTRACTORS[:, :60], [[nan, 1], [2, nan]]])
    summary = agreement_summary(ratings, level="interval", n_boot=100, seed=3)
    expected = {
        "percent_agreement": percent_agreement,
        "krippendorff_alpha": partial(krippendorff_alpha, level="interval"),
        "cohen_kappa": cohen_kappa,
        "scott_pi": scott_pi,
        "fleiss_kappa": fleiss_kappa,
        "gwet_ac1": partial(gwet_ac1, n_categories=3),  # q of the whole data, also in resamples
        "brennan_prediger": partial(brennan_prediger, n_categories=3),
    }
    for name, statistic in expected.items():
        assert summary[name] == pytest.approx(statistic(ratings))
        assert summary["ci95"][name] == pytest.approx(list(bootstrap_ci(statistic, ratings, n_boot=100, seed=3)))


def test_summary_confidence_level_comes_through() -> None:
    """The level (params `agreement.confidence` / `evaluate.confidence`) sets the interval, via the one bootstrap."""
    wide = agreement_summary(FLEISS_WIKIPEDIA, n_boot=200, seed=1)
    narrow = agreement_summary(FLEISS_WIKIPEDIA, n_boot=200, seed=1, confidence=0.5)
    low, high = narrow["ci95"]["fleiss_kappa"]
    assert wide["ci95"]["fleiss_kappa"][0] < low < high < wide["ci95"]["fleiss_kappa"][1]
    assert [low, high] == pytest.approx(list(bootstrap_ci(fleiss_kappa, FLEISS_WIKIPEDIA, n_boot=200, seed=1,
                                                          confidence=0.5)))


def test_summary_levels_and_empty_coders() -> None:
    with_empty_coder = np.vstack([COHEN_WIKIPEDIA, np.full((1, 50), nan)])
    summary = agreement_summary(with_empty_coder, level="interval", n_boot=0)
    assert summary["n_coders"] == 2
    assert round(summary["cohen_kappa"], 2) == 0.40
    assert summary["krippendorff_alpha"] == pytest.approx(krippendorff_alpha(COHEN_WIKIPEDIA, level="interval"))
    assert any("level interval" in note for note in summary["notes"])
    assert "ci95: bootstrap skipped (n_boot=0)" in summary["notes"]
    assert all(interval is None for interval in summary["ci95"].values())


# --------------------------------------------------------------------------- CSV reader


def write(tmp_path, text: str):
    path = tmp_path / "ratings.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_read_ratings_csv(tmp_path) -> None:
    path = write(
        tmp_path,
        "\ufeffUnit, coder ,value,comment\n"
        "f1,ann,1,\n"
        "f1,bob,1,\n\n"
        "f2,ann,0,\n"
        "f2,bob,,skipped\n"
        "f3,bob,1,\n"
        "f3,ann,1,same rating twice is fine\n"
        "f3,ann,1,\n",
    )
    ratings, units, coders = read_ratings_csv(path, level="nominal")
    assert units == ["f1", "f2", "f3"]
    assert coders == ["ann", "bob"]
    np.testing.assert_array_equal(ratings, [[1, 0, 1], [1, nan, 1]])


def test_read_ratings_csv_labels_and_ordinal_categories(tmp_path) -> None:
    path = write(tmp_path, "unit,coder,value\n1,a,low\n1,b,mid\n2,a,high\n2,b,high\n")
    ratings, _, _ = read_ratings_csv(path, level="nominal")
    np.testing.assert_array_equal(ratings, [[1, 0], [2, 0]])  # sorted labels: high, low, mid
    ratings, _, _ = read_ratings_csv(path, level="ordinal", categories=["low", "mid", "high"])
    np.testing.assert_array_equal(ratings, [[0, 2], [1, 2]])
    with pytest.raises(InputError, match="line 3: value 'mid' is not a category"):
        read_ratings_csv(path, level="nominal", categories=["low", "high"])
    numbers = write(tmp_path, "unit,coder,value\n1,a,2\n1,b,3.5\n")
    assert read_ratings_csv(numbers, level="ordinal")[0].tolist() == [[2.0], [3.5]]


@pytest.mark.parametrize(
    ("text", "level", "message"),
    [
        ("", "nominal", "empty"),
        ("unit,rater,value\n1,a,1\n", "nominal", "missing column.*coder"),
        ("unit,coder,value\n1,a,1\n1,b,x\n", "interval", "line 3: value 'x' is not a finite number"),
        ("unit,coder,value\n1,a,1\n1,b,x\n", "ordinal", "pass the ordered categories"),
        ("unit,coder,value\n1,a,1\n1,b,inf\n", "ratio", "not a finite number"),
        ("unit,coder,value\n1,a,1\n1,b,-2\n", "ratio", "line 3: negative value"),
        ("unit,coder,value\n1,a,1\n2,a,2\n2,b,\n", "nominal", "only one coder \\('a'\\)"),
        ("unit,coder,value\n", "nominal", "no ratings"),
        ("unit,coder,value\n1,a,1\n2,b,2\n1,b,\n", "nominal", "no unit is rated by two"),
        ("unit,coder,value\n1,a,1\n1,b,1\n1,a,2\n", "nominal", "line 4: coder 'a' rated unit '1' again.*line 2"),
        ("unit,coder,value\n1,,1\n", "nominal", "line 2: empty unit or coder"),
    ],
)
def test_read_ratings_csv_errors(tmp_path, text: str, level: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError, match=message) as error:
        read_ratings_csv(path, level=level)
    assert str(error.value).startswith(f"{path}: ")


def test_read_ratings_csv_missing_file(tmp_path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_ratings_csv(tmp_path / "absent.csv", level="nominal")
