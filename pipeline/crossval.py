"""`capcode crossval` / DVC stage `crossval`: honest figures on real coding, by leave-one-case-out adaptation.

The question a team asks: if we code some of our interviews and adapt the model, how well does it code the
rest? On a real collection (the study's quotes, cases 1-3), for every case in turn and every seed: adapt the
base model on the other cases, score the held-out case; pool the held-out predictions over the cases and
compare them with the reference coding (Krippendorff's alpha per axis, four nominal categories). Beside it:

- the human reference: other human coders (`--human`, e.g. the blind text-only coders) against the same
  reference on the same fragments, and with two or more of them their mean alpha (`human_mean`): one
  person's reading varies by as much as the gaps to be judged, so the mean is the reference for "a coder
  of their kind";
- baselines trained on exactly the same data (team fragments of the training cases + the same replay,
  same weighting, `adapt.replay_weights` per code included): TF-IDF + logistic regression and frozen-e5
  embeddings + logistic regression, each in two forms: one regression per code with the decision read off
  the team's coding rates (as first built) on the baseline's own thresholds, tuned per fit on the replay
  coder's validation split as the base model tuned its own (`ValidationSplit`), and the default's own form,
  four categories per axis (`tfidf_category_system`; on frozen e5 that is the default's head on the
  pretrained encoder), so that a lead over a baseline is not only the decision form's;
- the ablation: the poles head (the model's six scores refitted + a decision rule) step by step, the
  axis_categories head (the default of `adapt`: per axis four categories) on either encoder, and the
  variants tried (replay, weighting, regularisation, calibration to the team's rates, every replay fragment
  weighing 1 on every axis instead of `adapt.replay_weights`), kept or dropped;
- paired differences: the default's alpha minus a human's, the humans' mean or a baseline's, with a bootstrap interval that
  resamples the same fragments for both (`default_minus` in crossval.json, `adapted_minus` in metrics.json):
  whether the data resolve a gap, which two overlapping separate intervals cannot say;
- the learning curve: agreement on the held-out case against the number of the team's own coded fragments.

What a seed changes: the replay sample (`crossval.replay_fraction` of the replay fragments) and, on the
learning curve, which team fragments are drawn. The base model itself is trained once (its own seed is
`train.seed`); its training variance is not part of these ranges (`pipeline.tools.training_seed_experiment`
measures it: README item 21).
"""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.codebook import Axis, Codebook, load_codebook
from pipeline.core.config import REPO_ROOT
from pipeline.core.errors import InputError
from pipeline.core.io_utils import atomic_directory
from pipeline.core.params import AdaptParams, CrossvalParams, TfidfParams, load_params
from pipeline.core.progress import progress
from pipeline.corpus.team import labelled_records
from pipeline.model.adaptation import (
    TeamFragments,
    adaptation_embedder,
    builds_encoder,
    embed,
    finetuned_share,
    fit_head,
    head_probabilities,
    head_settings,
    load_replay,
    pretrained_embedder,
    team_fragments,
    tune_rule,
)
from pipeline.model.category_head import (
    category_probabilities,
    fit_category_head,
    replay_axis_weights,
    shift_to_team_rates,
    team_and_replay_weights,
)
from pipeline.model.classifier import AXIS_CATEGORIES, load_model
from pipeline.model.decision import (
    CATEGORIES,
    apply_decision,
    axis_category,
    axis_pole_indices,
    decide_categories,
    pole_probabilities,
    threshold_rule,
)
from pipeline.model.thresholds import tune_thresholds
from pipeline.model.training_data import labelled_split, replay_fragments
from pipeline.reliability import resampled
from pipeline.reliability.bootstrap import alpha_interval, bootstrap_intervals
from pipeline.reliability.coefficients import UndefinedCoefficient, krippendorff_alpha

Predictor = Callable[[np.ndarray], np.ndarray]  # row indices -> probabilities [n, n_codes]


@dataclass(frozen=True)
class ValidationSplit:
    """The replay coder's validation split of `--replay`: interviews no system here trains on, where the per-code
    baselines tune their own decision thresholds, as the base model tuned its own on the same split (the base
    model's thresholds fit its scores, not a logistic regression's: borrowing them made a baseline's figure
    move with the machine the base model was trained on)."""

    texts: list[str]
    y: np.ndarray  # [n, codes] 0/1
    frozen: np.ndarray  # [n, dim] pretrained-encoder embeddings (what the frozen-e5 baseline reads)
    collections: list[str]  # per fragment, its collection (weighed per axis as `adapt.replay_weights` says)


@dataclass
class Data:
    """Everything the systems learn from, indexed by row: team rows first, then replay rows."""

    team: TeamFragments
    texts: list[str]
    y: np.ndarray  # [rows, codes], nan = not coded
    tuned: np.ndarray  # [rows, dim] fine-tuned encoder embeddings
    frozen: np.ndarray  # [rows, dim] pretrained (not fine-tuned) encoder embeddings
    adapted: np.ndarray  # [rows, dim] embeddings of the encoder `adapt` builds (`adapt.encoder`; may be one of the two)
    n_team: int
    base_weight: np.ndarray
    base_bias: np.ndarray
    base_thresholds: np.ndarray
    replay_collections: list[str] = field(default_factory=list)  # per replay row, its collection in --replay
    validation: ValidationSplit | None = None  # None: --replay has no validation split (thresholds 0.5)


@dataclass(frozen=True)
class ThresholdedPredictor:
    """A per-code system's predictor with its own per-code decision thresholds, which the decision rule uses in
    place of the base model's (`predict_held_out`)."""

    predict: Predictor
    thresholds: np.ndarray  # [n_codes]

    def __call__(self, test: np.ndarray) -> np.ndarray:
        return self.predict(test)


# --------------------------------------------------------------------------- systems


def _row_weights(rows: np.ndarray, n_team: int, real_weight: float) -> np.ndarray:
    return np.where(rows < n_team, real_weight, 1.0)


