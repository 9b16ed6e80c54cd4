"""An ensemble of the adapted defaults built on three trainings of the base model, probabilities averaged
(round 13, README item 28).

Item 21 showed that the base model's training seed moves the adapted default on the real quotes by up to 0.13
alpha on an axis (0.50 / 0.41 / 0.60 over `train.seed` 42, 43 and 44 against 0.52 / 0.45 / 0.67 for the shipped
42), and item 22 that averaging the three models' weights (a soup) scores about their mean. Averaging their
outputs is the other classic answer to training variance: each training's default (`adapt`'s categories head
on its own interpolated encoder, fitted as shipped) gives category probabilities, the ensemble decides on their
mean (per axis the most probable category, as one head decides). It costs one encoder pass per member at
prediction time (three times the shipped cost), so it has to earn it:

1. ``members``: each training's default alone: leave one case out on the 47 quotes (crossval's seeds 1-3 and
   replay draws) and the synthetic / field test splits (head fitted on all quotes + replay);
2. ``ensemble``: the same for the averaged probabilities, with the paired difference on the quotes to the
   shipped member (``loco_minus_shipped``) and to each member (``loco_minus_members``);
3. ``mean_of_members``: the members' figures averaged, what one training of unknown seed gives on average.

The members' replay and quotes are the same rows in the same order (one prepared file, crossval's seeded draws),
so every member's head in a fold is fitted on the same rows and only the encoder differs.

Run: ``python -m pipeline.tools.training_ensemble_experiment --work-dir W -o
reports/experiments/training_ensemble.json`` (after `make run`; it trains `train.seed` 43 and 44 as
`training_seed_experiment` does, about 4.5 minutes each on the 2-core AMX machine, reusing models already in W,
then scores for about 5 minutes).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.tools import main_over_training_seeds

SEEDS = (43, 44)
KEY = "default"  # the feature key `training_seed_experiment.adapted_bench` scores under


def averaged_labels(probabilities: Sequence[np.ndarray], poles: Sequence[tuple[int, int]], n_codes: int) -> np.ndarray:
    """0/1 labels [n, n_codes] decided on the mean of the members' category probabilities [n, 4 * n_axes]."""
    from pipeline.model.decision import decide_categories

    return decide_categories(np.mean(np.stack(probabilities), axis=0), poles, n_codes)


def ensemble_loco_labels(members: Sequence[tuple[Any, Any]], seed: int) -> np.ndarray:
    """Leave one case out: every team row labelled by the mean probabilities of the members' heads, each
    (bench, key) fitted without the row's case on the training cases + the seed's replay, as
    `HeadBench.loco_labels` fits one."""
    return members[0][0].loco_labels_from(
        seed, lambda held, rows: np.mean([bench.fitted(key, rows)(bench.features[key][held])
                                          for bench, key in members], axis=0))


def ensemble_split_labels(members: Sequence[tuple[Any, Any, np.ndarray]]) -> np.ndarray:
    """Labels of one held-out split: (bench, key, that member's embeddings of the split) per member, each head
    fitted on every team row + all replay rows."""
    first = members[0][0]
    every = np.arange(len(first.data.texts))
    return averaged_labels([bench.fitted(key, every)(x) for bench, key, x in members], first.poles,
                           len(first.codebook.code_ids))


def run(prepared: Path, *, seeds: Sequence[int], work_dir: Path) -> dict[str, Any]:
    """The measurements above for the shipped `models/base` and one base model trained per seed in `seeds`."""
    from pipeline.core.params import load_params
    from pipeline.model.adaptation import finetuned_share
    from pipeline.tools import load_quotes_setup
    from pipeline.tools.encoder_interpolation_experiment import (
        ShippedBench,
        head_split_alphas,
        mean_alpha,
        means_line,
        summary,
    )
    from pipeline.tools.training_seed_experiment import trained_base_models

    shipped_seed = load_params().train.seed
    models = trained_base_models(prepared, seeds, work_dir)
    benches: dict[int, Any] = {}
    tests: dict[int, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for seed, model_dir, _ in models:
        print(f"training ensemble: loading the default of train.seed {seed}", file=sys.stderr)
        setup = load_quotes_setup(prepared, model_dir)
        benches[seed] = ShippedBench(setup.data, {KEY: setup.data.adapted}, setup.params, setup.codebook)
        tests[seed] = setup.held_out("test", finetuned_share(setup.params.adapt))
    first = benches[shipped_seed]
    reference, codebook, crossval_seeds = first.data.team.labels, first.codebook, first.settings.seeds
    for seed, bench in benches.items():  # one prepared file, one seeded draw: the same rows for every member
        if not (np.array_equal(bench.data.y, first.data.y) and bench.data.texts == first.data.texts):
            raise RuntimeError(f"training ensemble: the rows of train.seed {seed} differ from the shipped model's")
    test_y = {name: y for name, (_, y) in tests[shipped_seed].items()}

    members: dict[str, Any] = {}
    member_labels: dict[int, dict[int, np.ndarray]] = {}
    for seed, bench in benches.items():
        member_labels[seed] = {s: bench.loco_labels(KEY, s) for s in crossval_seeds}
        weight, bias = bench.head_weights(KEY, np.arange(len(bench.data.texts)))
        members[str(seed)] = {"shipped": seed == shipped_seed, "loco": bench.loco(KEY),
                              "test": head_split_alphas(weight, bias, tests[seed], bench.poles, codebook)}
        print(f"training ensemble: train.seed {seed}: loco {means_line(members[str(seed)]['loco'])}; "
              f"test {members[str(seed)]['test']}", file=sys.stderr)

    pairs = [(bench, KEY) for bench in benches.values()]
    labels = {s: ensemble_loco_labels(pairs, s) for s in crossval_seeds}
    ensemble = {
        "loco": summary(np.array([mean_alpha(reference, labels[s], codebook) for s in crossval_seeds]), codebook),
        "loco_minus_shipped": first.labels_minus(labels, member_labels[shipped_seed]),
        "loco_minus_members": {str(seed): first.labels_minus(labels, member_labels[seed])
                               for seed in benches},
        "test": {name: mean_alpha(y, ensemble_split_labels([(bench, KEY, tests[seed][name][0])
                                                            for seed, bench in benches.items()]),
                                  codebook).round(4).tolist()
                 for name, y in test_y.items()}}
    print(f"training ensemble: ensemble: loco {means_line(ensemble['loco'])}; test {ensemble['test']}",
          file=sys.stderr)
    axes = [axis.id for axis in codebook.axes]
    mean_of_members = {
        "loco": {axis: round(float(np.mean([m["loco"][axis]["mean"] for m in members.values()])), 4) for axis in axes},
        "test": {name: np.mean([m["test"][name] for m in members.values()], axis=0).round(4).tolist()
                 for name in test_y}}
    return {"what": __doc__.splitlines()[0], "train_seeds": list(benches), "crossval_seeds": list(crossval_seeds),
            "n_quotes": first.data.n_team, "axes": axes, "members": members, "ensemble": ensemble,
            "mean_of_members": mean_of_members}


def main(argv: Sequence[str] | None = None) -> None:
    main_over_training_seeds(__doc__.splitlines()[0], "capcode-ensemble-", run, SEEDS, argv)


if __name__ == "__main__":
    main()
