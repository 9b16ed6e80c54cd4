"""How far to move the pretrained encoder towards the fine-tuned one (`adapt.interpolation`), and whether a team's
own coding can choose it.

`capcode adapt` fits its axis_categories head on the embeddings of an encoder built from the backbone: every
weight moved a share of the way from the pretrained backbone to the base model's fine-tuned encoder
(weight-space interpolation, WiSE-FT: Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR 2022).
Share 0 is the pretrained encoder (the previous default), 1 the fine-tuned one. This tool measures, for a grid
of shares, the head fitted exactly as adapt fits it:

1. ``loco``: leave one case out on the 47 bundled study quotes, seeds and replay samples as `capcode
   crossval` draws them (mean, min, max over seeds). This is where the default share was read off, so its
   figure at the chosen share is optimistic.
2. ``held_out``: the synthetic and field **test** splits (coder A, interviews no model trained on), the head
   fitted on all quotes + the replay sample. Nothing was chosen on these.
3. ``nested``: the share chosen inside each leave-one-case-out fold by the two training cases alone (train
   on one, score the other, both ways; the share with the best mean alpha over the axes), then scored on the
   held-out case. This is the honest estimate of a team choosing the share from its own coding.

Run: ``python -m pipeline.tools.encoder_interpolation_experiment -o
reports/experiments/encoder_interpolation.json`` (about 15 minutes on 2 cores: one embedding pass of 2,000
replay fragments and 500 test fragments per share, then 160 head fits).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.codebook import Codebook
from pipeline.tools import load_quotes_setup, main_on_prepared

SHARES = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)


def mean_alpha(reference: np.ndarray, labels: np.ndarray, codebook: Codebook) -> np.ndarray:
    """Alpha per axis (nan where undefined) of `labels` against `reference`."""
    from pipeline.crossval import axis_alpha

    found = axis_alpha(reference, labels, codebook, n_boot=0, confidence=0.95, seed=0)
    return np.array([np.nan if found[a.id]["alpha"] is None else found[a.id]["alpha"] for a in codebook.axes])


def summary(per_seed: np.ndarray, codebook: Codebook) -> dict[str, dict[str, float]]:
    """Mean, min and max over seeds per axis of an array [seeds, axes]."""
    return {axis.id: {"mean": round(float(per_seed[:, k].mean()), 4), "min": round(float(per_seed[:, k].min()), 4),
                      "max": round(float(per_seed[:, k].max()), 4)} for k, axis in enumerate(codebook.axes)}


def means_line(per_axis: dict[str, dict[str, float]]) -> str:
    """"0.511 0.485 0.675": the mean per axis of a `summary`, for progress lines."""
    return " ".join(f"{s['mean']:.3f}" for s in per_axis.values())


def split_alphas(probabilities: Callable[[np.ndarray], np.ndarray], split: dict[str, tuple[np.ndarray, np.ndarray]],
                 poles: Sequence[tuple[int, int]], codebook: Codebook) -> dict[str, list[float]]:
    """Alpha per axis (4 decimals) on each collection of a held-out split, given as {collection: (embeddings, 0/1
    labels)} (`QuotesSetup.held_out`), of the most probable categories `probabilities(embeddings)` gives."""
    from pipeline.model.decision import decide_categories

    return {name: mean_alpha(y, decide_categories(probabilities(x), poles, y.shape[1]), codebook).round(4).tolist()
            for name, (x, y) in split.items()}


def head_split_alphas(weight: np.ndarray, bias: np.ndarray, split: dict[str, tuple[np.ndarray, np.ndarray]],
                      poles: Sequence[tuple[int, int]], codebook: Codebook) -> dict[str, list[float]]:
    """`split_alphas` of the categories head (`weight`, `bias`)."""
    from pipeline.model.category_head import category_probabilities

    return split_alphas(lambda x: category_probabilities(x, weight, bias), split, poles, codebook)


def entry_line(entry: dict[str, Any]) -> str:
    """"loco 0.523 0.452 0.675; validation {...}; test {...}": a setting's result, for progress lines."""
    return f"loco {means_line(entry['loco'])}; validation {entry['validation']}; test {entry['test']}"


def held_out_line(held_out: dict[str, dict[str, float | None]]) -> str:
    """"field 0.42/0.34/0.32 synthetic 0.60/0.56/0.51": alpha per axis of each test split, for progress lines."""
    return " ".join(f"{split} " + "/".join("-" if v is None else f"{v:.2f}" for v in scores.values())
                    for split, scores in held_out.items())