def head_system(data: Data, params: AdaptParams) -> Callable[[np.ndarray], Predictor]:
    def fit(rows: np.ndarray) -> Predictor:
        team_rows, replay_rows = rows[rows < data.n_team], rows[rows >= data.n_team]
        weight, bias = fit_head(data.tuned[team_rows], data.y[team_rows], data.tuned[replay_rows],
                                data.y[replay_rows], base_weight=data.base_weight, base_bias=data.base_bias,
                                settings=head_settings(params))
        return lambda test: head_probabilities(data.tuned[test], weight, bias)
    return fit


def axis_row_weights(data: Data, rows: np.ndarray, params: AdaptParams, codebook: Codebook,
                     replay_weights: Mapping[str, Mapping[str, float]] | None = None) -> np.ndarray:
    """[len(rows), n_axes] weights of `rows` in each axis's fit, as `adapt` weighs them: a team row
    `real_weight`, a replay row its collection's `replay_weights` (None: `adapt.replay_weights`) on that axis."""
    mix = params.replay_weights if replay_weights is None else replay_weights
    replay = replay_axis_weights(data.replay_collections or [""] * (len(data.texts) - data.n_team), mix,
                                 [axis.id for axis in codebook.axes])
    every = team_and_replay_weights(data.n_team, replay, len(replay), len(codebook.axes), real_weight=params.real_weight)
    return every[rows]


def code_row_weights(data: Data, rows: np.ndarray, params: AdaptParams, codebook: Codebook,
                     replay_weights: Mapping[str, Mapping[str, float]] | None = None) -> np.ndarray:
    """[len(rows), n_codes]: `axis_row_weights` for each code (its axis's weight), for the per-code baselines,
    so that they are trained on the same data, weighed the same way, as the default."""
    code_axis = np.zeros(len(codebook.code_ids), dtype=int)
    for a, (i, j) in enumerate(axis_pole_indices(codebook.code_ids, codebook)):
        code_axis[[i, j]] = a
    return axis_row_weights(data, rows, params, codebook, replay_weights)[:, code_axis]


def category_system(data: Data, params: AdaptParams, *, features: np.ndarray, codebook: Codebook,
                    team_rates: bool = False,
                    replay_weights: Mapping[str, Mapping[str, float]] | None = None) -> Callable[[np.ndarray], Predictor]:
    """The axis_categories head (what `adapt` writes by default) on `features` (one of `data`'s embeddings, by
    row); its predictor returns category probabilities [n, 4 * n_axes] (decision `categories`).
    `team_rates`: the bias shifted to the training cases' category rates (`shift_to_team_rates`).
    `replay_weights`: per axis, a weight per replay collection in place of `adapt.replay_weights`."""
    poles = axis_pole_indices(codebook.code_ids, codebook)

    def fit(rows: np.ndarray) -> Predictor:
        weights = axis_row_weights(data, rows, params, codebook, replay_weights)
        weight, bias = fit_category_head(features[rows], data.y[rows], weights, poles, c=params.category_c,
                                         seed=params.seed)
        if team_rates:
            team = rows[rows < data.n_team]
            bias = shift_to_team_rates(bias, data.y[team], data.y[rows], weights, poles)
        return lambda test: category_probabilities(features[test], weight, bias)
    return fit


def base_system(data: Data) -> Callable[[np.ndarray], Predictor]:
    def fit(rows: np.ndarray) -> Predictor:
        return lambda test: head_probabilities(data.tuned[test], data.base_weight, data.base_bias)
    return fit


def _fit_logistic(x_train: Any, y: np.ndarray, weights: np.ndarray, seed: int) -> list[Any]:
    """One logistic regression per code; `weights` [n] or [n, n_codes] (a row weighing 0 on a code left out).
    Per code the fitted model, or the one value its training rows hold (a float) where they hold one only."""
    from sklearn.linear_model import LogisticRegression

    models: list[Any] = []
    for code in range(y.shape[1]):
        row_weight = weights[:, code] if weights.ndim == 2 else weights
        known = ~np.isnan(y[:, code]) & (row_weight > 0)
        target = y[known, code].astype(int)
        if len(set(target)) < 2:
            models.append(float(target[0]) if len(target) else 0.0)
            continue
        model = LogisticRegression(C=1.0, solver="liblinear", max_iter=1000, random_state=seed)
        model.fit(x_train[known], target, sample_weight=row_weight[known])
        models.append(model)
    return models


def _predict_logistic(models: Sequence[Any], x_test: Any) -> np.ndarray:
    """Probabilities [n, n_codes] of `_fit_logistic`'s models."""
    out = np.zeros((x_test.shape[0], len(models)))
    for code, model in enumerate(models):
        out[:, code] = model if isinstance(model, float) else model.predict_proba(x_test)[:, 1]
    return out


def _logistic(x_train: Any, y: np.ndarray, weights: np.ndarray, x_test: Any, seed: int) -> np.ndarray:
    """One logistic regression per code (`_fit_logistic`), probabilities of `x_test`."""
    return _predict_logistic(_fit_logistic(x_train, y, weights, seed), x_test)


def own_thresholds(data: Data, params: AdaptParams, codebook: Codebook,
                   validation_probabilities: np.ndarray | None,
                   replay_weights: Mapping[str, Mapping[str, float]] | None = None) -> np.ndarray:
    """Per code, the `adapt.threshold_grid` value with the best F1 on the validation split (`tune_thresholds`,
    the base model's procedure), counting the fragments of the collections that weigh more than 0 on the code's
    axis (`adapt.replay_weights`, or `replay_weights`): a system that leaves a collection out of an axis's fit
    does not tune that axis on it. 0.5 for every code where `data` has no validation split."""
    n_codes = len(codebook.code_ids)
    if data.validation is None or validation_probabilities is None:
        return np.full(n_codes, 0.5)
    mix = params.replay_weights if replay_weights is None else replay_weights
    axis_weights = replay_axis_weights(data.validation.collections, mix, [axis.id for axis in codebook.axes])
    chosen = np.full(n_codes, 0.5)
    for a, pair in enumerate(axis_pole_indices(codebook.code_ids, codebook)):
        counted = axis_weights[:, a] > 0
        if counted.any():
            columns = np.array(pair)
            chosen[columns] = tune_thresholds(data.validation.y[np.ix_(counted, columns)],
                                              validation_probabilities[np.ix_(counted, columns)],
                                              list(params.threshold_grid))
    return chosen


