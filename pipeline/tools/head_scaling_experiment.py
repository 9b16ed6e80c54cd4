"""The shipped head on embeddings scaled per dimension (standardised or whitened) instead of unit length only,
a dead end (round 13, README item 26).

The shipped categories head is a logistic regression on unit-length mean-pooled embeddings, with one L2 strength
(`adapt.category_c`) for every direction of the embedding space. e5's space is anisotropic: a few directions
carry most of the spread, and the L2 penalty then leaves those free and all but shuts the rest. The textbook
preprocessing for a linear classifier does the opposite and gives every direction the same spread first:

- ``standardised``: each dimension of the unit-length embeddings centred and divided by its standard deviation;
- ``whitened``: centred and multiplied by the inverse square root of their covariance (Ledoit-Wolf shrinkage, so
  that 2,000 rows in 384 dimensions give a well-conditioned estimate).

Both are fitted on the rows of each head's own fit (the training cases' quotes + the seed's replay; no labels
used) and folded into the head's linear layer afterwards, so a model with them would predict as fast as now.
(Only centring them is no change: with an intercept a shift of the features is absorbed exactly, and the fit
equals the shipped one at the same C.) Per-dimension scaling changes what a given C means, so each is tried over a
grid of C and the C is chosen on the validation split (synthetic + field interviews, coder A, never fitted on;
the best mean alpha over axes and collections), as item 11 chose C for the shipped head. Everything else is the
shipped head (`ShippedBench`: real_weight, replay and its weighting per axis). Scored leave one case out on the 47
quotes (seeds 1-3, with the paired difference to the shipped head) and on the synthetic / field test splits.

Run: ``python -m pipeline.tools.head_scaling_experiment -o reports/experiments/head_scaling.json`` (5-7
minutes on 2 cores after `make run`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.tools import load_quotes_setup, main_on_prepared

SCALINGS = ("standardised", "whitened")
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
SHIPPED = ("unit", None)  # the shipped head: unit-length rows only, adapt.category_c


def scaling_transform(features: np.ndarray, scaling: str) -> tuple[np.ndarray, np.ndarray]:
    """(shift [dim], matrix [dim, dim]) with which `(features - shift) @ matrix` is `features` standardised per
    dimension or whitened (Ledoit-Wolf covariance), both estimated on `features` itself."""
    shift = features.mean(axis=0)
    if scaling == "standardised":
        return shift, np.diag(1.0 / np.clip(features.std(axis=0), 1e-12, None))
    if scaling == "whitened":
        from sklearn.covariance import LedoitWolf

        values, vectors = np.linalg.eigh(LedoitWolf().fit(features).covariance_)
        return shift, vectors @ np.diag(np.clip(values, 1e-12, None) ** -0.5) @ vectors.T
    raise ValueError(f"unknown scaling {scaling!r}: expected one of {', '.join(SCALINGS)}")


def fit_scaled_head(x: np.ndarray, y: np.ndarray, weights: np.ndarray, poles: Sequence[tuple[int, int]], *,
                    scaling: str, c: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(weight, bias) of the categories head fitted on the unit-length rows of `x` after `scaling`, folded back
    into one linear layer on the unit-length rows (what `category_probabilities` computes): logits = W z + b with
    z = (u - shift) @ M are (W M^T) u + (b - W M^T shift)."""
    from pipeline.model.category_head import ABSENT_LOGIT, fit_category_logits, unit_rows

    unit = unit_rows(np.asarray(x, dtype=np.float64))
    shift, matrix = scaling_transform(unit, scaling)
    weight, bias = fit_category_logits((unit - shift) @ matrix, y, weights, poles, c=c, seed=seed)
    folded = weight.astype(np.float64) @ matrix.T
    folded_bias = np.where(bias == ABSENT_LOGIT, ABSENT_LOGIT, bias - folded @ shift)
    return folded.astype(np.float32), folded_bias.astype(np.float32)


def run(prepared: Path) -> dict[str, Any]:
    from pipeline.model.adaptation import finetuned_share
    from pipeline.model.category_head import category_probabilities
    from pipeline.model.decision import decide_categories
    from pipeline.tools.encoder_interpolation_experiment import ShippedBench, mean_alpha, means_line

    setup = load_quotes_setup(prepared)
    params, codebook, data = setup.params, setup.codebook, setup.data

    class ScalingBench(ShippedBench):
        """ShippedBench whose key (scaling, C) picks the head: SHIPPED is the shipped fit."""

        def head_weights(self, key: Any, rows: np.ndarray,
                         features: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
            if key == SHIPPED:
                return super().head_weights(key, rows, features)
            scaling, c = key
            x = self.fit_features(key, rows) if features is None else features
            return fit_scaled_head(x, self.data.y[rows], self.row_weights(key, rows), self.poles, scaling=scaling,
                                   c=c, seed=self.adapt.seed)

    keys: list[Any] = [SHIPPED] + [(scaling, c) for scaling in SCALINGS for c in C_GRID]
    bench = ScalingBench(data, {key: data.adapted for key in keys}, params, codebook)
    share = finetuned_share(params.adapt)
    print("head scaling: embedding the validation and test splits", file=sys.stderr)
    splits = {split: setup.held_out(split, share) for split in ("validation", "test")}
    every_row = np.arange(len(data.texts))

    def on_split(key: Any, split: str) -> dict[str, list[float]]:
        weight, bias = bench.head_weights(key, every_row)
        return {name: mean_alpha(y, decide_categories(category_probabilities(x, weight, bias), bench.poles,
                                                      y.shape[1]), codebook).round(4).tolist()
                for name, (x, y) in splits[split].items()}

    def label(key: Any) -> str:
        return "unit length (shipped)" if key == SHIPPED else f"{key[0]}, C {key[1]:g}"

    out: dict[str, Any] = {"what": __doc__.splitlines()[0], "seeds": list(params.crossval.seeds),
                           "n_quotes": data.n_team, "axes": [axis.id for axis in codebook.axes],
                           "shipped_c": params.adapt.category_c, "heads": {}}
    for key in keys:
        entry: dict[str, Any] = {"loco": bench.loco(key), "validation": on_split(key, "validation"), "test": on_split(key, "test"),
                 "loco_minus_shipped": None if key == SHIPPED else bench.loco_minus(key, SHIPPED)}
        out["heads"][label(key)] = entry
        print(f"head scaling: {label(key)}: loco {means_line(entry['loco'])}; validation {entry['validation']}",
              file=sys.stderr)

    def validation_mean(key: Any) -> float:
        return float(np.nanmean(list(out["heads"][label(key)]["validation"].values())))

    out["chosen_on_validation"] = {}
    for scaling in SCALINGS:
        best = max(C_GRID, key=lambda c: validation_mean((scaling, c)))
        out["chosen_on_validation"][scaling] = {"c": best, "validation_mean": round(validation_mean((scaling, best)), 4),
                                                "head": label((scaling, best))}
    out["chosen_on_validation"]["unit length (shipped)"] = {"c": params.adapt.category_c,
                                                            "validation_mean": round(validation_mean(SHIPPED), 4)}
    return out


def main(argv: Sequence[str] | None = None) -> None:
    main_on_prepared(__doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    main()
