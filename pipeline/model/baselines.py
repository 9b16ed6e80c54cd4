"""Baselines the model must beat, trained on the same train split and labels as the model.

- **majority**: per code, the label most train fragments have (ties: absent). It never finds a rare code,
  so its F1 on such a code is 0 while its percent agreement can look high: a reminder why chance-corrected
  coefficients matter.
- **tfidf**: word and word-pair TF-IDF features with one logistic regression per code (one-vs-rest),
  seeded; hyperparameters in `configs/params.yaml` section `evaluate.tfidf`. A code with one label only in
  the train split gets that label everywhere (scikit-learn's constant predictor).

Both take texts as the model sees them (timestamps removed, whitespace collapsed) and return 0/1 label
matrices of shape (n_texts, n_codes), codes in codebook order.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from pipeline.core.params import TfidfParams
from pipeline.model.classifier import model_input_text


def majority_labels(train_labels: np.ndarray, n_texts: int) -> np.ndarray:
    """Per code the majority label of ``train_labels`` (n_train, n_codes), repeated for ``n_texts`` rows."""
    if train_labels.ndim != 2 or len(train_labels) == 0:
        raise ValueError(f"train_labels must be a non-empty (n_train, n_codes) matrix, got shape {train_labels.shape}")
    majority = (train_labels.mean(axis=0) > 0.5).astype(int)
    return np.tile(majority, (n_texts, 1))


def tfidf_labels(
    train_texts: Sequence[str], train_labels: np.ndarray, texts: Sequence[str], *, params: TfidfParams, seed: int
) -> np.ndarray:
    """Fit TF-IDF + one-vs-rest logistic regression on the train split and label ``texts`` (n_texts, n_codes).

    ``params``: ``ngram_range`` [low, high], ``min_df``, ``max_df``, ``max_features`` (null = all),
    ``sublinear_tf``, ``C``, ``class_weight`` (``balanced`` or null) and ``max_iter``.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    vectoriser = TfidfVectorizer(
        ngram_range=tuple(int(n) for n in params.ngram_range),
        min_df=params.min_df,
        max_df=params.max_df,
        max_features=params.max_features,
        sublinear_tf=bool(params.sublinear_tf),
        lowercase=True,
    )
    classifier = OneVsRestClassifier(
        LogisticRegression(
            C=float(params.C),
            class_weight=params.class_weight,
            max_iter=int(params.max_iter),
            solver="liblinear",  # deterministic for a random_state, fine for a few thousand sparse features
            random_state=seed,
        )
    )
    features = vectoriser.fit_transform([model_input_text(t, "") for t in train_texts])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Label not .* is present in all training examples")
        classifier.fit(features, np.asarray(train_labels, dtype=int))
    if len(texts) == 0:
        return np.zeros((0, train_labels.shape[1]), dtype=int)
    predicted = classifier.predict(vectoriser.transform([model_input_text(t, "") for t in texts]))
    return np.asarray(predicted, dtype=int).reshape(len(texts), train_labels.shape[1])