def frozen_lr_system(data: Data, params: AdaptParams, codebook: Codebook,
                     replay_weights: Mapping[str, Mapping[str, float]] | None = None, *,
                     own: bool = True) -> Callable[[np.ndarray], Predictor]:
    """Frozen-e5 embeddings + one logistic regression per code, weighed as `code_row_weights`; with `own`, its
    own thresholds (`own_thresholds`), else the decision takes the base model's."""
    def fit(rows: np.ndarray) -> Predictor:
        models = _fit_logistic(data.frozen[rows], data.y[rows],
                               code_row_weights(data, rows, params, codebook, replay_weights), params.seed)

        def predict(test: np.ndarray) -> np.ndarray:
            return _predict_logistic(models, data.frozen[test])
        if not own:
            return predict
        validation = None if data.validation is None else _predict_logistic(models, data.validation.frozen)
        return ThresholdedPredictor(predict, own_thresholds(data, params, codebook, validation, replay_weights))
    return fit


def tfidf_system(data: Data, params: AdaptParams, tfidf: TfidfParams, codebook: Codebook,
                 replay_weights: Mapping[str, Mapping[str, float]] | None = None, *,
                 own: bool = True) -> Callable[[np.ndarray], Predictor]:
    """TF-IDF n-grams + one logistic regression per code, weighed as `code_row_weights`; with `own`, its own
    thresholds (`own_thresholds`), else the decision takes the base model's."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    def fit(rows: np.ndarray) -> Predictor:
        vectorizer = TfidfVectorizer(ngram_range=tuple(tfidf.ngram_range), min_df=tfidf.min_df, max_df=tfidf.max_df,
                                     max_features=tfidf.max_features, sublinear_tf=tfidf.sublinear_tf)
        x_train = vectorizer.fit_transform([data.texts[i] for i in rows])
        models = _fit_logistic(x_train, data.y[rows], code_row_weights(data, rows, params, codebook, replay_weights),
                               params.seed)

        def predict(test: np.ndarray) -> np.ndarray:
            return _predict_logistic(models, vectorizer.transform([data.texts[i] for i in test]))
        if not own:
            return predict
        validation = None if data.validation is None else \
            _predict_logistic(models, vectorizer.transform(data.validation.texts))
        return ThresholdedPredictor(predict, own_thresholds(data, params, codebook, validation, replay_weights))
    return fit


def tfidf_category_system(data: Data, params: AdaptParams, tfidf: TfidfParams,
                          codebook: Codebook) -> Callable[[np.ndarray], Predictor]:
    """TF-IDF n-grams (vocabulary from the training rows) under the default's own head: four categories per
    axis, rows weighed as `adapt` weighs them, `adapt.category_c`. The text-only baseline in the decision form
    the default uses, so a lead over it is the encoder's, not the form's (the per-code `tfidf_system` reads its
    decision from the team's coding rates and its own thresholds)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    poles = axis_pole_indices(codebook.code_ids, codebook)

    def fit(rows: np.ndarray) -> Predictor:
        vectorizer = TfidfVectorizer(ngram_range=tuple(tfidf.ngram_range), min_df=tfidf.min_df, max_df=tfidf.max_df,
                                     max_features=tfidf.max_features, sublinear_tf=tfidf.sublinear_tf)
        x_train = vectorizer.fit_transform([data.texts[i] for i in rows])  # sparse: 20,000 columns, few used per row
        weight, bias = fit_category_head(x_train, data.y[rows], axis_row_weights(data, rows, params, codebook), poles,
                                         c=params.category_c, seed=params.seed)
        return lambda test: category_probabilities(vectorizer.transform([data.texts[i] for i in test]), weight, bias)
    return fit


def ensemble(*fits: Callable[[np.ndarray], Predictor]) -> Callable[[np.ndarray], Predictor]:
    """Average of the members' probabilities."""
    def fit(rows: np.ndarray) -> Predictor:
        members = [f(rows) for f in fits]
        return lambda test: np.mean([m(test) for m in members], axis=0)
    return fit


# --------------------------------------------------------------------------- one held-out case


def predict_held_out(fit: Callable[[np.ndarray], Predictor], data: Data, train_team: np.ndarray,
                     test_team: np.ndarray, replay_rows: np.ndarray, *, decision: str | None, grid: Sequence[float],
                     codebook: Codebook, min_evidence: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities, labels) of the held-out team rows; the decision rule is tuned by grouped CV inside
    the training cases (`decision` None = the thresholds alone: the base model's, or a per-code baseline's own)."""
    code_ids = codebook.code_ids
    if decision == CATEGORIES:  # nothing to tune: per axis the most probable category
        poles = axis_pole_indices(code_ids, codebook)
        categories = fit(np.concatenate([train_team, replay_rows]))(test_team)
        return pole_probabilities(categories, poles, len(code_ids)), decide_categories(categories, poles, len(code_ids))
    predictor = fit(np.concatenate([train_team, replay_rows]))
    # a per-code baseline brings its own thresholds (`ThresholdedPredictor`); the model's heads keep the base model's
    thresholds = getattr(predictor, "thresholds", data.base_thresholds).tolist()
    if decision is None:
        rule = threshold_rule(code_ids, thresholds)
    elif decision == "rates":  # read off the training cases' coding: no inner cross-validation needed
        rule = tune_rule(data.y[train_team], data.y[train_team], code_ids, codebook, kind=decision, grid=grid,
                         base_thresholds=thresholds, min_evidence=min_evidence)
    else:
        groups = np.array([data.team.groups[i] for i in train_team])
        oof = np.zeros((len(train_team), len(code_ids)))
        for group in sorted(set(groups)):
            inner_test = train_team[groups == group]
            inner_train = train_team[groups != group]
            inner = fit(np.concatenate([inner_train, replay_rows])) if len(inner_train) else \
                base_system(data)(replay_rows)
            oof[groups == group] = inner(inner_test)
        rule = tune_rule(oof, data.y[train_team], code_ids, codebook, kind=decision, grid=grid,
                         base_thresholds=thresholds)
    probabilities = predictor(test_team)
    return probabilities, apply_decision(probabilities, rule, code_ids, codebook)


# --------------------------------------------------------------------------- scoring


def axis_category_rows(codebook: Codebook, *codings: np.ndarray) -> Iterator[tuple[Axis, np.ndarray]]:
    """Per axis: the axis and one row per coding of each fragment's category on it (only pole 1, only pole 2,
    both, neither; nan where the coding left the axis uncoded), the rows Krippendorff's alpha reads.

    codings: [n, n_codes] each, 0/1 (nan for not coded), columns in `codebook.code_ids` order."""
    index = {c: k for k, c in enumerate(codebook.code_ids)}
    for axis in codebook.axes:
        i, j = index[axis.poles[0]], index[axis.poles[1]]
        yield axis, np.vstack([axis_category(c[:, i].astype(float), c[:, j].astype(float)) for c in codings])


def axis_alpha(reference: np.ndarray, labels: np.ndarray, codebook: Codebook, *, n_boot: int, confidence: float,
               seed: int) -> dict[str, dict[str, Any]]:
    """Per axis: nominal alpha over the four categories, and its bootstrap interval over fragments."""
    out = {}
    for axis, ratings in axis_category_rows(codebook, reference, labels):
        try:
            alpha: float | None = float(krippendorff_alpha(ratings, level="nominal"))
        except UndefinedCoefficient:
            alpha = None
        interval = alpha_interval(ratings, n_boot=n_boot, confidence=confidence, seed=seed) \
            if n_boot and alpha is not None else None
        out[axis.id] = {"alpha": alpha, "ci": list(interval) if interval else None,
                        "n": int((~np.isnan(ratings).any(axis=0)).sum())}
    return out


def _mean_alpha(rows: np.ndarray) -> float:
    """The mean over rows 1.. of alpha(row 0, row k): how well several codings agree with the reference row 0
    on average (what one coder of their kind would reach)."""
    return float(np.mean([krippendorff_alpha(rows[[0, k]], level="nominal") for k in range(1, len(rows))]))


def _alpha_difference(rows: np.ndarray) -> float:
    """alpha(row 0, row 1) minus the mean of alpha(row 0, row k) over rows 2..: how much better coding 1 agrees
    with the reference than coding 2 (or than the other codings on average)."""
    return float(krippendorff_alpha(rows[[0, 1]], level="nominal") - _mean_alpha(rows[[0, *range(2, len(rows))]]))


def _resampled_mean_alpha(rows: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """`_mean_alpha` of `rows` in every bootstrap resample (weights [k, units] -> k values, nan if undefined)."""
    pairs = [resampled.unit_counts(rows[[0, k]]) for k in range(1, len(rows))]
    return lambda weights: np.mean([pair.krippendorff_alpha(weights) for pair in pairs], axis=0)


def _resampled_alpha_difference(rows: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """`_alpha_difference` of `rows` in every bootstrap resample."""
    first, others = resampled.unit_counts(rows[[0, 1]]), _resampled_mean_alpha(rows[[0, *range(2, len(rows))]])
    return lambda weights: first.krippendorff_alpha(weights) - others(weights)


def _per_axis_statistic(codebook: Codebook, codings: Sequence[np.ndarray], statistic: Callable[[np.ndarray], float],
                        resampled_statistic: Callable[[np.ndarray], Callable[[np.ndarray], np.ndarray]],
                        *, n_boot: int, confidence: float, seed: int) -> dict[str, dict[str, Any]]:
    """Per axis: `statistic` of the codings' category rows (row 0 the reference; fragments it left uncoded on the
    axis dropped), with a bootstrap interval that resamples the same fragments for every row
    (`resampled_statistic(rows)`: the same statistic in every resample at once). Same keys as `axis_alpha`
    ("alpha" holds the statistic), so `summarise_seeds` summarises it over seeds."""
    out = {}
    for axis, stacked in axis_category_rows(codebook, *codings):
        stacked = stacked[:, ~np.isnan(stacked[0])]  # fragments the reference did not code on this axis
        try:
            value: float | None = statistic(stacked)
        except UndefinedCoefficient:
            value = None
        interval = bootstrap_intervals({"statistic": resampled_statistic(stacked)}, stacked.shape[1], n_boot=n_boot,
                                       seed=seed, confidence=confidence)["statistic"] \
            if n_boot and value is not None else None
        out[axis.id] = {"alpha": value, "ci": list(interval) if interval else None, "n": int(stacked.shape[1])}
    return out


def mean_coder_alpha(reference: np.ndarray, codings: Sequence[np.ndarray], codebook: Codebook, *, n_boot: int,
                     confidence: float, seed: int) -> dict[str, dict[str, Any]]:
    """Per axis: the mean of the codings' alphas against the reference, with a bootstrap interval that resamples
    the same fragments for every coding: the agreement of one coder of their kind (the blind text-only
    coders, who differ from each other by as much as the model's gaps to any one of them). Same keys as
    `axis_alpha`."""
    return _per_axis_statistic(codebook, [reference, *codings], _mean_alpha, _resampled_mean_alpha, n_boot=n_boot,
                               confidence=confidence, seed=seed)


def paired_difference(reference: np.ndarray, labels: np.ndarray, other: np.ndarray | Sequence[np.ndarray],
                      codebook: Codebook, *, n_boot: int, confidence: float, seed: int) -> dict[str, dict[str, Any]]:
    """Per axis: alpha(reference, labels) - alpha(reference, other) on the same fragments, with a paired interval;
    `other` a list of codings: minus the mean of their alphas (`mean_coder_alpha`), resampled on the same fragments.

    Two alphas with overlapping intervals can still differ reliably (or not): their intervals come from
    separate resamples. Here every bootstrap resample draws the same fragments for both codings, so the
    interval is that of the difference itself; it excludes 0 only when the data resolve which coding agrees
    better with the reference. Same keys as `axis_alpha` ("alpha" holds the difference), so
    `summarise_seeds` summarises it over seeds."""
    others = [other] if isinstance(other, np.ndarray) else list(other)
    return _per_axis_statistic(codebook, [reference, labels, *others], _alpha_difference, _resampled_alpha_difference,
                               n_boot=n_boot, confidence=confidence, seed=seed)


def summarise_seeds(per_seed: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Mean, min and max of alpha over seeds per axis, and the mean of the seeds' interval bounds."""
    out = {}
    for axis in per_seed[0]:
        values = [s[axis]["alpha"] for s in per_seed if s[axis]["alpha"] is not None]
        bounds = [s[axis]["ci"] for s in per_seed if s[axis]["ci"]]
        out[axis] = {
            "mean": round(float(np.mean(values)), 4) if values else None,
            "min": round(float(np.min(values)), 4) if values else None,
            "max": round(float(np.max(values)), 4) if values else None,
            "ci_mean": [round(float(np.mean([b[0] for b in bounds])), 4),
                        round(float(np.mean([b[1] for b in bounds])), 4)] if bounds else None,
            "seeds": [None if v is None else round(v, 4) for v in (s[axis]["alpha"] for s in per_seed)],
            "n": per_seed[0][axis]["n"],
        }
    return out


# --------------------------------------------------------------------------- the command


def encoder_embeddings(backbone_spec: str, texts: Sequence[str], n_codes: int, *, prefix: str, max_length: int,
                       model_dir: Path | None = None, share: float = 0.0) -> np.ndarray:
    """Embeddings of `texts` by the encoder adapt builds: the backbone `backbone_spec`, moved `share` of the way
    to `model_dir`'s fine-tuned encoder (share 0, the default: the pretrained backbone, what the frozen-e5
    baseline reads)."""
    from pipeline.model.backbone import resolve_backbone

    backbone_dir = resolve_backbone(backbone_spec, cache_dir=REPO_ROOT / "models")
    if share > 0:
        if model_dir is None:
            raise ValueError("a share of the fine-tuned encoder needs the model dir that holds it")
        model, tokenizer = adaptation_embedder(backbone_dir, model_dir, share, n_codes)
    else:
        model, tokenizer = pretrained_embedder(backbone_dir, n_codes)
    return embed(model, tokenizer, list(texts), text_prefix=prefix, max_length=max_length)


def validation_split(replay: Path | None, coder: str, codebook: Codebook, backbone_spec: str, *, prefix: str,
                     max_length: int) -> ValidationSplit | None:
    """The fragments of `replay`'s validation split fully coded by `coder` (`adapt.replay_coder`), with their
    pretrained-encoder embeddings; None where there is no replay or it has no such fragments."""
    from pipeline.core.documents import read_prepared

    if replay is None:
        return None
    chosen = labelled_split(read_prepared(replay), split="validation", coder=coder, code_ids=codebook.code_ids,
                            source=replay)
    if not len(chosen):
        return None
    print(f"crossval: {len(chosen)} validation fragments (the per-code baselines' thresholds); embedding",
          file=sys.stderr)
    frozen = encoder_embeddings(backbone_spec, list(chosen.texts), len(codebook.code_ids), prefix=prefix,
                                max_length=max_length)
    return ValidationSplit(list(chosen.texts), np.array(chosen.labels, dtype=float), frozen, list(chosen.collections))


def load_data(collection: Path, coders: Sequence[str], model_dir: Path, replay: Path | None,
              params: AdaptParams, codebook: Codebook, *, max_fragment_tokens: int, min_fragment_share: float,
              min_span_share: float, group_by: str, backbone: str | None = None) -> tuple[Data, list[dict[str, Any]]]:
    records = labelled_records([collection], codebook, max_fragment_tokens=max_fragment_tokens,
                               min_fragment_share=min_fragment_share, min_span_share=min_span_share,
                               group_by=group_by)
    team = team_fragments(records, coders=coders, codebook=codebook, group_by="group")
    if len(set(team.groups)) < 2:
        raise InputError(collection, f"leave-one-out needs at least two groups by '{group_by}', found "
                                     f"{len(set(team.groups))}")
    model, tokenizer, metadata = load_model(model_dir, codebook)
    fragments = replay_fragments(replay, coder=params.replay_coder, codebook=codebook, limit=sys.maxsize,
                                 seed=params.seed)
    replay_texts, replay_y, collections = fragments.texts, fragments.labels, fragments.collections
    stored = load_replay(model_dir)
    if stored is not None and len(stored[0]) == len(replay_texts) and np.array_equal(stored[1], replay_y):
        replay_tuned = stored[0]  # the same fragments, encoded by the same frozen encoder at training time
    else:
        replay_tuned = embed(model, tokenizer, replay_texts, text_prefix=metadata.text_prefix,
                             max_length=metadata.max_length)
    if len(replay_texts) > params.max_replay:
        chosen = np.sort(np.random.default_rng(params.seed).choice(len(replay_texts), params.max_replay, replace=False))
        replay_texts, replay_y, replay_tuned = [replay_texts[i] for i in chosen], replay_y[chosen], replay_tuned[chosen]
        collections = [collections[i] for i in chosen]
    texts = team.texts + replay_texts
    print(f"crossval: {len(team)} team fragments in {len(set(team.groups))} groups, {len(replay_texts)} replay "
          f"fragments; embedding", file=sys.stderr)
    team_tuned = embed(model, tokenizer, team.texts, text_prefix=metadata.text_prefix, max_length=metadata.max_length)
    tuned = np.vstack([team_tuned, replay_tuned]) if len(replay_texts) else team_tuned
    # the metadata records a backbone outside the checkout by name only (no path of the training machine)
    spec = backbone or metadata.backbone["spec"]
    frozen = encoder_embeddings(spec, texts, len(codebook.code_ids), prefix=metadata.text_prefix,
                                max_length=metadata.max_length)
    share = finetuned_share(params) if builds_encoder(params, metadata) else 1.0
    adapted = {0.0: frozen, 1.0: tuned}.get(share)
    if adapted is None:
        print(f"crossval: embedding with the {params.encoder} encoder ({share:g} fine-tuned)", file=sys.stderr)
        adapted = encoder_embeddings(spec, texts, len(codebook.code_ids), prefix=metadata.text_prefix,
                                     max_length=metadata.max_length, model_dir=model_dir, share=share)
    validation = validation_split(replay, params.replay_coder, codebook, spec, prefix=metadata.text_prefix,
                                  max_length=metadata.max_length)
    data = Data(team=team, texts=texts, y=np.vstack([team.labels, replay_y]), tuned=tuned, frozen=frozen,
                adapted=adapted, validation=validation,
                n_team=len(team), base_weight=model.head.weight.detach().numpy().copy(),
                base_bias=model.head.bias.detach().numpy().copy(),
                base_thresholds=np.array([metadata.thresholds[c] for c in codebook.code_ids]),
                replay_collections=collections)
    return data, records


# The systems the default is compared with, fragment by fragment (metrics key -> system name): the base model,
# and each baseline twice, per code with the team's rates as decision (as first built) and in the default's own
# form, four categories per axis (frozen e5 that way is the default's head on the pretrained encoder). A system
# that is the default itself (a default on the pretrained encoder) is not compared with itself.
TFIDF = "baseline: TF-IDF + LR, same data"
FROZEN_LR = "baseline: frozen e5 + LR, same data"
# the per-code baselines as built until round 10: the decision on the base model's thresholds, tuned on another
# model's scores (kept beside their own-threshold form, which does worse on the quotes: a comparison with the
# weaker form alone would flatter the default)
BORROWED = ", the base model's thresholds"
TFIDF_CATEGORIES = "baseline: TF-IDF + four categories per axis (the default's head), same data"
FROZEN_CATEGORIES = "axis categories on the pretrained encoder"
COMPARED_SYSTEMS = {"base": "base model (no adaptation)", "tfidf": TFIDF, "frozen_lr": FROZEN_LR,
                    "tfidf_base_thresholds": TFIDF + BORROWED, "frozen_lr_base_thresholds": FROZEN_LR + BORROWED,
                    "tfidf_categories": TFIDF_CATEGORIES, "frozen_categories": FROZEN_CATEGORIES}


def baseline_thresholds_note(data: Data, params: AdaptParams) -> str:
    """Where the per-code baselines' decision thresholds come from, for crossval.json."""
    if data.validation is None:
        return "0.5 for every code: the replay has no validation split to tune them on"
    counts = Counter(data.validation.collections)
    return (f"tuned per fit on the replay's validation split ({len(data.validation.texts)} fragments coded by "
            f"{params.replay_coder}: " + ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))
            + "), per code the best F1 over adapt.threshold_grid, a collection weighing 0 on an axis left out of it")


