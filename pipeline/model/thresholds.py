"""Per-code decision thresholds tuned on the validation split, and the multi-label F1 they maximise."""

from __future__ import annotations

import numpy as np


def f1_binary(truth: np.ndarray, predicted: np.ndarray) -> float:
    """F1 of one code; 0.0 when the code never occurs and is never predicted is not informative, so 1.0."""
    tp = float(np.sum((truth == 1) & (predicted == 1)))
    fp = float(np.sum((truth == 0) & (predicted == 1)))
    fn = float(np.sum((truth == 1) & (predicted == 0)))
    if tp + fp + fn == 0:
        return 1.0
    return 2 * tp / (2 * tp + fp + fn)


def macro_f1(truth: np.ndarray, probabilities: np.ndarray, thresholds: np.ndarray) -> float:
    """Mean F1 over codes. truth, probabilities: [n, n_codes]; thresholds: [n_codes]."""
    predicted = (probabilities >= thresholds[None, :]).astype(int)
    return float(np.mean([f1_binary(truth[:, j], predicted[:, j]) for j in range(truth.shape[1])]))


def tune_thresholds(truth: np.ndarray, probabilities: np.ndarray, grid: list[float]) -> np.ndarray:
    """For each code, the grid value with the best validation F1 (ties: the one closest to 0.5).

    A code without positives in the validation split keeps 0.5: there is nothing to tune on.
    """
    if truth.shape != probabilities.shape:
        raise ValueError(f"truth {truth.shape} and probabilities {probabilities.shape} differ")
    chosen = np.full(truth.shape[1], 0.5)
    for j in range(truth.shape[1]):
        if truth[:, j].sum() == 0:
            continue
        scored = [(f1_binary(truth[:, j], (probabilities[:, j] >= t).astype(int)), -abs(t - 0.5), t) for t in grid]
        chosen[j] = max(scored)[2]
    return chosen
