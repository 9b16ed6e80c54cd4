"""Where the suggestions can be trusted: agreement on the real quotes by the model's own confidence, against the
blind coders on the same quotes (README item 32).

A researcher reviews capcode's suggestions; the question that decides whether they help is not only how well the
model agrees overall, but whether it knows when it is right. `capcode predict` marks a fragment "nakijken"
(review) on an axis when that axis's decision margin (`predict`'s `margins`: half the gap between its two most
probable categories) is below `predict.review_margin`. This tool measures, leave one case out on the 47 quotes
(seeds 1-3, the shipped head, crossval's replay draws), per axis:

1. ``flag``: how many quotes the review flag marks, and how often the model's category is the researchers' on
   the flagged and on the unflagged quotes: does the flag point at the errors?
2. ``coverage``: alpha against the researchers on the quotes the model is surest of (the largest decision
   margins; the surest half, three quarters, all), the smallest margin in that share (``margin_cut``: the value
   a team would sort `predict`'s `margin_<axis>` column down to), and on the same quotes the alpha of each blind
   text-only coder and their mean: is the model better than a person where it is sure, or does its
   confidence only pick the quotes a person also finds easy?

3. ``second_coder``: the same two questions on the synthetic and field **test** splits (interviews no model
   trained on, every fragment coded by coder A and, blind to A, coder B): the head fitted on all quotes + replay
   (what `adapt` ships), its agreement with A on its surest fragments against B's agreement with A on the same
   fragments. Hundreds of fragments instead of 47, though of written interviews and language-model coders.

Nothing is chosen here: the margin is the head's own, as `predict` writes it, and the flag's width is
`predict.review_margin` as shipped.

Run: ``python -m pipeline.tools.confidence_experiment -o reports/experiments/confidence.json`` (about 2-3
minutes on 2 cores after `make run`).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.tools import load_quotes_setup, main_on_prepared

HUMANS = ("blind", "blind2", "blind3")  # the blind text-only coders `dvc.yaml`'s crossval stage compares
COVERAGES = (0.5, 0.75, 1.0)
SECOND_CODER = "B"  # the corpora's blind second coder of the test interviews (corpus/field/README.md)
KEY = "shipped"


def surest(margins: np.ndarray, coverage: float) -> np.ndarray:
    """Row indices of the `coverage` share (rounded up) of rows with the largest `margins`, the earlier row first
    on a tie."""
    n = math.ceil(coverage * len(margins))
    return np.sort(np.argsort(-margins, kind="stable")[:n])


def on_rows(reference: np.ndarray, labels: np.ndarray, rows: np.ndarray, axis: int, codebook: Any) -> float | None:
    """Alpha on axis `axis` of `labels` against `reference` on `rows` only."""
    from pipeline.tools.encoder_interpolation_experiment import mean_alpha

    value = mean_alpha(reference[rows], labels[rows], codebook)[axis]
    return None if np.isnan(value) else round(float(value), 4)


def same_category(reference: np.ndarray, labels: np.ndarray, poles: Sequence[tuple[int, int]]) -> np.ndarray:
    """[n, n_axes] True where `labels` put a row in the reference's category of that axis."""
    from pipeline.model.decision import axis_category

    return np.stack([axis_category(reference[:, i], reference[:, j]) == axis_category(labels[:, i], labels[:, j])
                     for i, j in poles], axis=1)