def compared_systems(measured: Mapping[str, Any]) -> dict[str, str]:
    """`COMPARED_SYSTEMS` less those not among the `measured` systems (the default is not compared with itself)."""
    return {key: name for key, name in COMPARED_SYSTEMS.items() if name in measured}


def human_labels(records: Sequence[dict[str, Any]], ids: Sequence[str], human: str, codebook: Codebook,
                 source: Path) -> np.ndarray:
    """0/1 labels [len(ids), n_codes] of coder `human` on the team fragments `ids`, row by row (a code the coder
    did not give reads 0): a human reference beside the model. A fragment of `ids` the coder did not code is an
    InputError naming `source`."""
    coded = team_fragments(records, coders=[human], codebook=codebook, group_by="group")
    by_id = dict(zip(coded.ids, coded.labels))
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise InputError(source, f"human coder '{human}' did not code {len(missing)} of the fragments")
    return np.nan_to_num(np.array([by_id[i] for i in ids]), nan=0.0)


def crossval(*, collection: Path, coders: Sequence[str], humans: Sequence[str] = (), model_dir: Path,
             replay: Path | None, output_dir: Path, params_path: Path | None = None,
             codebook_path: Path | None = None, backbone: str | None = None) -> dict[str, Any]:
    """Run the leave-one-case-out experiments and write `output_dir` (see the module docstring)."""
    all_params = load_params(params_path)
    params, settings = all_params.adapt, all_params.crossval
    codebook = load_codebook(codebook_path)
    data, records = load_data(collection, coders, model_dir, replay, params, codebook,
                              max_fragment_tokens=all_params.segment.max_fragment_tokens,
                              min_fragment_share=all_params.prepare.min_fragment_share,
                              min_span_share=all_params.prepare.min_span_share, group_by=settings.group_by,
                              backbone=backbone)
    team, grid = data.team, params.threshold_grid
    groups = np.array(team.groups)
    cases = sorted(set(team.groups))
    n_replay = len(data.texts) - data.n_team
    reference = team.labels

    def boot(labels: np.ndarray, seed: int) -> dict[str, dict[str, Any]]:
        return axis_alpha(reference, labels, codebook, n_boot=settings.n_boot, confidence=settings.confidence,
                          seed=seed)

    humans_out = {}
    human_codings: dict[str, np.ndarray] = {}
    for human in humans:
        human_codings[human] = human_labels(records, team.ids, human, codebook, collection)
        humans_out[human] = summarise_seeds([boot(human_codings[human], settings.seeds[0])])

    variants = systems(data, params, all_params.evaluate.tfidf, codebook, settings.real_weights)
    default_name = default_system_name(params)

    results: dict[str, Any] = {}
    predictions: dict[str, np.ndarray] = {}
    jobs = [(name, seed) for name in variants for seed in settings.seeds]
    per_variant: dict[str, list[dict[str, dict[str, Any]]]] = {name: [] for name in variants}
    labels_by_seed: dict[tuple[str, int], np.ndarray] = {}
    for name, seed in progress(jobs, desc="crossval", unit="run"):
        fit, decision, use_replay = variants[name]
        floor = 0.0 if "min_evidence 0)" in name else params.min_evidence
        replay_rows = _replay_sample(data, n_replay, settings.replay_fraction, seed) if use_replay else np.array([], int)
        labels = np.zeros(reference.shape, dtype=int)
        probabilities = np.zeros(reference.shape)
        for case in cases:
            test = np.flatnonzero(groups == case)
            train = np.flatnonzero(groups != case)
            probabilities[test], labels[test] = predict_held_out(fit, data, train, test, replay_rows,
                                                                 decision=decision, grid=grid, codebook=codebook,
                                                                 min_evidence=floor)
        per_variant[name].append(boot(labels, seed))
        labels_by_seed[name, seed] = labels
        if seed == settings.seeds[0]:
            predictions[name] = np.hstack([labels, probabilities])
    for name in variants:
        results[name] = summarise_seeds(per_variant[name])

    def versus(other: dict[int, Any]) -> dict[str, dict[str, Any]]:
        """The default's paired difference to another coding, per seed (the default's labels of that seed)."""
        return summarise_seeds([paired_difference(reference, labels_by_seed[default_name, seed], other[seed],
                                                  codebook, n_boot=settings.n_boot, confidence=settings.confidence,
                                                  seed=seed) for seed in settings.seeds])

    comparisons = {f"human_{h}": versus({seed: human_codings[h] for seed in settings.seeds}) for h in humans}
    human_mean = None
    if len(humans) > 1:  # one person's reading varies as much as the gaps: the mean of several is the reference
        together = [human_codings[h] for h in humans]
        human_mean = summarise_seeds([mean_coder_alpha(reference, together, codebook, n_boot=settings.n_boot,
                                                       confidence=settings.confidence, seed=settings.seeds[0])])
        comparisons["human_mean"] = versus({seed: together for seed in settings.seeds})
    compared = compared_systems(variants)
    for key, name in compared.items():
        comparisons[key] = versus({seed: labels_by_seed[name, seed] for seed in settings.seeds})

    curve = learning_curve(data, groups, cases, reference, params, settings, codebook, boot)
    output = {
        "collection": str(collection),
        "reference_coders": list(coders),
        "cases": cases,
        "n_fragments": len(team),
        "n_replay": n_replay,
        "seeds": list(settings.seeds),
        "what_a_seed_changes": "the replay sample and, on the learning curve, the team fragments drawn",
        "humans": humans_out,
        "human_mean": human_mean,
        "systems": results,
        "default": default_name,
        "compared_systems": compared,
        "baseline_thresholds": baseline_thresholds_note(data, params),
        "default_minus": comparisons,
        "learning_curve": curve,
        "params": {"adapt": asdict(params), "crossval": asdict(settings)},
    }
    _write(output_dir, output, predictions[default_name], team, records, codebook)
    return output


