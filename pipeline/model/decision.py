"""Turning per-code probabilities into codes: six independent thresholds, or one decision per axis.

Why a per-axis rule: on real speech the researchers place almost every fragment on each axis they code, and
rarely on both poles, while six independent thresholds happily give "neither" or "both". An axis rule has,
per axis, a threshold per pole plus two switches tuned on the team's own coding:

- ``at_least_one``: when no pole passes its threshold, take the pole with the higher score margin
  (probability minus threshold) instead of "neither";
- ``exclusive``: when both poles pass, keep only the one with the higher margin instead of "both".

A rule is stored in the model metadata (``decision``) as plain JSON, so `predict` applies exactly the rule
that cross-validation chose. Tuning maximises Krippendorff's alpha on the axis's four nominal categories
(only pole 1, only pole 2, both, neither), the figure the evaluation reports.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline.core.codebook import Codebook

THRESHOLDS = "thresholds"
AXIS = "axis"
CATEGORIES = "categories"  # an `axis_categories` head: per axis the most probable of its four categories
N_CATEGORIES = 4  # only pole 1, only pole 2, both, neither (`axis_category`)


def axis_category(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Category codes 0..3 (only pole 1, only pole 2, both, neither) of two 0/1 arrays; nan stays nan."""
    category = np.where(first == 1, np.where(second == 1, 2.0, 0.0), np.where(second == 1, 1.0, 3.0))
    return np.where(np.isnan(first) | np.isnan(second), np.nan, category)


def axis_pole_indices(code_ids: Sequence[str], codebook: Codebook) -> list[tuple[int, int]]:
    """Per axis of the codebook (in order), the column indices of its two poles in `code_ids`."""
    index = {c: k for k, c in enumerate(code_ids)}
    return [(index[axis.poles[0]], index[axis.poles[1]]) for axis in codebook.axes]


def softmax_per_axis(logits: np.ndarray) -> np.ndarray:
    """[n, 4 * n_axes] logits of an `axis_categories` head -> category probabilities, each block of 4 summing to 1."""
    blocks = logits.reshape(len(logits), -1, N_CATEGORIES).astype(np.float64)
    blocks = np.exp(blocks - blocks.max(axis=2, keepdims=True))
    return (blocks / blocks.sum(axis=2, keepdims=True)).reshape(len(logits), -1)


def pole_probabilities(categories: np.ndarray, poles: Sequence[tuple[int, int]], n_codes: int) -> np.ndarray:
    """[n, n_codes] probability that each pole applies: its own category plus "both" (what `predict` shows)."""
    blocks = categories.reshape(len(categories), -1, N_CATEGORIES)
    out = np.zeros((len(categories), n_codes))
    for a, (i, j) in enumerate(poles):
        out[:, i] = blocks[:, a, 0] + blocks[:, a, 2]
        out[:, j] = blocks[:, a, 1] + blocks[:, a, 2]
    return out


def decide_categories(categories: np.ndarray, poles: Sequence[tuple[int, int]], n_codes: int) -> np.ndarray:
    """0/1 labels [n, n_codes] from category probabilities [n, 4 * n_axes]: per axis the most probable category."""
    winner = categories.reshape(len(categories), -1, N_CATEGORIES).argmax(axis=2)
    labels = np.zeros((len(categories), n_codes), dtype=int)
    for a, (i, j) in enumerate(poles):
        labels[:, i] = (winner[:, a] == 0) | (winner[:, a] == 2)
        labels[:, j] = (winner[:, a] == 1) | (winner[:, a] == 2)
    return labels


def category_margins(categories: np.ndarray) -> np.ndarray:
    """[n, n_axes] the most probable category's probability minus the runner-up's (0 = a tie: in doubt)."""
    blocks = np.sort(categories.reshape(len(categories), -1, N_CATEGORIES), axis=2)
    return blocks[:, :, -1] - blocks[:, :, -2]


def threshold_rule(code_ids: Sequence[str], thresholds: Sequence[float] | np.ndarray) -> dict[str, Any]:
    return {"kind": THRESHOLDS, "thresholds": {c: float(t) for c, t in zip(code_ids, thresholds)}}


def apply_decision(probabilities: np.ndarray, rule: dict[str, Any], code_ids: Sequence[str],
                   codebook: Codebook) -> np.ndarray:
    """0/1 labels [n, n_codes] from probabilities [n, n_codes] under a stored rule."""
    thresholds = np.array([rule["thresholds"][c] for c in code_ids])
    labels = (probabilities >= thresholds).astype(int)
    if rule["kind"] == THRESHOLDS:
        return labels
    index = {c: i for i, c in enumerate(code_ids)}
    for axis in codebook.axes:
        settings = rule["axes"].get(axis.id)
        if settings is None:
            continue
        i, j = index[axis.poles[0]], index[axis.poles[1]]
        margin_i = probabilities[:, i] - thresholds[i]
        margin_j = probabilities[:, j] - thresholds[j]
        first_wins = margin_i >= margin_j
        if settings.get("at_least_one"):
            # only where the model sees the axis at all: the strongest pole reaches `min_evidence` of its threshold
            evidence = np.maximum(probabilities[:, i] / thresholds[i], probabilities[:, j] / thresholds[j])
            none = (labels[:, i] == 0) & (labels[:, j] == 0) & (evidence >= settings.get("min_evidence", 0.0))
            labels[none, i] = first_wins[none]
            labels[none, j] = ~first_wins[none]
        if settings.get("exclusive"):
            both = (labels[:, i] == 1) & (labels[:, j] == 1)
            labels[both, i] = first_wins[both]
            labels[both, j] = ~first_wins[both]
    return labels


