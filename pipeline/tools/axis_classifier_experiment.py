"""Experiment: one 4-category classifier per axis instead of two pole scores and a decision rule.

Issue 10 item 5 asks for "a per-axis decision (pole A / pole B / both / neither) instead of six independent
thresholds". `capcode crossval` measures the rule-based forms of it (thresholds and switches per axis, tuned
by grouped CV or read off the coding rates). This tool measures the learned form: per axis, a multinomial
logistic regression over the axis's four categories, on the fine-tuned encoder's embeddings (`tuned`) or on
the frozen pretrained e5 (`frozen`), trained on exactly what the adapted head sees (the team fragments of the
two training cases, weighted `adapt.real_weight`, plus the same replay sample per seed), scored leave one
case out on the bundled real quotes like `capcode crossval` (same seeds, same alpha, same intervals).

This experiment found the head `capcode adapt` now writes by default (`adapt.head: axis_categories`,
`pipeline/model/category_head.py`, first on the pretrained encoder, now on the interpolated one); it fits that
head's own code, and `capcode crossval` measures the head as shipped (its default system and ablation rows),
so this tool stays as the record of how it was found.

Run: ``python -m pipeline.tools.axis_classifier_experiment -o reports/experiments/axis_classifier.json``
(about 3 minutes on 2 cores: the replay fragments are embedded with the frozen encoder once).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.codebook import Codebook
from pipeline.tools import load_quotes_setup, main_on_prepared


def fit_predict_axes(x_train: np.ndarray, y_train: np.ndarray, weights: np.ndarray, x_test: np.ndarray,
                     codebook: Codebook, seed: int) -> np.ndarray:
    """0/1 labels [n_test, n_codes]: per axis a multinomial logistic regression over its four categories, C 1
    (`category_head.fit_category_head`, the head it became), the most probable category of each test row."""
    from pipeline.model.category_head import category_probabilities, fit_category_head
    from pipeline.model.decision import axis_pole_indices, decide_categories

    poles = axis_pole_indices(codebook.code_ids, codebook)
    weight, bias = fit_category_head(x_train, y_train, weights, poles, c=1.0, seed=seed)
    return decide_categories(category_probabilities(x_test, weight, bias), poles, len(codebook.code_ids))


def run(prepared: Path, *, seed_list: Sequence[int] | None = None) -> dict[str, Any]:
    """Both systems above, leave one case out, on the quotes + the replay of `prepared` (models/base's encoder)."""
    from pipeline.crossval import _replay_sample, axis_alpha, summarise_seeds

    setup = load_quotes_setup(prepared)
    params, codebook, data = setup.params, setup.codebook, setup.data
    settings = params.crossval
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
    main_on_prepared(__doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    main()