def seed_figures(reference: np.ndarray, labels: np.ndarray, margins: np.ndarray, humans: dict[str, np.ndarray],
                 poles: Sequence[tuple[int, int]], codebook: Any, review_margin: float, *, n_boot: int,
                 confidence: float, seed: int) -> dict[str, Any]:
    """One seed's `flag` and `coverage` figures per axis (module docstring) from the decision `margins` [n, n_axes];
    on each coverage also the model's alpha minus the blind coders' mean alpha on those quotes, with crossval's
    paired bootstrap interval."""
    from pipeline.crossval import paired_difference

    right = same_category(reference, labels, poles)
    out: dict[str, Any] = {}
    for a, axis in enumerate(codebook.axes):
        flagged = margins[:, a] < review_margin
        coverage = {}
        for share in COVERAGES:
            rows = surest(margins[:, a], share)
            by_human = {name: on_rows(reference, coding, rows, a, codebook) for name, coding in humans.items()}
            known = [v for v in by_human.values() if v is not None]
            difference = paired_difference(reference[rows], labels[rows], [h[rows] for h in humans.values()],
                                           codebook, n_boot=n_boot, confidence=confidence, seed=seed)[axis.id]
            coverage[f"{share:g}"] = {"n": int(len(rows)), "margin_cut": round(float(margins[rows, a].min()), 4),
                                      "model": on_rows(reference, labels, rows, a, codebook),
                                      "humans": by_human,
                                      "human_mean": round(float(np.mean(known)), 4) if known else None,
                                      "model_minus_human_mean": None if difference["alpha"] is None
                                      else round(float(difference["alpha"]), 4),
                                      "model_minus_human_mean_ci": difference["ci"]}
        out[axis.id] = {
            "flag": {"n_flagged": int(flagged.sum()), "n": len(flagged),
                     "right_when_flagged": round(float(right[flagged, a].mean()), 4) if flagged.any() else None,
                     "right_when_not_flagged": round(float(right[~flagged, a].mean()), 4) if (~flagged).any()
                     else None},
            "coverage": coverage}
    return out


