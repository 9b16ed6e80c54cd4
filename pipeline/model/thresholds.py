"""Per-code decision thresholds tuned on the validation split, and the macro-F1 training selects on."""

from __future__ import annotations

import numpy as np

from pipeline.model.f1 import f1_score, macro_mean


def macro_f1(truth: np.ndarray, probabilities: np.ndarray, thresholds: np.ndarray) -> float:
    """Mean F1 over the codes whose F1 is defined (`pipeline.model.f1`); 0.0 when none is (nothing to select on).

    truth, probabilities: [n, n_codes]; thresholds: [n_codes].
    """
    predicted = (probabilities >= thresholds[None, :]).astype(int)
    macro = macro_mean([f1_score(truth[:, j], predicted[:, j]) for j in range(truth.shape[1])])
    return 0.0 if macro is None else macro


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
        # the code has positives here, so its F1 is defined (tp + fn > 0) at every threshold
        scored = [(f1_score(truth[:, j], (probabilities[:, j] >= t).astype(int)) or 0.0, -abs(t - 0.5), t)
                  for t in grid]
        chosen[j] = max(scored)[2]
    return chosen
