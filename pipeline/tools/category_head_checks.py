"""Three checks of the shipped `axis_categories` head that do not look at the held-out quotes' scores.

Issue 10 left two targets open: beleid/beheer below the blind coder on the real quotes, and strategisch/
operationeel on the synthetic test set below the first delivery. These checks ask why, without choosing
anything on the 47 quotes' agreement:

1. ``regularisation``: the head's one setting, C, on the **validation** split (synthetic and field interviews,
   coder A; never used to fit, never the test split), the head fitted as `capcode adapt` fits it (all bundled
   quotes weighted `adapt.real_weight` + the replay sample). Is C = 1 a fair choice, or did the C 3 row of the
   ablation (better on the quotes) point at a better setting?
2. ``real_weight_on_test``: the synthetic and field **test** splits against the weight of the team's
   fragments, 0 = the head fitted on the replay alone. Shows how much of the synthetic strat./oper. figure the
   real coding costs, and how much the encoder's embeddings themselves can carry.
3. ``both_on_beleid_beheer``: leave one case out as `capcode crossval` (same seeds and replay samples), the
   probability the head gives "both" on beleid/beheer for the quotes the reference codes both, against the
   others. "Both" is where the model and the blind coder lose most quotes; a rule cannot find it if the
   probabilities do not separate it.

Run: ``python -m pipeline.tools.category_head_checks -o reports/experiments/category_head_checks.json``
(about 6 minutes on 2 cores: embeds the replay, validation and test fragments with the encoder `adapt.encoder`
names, the interpolated one by default; the figures of the pretrained encoder are in git history, README item 11).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.codebook import Codebook
from pipeline.model.category_head import category_probabilities, fit_category_head
from pipeline.model.decision import N_CATEGORIES, axis_category, axis_pole_indices, decide_categories
from pipeline.tools import load_quotes_setup, main_on_prepared

C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
WEIGHT_GRID = (0.0, 1.0, 3.0, 10.0, 30.0)


def held_out_texts(prepared: Path, split: str, coder: str, codebook: Codebook) -> dict[str, tuple[list[str], np.ndarray]]:
    """Per collection (synthetic, field): texts and labels of the codable fragments of `split` fully coded by
    `coder`."""
    from pipeline.core.documents import read_prepared
    from pipeline.model.training_data import labelled_split

    records = read_prepared(prepared)
    out = {}
    for collection in sorted({r.collection for r in records}):
        chosen = labelled_split([r for r in records if r.collection == collection], split=split, coder=coder,
                                code_ids=codebook.code_ids, source=prepared)
        if len(chosen):
            out[collection] = (list(chosen.texts), np.array(chosen.labels, dtype=float))
    return out


def held_out_sets(prepared: Path, split: str, coder: str, codebook: Codebook, backbone: str, *, model_dir: Path,
                  share: float, prefix: str, max_length: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per collection (synthetic, field): embeddings by the encoder adapt builds (the backbone, `share` of the
    way to `model_dir`'s fine-tuned encoder) and labels of the codable fragments of `split` fully coded by
    `coder`."""
    from pipeline.crossval import encoder_embeddings

    return {name: (encoder_embeddings(backbone, texts, len(codebook.code_ids), prefix=prefix, max_length=max_length,
                                      model_dir=model_dir, share=share), labels)
            for name, (texts, labels) in held_out_texts(prepared, split, coder, codebook).items()}


def alpha_per_axis(reference: np.ndarray, labels: np.ndarray, codebook: Codebook) -> dict[str, float | None]:
    from pipeline.crossval import axis_alpha

    return {axis: None if s["alpha"] is None else round(s["alpha"], 4)
            for axis, s in axis_alpha(reference, labels, codebook, n_boot=0, confidence=0.95, seed=0).items()}


def score(x_train: np.ndarray, y_train: np.ndarray, weights: np.ndarray, sets: dict[str, tuple[np.ndarray, np.ndarray]],
          codebook: Codebook, *, c: float, seed: int) -> dict[str, dict[str, float | None]]:
    """Alpha per axis on each held-out set of the head fitted on (x_train, y_train, weights)."""
    poles = axis_pole_indices(codebook.code_ids, codebook)
    weight, bias = fit_category_head(x_train, y_train, weights, poles, c=c, seed=seed)
    return {name: alpha_per_axis(y, decide_categories(category_probabilities(x, weight, bias), poles, y.shape[1]),
                                 codebook)
            for name, (x, y) in sets.items()}


