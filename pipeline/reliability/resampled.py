"""The agreement coefficients over many bootstrap resamples at once, as weighted sums over units.

Why: a bootstrap resample repeats some units and leaves others out, and every coefficient of
`pipeline.reliability.coefficients` is built from sums over units of per-unit quantities (a unit's value
counts, its agreeing pairs, its coincidences). A resample is therefore fully described by how often it draws
each unit, a row of a weights matrix ``weights`` of shape (n_resamples, n_units), and its coefficient is the
same formula with every sum over units weighted by that row: one matrix product for all resamples, where
recomputing each resample from its ratings costs a few hundred microseconds of numpy overhead each (a
thousand resamples per interval, hundreds of intervals per `capcode crossval`, thousands of units in a big
`capcode agreement` project).

Every function here returns one estimate per resample, with ``nan`` where the coefficient is undefined on
that resample, for the reasons `coefficients` raises `UndefinedCoefficient` (no unit with two ratings, no
variation); for the same resample it gives the number `coefficients` computes on the resampled ratings, up
to the order of floating-point sums (tested against it to 1e-12).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.reliability.coefficients import check_level, check_ratio, prepared_counts, squared_difference


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, nan where the denominator is 0 (no warning)."""
    return np.divide(numerator, denominator, out=np.full(np.broadcast(numerator, denominator).shape, np.nan),
                     where=denominator != 0)


def _chance_corrected(p_o: np.ndarray, p_e: np.ndarray, defined: np.ndarray) -> np.ndarray:
    """``(p_o - p_e) / (1 - p_e)`` per resample, nan where not ``defined`` (where p_e may be 1)."""
    return np.where(defined, _safe_ratio(p_o - p_e, np.where(defined, 1.0 - p_e, 1.0)), np.nan)


def _two_values(marginals: np.ndarray) -> np.ndarray:
    """True per resample where the marginals (n_resamples, V) use two or more values: `_require_variation`."""
    return np.count_nonzero(marginals, axis=1) >= 2