def summarise(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, min and max over seeds of every number in the seeds' figures (None where a seed has none); of an
    interval, the mean of each bound."""
    first = per_seed[0]
    if isinstance(first, dict):
        return {key: summarise([s[key] for s in per_seed]) for key in first}
    if isinstance(first, list) or first is None and any(isinstance(s, list) for s in per_seed):
        bounds = [s for s in per_seed if s is not None]  # an interval per seed: the mean of each bound
        return {"mean": [round(float(np.mean([b[k] for b in bounds])), 4) for k in range(2)]} if bounds \
            else {"mean": None}
    values = [v for v in per_seed if v is not None]
    if not values:
        return {"mean": None}
    return {"mean": round(float(np.mean(values)), 4), "min": round(float(np.min(values)), 4),
            "max": round(float(np.max(values)), 4)}


def double_coded(prepared: Path, split: str, first: str, second: str, codebook: Any) -> dict[str, tuple[list[str],
                                                                                                   np.ndarray,
                                                                                                   np.ndarray]]:
    """Per collection: texts and the 0/1 labels of coders `first` and `second` of the codable fragments of `split`
    that both coded fully, row-aligned by fragment id."""
    from pipeline.core.documents import read_prepared
    from pipeline.model.training_data import labelled_split

    records = read_prepared(prepared)
    out = {}
    for collection in sorted({r.collection for r in records}):
        mine = [r for r in records if r.collection == collection]
        one, two = (labelled_split(mine, split=split, coder=coder, code_ids=codebook.code_ids, source=prepared)
                    for coder in (first, second))
        second_row = {fragment_id: k for k, fragment_id in enumerate(two.ids)}
        rows = [(k, second_row[fragment_id]) for k, fragment_id in enumerate(one.ids) if fragment_id in second_row]
        if rows:
            out[collection] = ([one.texts[k] for k, _ in rows], np.array([one.labels[k] for k, _ in rows], dtype=float),
                               np.array([two.labels[m] for _, m in rows], dtype=float))
    return out


def loco_probabilities(bench: Any, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Leave one case out with the shipped head (`bench`, key `KEY`): every quote's 0/1 labels and its category
    probabilities [n, 4 * n_axes], each from the head fitted without its case (the seed's replay)."""
    from pipeline.model.category_head import category_probabilities

    probabilities = np.zeros((bench.data.n_team, 4 * len(bench.poles)))

    def held_out(held: np.ndarray, rows: np.ndarray) -> np.ndarray:
        probabilities[held] = category_probabilities(bench.features[KEY][held], *bench.head_weights(KEY, rows))
        return probabilities[held]

    return bench.loco_labels_from(seed, held_out), probabilities


def run(prepared: Path) -> dict[str, Any]:
    from pipeline.core.config import REPO_ROOT
    from pipeline.crossval import encoder_embeddings, human_labels
    from pipeline.model.adaptation import finetuned_share
    from pipeline.model.category_head import category_probabilities
    from pipeline.model.decision import decide_categories
    from pipeline.model.selection import category_distances
    from pipeline.tools.encoder_interpolation_experiment import ShippedBench

    setup = load_quotes_setup(prepared)
    data, params, codebook, metadata, model_dir = setup.data, setup.params, setup.codebook, setup.metadata, \
        setup.model_dir
    bench = ShippedBench(data, {KEY: data.adapted}, params, codebook)
    quotes = REPO_ROOT / "corpus" / "study-quotes"
    humans = {name: human_labels(setup.records, data.team.ids, name, codebook, quotes) for name in HUMANS}
    review_margin = float(params.predict.review_margin)

    def margins_of(categories: np.ndarray) -> np.ndarray:  # what `predict` writes (before its cut to 4 digits)
        return category_distances(categories, codebook.code_ids, codebook).distances

    reference = data.team.labels
    per_seed = []
    for seed in params.crossval.seeds:
        labels, probabilities = loco_probabilities(bench, seed)
        per_seed.append(seed_figures(reference, labels, margins_of(probabilities), humans, bench.poles,
                                     codebook, review_margin, n_boot=params.crossval.n_boot,
                                     confidence=params.crossval.confidence, seed=seed))
    axes = summarise(per_seed)
    second_coder = {}
    weight, bias = bench.head_weights(KEY, np.arange(len(data.texts)))  # all quotes + the replay, as adapt fits
    for name, (texts, first, second) in double_coded(prepared, "test", params.adapt.replay_coder, SECOND_CODER,
                                                     codebook).items():
        print(f"confidence: embedding the {len(texts)} double-coded {name} test fragments", file=sys.stderr)
        x = encoder_embeddings(metadata.backbone["spec"], texts, len(codebook.code_ids), prefix=metadata.text_prefix,
                               max_length=metadata.max_length, model_dir=model_dir, share=finetuned_share(params.adapt))
        probabilities = category_probabilities(x, weight, bias)
        labels = decide_categories(probabilities, bench.poles, len(codebook.code_ids))
        second_coder[name] = {"n": len(texts), "reference": params.adapt.replay_coder, "second": SECOND_CODER,
                              "axes": seed_figures(first, labels, margins_of(probabilities),
                                                   {SECOND_CODER: second}, bench.poles, codebook, review_margin,
                                                   n_boot=params.crossval.n_boot,
                                                   confidence=params.crossval.confidence, seed=params.crossval.seeds[0])}
    for axis, figures in axes.items():
        line = " ".join(f"{share}: model {c['model']['mean']} humans {c['human_mean']['mean']}"
                        for share, c in figures["coverage"].items())
        print(f"confidence: {axis}: flagged {figures['flag']['n_flagged']['mean']:.1f}, right when flagged "
              f"{figures['flag']['right_when_flagged']['mean']}, otherwise {figures['flag']['right_when_not_flagged']['mean']}; "
              f"{line}", file=sys.stderr)
    return {"what": __doc__.splitlines()[0], "seeds": list(params.crossval.seeds), "n_quotes": data.n_team,
            "humans": list(HUMANS), "review_margin": review_margin, "coverages": list(COVERAGES), "axes": axes,
            "per_seed": dict(zip(map(str, params.crossval.seeds), per_seed)), "second_coder": second_coder}


def main(argv: Sequence[str] | None = None) -> None:
    main_on_prepared(__doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    main()