def both_probabilities(data: Any, features: np.ndarray, codebook: Codebook, *, real_weight: float, c: float,
                       seed: int, seeds: Sequence[int], replay_fraction: float) -> dict[str, Any]:
    """Leave one case out: p("both") on beleid/beheer for the reference's "both" quotes and for the others."""
    from pipeline.crossval import _replay_sample

    poles = axis_pole_indices(codebook.code_ids, codebook)
    axis = next(k for k, a in enumerate(codebook.axes) if a.id == "beleid_beheer")
    i, j = poles[axis]
    groups = np.array(data.team.groups)
    reference = axis_category(data.team.labels[:, i], data.team.labels[:, j])
    both, others, predicted_both = [], [], 0
    for replay_seed in seeds:
        replay_rows = _replay_sample(data, len(data.texts) - data.n_team, replay_fraction, replay_seed)
        for case in sorted(set(groups)):
            test, train = np.flatnonzero(groups == case), np.flatnonzero(groups != case)
            rows = np.concatenate([train, replay_rows])
            weights = np.where(rows < data.n_team, real_weight, 1.0)
            weight, bias = fit_category_head(features[rows], data.y[rows], weights, poles, c=c, seed=seed)
            block = category_probabilities(features[test], weight, bias)[:, N_CATEGORIES * axis:N_CATEGORIES * (axis + 1)]
            is_both = reference[test] == 2
            both += block[is_both, 2].tolist()
            others += block[~is_both, 2].tolist()
            predicted_both += int((block.argmax(axis=1) == 2).sum())
    return {"n_reference_both": int((reference == 2).sum()), "n_quotes": len(reference), "seeds": list(seeds),
            "p_both_mean_on_reference_both": round(float(np.mean(both)), 4),
            "p_both_mean_on_the_others": round(float(np.mean(others)), 4),
            "p_both_max_on_reference_both": round(float(np.max(both)), 4),
            "p_both_max_on_the_others": round(float(np.max(others)), 4),
            "times_both_predicted": predicted_both}


def run(prepared: Path) -> dict[str, Any]:
    from pipeline.model.adaptation import finetuned_share

    setup = load_quotes_setup(prepared)
    params, codebook, data = setup.params, setup.codebook, setup.data
    adapt, settings = params.adapt, params.crossval
    features = data.adapted  # the encoder the shipped head sits on (`adapt.encoder`)
    validation, test = (setup.held_out(split, finetuned_share(adapt)) for split in ("validation", "test"))
    rows = np.arange(len(data.texts))
    out: dict[str, Any] = {
        "fitted_on": f"{data.n_team} bundled quotes (report, dev) + {len(rows) - data.n_team} replay fragments "
                     f"(train split, coder {adapt.replay_coder}), {adapt.encoder} encoder "
                     f"({finetuned_share(adapt):g} of the way to the fine-tuned weights), as `capcode adapt` fits",
        "n_validation": {k: len(v[1]) for k, v in validation.items()},
        "n_test": {k: len(v[1]) for k, v in test.items()},
        "regularisation": {}, "real_weight_on_test": {}}
    pooled = {"synthetic+field": (np.vstack([x for x, _ in validation.values()]),
                                  np.vstack([y for _, y in validation.values()]))}
    for c in C_GRID:
        weights = np.where(rows < data.n_team, adapt.real_weight, 1.0)
        result = score(features, data.y, weights, {**validation, **pooled}, codebook, c=c, seed=adapt.seed)
        values = [v for v in result["synthetic+field"].values() if v is not None]
        result["mean_over_axes_pooled"] = {"mean": round(float(np.mean(values)), 4)}
        out["regularisation"][f"C {c:g}"] = result
        print(f"checks: validation, C {c:g}: " + "  ".join(f"{a} {v}" for a, v in result["synthetic+field"].items()),
              file=sys.stderr)
    for real_weight in WEIGHT_GRID:
        keep = rows if real_weight > 0 else rows[rows >= data.n_team]
        weights = np.where(keep < data.n_team, real_weight, 1.0)
        result = score(features[keep], data.y[keep], weights, test, codebook, c=adapt.category_c, seed=adapt.seed)
        out["real_weight_on_test"][f"real_weight {real_weight:g}"] = result
        print(f"checks: test, real_weight {real_weight:g}: " + "  ".join(
            f"{name} " + "/".join(str(v) for v in axes.values()) for name, axes in result.items()), file=sys.stderr)
    out["both_on_beleid_beheer"] = both_probabilities(data, features, codebook, real_weight=adapt.real_weight,
                                                      c=adapt.category_c, seed=adapt.seed, seeds=settings.seeds,
                                                      replay_fraction=settings.replay_fraction)
    print(f"checks: both on beleid/beheer: {out['both_on_beleid_beheer']}", file=sys.stderr)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    main_on_prepared(__doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    main()
