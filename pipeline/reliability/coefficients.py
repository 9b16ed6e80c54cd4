"""Inter-rater agreement coefficients: the maths behind `capcode agreement`.

The point estimates; `pipeline.reliability.resampled` computes the same coefficients over many bootstrap
resamples at once, and `pipeline.reliability.bootstrap` turns those into intervals and the agreement summary.

Every coefficient reads one reliability matrix ``ratings`` of shape (n_coders, n_units), float, with
``np.nan`` for a missing rating. Values are category codes (nominal) or numbers (ordinal, interval, ratio).

Conventions shared by all coefficients (Gwet 2014, *Handbook of Inter-Rater Reliability*, 4th ed., as in
the irrCAC R package, and Krippendorff 2011, *Computing Krippendorff's Alpha-Reliability*):

- A unit is *pairable* when it has at least two ratings. Observed agreement is only defined on pairable
  units; units rated once add nothing to it (Fleiss' kappa and Gwet's AC1 do use them for the category
  proportions, as Gwet's formulas for missing ratings do).
- Observed agreement ``p_o`` of the kappa-like coefficients (percent agreement, Scott's pi, Fleiss' kappa,
  Gwet's AC1, Brennan-Prediger) is the same number: the mean over pairable units of agreeing coder pairs
  over coder pairs. They differ only in the chance term ``p_e``; each is ``(p_o - p_e) / (1 - p_e)``.
- Categories are the values that occur in the data. A codebook category that nobody used changes nothing
  in percent agreement, Cohen's kappa, Scott's pi, Fleiss' kappa or Krippendorff's alpha (its proportion
  is 0), so those take no ``categories`` argument. Brennan-Prediger (``p_e = 1/q``) and Gwet's AC1 (which
  divides by ``q - 1``) depend on the number of categories ``q``: pass the codebook's ``categories`` (or
  ``n_categories``) to them, or ``q`` is the number of categories observed.

Undefined coefficients raise `UndefinedCoefficient` (never return 1.0, 0.0 or nan):

- no unit has two or more ratings (for Cohen's kappa: no unit rated by both coders);
- no variation: every comparable rating (in pairable units; for Cohen's kappa, in units rated by both) is
  the same category. Every chance-corrected coefficient is then undefined, Brennan-Prediger and AC1
  included: with a codebook their formulas give 1.0 there (irrCAC reports that), but ratings that never
  vary cannot show that coders tell the categories apart. Percent agreement is still reported.

Wrong input (not a 2-D array, infinite values, Cohen's kappa on three coders, an unknown level, negative
ratio values, a codebook that lacks a rated value) raises `ValueError`: those are caller errors, not
properties of the data, and a bootstrap resample never causes them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

LEVELS = ("nominal", "ordinal", "interval", "ratio")
COEFFICIENTS = (
    "percent_agreement",
    "krippendorff_alpha",
    "cohen_kappa",
    "scott_pi",
    "fleiss_kappa",
    "gwet_ac1",
    "brennan_prediger",
)
NO_VARIATION = "no variation: every comparable rating is the same category"


class UndefinedCoefficient(ArithmeticError):
    """The data do not define the coefficient (a 0/0); ``reason`` says why, in words for a report."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


# --------------------------------------------------------------------------- input checks and counting


def as_ratings(ratings: Any) -> np.ndarray:
    """Return ``ratings`` as a float array of shape (n_coders, n_units), or raise ValueError."""
    array = np.asarray(ratings, dtype=float)
    if array.ndim != 2:
        raise ValueError(f"ratings must be a 2-D array (n_coders, n_units); got shape {array.shape}")
    if np.isinf(array).any():
        raise ValueError("ratings must be finite numbers or nan for a missing rating; found inf")
    return array


def check_level(level: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}; got {level!r}")


