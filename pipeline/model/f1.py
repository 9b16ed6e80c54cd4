"""F1 of one code, and its macro mean: the one implementation behind threshold tuning, training's
validation metric and the evaluation report.

The 0/0 convention: when a code never occurs in the reference and is never predicted (tp + fp + fn == 0),
its F1 is **undefined** (None), not 1.0 and not 0.0: there was nothing to find and nothing was claimed, so
the data say nothing about the code. A macro-F1 is the mean over the codes whose F1 is defined; it is None
when no code's F1 is defined.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion(truth: np.ndarray, predicted: np.ndarray) -> tuple[int, int, int, int]:
    """(tp, fp, fn, tn) of one code; ``truth`` and ``predicted`` are 0/1 arrays of shape (n,)."""
    tp = int(np.sum((truth == 1) & (predicted == 1)))
    fp = int(np.sum((truth == 0) & (predicted == 1)))
    fn = int(np.sum((truth == 1) & (predicted == 0)))
    tn = int(np.sum((truth == 0) & (predicted == 0)))
    return tp, fp, fn, tn


def f1_from_counts(tp: int, fp: int, fn: int) -> float | None:
    """2tp / (2tp + fp + fn); None when that is 0/0 (module docstring)."""
    denominator = 2 * tp + fp + fn
    return None if denominator == 0 else float(2 * tp / denominator)


def f1_score(truth: np.ndarray, predicted: np.ndarray) -> float | None:
    """F1 of one code, ``truth`` and ``predicted`` 0/1 arrays of shape (n,); None when undefined."""
    tp, fp, fn, _ = confusion(truth, predicted)
    return f1_from_counts(tp, fp, fn)


def macro_mean(values: Sequence[float | None]) -> float | None:
    """Mean of the defined values (None when there is none): a macro-F1 from per-code F1s."""
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None
