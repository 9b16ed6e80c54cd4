"""Ratings matrices from fragment records with per-coder labels, and the agreement summaries built on them.

Shared by `capcode agreement` and `capcode evaluate`. The input is one label map per fragment,
``{coder: {code: 0|1}}`` (`pipeline.core.documents.Labels`, a prepared fragment's ``labels``); a code or axis
a coder did not code is missing (nan), never "absent".
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pipeline.core.codebook import Axis, Codebook, axis_category
from pipeline.core.documents import Labels
from pipeline.reliability.summary import Name, PointEstimates, agreement_summaries, agreement_summary, point_estimates

MODEL_CODER = "model"
CODE_CATEGORIES = ("absent", "present")
CHANCE_NOTE = (
    "Gwet's AC1 and Brennan-Prediger use the codebook's categories for their chance term: 2 per code "
    "(absent, present) and 4 per axis (only pole 1, only pole 2, both, neither), also where the coders used fewer."
)


def axis_categories(axis: Axis) -> list[str]:
    """The four nominal categories of an axis, in the order of their codes 0..3 (`Axis.categories`)."""
    return axis.categories


def axis_value(labels: dict[str, int], axis: Axis) -> float:
    """Category code 0..3 (`pipeline.core.codebook.axis_category`) of one coder's labels; nan if not coded."""
    first, second = axis.poles
    if first not in labels or second not in labels:
        return np.nan
    return float(axis_category(labels[first], labels[second]))


def code_ratings(labels: Sequence[Labels], coders: Sequence[str], code: str) -> np.ndarray:
    """Ratings (n_coders, n_fragments) of one code: 0/1, nan where the coder did not code it there."""
    return np.array(
        [[float(f[c][code]) if code in f.get(c, {}) else np.nan for f in labels] for c in coders],
        dtype=float,
    ).reshape(len(coders), len(labels))


def axis_ratings(labels: Sequence[Labels], coders: Sequence[str], axis: Axis) -> np.ndarray:
    """Ratings (n_coders, n_fragments) of one axis as categories 0..3 (`axis_value`), nan where not coded."""
    return np.array(
        [[axis_value(f.get(c, {}), axis) for f in labels] for c in coders], dtype=float
    ).reshape(len(coders), len(labels))


def pooled_ratings(labels: Sequence[Labels], coders: Sequence[str], codes: Sequence[str]) -> np.ndarray:
    """Ratings (n_coders, n_fragments * n_codes): every code decision a unit, fragment-major."""
    blocks = [code_ratings(labels, coders, code) for code in codes]
    return np.stack(blocks, axis=2).reshape(len(coders), len(labels) * len(codes))


def summarise(
    ratings: np.ndarray, *, categories: Sequence[float], n_boot: int, seed: int, confidence: float = 0.95
) -> dict[str, Any]:
    """`agreement_summary` over units rated by two or more coders, ratings of shape (n_coders, n_units).

    Units rated once carry no agreement; dropping them makes ``n_units`` the number of compared units.
    """
    return summarise_all({"": (ratings, categories)}, n_boot=n_boot, seed=seed, confidence=confidence)[""]


def summarise_all(
    matrices: Mapping[Name, tuple[np.ndarray, Sequence[float]]], *, n_boot: int, seed: int, confidence: float = 0.95
) -> dict[Name, dict[str, Any]]:
    """`summarise` of each (ratings, categories) by name; the matrices with as many compared units share their
    resamples (`agreement_summaries`: each interval is the one `summarise` gives the matrix alone)."""
    estimates: dict[Name, PointEstimates] = {}
    empty: dict[Name, dict[str, Any]] = {}
    for name, (ratings, categories) in matrices.items():
        shared = ratings[:, (~np.isnan(ratings)).sum(axis=0) >= 2]
        if shared.shape[1]:
            estimates[name] = point_estimates(shared, level="nominal", categories=categories)
            continue
        summary = agreement_summary(np.full((2, 0), np.nan), categories=categories, n_boot=0)
        summary["n_coders"] = int((~np.isnan(ratings)).any(axis=1).sum())
        summary["notes"] = ["no unit is rated by two or more of these coders: nothing to compare"]
        empty[name] = summary
    summaries = agreement_summaries(estimates, n_boot=n_boot, seed=seed, confidence=confidence)
    return {name: empty[name] if name in empty else summaries[name] for name in matrices}


def agreement_block(
    labels: Sequence[Labels], coders: Sequence[str], codebook: Codebook, *, n_boot: int, seed: int,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Pooled summary (top level) plus ``per_code`` and ``per_axis`` summaries for these coders."""
    return codes_block(labels, coders, codebook.code_ids, codebook.axes, n_boot=n_boot, seed=seed,
                       confidence=confidence)


def codes_block(
    labels: Sequence[Labels], coders: Sequence[str], codes: Sequence[str], axes: Sequence[Axis] = (), *,
    n_boot: int, seed: int, per_code_boot: int | None = None, confidence: float = 0.95,
) -> dict[str, Any]:
    """Pooled summary over ``codes`` (top level), ``per_code`` and (with ``axes``) ``per_axis`` summaries.

    Any list of binary codes works: capcode's six with their axes, or a project's own codes without axes.
    ``per_code_boot`` (default ``n_boot``) sets the bootstrap of the per-code and per-axis summaries, which
    draw their resamples once for all codes and axes with as many compared units (`summarise_all`).
    """
    block = summarise(pooled_ratings(labels, coders, codes), categories=[0, 1], n_boot=n_boot, seed=seed,
                      confidence=confidence)
    per_code_boot = n_boot if per_code_boot is None else per_code_boot
    matrices: dict[tuple[str, str], tuple[np.ndarray, Sequence[float]]] = {
        **{("code", code): (code_ratings(labels, coders, code), [0, 1]) for code in codes},
        **{("axis", axis.id): (axis_ratings(labels, coders, axis), [0, 1, 2, 3]) for axis in axes}}
    summaries = summarise_all(matrices, n_boot=per_code_boot, seed=seed, confidence=confidence)
    block["per_code"] = {code: summaries[("code", code)] for code in codes}
    block["per_axis"] = {axis.id: summaries[("axis", axis.id)] for axis in axes}
    return block


def pair_key(first: str, second: str) -> str:
    return f"{first} vs {second}"


def overlapping_pairs(labels: Sequence[Labels], coders: Sequence[str]) -> list[tuple[str, str]]:
    """Coder pairs that both coded at least one code on at least one fragment."""
    pairs = []
    for first, second in itertools.combinations(coders, 2):
        if any(set(f.get(first, {})) & set(f.get(second, {})) for f in labels):
            pairs.append((first, second))
    return pairs