def _value_counts(ratings: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Counts n_uk of shape (n_units, n_values): how many coders gave unit u the value ``values[k]``.

    ``values`` is sorted and holds every non-missing rating.
    """
    coder, unit = np.nonzero(~np.isnan(ratings))
    k = np.searchsorted(values, ratings[coder, unit])
    n_units, n_values = ratings.shape[1], len(values)
    flat = np.bincount(unit * n_values + k, minlength=n_units * n_values)
    return flat.reshape(n_units, n_values)


def prepared_counts(ratings: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ratings (n_coders, n_units), values (V,) sorted observed values, counts (n_units, V))``."""
    ratings = as_ratings(ratings)
    values = np.unique(ratings[~np.isnan(ratings)])
    return ratings, values, _value_counts(ratings, values)


def _pairable(counts: np.ndarray) -> np.ndarray:
    """Rows of ``counts`` (n_units, q) for units with two or more ratings; raise if there are none."""
    pairable = counts[counts.sum(axis=1) >= 2]
    if len(pairable) == 0:
        raise UndefinedCoefficient("no unit has two or more ratings")
    return pairable


def _require_variation(counts: np.ndarray) -> None:
    """Raise unless the ratings in ``counts`` (n_units, q) use at least two categories."""
    if np.count_nonzero(counts.sum(axis=0)) < 2:
        raise UndefinedCoefficient(NO_VARIATION)


def _chance_corrected(p_o: float, p_e: float) -> float:
    """``(p_o - p_e) / (1 - p_e)``; the callers' `_require_variation` keeps ``p_e`` below 1."""
    return float((p_o - p_e) / (1.0 - p_e))


def number_of_categories(values: np.ndarray, categories: Any, n_categories: int | None) -> int:
    """Number of categories q: from the codebook when given (checked against ``values``), else observed."""
    if categories is not None and n_categories is not None:
        raise ValueError("pass categories or n_categories, not both")
    if categories is not None:
        codebook = np.unique(np.asarray(categories, dtype=float))
        unknown = np.setdiff1d(values, codebook)
        if unknown.size:
            raise ValueError(f"ratings use values that are not in categories: {unknown.tolist()}")
        return len(codebook)
    if n_categories is not None:
        if n_categories < len(values):
            raise ValueError(f"n_categories={n_categories} but the ratings use {len(values)} categories")
        return int(n_categories)
    return len(values)


def check_ratio(ratings: np.ndarray, level: str) -> None:
    if level == "ratio" and (ratings < 0).any():
        raise ValueError("ratio-level values must be >= 0")


# --------------------------------------------------------------------------- the maths, on counts


def _observed_agreement(pairable: np.ndarray) -> float:
    """p_o: ``sum_k n_uk (n_uk - 1) / (r_u (r_u - 1))`` averaged over pairable counts (n_units, q).

    Gwet's (2014) ``p_a``: the mean over units of agreeing coder pairs / coder pairs.
    """
    r = pairable.sum(axis=1)
    return float(np.mean((pairable * (pairable - 1)).sum(axis=1) / (r * (r - 1))))


def _category_proportions(counts: np.ndarray) -> np.ndarray:
    """Gwet's pi_k, shape (q,): mean over units with at least one rating of n_uk / r_u."""
    rated = counts[counts.sum(axis=1) >= 1]
    return (rated / rated.sum(axis=1, keepdims=True)).mean(axis=0)


def _scott_pi(counts: np.ndarray) -> float:
    pairable = _pairable(counts)
    _require_variation(pairable)
    p = pairable.sum(axis=0) / pairable.sum()
    return _chance_corrected(_observed_agreement(pairable), float(p @ p))


def _fleiss_kappa(counts: np.ndarray) -> float:
    pairable = _pairable(counts)
    _require_variation(pairable)
    pi = _category_proportions(counts)
    return _chance_corrected(_observed_agreement(pairable), float(pi @ pi))


def _brennan_prediger(counts: np.ndarray, q: int) -> float:
    pairable = _pairable(counts)
    _require_variation(pairable)
    return _chance_corrected(_observed_agreement(pairable), 1.0 / q)


def _gwet_ac1(counts: np.ndarray, q: int) -> float:
    pairable = _pairable(counts)
    _require_variation(pairable)
    pi = _category_proportions(counts)
    return _chance_corrected(_observed_agreement(pairable), float(pi @ (1.0 - pi)) / (q - 1))


def _coincidences(pairable: np.ndarray) -> np.ndarray:
    """Krippendorff's coincidence matrix o_ck, shape (V, V), from pairable counts n_uv (n_units, V).

    ``o_ck = sum_u (n_uc n_uk - [c == k] n_uc) / (m_u - 1)`` with m_u the number of values in unit u.
    """
    weighted = pairable / (pairable.sum(axis=1, keepdims=True) - 1)
    return weighted.T @ pairable - np.diag(weighted.sum(axis=0))


def squared_difference(values: np.ndarray, n_v: np.ndarray, level: str) -> np.ndarray:
    """Squared difference delta_ck**2 of Krippendorff (2011), shape (V, V), for sorted ``values`` (V,).

    ``n_v`` (V,) are the coincidence marginals, which the ordinal metric ranks with.
    """
    c, k = values[:, None], values[None, :]
    if level == "nominal":
        return (c != k).astype(float)
    if level == "interval":
        return (c - k) ** 2
    if level == "ratio":
        total = c + k
        return np.divide((c - k) ** 2, total**2, out=np.zeros_like(total), where=total != 0)
    cumulative = np.cumsum(n_v)  # ordinal: (sum_{g=c..k} n_g - (n_c + n_k) / 2) ** 2
    return (cumulative[None, :] - cumulative[:, None] + (n_v[:, None] - n_v[None, :]) / 2) ** 2


def _krippendorff_alpha(counts: np.ndarray, values: np.ndarray, level: str) -> float:
    pairable = _pairable(counts)
    used = pairable.sum(axis=0) > 0  # only values in pairable units enter the coincidences
    pairable, values = pairable[:, used], values[used]
    _require_variation(pairable)
    o = _coincidences(pairable)
    n_v = o.sum(axis=0)
    delta = squared_difference(values, n_v, level)  # > 0 off the diagonal, so D_e > 0 once values vary
    return float(1.0 - (n_v.sum() - 1) * (o * delta).sum() / (n_v @ delta @ n_v))


def _cohen_kappa(ratings: np.ndarray) -> float:
    both = ratings[:, ~np.isnan(ratings).any(axis=0)]
    if both.shape[1] == 0:
        raise UndefinedCoefficient("no unit is rated by both coders")
    values = np.unique(both)
    q = len(values)
    if q < 2:
        raise UndefinedCoefficient(NO_VARIATION)
    a, b = np.searchsorted(values, both[0]), np.searchsorted(values, both[1])
    table = np.bincount(a * q + b, minlength=q * q).reshape(q, q) / both.shape[1]  # joint proportions
    return _chance_corrected(np.trace(table), table.sum(axis=1) @ table.sum(axis=0))


# --------------------------------------------------------------------------- coefficients


def percent_agreement(ratings: Any) -> float:
    """Pairwise percent agreement of ``ratings`` (n_coders, n_units), the p_o of the kappa-like coefficients.

    The mean over units with two or more ratings of agreeing coder pairs / coder pairs.
    """
    return _observed_agreement(_pairable(prepared_counts(ratings)[2]))


def cohen_kappa(ratings: Any) -> float:
    """Cohen's (1960) kappa for exactly two coders, ``ratings`` of shape (2, n_units).

    Only units rated by both coders count. ``p_e = sum_k p_Ak p_Bk`` from each coder's own marginals.
    """
    ratings = as_ratings(ratings)
    if ratings.shape[0] != 2:
        raise ValueError(f"Cohen's kappa is defined for exactly two coders; got {ratings.shape[0]}")
    return _cohen_kappa(ratings)


def scott_pi(ratings: Any) -> float:
    """Scott's (1955) pi for any number of coders, ``ratings`` of shape (n_coders, n_units).

    ``p_e = sum_k p_k**2`` with p_k the share of category k among all ratings in pairable units (pooled
    marginals). For two coders this is Scott's pi over the units both rated. With complete data it equals
    Fleiss' kappa; with missing ratings the two differ in weighting: Fleiss averages proportions per unit.
    """
    return _scott_pi(prepared_counts(ratings)[2])


def fleiss_kappa(ratings: Any) -> float:
    """Fleiss' (1971) kappa, ``ratings`` of shape (n_coders, n_units).

    Units with missing ratings are kept, with the generalisation of Gwet (2014) that irrCAC's
    ``fleiss.kappa.raw`` uses: ``p_o`` over pairable units with each unit's own rater count r_u, and
    ``p_e = sum_k pi_k**2`` with pi_k the mean over rated units of n_uk / r_u. With the same number of
    raters for every unit this is exactly Fleiss' 1971 formula.
    """
    return _fleiss_kappa(prepared_counts(ratings)[2])


def brennan_prediger(
    ratings: Any, *, categories: Sequence[float] | None = None, n_categories: int | None = None
) -> float:
    """Brennan and Prediger's (1981) coefficient, ``ratings`` of shape (n_coders, n_units): ``p_e = 1/q``.

    q is ``len(categories)`` (the codebook; must contain every rated value) or ``n_categories``, else the
    number of categories observed. Unused codebook categories lower ``p_e``, so pass the codebook.
    """
    _, values, counts = prepared_counts(ratings)
    return _brennan_prediger(counts, number_of_categories(values, categories, n_categories))


def gwet_ac1(ratings: Any, *, categories: Sequence[float] | None = None, n_categories: int | None = None) -> float:
    """Gwet's AC1 (Gwet 2008; multi-rater form with missing ratings of Gwet 2014), shape (n_coders, n_units).

    ``p_e = sum_k pi_k (1 - pi_k) / (q - 1)`` with pi_k the mean over rated units of n_uk / r_u and q as in
    `brennan_prediger` (codebook ``categories`` or ``n_categories``, else observed categories).
    """
    _, values, counts = prepared_counts(ratings)
    return _gwet_ac1(counts, number_of_categories(values, categories, n_categories))


def krippendorff_alpha(ratings: Any, *, level: str = "nominal") -> float:
    """Krippendorff's alpha, ``ratings`` of shape (n_coders, n_units), at ``level`` (nominal ... ratio).

    ``alpha = 1 - D_o / D_e = 1 - (n - 1) sum o_ck delta_ck / sum n_c n_k delta_ck`` over the coincidence
    matrix of pairable values: missing ratings and units rated once drop out, as alpha defines. Ratio
    values must be >= 0. Implemented here rather than with the ``krippendorff`` package (the tests use
    it as an oracle): the coincidence matrix is a few lines of numpy on the same unit-by-value counts the
    other coefficients use (`resampled` weighs the same counts per bootstrap resample), and alpha needs the
    no-variation check before dividing by D_e, where the package returns nan or raises a bare ValueError.
    """
    check_level(level)
    ratings, values, counts = prepared_counts(ratings)
    check_ratio(ratings, level)
    return _krippendorff_alpha(counts, values, level)


def count_statistics(values: np.ndarray, level: str, q: int) -> dict[str, Callable[[np.ndarray, np.ndarray], float]]:
    """The seven coefficients of `COEFFICIENTS` as functions of ``(ratings, counts)`` prepared once
    (`prepared_counts`): what the agreement summary computes its point estimates with, the counts shared by all
    seven. ``values`` are the observed values, ``q`` the number of categories for AC1 and Brennan-Prediger."""
    return {
        "percent_agreement": lambda _, counts: _observed_agreement(_pairable(counts)),
        "krippendorff_alpha": lambda _, counts: _krippendorff_alpha(counts, values, level),
        "cohen_kappa": lambda ratings, _: _cohen_kappa(ratings),
        "scott_pi": lambda _, counts: _scott_pi(counts),
        "fleiss_kappa": lambda _, counts: _fleiss_kappa(counts),
        "gwet_ac1": lambda _, counts: _gwet_ac1(counts, q),
        "brennan_prediger": lambda _, counts: _brennan_prediger(counts, q),
    }
