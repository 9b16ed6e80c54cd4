"""The team's quotes cut into sentences as extra rows of the head's fit, each coded as its quote (round 13,
README item 29).

In the shipped head's fit the team's 24-31 quotes of the two training cases (weight `adapt.real_weight`) sit
beside 2,000 replay fragments written in another register, and 35 of the 47 quotes have two or more sentences
(`representation_experiment.sentences`: cut at stops and omission marks). Cutting each training quote into its
sentences, each a row of its own coded as the whole quote, multiplies the rows of real speech the head sees by
about three: the cheapest augmentation there is, and a standard one for few-shot text classification. It can also
mislead: a sentence of a quote coded "both" need not carry both poles, and one of a quote coded by its gist may
carry neither. Two doses, every other setting as shipped (the quotes themselves stay as rows, prediction reads the
whole quote as now):

- ``sentences share their quote's weight``: each sentence weighs `real_weight` / its quote's sentence count;
- ``each sentence weighs as a quote``: each sentence weighs `real_weight`.

Scored as items 26-27: leave one case out on the 47 quotes (seeds 1-3, crossval's replay draws; a held-out
case's sentences are never fitted on), the paired difference to the shipped head, and the validation / test
splits (head fitted on all quotes, their sentences and the replay). The sentences are embedded as adapt embeds a
fragment (the interpolated encoder, mean over tokens, the model's prefix).

Run: ``python -m pipeline.tools.sentence_augmentation_experiment -o
reports/experiments/sentence_augmentation.json`` (after `make run`; about 3.5 minutes on the 2-core AMX machine).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.tools import load_quotes_setup, main_on_prepared

KEY = "shipped"
DOSES = {"sentences share their quote's weight": "share", "each sentence weighs as a quote": "full"}


def sentence_rows(train: np.ndarray, owner: np.ndarray, dose: str) -> tuple[np.ndarray, np.ndarray]:
    """(indices into the sentence arrays, weight factor of each) of the sentences of the quotes `train` that
    have two or more (a one-sentence quote's sentence is the quote itself, already a row); `owner` gives each
    sentence's quote. `dose` "share": 1 / the quote's sentence count, "full": 1."""
    if dose not in ("share", "full"):
        raise ValueError(f"unknown dose {dose!r}: expected 'share' or 'full'")
    counts = np.bincount(owner, minlength=int(owner.max()) + 1 if len(owner) else 0)
    chosen = np.flatnonzero(np.isin(owner, train) & (counts[owner] >= 2))
    factor = 1.0 / counts[owner[chosen]] if dose == "share" else np.ones(len(chosen))
    return chosen, factor


def augmented_head(bench: Any, rows: np.ndarray, sentence_x: np.ndarray, owner: np.ndarray,
                   dose: str | None) -> tuple[np.ndarray, np.ndarray]:
    """(weight, bias) of the shipped head fitted on `rows` (team + replay rows of `bench`) plus, unless `dose` is
    None, the sentences of the team rows among them, each coded as its quote and weighed as its quote times the
    dose's factor."""
    from pipeline.model.category_head import fit_category_head

    x, y, w = bench.fit_features(KEY, rows), bench.data.y[rows], bench.row_weights(KEY, rows)
    if dose is not None:
        extra, factor = sentence_rows(rows[rows < bench.data.n_team], owner, dose)
        quote_weight = bench.row_weights(KEY, owner[extra])
        factor = factor[:, None] if quote_weight.ndim == 2 else factor
        x = np.vstack([x, sentence_x[extra]])
        y = np.vstack([y, bench.data.y[owner[extra]]])
        w = np.concatenate([w, quote_weight * factor])
    return fit_category_head(x, y, w, bench.poles, c=bench.adapt.category_c, seed=bench.adapt.seed)


def augmented_loco_labels(bench: Any, sentence_x: np.ndarray, owner: np.ndarray, dose: str | None,
                          seed: int) -> np.ndarray:
    """Leave one case out: every team row labelled by the head fitted on the other cases' quotes (and, with a
    dose, their sentences) + the seed's replay."""
    from pipeline.model.category_head import category_probabilities

    return bench.loco_labels_from(seed, lambda held, rows: category_probabilities(
        bench.features[KEY][held], *augmented_head(bench, rows, sentence_x, owner, dose)))


def run(prepared: Path) -> dict[str, Any]:
    from pipeline.core.config import REPO_ROOT
    from pipeline.model.adaptation import adaptation_embedder, finetuned_share
    from pipeline.model.backbone import resolve_backbone
    from pipeline.tools.encoder_interpolation_experiment import (
        ShippedBench,
        entry_line,
        head_split_alphas,
        mean_alpha,
        summary,
    )
    from pipeline.tools.representation_experiment import pooled, sentences

    setup = load_quotes_setup(prepared)
    params, codebook, metadata, data = setup.params, setup.codebook, setup.metadata, setup.data
    share = finetuned_share(params.adapt)
    model, tokenizer = adaptation_embedder(resolve_backbone(metadata.backbone["spec"], cache_dir=REPO_ROOT / "models"),
                                           setup.model_dir, share, len(codebook.code_ids))
    team_sentences = [sentences(text) for text in data.texts[:data.n_team]]
    owner = np.repeat(np.arange(data.n_team), [len(parts) for parts in team_sentences])
    print(f"sentence augmentation: embedding {len(owner)} sentences of {data.n_team} quotes", file=sys.stderr)
    sentence_x = pooled(model, tokenizer, [s for parts in team_sentences for s in parts], prefix=metadata.text_prefix,
                        max_length=metadata.max_length)["mean"]
    print("sentence augmentation: embedding the validation and test splits", file=sys.stderr)
    splits = {split: setup.held_out(split, share) for split in ("validation", "test")}
    bench = ShippedBench(data, {KEY: data.adapted}, params, codebook)
    seeds, every = list(params.crossval.seeds), np.arange(len(data.texts))
    shipped = {seed: bench.loco_labels(KEY, seed) for seed in seeds}

    def on_split(dose: str | None, split: str) -> dict[str, list[float]]:
        return head_split_alphas(*augmented_head(bench, every, sentence_x, owner, dose), splits[split], bench.poles,
                                 codebook)

    counts = np.bincount(owner)  # sentences per quote
    out: dict[str, Any] = {"what": __doc__.splitlines()[0], "seeds": seeds, "n_quotes": data.n_team,
                           "n_quotes_with_two_or_more_sentences": int(np.sum(counts >= 2)),
                           "n_sentences_of_those": int(np.sum(counts[counts >= 2])),
                           "axes": [axis.id for axis in codebook.axes], "doses": {}}
    for name, dose in {"none (shipped)": None, **DOSES}.items():
        labels = shipped if dose is None else {seed: augmented_loco_labels(bench, sentence_x, owner, dose, seed)
                                                for seed in seeds}
        if dose is None and not all((augmented_loco_labels(bench, sentence_x, owner, None, s) == shipped[s]).all()
                                    for s in seeds):
            raise RuntimeError("the tool's own fit without sentences differs from the shipped head's")
        per_seed = np.array([mean_alpha(data.team.labels, labels[s], codebook) for s in seeds])
        entry: dict[str, Any] = {
            "loco": summary(per_seed, codebook),
            "loco_minus_shipped": None if dose is None else bench.labels_minus(labels, shipped),
            "validation": on_split(dose, "validation"), "test": on_split(dose, "test")}
        out["doses"][name] = entry
        print(f"sentence augmentation: {name}: {entry_line(entry)}", file=sys.stderr)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    main_on_prepared(__doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    main()
