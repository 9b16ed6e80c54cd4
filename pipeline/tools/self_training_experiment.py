"""Self-training on the team's uncoded fragments: the head's own confident predictions fitted as extra rows, a
lever on the head's fit (README item 31).

A team that adapts capcode has coded a few interviews and wants the rest pre-coded: the text of the rest is there,
uncoded, at adapt time, and it is real speech of the very interviews the model must code. Self-training (pseudo-
labelling; Yarowsky 1995, Lee 2013) is the simplest way to let that text shape the head: fit the head as `adapt`
does, predict the uncoded fragments, add those it is sure of as rows coded with its own predicted category per
axis, fit again, and predict them once more. Where the replay's boundaries sit off the real speech, the uncoded
fragments' own cloud can move them; where the head is wrong with confidence, it learns its errors.

Settings (fixed before looking): a fragment's axis becomes a pseudo-coded row where its most probable category's
probability is at least `threshold` (0: every fragment; 0.5, 0.7: the confident ones; an axis below it is
masked, never read as "neither"), each such row weighing `weight` in the head's loss (1: as a replay fragment;
`adapt.real_weight`: as a coded team fragment). One round of refitting.

Scored like items 26-30 (`ShippedBench`: adapt's C, `real_weight`, `replay_weights`):

1. ``loco``: leave one case out on the 47 quotes (seeds 1-3, crossval's replay draws): the held-out case is the
   uncoded text, its codes never read before it is scored; ``loco_minus_shipped``, the paired difference to the
   shipped head with crossval's paired bootstrap interval.
2. ``validation`` / ``test``: on each split of the synthetic and field corpora (coder A, never fitted on) the
   head fitted on all quotes + replay, self-trained on that split's own fragments, their codes unread.
3. ``nested``: the setting (shipped included) chosen inside each fold by the two training cases alone
   (`HeadBench.nested`), the honest figure of a team choosing it from its own coding.

Run: ``python -m pipeline.tools.self_training_experiment -o reports/experiments/self_training.json`` (a few
minutes on 2 cores after `make run`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.tools import load_quotes_setup, main_on_prepared
from pipeline.tools.encoder_interpolation_experiment import ShippedBench

THRESHOLDS = (0.0, 0.5, 0.7)
SHIPPED = "shipped"


def pseudo_labels(probabilities: np.ndarray, poles: Sequence[tuple[int, int]], n_codes: int,
                  threshold: float) -> np.ndarray:
    """[n, n_codes] float labels of the most probable category per axis (`decide_categories`), nan on an axis
    whose most probable category's probability is below `threshold` (masked in the head's fit)."""
    from pipeline.model.decision import N_CATEGORIES, decide_categories

    labels = decide_categories(probabilities, poles, n_codes).astype(np.float64)
    confidence = probabilities.reshape(len(probabilities), -1, N_CATEGORIES).max(axis=2)
    for a, (i, j) in enumerate(poles):
        unsure = confidence[:, a] < threshold
        labels[unsure, i] = np.nan
        labels[unsure, j] = np.nan
    return labels


def self_trained_probabilities(fit_x: np.ndarray, fit_y: np.ndarray, fit_weights: np.ndarray, uncoded_x: np.ndarray,
                               poles: Sequence[tuple[int, int]], *, threshold: float, weight: float, c: float,
                               seed: int) -> np.ndarray:
    """Category probabilities of `uncoded_x` by the head fitted on the coded rows (`fit_x`, `fit_y`, per-axis
    `fit_weights`) + `uncoded_x` pseudo-labelled by that head (`pseudo_labels` at `threshold`, each row
    weighing `weight`), one round."""
    from pipeline.model.category_head import category_probabilities, fit_category_head

    first = category_probabilities(uncoded_x, *fit_category_head(fit_x, fit_y, fit_weights, poles, c=c, seed=seed))
    pseudo = pseudo_labels(first, poles, fit_y.shape[1], threshold)
    weights = np.vstack([fit_weights, np.full((len(uncoded_x), fit_weights.shape[1]), weight)])
    head = fit_category_head(np.vstack([fit_x, uncoded_x]), np.vstack([fit_y, pseudo]), weights, poles, c=c,
                             seed=seed)
    return category_probabilities(uncoded_x, *head)


class SelfTrainingBench(ShippedBench):
    """`ShippedBench` whose held-out rows are predicted by the self-trained head. Keys: `SHIPPED` (no
    self-training) or (threshold, weight)."""

    def held_out_labels(self, key: Any, train: np.ndarray, held: np.ndarray, seed: int, *,
                        only_used: bool = False) -> np.ndarray:
        from pipeline.model.decision import decide_categories

        if key == SHIPPED or only_used:
            return super().held_out_labels(key, train, held, seed, only_used=only_used)
        memo = (key, seed, np.asarray(train).tobytes(), np.asarray(held).tobytes())
        if memo not in self._labels:
            rows = np.concatenate([train, self.replay[seed]])
            threshold, weight = key
            probabilities = self_trained_probabilities(
                self.fit_features(key, rows), self.data.y[rows], self.row_weights(key, rows),
                self.features[key][held], self.poles, threshold=threshold, weight=weight, c=self.adapt.category_c,
                seed=self.adapt.seed)
            self._labels[memo] = decide_categories(probabilities, self.poles, len(self.codebook.code_ids))
            self.fits += 2
        return self._labels[memo].copy()

    def split_alphas(self, key: Any, split: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, list[float]]:
        """Alpha per axis on each collection of a held-out split: the head fitted on every team and replay row,
        self-trained on that collection's fragments (shipped: `head_split_alphas`)."""
        from pipeline.tools.encoder_interpolation_experiment import head_split_alphas, split_alphas

        rows = np.arange(len(self.data.texts))
        if key == SHIPPED:
            return head_split_alphas(*self.head_weights(key, rows), split, self.poles, self.codebook)
        threshold, weight = key
        coded = (self.fit_features(key, rows), self.data.y[rows], self.row_weights(key, rows))
        return split_alphas(lambda x: self_trained_probabilities(*coded, x, self.poles, threshold=threshold,
                                                                 weight=weight, c=self.adapt.category_c,
                                                                 seed=self.adapt.seed),
                            split, self.poles, self.codebook)


