"""How much the headline figures move with the base model's own training seed (`train.seed`).

Every range in the README's quality tables is over crossval's seeds (1-3), which change the replay sample and
the learning-curve draws; the base model itself is trained once, with `train.seed` 42, so its training
variance is in none of them. This tool trains the base model again with other seeds (every other setting as
shipped, same prepared data) into a scratch folder and measures, for the shipped `models/base` and each
retrained one:

1. ``base_model``: its own poles head and tuned thresholds on the test splits (synthetic, field; coder A) and
   on the 47 quotes (`gold`), as `capcode evaluate` scores them;
2. ``adapted``: the default `adapt` builds on it (the categories head on the encoder interpolated
   `adapt.interpolation` towards that model's encoder, rows weighed by `adapt.replay_weights`):
   - ``loco``: leave one case out on the 47 quotes, crossval's seeds and replay samples (mean, min, max);
   - ``held_out``: the synthetic and field test splits, the head fitted on all quotes + the replay, as
     `adapt` fits the shipped model (the README's "synthetic held-out test" figure of the default).

For the shipped `models/base` both reproduce the `dvc repro` figures (a check of the tool). The spread over
training seeds says how much of a difference between two settings, or of the gap to a target, a single
training run can show.

Run: ``python -m pipeline.tools.training_seed_experiment -o reports/experiments/training_seed.json`` (about 30
minutes on 2 cores for two more seeds: each trains for about 7 minutes).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.tools import load_quotes_setup, main_over_training_seeds, params_with_train, trained_unless_present
from pipeline.tools.encoder_interpolation_experiment import held_out_line, means_line

SEEDS = (43, 44)


def adapted_bench(prepared: Path, model_dir: Path) -> tuple[dict[str, Any], Any]:
    """`adapted_scores`, and the `ShippedBench` that scored it (key "default"), for a tool that also pairs its
    leave-one-case-out labels with another model's."""
    from pipeline.model.adaptation import finetuned_share
    from pipeline.tools.encoder_interpolation_experiment import ShippedBench

    setup = load_quotes_setup(prepared, model_dir)
    bench = ShippedBench(setup.data, {"default": setup.data.adapted}, setup.params, setup.codebook)
    test = setup.held_out("test", finetuned_share(setup.params.adapt))
    return {"loco": bench.loco("default"),
            "held_out": bench.held_out("default", {name: x for name, (x, _) in test.items()},
                                       {name: y for name, (_, y) in test.items()})}, bench


def adapted_scores(prepared: Path, model_dir: Path) -> dict[str, Any]:
    """The default adapt builds on the base model in `model_dir`: leave one case out on the quotes, and the
    test splits with the head fitted on all quotes + replay."""
    return adapted_bench(prepared, model_dir)[0]


def scored_model(prepared: Path, model_dir: Path, params_path: Path, eval_dir: Path, label: str) -> dict[str, Any]:
    """What the retraining tools record of one base model: the precision it was trained with, its validation
    summary, its own poles head on the test splits and the quotes (`base_model_scores`, evaluate's output in
    `eval_dir`) and the default adapt builds on it (`adapted_scores`); `label` names it in the progress line."""
    from pipeline.model.classifier import read_metadata
    from pipeline.tools.training_length_experiment import base_model_scores

    metadata = read_metadata(model_dir)
    row: dict[str, Any] = {"precision": metadata.precision, "validation": metadata.validation,
                           "base_model": base_model_scores(prepared, model_dir, eval_dir, params_path),
                           "adapted": adapted_scores(prepared, model_dir)}
    print(f"{label}: adapted loco {means_line(row['adapted']['loco'])}; {held_out_line(row['adapted']['held_out'])}",
          file=sys.stderr)
    return row


def spread(rows: list[dict[str, Any]], path: Sequence[str]) -> dict[str, dict[str, float]]:
    """Mean, min and max over models of the per-axis figures found at `path` in each row."""
    values: dict[str, list[float]] = {}
    for row in rows:
        found: Any = row
        for key in path:
            found = found[key]
        for axis, value in found.items():
            value = value["mean"] if isinstance(value, dict) else value
            if value is not None:
                values.setdefault(axis, []).append(float(value))
    return {axis: {"mean": round(float(np.mean(v)), 4), "min": round(float(np.min(v)), 4),
                   "max": round(float(np.max(v)), 4)} for axis, v in values.items()}


def trained_base_models(prepared: Path, seeds: Sequence[int], work_dir: Path) -> list[tuple[int, Path, Path]]:
    """(train.seed, model dir, params file) of the shipped `models/base` and of a base model trained with each
    of `seeds` (everything else as shipped) in `work_dir/base-seed-SEED`; a model already there (a kept
    `--work-dir` of an earlier run) is used as it is, not trained again."""
    from pipeline.core.config import DEFAULT_PARAMS, REPO_ROOT
    from pipeline.core.params import load_params

    models = [(load_params().train.seed, REPO_ROOT / "models" / "base", DEFAULT_PARAMS)]
    for seed in seeds:
        params_path = params_with_train(DEFAULT_PARAMS, work_dir / f"params-{seed}.yaml", seed=seed)
        model_dir = trained_unless_present(prepared, work_dir / f"base-seed-{seed}", params_path,
                                           work_dir / f"checkpoints-{seed}", "training seed")
        models.append((seed, model_dir, params_path))
    return models


def run(prepared: Path, *, seeds: Sequence[int], work_dir: Path) -> dict[str, Any]:
    """The measurements above for the shipped base model and one retrained per seed in `seeds`."""
    from pipeline.core.params import load_params

    shipped = load_params().train
    models = trained_base_models(prepared, seeds, work_dir)
    rows = []
    for seed, model_dir, params_path in models:
        print(f"training seed: scoring the base model of train.seed {seed}", file=sys.stderr)
        rows.append({"train_seed": seed, "shipped": seed == shipped.seed,
                     **scored_model(prepared, model_dir, params_path, work_dir / f"eval-{seed}",
                                    f"training seed {seed}")})
    return {
        "what": "the base model retrained with other train.seed values, everything else as shipped; the "
                "adapted default built on each",
        "models": rows,
        "over_training_seeds": {
            "adapted_loco": spread(rows, ("adapted", "loco")),
            "adapted_synthetic_test": spread(rows, ("adapted", "held_out", "synthetic")),
            "adapted_field_test": spread(rows, ("adapted", "held_out", "field")),
            "base_synthetic_test": spread(rows, ("base_model", "test_synthetic", "alpha")),
        },
    }


def main(argv: Sequence[str] | None = None) -> None:
    main_over_training_seeds(__doc__.splitlines()[0], "capcode-seeds-", run, SEEDS, argv)


if __name__ == "__main__":
    main()