def used_categories(y: np.ndarray, poles: Sequence[tuple[int, int]]) -> np.ndarray:
    """[4 * n_axes] 1 where the coding `y` [rows, codes] uses a category of an axis at least once, else 0."""
    from pipeline.model.decision import N_CATEGORIES, axis_category

    used = np.zeros(N_CATEGORIES * len(poles))
    for a, (i, j) in enumerate(poles):
        category = axis_category(y[:, i], y[:, j])
        known = category[~np.isnan(category)].astype(int)
        used[N_CATEGORIES * a + np.unique(known)] = 1.0
    return used


class HeadBench:
    """The categories head `adapt` fits (real_weight, C, replay sample per seed), scored on feature sets by key:
    leave one case out on the quotes as `capcode crossval` draws it, and held-out test splits. One place for the
    experiment tools that compare encoders or features under the same head."""

    def __init__(self, data: Any, features: dict[Any, np.ndarray], params: Any, codebook: Codebook) -> None:
        from pipeline.crossval import _replay_sample
        from pipeline.model.decision import axis_pole_indices

        self.data, self.features, self.codebook = data, features, codebook
        self.adapt, self.settings = params.adapt, params.crossval
        self.poles = axis_pole_indices(codebook.code_ids, codebook)
        self.groups = np.array(data.team.groups)
        self.cases = sorted(set(self.groups))
        n_replay = len(data.texts) - data.n_team
        self.replay = {seed: _replay_sample(data, n_replay, self.settings.replay_fraction, seed)
                       for seed in self.settings.seeds}
        self.fits = 0  # heads fitted so far (`held_out_labels` computes each distinct one once)
        self._labels: dict[tuple[Any, ...], np.ndarray] = {}

    def row_weights(self, key: Any, rows: np.ndarray) -> np.ndarray:
        """Each row's weight in the head's loss, as adapt weighs them (team rows `real_weight`, replay rows 1);
        an experiment on the weighting overrides this."""
        from pipeline.crossval import _row_weights

        return _row_weights(rows, self.data.n_team, self.adapt.real_weight)

    def fit_features(self, key: Any, rows: np.ndarray) -> np.ndarray:
        """The features of `rows` the head is fitted on (an experiment that transforms them overrides this; what
        it predicts on is never transformed)."""
        return self.features[key][rows]

    def head_weights(self, key: Any, rows: np.ndarray, features: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(weight, bias) of the head adapt fits (crossval's category system) on `rows`, on `features` of those
        rows where given (embeddings of another encoder, say) or else `fit_features`."""
        from pipeline.model.category_head import fit_category_head

        x = self.fit_features(key, rows) if features is None else features
        return fit_category_head(x, self.data.y[rows], self.row_weights(key, rows), self.poles,
                                 c=self.adapt.category_c, seed=self.adapt.seed)

    def fitted(self, key: Any, rows: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """The head adapt fits on `rows` (`head_weights`): category probabilities of embeddings."""
        from pipeline.model.category_head import category_probabilities

        weight, bias = self.head_weights(key, rows)
        return lambda x: category_probabilities(x, weight, bias)

    def held_out_labels(self, key: Any, train: np.ndarray, held: np.ndarray, seed: int, *,
                        only_used: bool = False) -> np.ndarray:
        """0/1 labels of the team rows `held` by the head fitted on the team rows `train` + the seed's replay;
        `only_used`: a category the training rows' team coding never uses is never predicted.

        Remembered per (key, seed, rows): the fits are deterministic, and the nested choice repeats the
        leave-one-case-out fits and, for its per-axis form, its own inner ones (a bench's features and
        weighting never change after it is built)."""
        from pipeline.model.decision import decide_categories

        memo = (key, seed, only_used, np.asarray(train).tobytes(), np.asarray(held).tobytes())
        if memo not in self._labels:
            probabilities = self.fitted(key, np.concatenate([train, self.replay[seed]]))(self.features[key][held])
            if only_used:
                probabilities = probabilities * used_categories(self.data.y[train], self.poles)
            self._labels[memo] = decide_categories(probabilities, self.poles, len(self.codebook.code_ids))
            self.fits += 1
        return self._labels[memo].copy()

    def loco_labels(self, key: Any, seed: int, *, only_used: bool = False) -> np.ndarray:
        """0/1 labels of every team row, each predicted by the head fitted without its case (seed's replay)."""
        labels = np.zeros(self.data.team.labels.shape, dtype=int)
        for case in self.cases:
            held = np.flatnonzero(self.groups == case)
            labels[held] = self.held_out_labels(key, np.flatnonzero(self.groups != case), held, seed,
                                                only_used=only_used)
        return labels

    def loco_labels_from(self, seed: int, probabilities: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
        """Leave one case out with a head of the caller's: every team row labelled by the most probable categories
        `probabilities(held, rows)` gives for the `held` rows of a case, `rows` being the other cases' team rows +
        the seed's replay (the rows `loco_labels` fits on). Not remembered: for heads this bench does not fit."""
        from pipeline.model.decision import decide_categories

        labels = np.zeros(self.data.team.labels.shape, dtype=int)
        for case in self.cases:
            held = np.flatnonzero(self.groups == case)
            rows = np.concatenate([np.flatnonzero(self.groups != case), self.replay[seed]])
            labels[held] = decide_categories(probabilities(held, rows), self.poles, len(self.codebook.code_ids))
        return labels

    def loco(self, key: Any, *, only_used: bool = False) -> dict[str, dict[str, float]]:
        """Leave one case out on the team rows, per seed; mean, min and max over seeds per axis."""
        reference = self.data.team.labels
        per_seed = [mean_alpha(reference, self.loco_labels(key, seed, only_used=only_used), self.codebook)
                    for seed in self.settings.seeds]
        return summary(np.array(per_seed), self.codebook)

    def loco_minus(self, key: Any, other: Any) -> dict[str, dict[str, Any]]:
        """Leave one case out, `key` minus `other` in alpha per axis on the same quotes, with crossval's paired
        bootstrap interval per seed (`crossval.paired_difference`), summarised over seeds like crossval's."""
        return self.loco_minus_labels(key, {seed: self.loco_labels(other, seed) for seed in self.settings.seeds})

    def loco_minus_labels(self, key: Any, other: dict[int, np.ndarray]) -> dict[str, dict[str, Any]]:
        """`loco_minus` against labels already predicted per seed (another bench's, say)."""
        return self.labels_minus({seed: self.loco_labels(key, seed) for seed in self.settings.seeds}, other)

    def labels_minus(self, labels: dict[int, np.ndarray], other: dict[int, np.ndarray]) -> dict[str, dict[str, Any]]:
        """Two sets of leave-one-case-out labels of the team rows per seed (`labels` minus `other`), compared as
        `loco_minus` compares two keys: crossval's paired bootstrap per seed, summarised over seeds."""
        from pipeline.crossval import paired_difference, summarise_seeds

        reference = self.data.team.labels
        return summarise_seeds([paired_difference(reference, labels[seed], other[seed], self.codebook,
                                                  n_boot=self.settings.n_boot, confidence=self.settings.confidence,
                                                  seed=seed)
                                for seed in self.settings.seeds])

    def nested(self, keys: Sequence[Any], *, per_axis: bool = False) -> dict[str, Any]:
        """The key chosen inside each leave-one-case-out fold by the two training cases alone, then scored on
        the held-out case: the honest estimate of a team choosing among `keys` from its own coding.

        Inside a fold each training case is predicted by the head fitted on the other one (+ the seed's
        replay); the pooled predictions are scored per axis and the key with the best mean alpha over the axes
        is taken (`per_axis`: the best key for each axis on its own), the earlier key on a tie."""
        reference, groups = self.data.team.labels, self.groups
        per_seed, chosen = [], []
        for seed in self.settings.seeds:
            labels = np.zeros(reference.shape, dtype=int)
            for case in self.cases:
                training_cases = [c for c in self.cases if c != case]
                rows = np.concatenate([np.flatnonzero(groups == c) for c in training_cases])
                inner = np.zeros((len(keys), len(self.poles)))
                for k, key in enumerate(keys):
                    inner_labels = np.zeros((len(rows), len(self.codebook.code_ids)), dtype=int)
                    for c in training_cases:
                        held = np.flatnonzero(groups == c)
                        other = np.flatnonzero(np.isin(groups, [t for t in training_cases if t != c]))
                        inner_labels[np.isin(rows, held)] = self.held_out_labels(key, other, held, seed)
                    inner[k] = mean_alpha(reference[rows], inner_labels, self.codebook)
                held, train = np.flatnonzero(groups == case), np.flatnonzero(groups != case)
                if per_axis:
                    best = [int(np.argmax(np.nan_to_num(inner[:, a], nan=-np.inf))) for a in range(len(self.poles))]
                    for a, pair in enumerate(self.poles):
                        columns = np.array(pair)
                        labels[np.ix_(held, columns)] = self.held_out_labels(keys[best[a]], train, held,
                                                                             seed)[:, columns]
                    chosen.append({"seed": seed, "held_out_case": case,
                                   "key": {axis.id: keys[b] for axis, b in zip(self.codebook.axes, best)}})
                else:
                    overall = [float(np.nanmean(row)) for row in inner]
                    best_key = keys[max(range(len(keys)), key=lambda k: (overall[k], -k))]
                    labels[held] = self.held_out_labels(best_key, train, held, seed)
                    chosen.append({"seed": seed, "held_out_case": case, "key": best_key})
            per_seed.append(mean_alpha(reference, labels, self.codebook))
        return {"axes": summary(np.array(per_seed), self.codebook), "chosen": chosen}

    def held_out(self, key: Any, test_x: dict[str, np.ndarray], test_y: dict[str, np.ndarray]) -> dict[str, Any]:
        """Alpha per axis on each test split, the head fitted on every team row + all replay rows (the fit and
        scoring of `category_head_checks.score`)."""
        from pipeline.tools.category_head_checks import score

        rows = np.arange(len(self.data.texts))
        return score(self.fit_features(key, rows), self.data.y, self.row_weights(key, rows),
                     {name: (test_x[name], y) for name, y in test_y.items()}, self.codebook,
                     c=self.adapt.category_c, seed=self.adapt.seed)




# `adapt.replay_weights` as shipped in round 7, when experiments 17 and 18 ran: the field replay left out of the
# beleid/beheer and strat./oper. fits. A constant here (not read from configs/params.yaml, which changed in
# round 8) so that those tools reproduce their committed JSON.
ROUND7_REPLAY_WEIGHTS: dict[str, dict[str, float]] = {"beleid_beheer": {"field": 0.0},
                                                      "strategisch_operationeel": {"field": 0.0}}


class ReplayWeightedBench(HeadBench):
    """HeadBench whose rows weigh per axis as `adapt` weighs them with `replay_weights` (per axis, per replay
    collection; `data.replay_collections` names each replay row's; None: `adapt.replay_weights` as configured),
    not every replay row 1 as HeadBench's first tools did."""

    replay_weights: dict[str, dict[str, float]] | None = ROUND7_REPLAY_WEIGHTS

    def row_weights(self, key: Any, rows: np.ndarray) -> np.ndarray:
        from pipeline.crossval import axis_row_weights

        return axis_row_weights(self.data, rows, self.adapt, self.codebook, self.replay_weights)


class ShippedBench(ReplayWeightedBench):
    """HeadBench with the rows weighed as the shipped `adapt` weighs them (`adapt.replay_weights` of the params
    in force): the default's own fit."""

    replay_weights = None


def run(prepared: Path, *, model_dir: Path | None = None, shares: Sequence[float] = SHARES,
        nested: bool = True) -> dict[str, Any]:
    """The three measurements above for the encoder of `model_dir` (default `models/base`) at `shares`;
    `nested` False leaves out the third (the training-length tool needs only the first two)."""
    from pipeline.crossval import encoder_embeddings
    from pipeline.model.adaptation import finetuned_share
    from pipeline.tools.category_head_checks import held_out_texts

    setup = load_quotes_setup(prepared, model_dir)
    params, codebook, base, metadata, data = setup.params, setup.codebook, setup.model_dir, setup.metadata, setup.data
    adapt, settings = params.adapt, params.crossval
    embed_with = partial(encoder_embeddings, metadata.backbone["spec"], n_codes=len(codebook.code_ids),
                         prefix=metadata.text_prefix, max_length=metadata.max_length, model_dir=base)
    test = held_out_texts(prepared, "test", adapt.replay_coder, codebook)
    test_y = {name: y for name, (_, y) in test.items()}

    features: dict[float, np.ndarray] = {}
    test_x: dict[float, dict[str, np.ndarray]] = {}
    for share in shares:
        print(f"interpolation: embedding with share {share:g}", file=sys.stderr)
        known = {0.0: data.frozen, 1.0: data.tuned, finetuned_share(adapt): data.adapted}.get(share)
        features[share] = known if known is not None else embed_with(data.texts, share=share)
        test_x[share] = {name: embed_with(texts, share=share) for name, (texts, _) in test.items()}
    bench = HeadBench(data, features, params, codebook)

    out: dict[str, Any] = {
        "what": "axis_categories head (adapt's fit: real_weight, C, replay) on the backbone moved `share` of the "
                "way to the base model's fine-tuned encoder",
        "shares": list(shares), "seeds": list(settings.seeds), "n_quotes": data.n_team,
        "n_replay": len(data.texts) - data.n_team, "n_test": {name: len(y) for name, y in test_y.items()},
        "loco": {}, "held_out": {}}
    for share in shares:
        out["loco"][f"{share:g}"] = bench.loco(share)
        out["held_out"][f"{share:g}"] = bench.held_out(share, test_x[share], test_y)
        print(f"interpolation: share {share:g}: loco {means_line(out['loco'][f'{share:g}'])}", file=sys.stderr)
    if not nested:
        return out
    out["nested"] = bench.nested(list(shares))
    for entry in out["nested"]["chosen"]:  # the record as before: one share per fold
        entry["share"] = entry.pop("key")
    print(f"interpolation: nested {means_line(out['nested']['axes'])}", file=sys.stderr)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    main_on_prepared(__doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    main()
