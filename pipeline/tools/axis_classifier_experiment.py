"""Experiment: one 4-category classifier per axis instead of two pole scores and a decision rule.

Issue 10 item 5 asks for "a per-axis decision (pole A / pole B / both / neither) instead of six independent
thresholds". `capcode crossval` measures the rule-based forms of it (thresholds and switches per axis, tuned
by grouped CV or read off the coding rates). This tool measures the learned form: per axis, a multinomial
logistic regression over the axis's four categories, on the fine-tuned encoder's embeddings (`tuned`) or on
the frozen pretrained e5 (`frozen`), trained on exactly what the adapted head sees (the team fragments of the
two training cases, weighted `adapt.real_weight`, plus the same replay sample per seed), scored leave one
case out on the bundled real quotes like `capcode crossval` (same seeds, same alpha, same intervals).

This experiment found the head `capcode adapt` now writes by default (`adapt.head: axis_categories`,
`adapt.encoder: pretrained`, `pipeline/model/category_head.py`); `capcode crossval` measures that head itself
(its default system and ablation rows), so this tool stays as the record of how it was found.

Run: ``python -m pipeline.tools.axis_classifier_experiment -o reports/experiments/axis_classifier.json``
(about 3 minutes on 2 cores: the replay fragments are embedded with the frozen encoder once).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.params import load_params
from pipeline.model.decision import axis_category
from pipeline.tools import write_result


def axis_labels(category: np.ndarray) -> np.ndarray:
    """Pole pairs [n, 2] (0/1) of axis categories 0..3 (only pole 1, only pole 2, both, neither)."""
    return np.stack([(category == 0) | (category == 2), (category == 1) | (category == 2)], axis=1).astype(int)


def fit_predict_axes(x_train: np.ndarray, y_train: np.ndarray, weights: np.ndarray, x_test: np.ndarray,
                     codebook: Codebook, seed: int) -> np.ndarray:
    """0/1 labels [n_test, n_codes]: per axis a multinomial logistic regression over its four categories."""
    from sklearn.linear_model import LogisticRegression

    index = {c: k for k, c in enumerate(codebook.code_ids)}
    labels = np.zeros((len(x_test), len(codebook.code_ids)), dtype=int)
    for axis in codebook.axes:
        i, j = index[axis.poles[0]], index[axis.poles[1]]
        category = axis_category(y_train[:, i], y_train[:, j])
        known = ~np.isnan(category)
        model = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
        model.fit(x_train[known], category[known].astype(int), sample_weight=weights[known])
        labels[:, [i, j]] = axis_labels(model.predict(x_test))
    return labels


def run(*, seed_list: Sequence[int] | None = None) -> dict[str, Any]:
    from pipeline.core.config import REPO_ROOT
    from pipeline.crossval import _replay_sample, axis_alpha, load_data, summarise_seeds

    params = load_params()
    codebook = load_codebook()
    settings = params.crossval
    data, _ = load_data(REPO_ROOT / "corpus" / "study-quotes", ["report", "dev"], REPO_ROOT / "models" / "base",
                        REPO_ROOT / "data" / "prepared" / "fragments.jsonl", params.adapt, codebook,
                        max_fragment_tokens=params.segment.max_fragment_tokens,
                        min_fragment_share=params.prepare.min_fragment_share,
                        min_span_share=params.prepare.min_span_share, group_by=settings.group_by)
    groups = np.array(data.team.groups)
    cases = sorted(set(data.team.groups))
    n_replay = len(data.texts) - data.n_team

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    out: dict[str, Any] = {"protocol": "leave one case out on corpus/study-quotes, reference report+dev",
                           "systems": {}}
    for name, features in (("4-category LR per axis, fine-tuned encoder", unit(data.tuned)),
                           ("4-category LR per axis, frozen e5", unit(data.frozen))):
        per_seed = []
        for seed in seed_list or settings.seeds:
            replay_rows = _replay_sample(data, n_replay, settings.replay_fraction, seed)
            labels = np.zeros(data.team.labels.shape, dtype=int)
            for case in cases:
                test = np.flatnonzero(groups == case)
                rows = np.concatenate([np.flatnonzero(groups != case), replay_rows])
                weights = np.where(rows < data.n_team, params.adapt.real_weight, 1.0)
                labels[test] = fit_predict_axes(features[rows], data.y[rows], weights, features[test], codebook, seed)
            per_seed.append(axis_alpha(data.team.labels, labels, codebook, n_boot=settings.n_boot,
                                       confidence=settings.confidence, seed=seed))
        out["systems"][name] = summarise_seeds(per_seed)
        print(f"axis classifier: {name}: " + "  ".join(
            f"{a} {s['mean']:.3f} ({s['min']:.2f}-{s['max']:.2f})" for a, s in out["systems"][name].items()),
            file=sys.stderr)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    result = run()
    write_result(args.output, result)


if __name__ == "__main__":
    main()