@dataclass(frozen=True)
class UnitCounts:
    """The per-unit quantities the kappa-like coefficients and alpha sum over, from counts (n_units, V).

    ``counts[u, k]`` is how many coders gave unit u the value ``values[k]`` (`coefficients._value_counts`).
    """

    counts: np.ndarray
    values: np.ndarray
    pairable: np.ndarray  # (n_units,) bool: two or more ratings
    rated: np.ndarray  # (n_units,) bool: one or more ratings
    agreement: np.ndarray  # (n_units,) agreeing coder pairs / coder pairs, 0 where not pairable
    shares: np.ndarray  # (n_units, V) n_uk / r_u, 0 where not rated

    @classmethod
    def of(cls, counts: np.ndarray, values: np.ndarray) -> UnitCounts:
        counts = np.asarray(counts, dtype=float)
        r = counts.sum(axis=1)
        pairable, rated = r >= 2, r >= 1
        pairs = np.where(pairable, r * (r - 1), 1.0)
        agreement = np.where(pairable, (counts * (counts - 1)).sum(axis=1) / pairs, 0.0)
        shares = counts / np.where(rated, r, 1.0)[:, None]
        return cls(counts, np.asarray(values, dtype=float), pairable, rated, agreement, shares)

    # ------------------------------------------------------------------ the pieces, per resample

    def _observed_agreement(self, weights: np.ndarray) -> np.ndarray:
        """p_o per resample: the weighted mean of the pairable units' agreement (nan: no pairable unit)."""
        return _safe_ratio(weights @ self.agreement, weights @ self.pairable.astype(float))

    def _pairable_marginals(self, weights: np.ndarray) -> np.ndarray:
        """(n_resamples, V): ratings per value in the pairable units."""
        return weights @ (self.counts * self.pairable[:, None])

    def _varies(self, weights: np.ndarray) -> np.ndarray:
        """True where the pairable units use two or more values (the `_require_variation` check)."""
        return _two_values(self._pairable_marginals(weights))

    def _category_proportions(self, weights: np.ndarray) -> np.ndarray:
        """Gwet's pi_k per resample (n_resamples, V): the weighted mean over rated units of n_uk / r_u."""
        return _safe_ratio(weights @ self.shares, (weights @ self.rated.astype(float))[:, None])

    # ------------------------------------------------------------------ the coefficients

    def percent_agreement(self, weights: np.ndarray) -> np.ndarray:
        """`coefficients.percent_agreement` per resample."""
        return self._observed_agreement(weights)

    def scott_pi(self, weights: np.ndarray) -> np.ndarray:
        """`coefficients.scott_pi` per resample: p_e from the pooled marginals of the pairable units."""
        marginals = self._pairable_marginals(weights)
        p = _safe_ratio(marginals, marginals.sum(axis=1, keepdims=True))
        return _chance_corrected(self._observed_agreement(weights), (p * p).sum(axis=1), _two_values(marginals))

    def fleiss_kappa(self, weights: np.ndarray) -> np.ndarray:
        """`coefficients.fleiss_kappa` per resample: p_e from Gwet's pi_k."""
        pi = self._category_proportions(weights)
        return _chance_corrected(self._observed_agreement(weights), (pi * pi).sum(axis=1), self._varies(weights))

    def gwet_ac1(self, weights: np.ndarray, q: int) -> np.ndarray:
        """`coefficients.gwet_ac1` per resample, ``q`` categories (the codebook's, or those of the whole data)."""
        pi = self._category_proportions(weights)
        p_e = (pi * (1.0 - pi)).sum(axis=1) / (q - 1) if q > 1 else np.ones(len(weights))
        return _chance_corrected(self._observed_agreement(weights), p_e, self._varies(weights))

    def brennan_prediger(self, weights: np.ndarray, q: int) -> np.ndarray:
        """`coefficients.brennan_prediger` per resample, ``q >= 1`` categories: p_e = 1 / q."""
        p_e = np.full(len(weights), 1.0 / q)
        return _chance_corrected(self._observed_agreement(weights), p_e, self._varies(weights))

    def krippendorff_alpha(self, weights: np.ndarray, level: str = "nominal") -> np.ndarray:
        """``1 - (n - 1) sum o_ck delta_ck / sum n_c n_k delta_ck`` per resample, the coincidences o weighted.

        ``o_ck = sum_u w_u (n_uc n_uk - [c == k] n_uc) / (m_u - 1)``, and delta is 0 on the diagonal at every
        level, so the observed disagreement is ``sum_u w_u (n_u delta n_u) / (m_u - 1)``: one number per unit
        where delta is fixed (nominal, interval, ratio), never a V x V matrix per resample. The ordinal metric
        ranks with each resample's own marginals, so there delta is built per resample (V x V each, one at a
        time). A value no pairable unit of a resample uses has a marginal of 0 there and adds nothing to
        either sum, as its removal does in `coefficients._krippendorff_alpha`."""
        check_level(level)
        pairable = self.counts[self.pairable]
        w = weights[:, self.pairable] / (pairable.sum(axis=1) - 1)  # each unit's pairs weigh 1 / (m_u - 1)
        n_v = self._pairable_marginals(weights)  # the coincidence marginals: sum_k o_ck = sum_u w_u n_uc
        n = n_v.sum(axis=1)
        defined = _two_values(n_v)  # marginals there only where a pairable unit is drawn
        if level == "nominal":  # delta = 1 off the diagonal: sum o delta = n - trace(o)
            disagreeing = n - w @ (pairable * (pairable - 1)).sum(axis=1)
            expected = n * n - (n_v * n_v).sum(axis=1)
        elif level == "ordinal":
            disagreeing, expected = np.empty(len(weights)), np.empty(len(weights))
            for b, marginals in enumerate(n_v):
                delta = squared_difference(self.values, marginals, level)
                disagreeing[b] = w[b] @ ((pairable @ delta) * pairable).sum(axis=1)
                expected[b] = marginals @ delta @ marginals
        else:  # interval, ratio: delta depends on the values only
            delta = squared_difference(self.values, np.zeros(len(self.values)), level)
            disagreeing = w @ ((pairable @ delta) * pairable).sum(axis=1)
            expected = ((n_v @ delta) * n_v).sum(axis=1)
        observed = _safe_ratio((n - 1) * disagreeing, np.where(defined, expected, 1.0))
        return np.where(defined, 1.0 - observed, np.nan)


def unit_counts(ratings: np.ndarray, *, level: str = "nominal") -> UnitCounts:
    """`UnitCounts` of ``ratings`` (n_coders, n_units), every unit kept (units with no rating weigh nothing)."""
    ratings, values, counts = prepared_counts(ratings)
    check_ratio(ratings, level)
    return UnitCounts.of(counts, values)


def cohen_kappa(ratings: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Cohen's kappa of two coders' ``ratings`` (2, n_units) in every resample ``weights`` (k, n_units).

    Only units rated by both count; undefined where a resample has none of them or they use one value only."""
    ratings = np.asarray(ratings, dtype=float)
    if ratings.ndim != 2 or ratings.shape[0] != 2:
        raise ValueError(f"Cohen's kappa is defined for exactly two coders; got ratings of shape {ratings.shape}")
    both = ~np.isnan(ratings).any(axis=0)
    values = np.unique(ratings[:, both])
    w = weights[:, both]
    a, b = (np.searchsorted(values, row[both]) for row in ratings)
    first, second = np.eye(len(values))[a], np.eye(len(values))[b]  # (n_both, V) one-hot per coder
    n = w.sum(axis=1)
    p_o = _safe_ratio(w @ (a == b).astype(float), n)
    rows, columns = _safe_ratio(w @ first, n[:, None]), _safe_ratio(w @ second, n[:, None])
    defined = (n > 0) & (np.count_nonzero(rows + columns, axis=1) >= 2)
    return _chance_corrected(p_o, (rows * columns).sum(axis=1), defined)