def label(key: Any) -> str:
    return "shipped (no self-training)" if key == SHIPPED else f"threshold {key[0]:g}, weight {key[1]:g}"


def run(prepared: Path) -> dict[str, Any]:
    from pipeline.model.adaptation import finetuned_share
    from pipeline.tools.encoder_interpolation_experiment import entry_line, means_line

    setup = load_quotes_setup(prepared)
    data, params, codebook = setup.data, setup.params, setup.codebook
    keys: list[Any] = [SHIPPED] + [(threshold, weight) for threshold in THRESHOLDS
                                   for weight in (1.0, float(params.adapt.real_weight))]
    bench = SelfTrainingBench(data, {key: data.adapted for key in keys}, params, codebook)
    print("self-training: embedding the validation and test splits", file=sys.stderr)
    splits = {split: setup.held_out(split, finetuned_share(params.adapt)) for split in ("validation", "test")}
    out: dict[str, Any] = {"what": __doc__.splitlines()[0], "seeds": list(params.crossval.seeds),
                           "n_quotes": data.n_team, "n_replay": len(data.texts) - data.n_team,
                           "axes": [axis.id for axis in codebook.axes], "settings": {}}
    for key in keys:
        entry: dict[str, Any] = {
            "loco": bench.loco(key),
            "loco_minus_shipped": None if key == SHIPPED else bench.loco_minus(key, SHIPPED),
            **{split: bench.split_alphas(key, splits[split]) for split in ("validation", "test")}}
        out["settings"][label(key)] = entry
        print(f"self-training: {label(key)}: {entry_line(entry)}", file=sys.stderr)
    nested = bench.nested(keys)
    nested["chosen"] = [{**c, "key": label(c["key"])} for c in nested["chosen"]]
    out["nested"] = nested
    print(f"self-training: chosen inside each fold: {means_line(nested['axes'])}", file=sys.stderr)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    main_on_prepared(__doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    main()