def rate_rule(truth: np.ndarray, code_ids: Sequence[str], codebook: Codebook, thresholds: Sequence[float], *,
              max_rate: float, min_evidence: float = 0.0) -> dict[str, Any]:
    """Thresholds kept; per axis the switches follow how the team codes: "at least one pole" when the team
    leaves that axis empty on at most `max_rate` of its coded fragments, "one pole only" when it gives both
    poles on at most `max_rate`. Two numbers per axis, read off the coding: stable on a few dozen fragments,
    where a rule chosen by maximising cross-validated agreement follows the noise of two or three cases."""
    index = {c: k for k, c in enumerate(code_ids)}
    axes: dict[str, Any] = {}
    for axis in codebook.axes:
        i, j = index[axis.poles[0]], index[axis.poles[1]]
        coded = ~np.isnan(truth[:, i]) & ~np.isnan(truth[:, j])
        category = axis_category(truth[coded, i], truth[coded, j])
        n = int(coded.sum())
        neither = float((category == 3).mean()) if n else 1.0
        both = float((category == 2).mean()) if n else 1.0
        axes[axis.id] = {"at_least_one": bool(n and neither <= max_rate), "exclusive": bool(n and both <= max_rate),
                         "min_evidence": min_evidence, "neither_rate": round(neither, 4), "both_rate": round(both, 4),
                         "n": n}
    return {"kind": AXIS, "thresholds": {c: float(t) for c, t in zip(code_ids, thresholds)}, "axes": axes}


def category_alpha(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Nominal Krippendorff's alpha of two complete category vectors; -1 when undefined (one category only).

    Two coders and no missing values make the coincidence matrix simple: every unit adds its pair both ways,
    so alpha = 1 - (n - 1) * 2 * disagreements / (n^2 - sum_c n_c^2) with n = 2 * units. The tuning loop calls
    this thousands of times; `pipeline.reliability.coefficients.krippendorff_alpha` gives the same value
    (tests/test_adapt.py checks it).
    """
    keep = ~np.isnan(truth) & ~np.isnan(predicted)
    a, b = truth[keep].astype(int), predicted[keep].astype(int)
    n = 2 * len(a)
    counts = np.bincount(np.concatenate([a, b]), minlength=4)
    expected = n * n - float((counts ** 2).sum())
    if n < 2 or expected <= 0:
        return -1.0
    return 1.0 - (n - 1) * 2.0 * float((a != b).sum()) / expected


def tune_axis_rule(probabilities: np.ndarray, truth: np.ndarray, code_ids: Sequence[str], codebook: Codebook,
                   grid: Sequence[float], *, switches: bool = True,
                   fixed_thresholds: dict[str, float] | None = None) -> dict[str, Any]:
    """The axis rule that maximises alpha per axis on out-of-fold `probabilities` against `truth`.

    truth: [n, n_codes] 0/1 with nan where the team did not code that axis. An axis nobody coded keeps
    threshold 0.5 and no switches. With ``switches=False`` only the two thresholds are tuned; with
    ``fixed_thresholds`` the thresholds stay as given and only the switches are chosen (4 candidates per axis
    instead of hundreds: far less room to fit the noise of a few dozen fragments).
    """
    options = (False, True) if switches else (False,)
    index = {c: k for k, c in enumerate(code_ids)}
    thresholds = dict(fixed_thresholds) if fixed_thresholds else {c: 0.5 for c in code_ids}
    axes: dict[str, Any] = {}
    for axis in codebook.axes:
        i, j = index[axis.poles[0]], index[axis.poles[1]]
        coded = ~np.isnan(truth[:, i]) & ~np.isnan(truth[:, j])
        if coded.sum() < 2:
            axes[axis.id] = {"at_least_one": False, "exclusive": False, "alpha_cv": None, "n": int(coded.sum())}
            continue
        reference = axis_category(truth[coded, i], truth[coded, j])
        best: tuple[float, float, float, bool, bool] | None = None
        grid_i = [thresholds[axis.poles[0]]] if fixed_thresholds else grid
        grid_j = [thresholds[axis.poles[1]]] if fixed_thresholds else grid
        for t_i, t_j, at_least_one, exclusive in itertools.product(grid_i, grid_j, options, options):
            rule = {"kind": AXIS, "thresholds": {**thresholds, axis.poles[0]: t_i, axis.poles[1]: t_j},
                    "axes": {axis.id: {"at_least_one": at_least_one, "exclusive": exclusive}}}
            labels = apply_decision(probabilities[coded], rule, code_ids, codebook)
            score = category_alpha(reference, axis_category(labels[:, i].astype(float), labels[:, j].astype(float)))
            # ties: prefer the plain rule and thresholds nearer 0.5 (less tuned to a small sample)
            key = (score, -(at_least_one + exclusive), -abs(t_i - 0.5) - abs(t_j - 0.5))
            if best is None or key > best[:3]:
                best = (*key, t_i, t_j, at_least_one, exclusive)  # type: ignore[assignment]
        assert best is not None
        score, _, _, t_i, t_j, at_least_one, exclusive = best  # type: ignore[misc]
        thresholds[axis.poles[0]], thresholds[axis.poles[1]] = float(t_i), float(t_j)
        axes[axis.id] = {"at_least_one": bool(at_least_one), "exclusive": bool(exclusive),
                         "alpha_cv": round(float(score), 4), "n": int(coded.sum())}
    return {"kind": AXIS, "thresholds": thresholds, "axes": axes}