System = tuple[Callable[[np.ndarray], Predictor], str | None, bool]  # (system, decision kind or None, replay used)
POLES_HEAD = "poles head refitted + decision 'rates' on the fine-tuned encoder"


def default_system_name(params: AdaptParams) -> str:
    """The name of the system `adapt` builds with `params` (the one the headline figures and curve report)."""
    if params.head == AXIS_CATEGORIES:
        return f"adapted: axis categories on the {params.encoder} encoder (default)"
    return f"adapted: head refitted + decision '{params.decision}' (default)"


def systems(data: Data, params: AdaptParams, tfidf: TfidfParams, codebook: Codebook,
            real_weights: Sequence[float]) -> dict[str, System]:
    """Every system crossval measures: the steps from the base model to the default, the variants tried (the
    ablation), and the baselines trained on the same data. Each variant changes one thing."""
    head = head_system(data, params)

    def categories(features: np.ndarray, team_rates: bool = False, **changes: Any) -> Callable[[np.ndarray], Predictor]:
        return category_system(data, AdaptParams(**{**asdict(params), **changes}), features=features,
                               codebook=codebook, team_rates=team_rates)

    # the categories variants below change one thing of the default: its encoder (`adapt.encoder`) stays
    default_encoder = f"{params.encoder} encoder" if params.head == AXIS_CATEGORIES else "pretrained encoder"
    default_features = data.adapted if params.head == AXIS_CATEGORIES else data.frozen

    out: dict[str, System] = {
        "base model (no adaptation)": (base_system(data), None, False),
        "+ decision switches from the team's coding rates (head unchanged)": (base_system(data), "rates", False),
        "+ head refitted on the team's coding (base thresholds)": (head, None, True),
        POLES_HEAD: (head, params.decision, True),
        "poles head, decision tuned by grouped CV (thresholds + switches)": (head, "axis", True),
        "poles head, switches tuned by grouped CV (base thresholds)": (head, "switches", True),
        "poles head, six thresholds tuned by grouped CV": (head, "thresholds", True),
        "poles head without replay": (head, params.decision, False),
        "poles head, 'at least one pole' everywhere (min_evidence 0)": (head, params.decision, True),
        # (the poles head replays every fragment at weight 1: so do its ensemble partners)
        "poles head + frozen-e5 LR (ensemble)": (
            ensemble(head, frozen_lr_system(data, params, codebook, {}, own=False)), params.decision, True),
        "poles head + TF-IDF LR (ensemble)": (
            ensemble(head, tfidf_system(data, params, tfidf, codebook, {}, own=False)), params.decision, True),
        f"axis categories on the {default_encoder}, without replay": (categories(default_features), CATEGORIES, False),
    }
    for encoder, features in (("fine-tuned", data.tuned), ("pretrained", data.frozen)):
        if f"{encoder} encoder" != default_encoder or params.head != AXIS_CATEGORIES:
            out[f"axis categories on the {encoder} encoder"] = (categories(features), CATEGORIES, True)
    for weight in real_weights:
        out[f"axis categories, {default_encoder}, real_weight {weight:g}"] = (
            categories(default_features, real_weight=weight), CATEGORIES, True)
    out[f"axis categories, {default_encoder}, shifted to the team's category rates"] = (
        categories(default_features, team_rates=True), CATEGORIES, True)
    for c in (0.3, 3.0):
        out[f"axis categories, {default_encoder}, C {c:g}"] = (categories(default_features, category_c=c),
                                                               CATEGORIES, True)
    if params.head == AXIS_CATEGORIES and params.reweighted_collections() & set(data.replay_collections):  # README item 16
        out[f"axis categories, {default_encoder}, every replay fragment weighing 1 on every axis"] = (
            category_system(data, params, features=default_features, codebook=codebook, replay_weights={}),
            CATEGORIES, True)
    default = default_system_name(params)
    if params.head == AXIS_CATEGORIES:
        out[default] = (categories(default_features), CATEGORIES, True)
    else:
        out[default] = (head, params.decision, True)
    out[TFIDF] = (tfidf_system(data, params, tfidf, codebook), params.decision, True)
    out[FROZEN_LR] = (frozen_lr_system(data, params, codebook), params.decision, True)
    out[TFIDF + BORROWED] = (tfidf_system(data, params, tfidf, codebook, own=False), params.decision, True)
    out[FROZEN_LR + BORROWED] = (frozen_lr_system(data, params, codebook, own=False), params.decision, True)
    out[TFIDF_CATEGORIES] = (tfidf_category_system(data, params, tfidf, codebook), CATEGORIES, True)
    return out


