"""The replay weighted by how much each fragment looks like the team's real speech (importance weighting for
covariate shift), a lever on the head's fit (README item 30).

`adapt` fits its categories head on the team's 31 quotes (two training cases) beside 2,000 replay fragments of
the synthetic and field corpora, every replay fragment weighing 1 (0 on strat./oper. for the field corpus,
`adapt.replay_weights`). The replay is most of what the head learns from, and its register is not the team's:
the head's boundaries are drawn where written interviews sit. The textbook correction for a shifted input
distribution (Shimodaira 2000; Sugiyama et al. 2007; Bickel et al. 2009) weighs each training example by the
density ratio p_target(x) / p_source(x), estimated by a classifier that tells target from source: the replay
fragments that resemble real speech count more, the ones written in a cleaner register less. Unlike item 17
(moving the replay's embeddings onto the team's), it moves nothing: it only re-weighs the replay's evidence.

The domain classifier is scikit-learn's logistic regression (C 1, classes balanced, fixed before looking) on the
unit-length embeddings the head reads (the interpolated encoder's), real speech against every replay fragment,
each replay fragment scored out of fold (5 folds) so that no weight is the classifier's memory of its own row. A
replay fragment's weight is its odds p / (1 - p) raised to `power` (1: the plain density ratio, 0.5: tempered, the
usual guard against a few fragments taking all the weight), times its shipped weight (`adapt.replay_weights`),
scaled per axis among the replay rows of the fit that weigh on that axis so that their mean importance is 1 with
none above `CLIP` times it, and their total is the shipped one: on every axis and in every fit the replay weighs as
much against the team's quotes as shipped, only its spread over the fragments changes (a fragment that weighs 0 on
an axis stays 0). Two pools of real speech:

- ``transductive``: the texts of every quote (all three cases, no codes read): what a team has when it adapts,
  its coded interviews and the uncoded ones it will pre-code. No label of the held-out case is used.
- ``inductive``: only the quotes the head is fitted on (the fold's training cases): the figure for a model that
  never saw the text it will code.

Scored like items 26-29 (`ShippedBench`): leave one case out on the 47 quotes (seeds 1-3, crossval's replay
draws), the paired difference to the shipped head, the synthetic and field test splits (head fitted on all
quotes + replay, the weights from all 47 quotes), and the setting chosen inside each fold by the two training
cases alone (`HeadBench.nested`, the honest figure). The effective sample size of each weighting, (sum w)^2 /
sum w^2, and the replay's weight by collection tell how far it moves the fit.

Run: ``python -m pipeline.tools.replay_importance_experiment -o reports/experiments/replay_importance.json``
(a few minutes on 2 cores after `make run`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.tools import load_quotes_setup, main_on_prepared
from pipeline.tools.encoder_interpolation_experiment import ShippedBench

POWERS = (0.5, 1.0)
POOLS = ("transductive", "inductive")
CLIP = 10.0  # no replay fragment weighs more than CLIP times the replay's mean weight
DOMAIN_C = 1.0
DOMAIN_FOLDS = 5
SHIPPED = "shipped"


def density_ratio(real_x: np.ndarray, replay_x: np.ndarray, *, seed: int) -> np.ndarray:
    """[n_replay] odds p(real | x) / p(replay | x) of each replay fragment by a balanced logistic regression that
    tells `real_x` from `replay_x` (unit rows), each replay row scored by the fold it was held out of."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    from pipeline.model.category_head import unit_rows

    x = unit_rows(np.vstack([real_x, replay_x]).astype(np.float64))
    is_real = np.r_[np.ones(len(real_x), dtype=int), np.zeros(len(replay_x), dtype=int)]
    probability = np.zeros(len(x))
    folds = StratifiedKFold(n_splits=min(DOMAIN_FOLDS, len(real_x)), shuffle=True, random_state=seed)
    for train, held in folds.split(x, is_real):
        classifier = LogisticRegression(C=DOMAIN_C, class_weight="balanced", max_iter=2000)
        classifier.fit(x[train], is_real[train])
        probability[held] = classifier.predict_proba(x[held])[:, 1]
    p = np.clip(probability[len(real_x):], 1e-6, 1 - 1e-6)
    return p / (1 - p)


def importance_weights(odds: np.ndarray, power: float, clip: float = CLIP) -> np.ndarray:
    """`odds` ** `power` scaled to a mean of 1 with no weight above `clip` (>= 1): w = min(clip, s * odds ** power),
    the one scale s that keeps the mean at 1 (the largest weights are cut, the rest scaled up to make up for them)."""
    raw = np.asarray(odds, dtype=np.float64) ** power
    n = len(raw)
    descending = np.sort(raw)[::-1]
    rest = np.cumsum(descending[::-1])[::-1]  # rest[k]: the sum of all but the k largest
    for k in range(n):  # k weights cut at `clip`, the others scaled by s
        scale = (n - k * clip) / rest[k]
        if scale * descending[k] <= clip:
            return np.minimum(clip, scale * raw)
    return np.full(n, 1.0)


def effective_sample_size(weights: np.ndarray) -> float:
    """(sum w)^2 / sum w^2: how many equally weighted fragments the weighting is worth."""
    return float(weights.sum() ** 2 / (weights ** 2).sum())


