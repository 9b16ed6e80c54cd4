"""The `axis_categories` head: per axis, one multinomial logistic regression over its four categories.

Why: the researchers place a fragment on an axis as one of four categories (only pole 1, only pole 2, both,
neither), and that is what agreement is measured on. Two independent pole scores plus a tuned rule (the
`poles` head) learn each pole apart and leave "both" and "neither" to thresholds fitted on a few dozen real
fragments; a 4-way classifier learns the categories, their base rates included, straight from the coding.
Measured leave one case out on the bundled real quotes (`capcode crossval`, README ablation), it is ahead of
the pole head on every axis when it sits on the pretrained encoder's embeddings.

The fit is scikit-learn's `LogisticRegression` (lbfgs, L2 strength `1 / C`) on unit-length embeddings, the
team's fragments weighing `real_weight` each and replay fragments 1, or per axis the weight
`adapt.replay_weights` gives their collection (`replay_axis_weights`); a fragment whose axis the team did
not code, or that weighs 0 on it, is left out of that axis's fit (never read as "neither"). The result is stored as one linear layer
[4 * n_axes, dim] (`head.safetensors`), so `predict` computes it with the encoder in one pass.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.model.decision import N_CATEGORIES, axis_category, category_alpha, decide_categories, softmax_per_axis

if TYPE_CHECKING:
    from sklearn.linear_model import LogisticRegression

ABSENT_LOGIT = -30.0  # a category never seen in the training data: never predicted


def unit_rows(x: Any) -> Any:
    """Rows scaled to length 1 (what the head sees; `CodeClassifier(normalize=True)` does the same).

    A scipy sparse matrix (TF-IDF features) stays sparse, in float64; a row of zeros stays zeros, as here."""
    if _is_sparse(x):
        from sklearn.preprocessing import normalize

        return normalize(x.astype(np.float64, copy=False), norm="l2")
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)


def _is_sparse(x: Any) -> bool:
    """True for a scipy sparse matrix, without importing scipy to ask: where nothing has imported scipy.sparse,
    `x` cannot be one (this module stays free of scipy's import time on the pre-coding path)."""
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and bool(sparse.issparse(x))


def _float64(x: Any) -> Any:
    """`x` in float64: a numpy array, or a scipy sparse matrix kept sparse."""
    return x.astype(np.float64) if _is_sparse(x) else np.asarray(x, dtype=np.float64)


def replay_axis_weights(collections: Sequence[str], weights: Mapping[str, Mapping[str, float]],
                        axis_ids: Sequence[str]) -> np.ndarray:
    """[n_replay, n_axes]: each replay fragment's weight in each axis's fit, `weights[axis][collection]`
    (`adapt.replay_weights`), 1 where the axis or the collection is not listed. A fragment whose collection
    is not recorded ("", a replay stored before collections were) or that several collections share
    ("a+b") weighs 1.

    Why per axis: the replay corpora were coded by different hands, and on the real quotes the field
    corpus's coding of strategisch/operationeel and beleid/beheer pulls away from the researchers' while its
    intern/extern helps (README, replay weighting)."""
    out = np.ones((len(collections), len(axis_ids)))
    for a, axis in enumerate(axis_ids):
        mix = weights.get(axis, {})
        if mix:
            out[:, a] = [float(mix.get(collection, 1.0)) for collection in collections]
    return out


def fit_category_head(x: Any, y: np.ndarray, weights: np.ndarray, poles: Sequence[tuple[int, int]], *,
                      c: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(weight [4 * n_axes, dim], bias [4 * n_axes]) of one 4-way logistic regression per axis.

    x: [n, dim] embeddings (made unit length here; a scipy sparse matrix, such as TF-IDF features, is fitted
    sparse), y: [n, n_codes] 0/1 with nan where not coded,
    weights: [n] per-row weight in the loss, or [n, n_axes] one per row and axis (a row weighing 0 on an
    axis is left out of that axis's fit)."""
    return fit_category_logits(unit_rows(_float64(x)), y, weights, poles, c=c, seed=seed)


def fit_category_logits(features: Any, y: np.ndarray, weights: np.ndarray, poles: Sequence[tuple[int, int]],
                        *, c: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`fit_category_head` on `features` exactly as given (no unit length): the fit itself, for an experiment
    that transforms the embeddings first (README item 26 scales them per dimension, a dead end).

    The fits run on one thread (`fit_logistic`): they are small problems for BLAS (about 2,000 rows of 384
    features), where a second thread costs more than it saves (README item 36). `features` may be a scipy
    sparse matrix (crossval's TF-IDF baseline, 20,000 columns with about 15 non-zero entries per row)."""
    features = _float64(features)
    weights = np.asarray(weights, dtype=np.float64)
    weight = np.zeros((N_CATEGORIES * len(poles), features.shape[1]))
    bias = np.full(N_CATEGORIES * len(poles), ABSENT_LOGIT)
    for a, (i, j) in enumerate(poles):
        category = axis_category(y[:, i], y[:, j])
        row_weight = weights[:, a] if weights.ndim == 2 else weights
        known = ~np.isnan(category) & (row_weight > 0)
        target = category[known].astype(int)
        rows = slice(N_CATEGORIES * a, N_CATEGORIES * (a + 1))
        present = sorted(set(target.tolist()))
        if len(present) < 2:  # one category only: predict it everywhere; none coded: "neither"
            bias[N_CATEGORIES * a + (present[0] if present else 3)] = 0.0
            continue
        model = fit_logistic(features[known], target, row_weight[known], c=c, seed=seed)
        block_w, block_b = weight[rows], bias[rows]
        if len(present) == 2:  # scikit-learn's binary form: one logit for the second class, 0 for the first
            block_w[present[1]], block_b[present[1]] = model.coef_[0], model.intercept_[0]
            block_b[present[0]] = 0.0
        else:
            for k, label in enumerate(model.classes_):
                block_w[label], block_b[label] = model.coef_[k], model.intercept_[k]
    return weight.astype(np.float32), bias.astype(np.float32)


def one_thread() -> AbstractContextManager[Any]:
    """A context in which the loaded thread pools (BLAS, which does the work here, and OpenMP) run one thread
    each; on leaving it they are what they were before, also after an exception.

    Why: scikit-learn's lbfgs on a category head's fit (about 2,000 rows of 384 features, or of 20,000 TF-IDF
    columns in crossval's baseline, dense until README item 37) is made of matrix products too small to gain
    from a second BLAS thread, which presumably costs more in hand-over than it saves. On the 2-core Intel machine of round 18
    one fit of the first size took 0.08 s on one thread against 0.37 s on the default pools, one of the
    second 2.9 s against 4.3 s (`python -m pipeline.tools.logistic_threads_bench`), and `crossval` and
    `simulate` ran 1.7x and 2.0x faster with every output file byte for byte the same (README item 36). The
    solutions agree to about 1e-14 (the threads only split the matrix products), so a figure could move only
    where a probability sat on a decision's edge to the last bit."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def logistic_regression(*, c: float, seed: int) -> LogisticRegression:
    """The category head's unfitted estimator: scikit-learn's `LogisticRegression` (lbfgs, `C=c`, up to 2,000
    iterations; multinomial, or the binary form where the target has two classes)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=2000, random_state=seed)


def fit_logistic(features: Any, target: np.ndarray, sample_weight: np.ndarray, *, c: float,
                 seed: int) -> LogisticRegression:
    """`logistic_regression(c=c, seed=seed)` fitted on one thread (`one_thread`); `features` a numpy array or
    a scipy sparse matrix."""
    with one_thread():
        return logistic_regression(c=c, seed=seed).fit(features, target, sample_weight=sample_weight)


def team_and_replay_weights(n_team: int, replay_weights: np.ndarray | None, n_replay: int, n_axes: int, *,
                            real_weight: float) -> np.ndarray:
    """[n_team + n_replay, n_axes]: `real_weight` for each team fragment, then the replay fragments' weights
    per axis (`replay_axis_weights`; None: 1 each)."""
    replay = np.ones((n_replay, n_axes)) if replay_weights is None else np.asarray(replay_weights, dtype=np.float64)
    if replay.shape != (n_replay, n_axes):
        raise ValueError(f"replay weights of shape {replay.shape} for {n_replay} replay fragments and {n_axes} axes")
    return np.vstack([np.full((n_team, n_axes), float(real_weight)), replay])


def fit_team_and_replay(team_x: np.ndarray, team_y: np.ndarray, replay_x: np.ndarray, replay_y: np.ndarray,
                        poles: Sequence[tuple[int, int]], *, real_weight: float, c: float, seed: int,
                        replay_weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`fit_category_head` on the team's fragments (weighing `real_weight` each) and the replay fragments
    (per axis `replay_weights` [n_replay, n_axes], from `replay_axis_weights`; None: 1 each): how `adapt`,
    its out-of-fold estimate and the simulation's model in the loop fit the head."""
    weights = team_and_replay_weights(len(team_x), replay_weights, len(replay_x), len(poles), real_weight=real_weight)
    return fit_category_head(np.vstack([team_x, replay_x]), np.vstack([team_y, replay_y]), weights, poles, c=c,
                             seed=seed)


def shift_to_team_rates(bias: np.ndarray, team_y: np.ndarray, y: np.ndarray, weights: np.ndarray,
                        poles: Sequence[tuple[int, int]]) -> np.ndarray:
    """The bias moved from the categories' rates in the fitted data to the team's own rates (prior-shift
    correction, log(team rate / fitted rate) per category, add-one smoothed; `weights` [n] or [n, n_axes] as
    `fit_category_head` takes them): a calibration on real coding
    that `capcode crossval` measures as an ablation (it did not help: README)."""
    shifted = bias.astype(np.float64).copy()
    for a, (i, j) in enumerate(poles):
        team = axis_category(team_y[:, i], team_y[:, j])
        team = team[~np.isnan(team)].astype(int)
        fitted = axis_category(y[:, i], y[:, j])
        row_weight = weights[:, a] if weights.ndim == 2 else weights
        known = ~np.isnan(fitted)
        team_rate = (np.bincount(team, minlength=N_CATEGORIES) + 1) / (len(team) + N_CATEGORIES)
        fitted_rate = (np.bincount(fitted[known].astype(int), weights=row_weight[known], minlength=N_CATEGORIES) + 1) \
            / (row_weight[known].sum() + N_CATEGORIES)
        shifted[N_CATEGORIES * a:N_CATEGORIES * (a + 1)] += np.log(team_rate) - np.log(fitted_rate)
    return shifted.astype(np.float32)


def category_probabilities(x: Any, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """[n, 4 * n_axes] category probabilities of embeddings x [n, dim] (or sparse features) under a fitted head."""
    return softmax_per_axis(np.asarray(unit_rows(_float64(x)) @ weight.T.astype(np.float64)) + bias)


def out_of_fold_alpha(x: np.ndarray, y: np.ndarray, groups: Sequence[str], replay_x: np.ndarray,
                      replay_y: np.ndarray, poles: Sequence[tuple[int, int]], *, real_weight: float, c: float,
                      seed: int, replay_weights: np.ndarray | None = None) -> list[dict[str, float | int | None]]:
    """Per axis: alpha of the team's coding against the head refitted without each group (what `adapt`
    reports of a model it writes: an estimate on the team's own material, not a held-out test)."""
    groups_arr = np.array(groups)
    predicted = np.zeros(y.shape, dtype=float)
    unique = sorted(set(groups))
    if len(unique) < 2:
        return [{"alpha_cv": None, "n": int((~np.isnan(y[:, i]) & ~np.isnan(y[:, j])).sum())} for i, j in poles]
    for group in unique:
        held = groups_arr == group
        weight, bias = fit_team_and_replay(x[~held], y[~held], replay_x, replay_y, poles, real_weight=real_weight,
                                           c=c, seed=seed, replay_weights=replay_weights)
        predicted[held] = decide_categories(category_probabilities(x[held], weight, bias), poles, y.shape[1])
    out: list[dict[str, float | int | None]] = []
    for i, j in poles:
        truth = axis_category(y[:, i], y[:, j])
        coded = ~np.isnan(truth)
        guess = axis_category(predicted[:, i], predicted[:, j])
        out.append({"alpha_cv": round(category_alpha(truth[coded], guess[coded]), 4) if coded.sum() >= 2 else None,
                    "n": int(coded.sum())})
    return out