def _replay_sample(data: Data, n_replay: int, fraction: float, seed: int) -> np.ndarray:
    size = int(round(n_replay * fraction))
    chosen = np.random.default_rng(seed).choice(n_replay, size=size, replace=False) if size < n_replay \
        else np.arange(n_replay)
    return np.sort(chosen) + data.n_team


def learning_curve(data: Data, groups: np.ndarray, cases: list[str], reference: np.ndarray, params: AdaptParams,
                   settings: CrossvalParams, codebook: Codebook,
                   boot: Callable[[np.ndarray, int], dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Agreement on the held-out cases against the number of the team's own coded fragments used."""
    n_replay = len(data.texts) - data.n_team
    sizes = sorted(set(settings.learning_curve)) + ["all"]
    rows = []
    fit, decision, _ = systems(data, params, TfidfParams(), codebook, [])[default_system_name(params)]
    for size in progress(sizes, desc="learning curve", unit="size"):
        per_seed = []
        used = []
        for seed in settings.seeds:
            replay_rows = _replay_sample(data, n_replay, settings.replay_fraction, seed)
            labels = np.zeros(reference.shape, dtype=int)
            for case in cases:
                test = np.flatnonzero(groups == case)
                pool = np.flatnonzero(groups != case)
                rng = np.random.default_rng([seed, cases.index(case)])
                train = pool if size == "all" or int(size) >= len(pool) else np.sort(rng.choice(pool, int(size), replace=False))
                used.append(len(train))
                if len(train) == 0 and decision != CATEGORIES:  # no team coding: the base model as it is
                    _, labels[test] = predict_held_out(base_system(data), data, train, test, replay_rows,
                                                       decision=None, grid=params.threshold_grid, codebook=codebook)
                else:  # (the categories head without team coding: fitted on the replay fragments alone)
                    _, labels[test] = predict_held_out(fit, data, train, test, replay_rows, decision=decision,
                                                       grid=params.threshold_grid, codebook=codebook,
                                                       min_evidence=params.min_evidence)
            per_seed.append(boot(labels, seed))
        rows.append({"n_team_fragments": size, "n_used_mean": float(np.mean(used)),
                     "axes": summarise_seeds(per_seed)})
    return rows


def _difference_metric(summary: dict[str, Any]) -> dict[str, Any]:
    low, high = summary["ci_mean"] or (None, None)
    return {"mean": summary["mean"], "ci_low": low, "ci_high": high}


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _write(output_dir: Path, output: dict[str, Any], default_predictions: np.ndarray, team: TeamFragments,
           records: list[dict[str, Any]], codebook: Codebook) -> None:
    from pipeline.report.crossval_page import crossval_page

    code_ids = codebook.code_ids
    n = len(code_ids)
    text_of = {r["id"]: r["text"] for r in records}
    headline: dict[str, dict[str, Any]] = {"loco": {}}
    headline["loco"]["adapted"] = {axis: s["mean"] for axis, s in output["systems"][output["default"]].items()}
    for key, name in output["compared_systems"].items():
        headline["loco"][key] = {axis: s["mean"] for axis, s in output["systems"][name].items()}
    for human, summary in output["humans"].items():
        headline["loco"][f"human_{human}"] = {axis: s["mean"] for axis, s in summary.items()}
    if output.get("human_mean"):
        headline["loco"]["human_mean"] = {axis: s["mean"] for axis, s in output["human_mean"].items()}
    headline["adapted_minus"] = {key: {axis: _difference_metric(s) for axis, s in summary.items()}
                                 for key, summary in output["default_minus"].items()}
    with atomic_directory(output_dir) as staging:
        (staging / "crossval.json").write_text(json.dumps(output, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (staging / "metrics.json").write_text(json.dumps(headline, indent=2) + "\n", encoding="utf-8")
        curve = [(round(row["n_used_mean"], 2), axis, s)  # fragments actually used (a size above the pool: all)
                 for row in output["learning_curve"] for axis, s in row["axes"].items()]
        _write_csv(staging / "learning_curve.csv", ["n_team_fragments", "axis", "alpha_mean", "alpha_min", "alpha_max"],
                   [[size, axis, s["mean"], s["min"], s["max"]] for size, axis, s in curve])
        for one in codebook.axes:  # one file per axis: what `dvc plots` draws as one line each
            _write_csv(staging / f"learning_curve_{one.id}.csv", ["n_team_fragments", "alpha_mean", "alpha_min", "alpha_max"],
                       [[size, s["mean"], s["min"], s["max"]] for size, axis, s in curve if axis == one.id])
        _write_csv(staging / "ablation.csv", ["system", "axis", "alpha_mean", "alpha_min", "alpha_max", "ci_low", "ci_high"],
                   [[name, axis, s["mean"], s["min"], s["max"], *(s["ci_mean"] or [None, None])]
                    for name, axes in output["systems"].items() for axis, s in axes.items()])
        with (staging / "loco_predictions.jsonl").open("w", encoding="utf-8") as handle:
            for k, fragment_id in enumerate(team.ids):
                row = default_predictions[k]
                handle.write(json.dumps({
                    "id": fragment_id, "document": team.documents[k], "case": team.groups[k],
                    "text": text_of.get(fragment_id, ""), "coded": True,
                    "labels": {c: int(row[i]) for i, c in enumerate(code_ids)},
                    "scores": {c: round(float(row[n + i]), 4) for i, c in enumerate(code_ids)},
                    "reference": {c: None if np.isnan(team.labels[k, i]) else int(team.labels[k, i])
                                  for i, c in enumerate(code_ids)},
                }, ensure_ascii=False) + "\n")
        (staging / "report.html").write_text(crossval_page(output, codebook), encoding="utf-8")