class ImportanceBench(ShippedBench):
    """`ShippedBench` whose replay rows weigh, on top of `adapt.replay_weights`, by their likeness to real speech.

    Keys: `SHIPPED`, or (pool, power). The real speech of the transductive pool is every team row's text; of the
    inductive pool, the team rows of the fit itself (so each leave-one-case-out and nested fold has its own). The
    domain classifier sees every replay fragment the data holds; a fit then takes its seed's sample of them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._odds: dict[bytes, np.ndarray] = {}

    def replay_odds(self, real_rows: np.ndarray) -> np.ndarray:
        """The density ratio of every replay row against the team rows `real_rows` (remembered per pool)."""
        memo = np.asarray(real_rows).tobytes()
        if memo not in self._odds:
            x = self.features[SHIPPED]
            self._odds[memo] = density_ratio(x[real_rows], x[self.data.n_team:], seed=self.adapt.seed)
        return self._odds[memo]

    def row_weights(self, key: Any, rows: np.ndarray) -> np.ndarray:
        """The shipped weights of `rows` [len(rows), n_axes], the replay rows' re-weighed per axis: on each axis the
        replay rows the fit weighs there (shipped weight > 0) take their importance weights among themselves
        (`importance_weights` over those rows: mean 1, cut at `CLIP`), times the shipped weight, scaled so that
        the replay's total weight on that axis is the shipped total. Team rows and rows that weigh 0 stay."""
        weights = super().row_weights(key, rows)
        if key == SHIPPED:
            return weights
        pool, power = key
        replay = np.flatnonzero(rows >= self.data.n_team)
        real_rows = np.arange(self.data.n_team) if pool == "transductive" else rows[rows < self.data.n_team]
        odds = self.replay_odds(real_rows)[rows[replay] - self.data.n_team]
        out = weights.copy()
        for a in range(weights.shape[1]):
            kept = weights[replay, a] > 0
            if not kept.any():
                continue
            shipped = weights[replay[kept], a]
            reweighed = shipped * importance_weights(odds[kept], power)
            out[replay[kept], a] = reweighed * shipped.sum() / reweighed.sum()
        return out


def weighting_summary(bench: ImportanceBench, key: Any) -> dict[str, Any]:
    """Per axis, the replay's weights in the head fitted on every quote and replay row (the test splits' head; a
    leave-one-case-out fit re-weighs its own sample of the replay alike): their effective sample size, the largest
    weight and each collection's share of the axis's total replay weight, beside its share of the fragments."""
    every = np.arange(len(bench.data.texts))
    replay = bench.row_weights(key, every)[bench.data.n_team:]
    collections = np.array(bench.data.replay_collections)
    names = sorted(set(collections))
    out: dict[str, Any] = {"n_replay": len(replay),
                           "fragment_share": {name: round(float(np.mean(collections == name)), 4) for name in names}}
    for a, axis in enumerate(bench.codebook.axes):
        weights = replay[:, a]
        out[axis.id] = {"effective_sample_size": round(effective_sample_size(weights), 1),
                        "max_weight": round(float(weights.max()), 3),
                        "weight_share": {name: round(float(weights[collections == name].sum() / weights.sum()), 4)
                                         for name in names}}
    return out


def label(key: Any) -> str:
    return "shipped (every replay fragment as adapt weighs it)" if key == SHIPPED else f"{key[0]}, power {key[1]:g}"


def run(prepared: Path) -> dict[str, Any]:
    from pipeline.model.adaptation import finetuned_share
    from pipeline.tools.encoder_interpolation_experiment import entry_line, head_split_alphas, means_line

    setup = load_quotes_setup(prepared)
    data, params, codebook = setup.data, setup.params, setup.codebook
    keys: list[Any] = [SHIPPED] + [(pool, power) for pool in POOLS for power in POWERS]
    bench = ImportanceBench(data, {key: data.adapted for key in keys}, params, codebook)
    print("replay importance: embedding the validation and test splits", file=sys.stderr)
    splits = {split: setup.held_out(split, finetuned_share(params.adapt)) for split in ("validation", "test")}
    every_row = np.arange(len(data.texts))
    out: dict[str, Any] = {"what": __doc__.splitlines()[0], "seeds": list(params.crossval.seeds),
                           "n_quotes": data.n_team, "n_replay": len(data.texts) - data.n_team,
                           "domain_classifier": {"c": DOMAIN_C, "class_weight": "balanced", "folds": DOMAIN_FOLDS},
                           "clip": CLIP, "axes": [axis.id for axis in codebook.axes], "settings": {}}
    for key in keys:
        entry: dict[str, Any] = {
            "weighting": weighting_summary(bench, key),
            "loco": bench.loco(key),
            "loco_minus_shipped": None if key == SHIPPED else bench.loco_minus(key, SHIPPED),
            **{split: head_split_alphas(*bench.head_weights(key, every_row), splits[split], bench.poles, codebook)
               for split in ("validation", "test")}}
        out["settings"][label(key)] = entry
        print(f"replay importance: {label(key)}: {entry_line(entry)}; effective sample size per axis "
              f"{[entry['weighting'][axis.id]['effective_sample_size'] for axis in codebook.axes]}", file=sys.stderr)
    for pool in POOLS:
        choices = [SHIPPED] + [(pool, power) for power in POWERS]
        nested = bench.nested(choices)
        nested["chosen"] = [{**c, "key": label(c["key"])} for c in nested["chosen"]]
        out[f"nested_{pool}"] = nested
        print(f"replay importance: chosen inside each fold ({pool}): {means_line(nested['axes'])}", file=sys.stderr)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    main_on_prepared(__doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    main()
