"""The base model trained without the field corpus's strategisch/operationeel coding (`train.label_weights`).

Item 16 found that the field corpus's coders read strategisch/operationeel differently from the researchers
(41% of its train fragments strategisch only against the synthetic corpus's 25%; the researchers place 55% of
the quotes there but call most day-to-day collaboration operationeel), and `adapt.replay_weights` leaves that
coding out of the adapted head's fit. The base model's fine-tuning still learns from it: the encoder that the
default interpolates towards was trained on both readings of the axis at once, and since the field corpus
joined the training data the base model scores 0.50 on the synthetic test's strat./oper. where the first
delivery's synthetic-only model scored 0.58 (item 13 put the gap down to training length; this tool asks
whether the conflicting coding is part of it).

It trains the base model with `train.label_weights: {strategisch_operationeel: {field: 0}}` (the field
fragments still train the intern/extern and beleid/beheer codes; their strat./oper. labels are masked out of
the loss and out of the positive-class weights), every other setting as shipped, once per `--seeds`, and
scores it exactly as `training_seed_experiment` scores a retrained base model:

1. ``base_model``: its own poles head and thresholds on the synthetic and field test splits and the 47 quotes
   (`capcode evaluate`);
2. ``adapted``: the default `adapt` builds on it (categories head on the encoder interpolated
   `adapt.interpolation` towards it, rows weighed by `adapt.replay_weights`): leave one case out on the
   quotes (crossval's seeds) and the synthetic and field test splits;

beside the base model trained with the same seed on every label (the shipped `models/base` for seed 42,
`base-seed-N` in the work folder for the others), and the paired difference on the quotes (masked minus
plain, crossval's paired bootstrap, per crossval seed). A model already in the work folder is reused.

`--variant field2` trains the opposite dose instead: the field corpus's coding of every axis weighing 2
against the synthetic corpus's 1 (README item 25).

Run: ``python -m pipeline.tools.training_labels_experiment --seeds 42 43 44 --work-dir W -o
reports/experiments/training_labels.json`` and ``... --variant field2 ... -o
reports/experiments/training_labels_field2.json`` (about 12 minutes per seed on 2 cores, 7 of them training;
half that for a seed whose models are already in W).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.tools import main_with_work_dir, params_with_train, trained_unless_present
from pipeline.tools.encoder_interpolation_experiment import held_out_line, means_line
from pipeline.tools.training_seed_experiment import spread

# the training labels left out: the field corpus's coding of strategisch/operationeel
MASKED_LABELS: dict[str, dict[str, float]] = {"strategisch_operationeel": {"field": 0.0}}
# `--variant`: the `train.label_weights` each variant trains with. `masked` is the question above; `field2`
# its opposite, asked after it: the field corpus's coding of every axis weighing twice the synthetic corpus's
VARIANTS: dict[str, dict[str, dict[str, float]]] = {
    "masked": MASKED_LABELS,
    "field2": {axis: {"field": 2.0} for axis in ("intern_extern", "beleid_beheer", "strategisch_operationeel")},
}
SEEDS = (42, 43, 44)


def base_model(prepared: Path, work_dir: Path, seed: int, *, variant: str | None) -> tuple[Path, Path]:
    """(model dir, params file) of the base model trained with `train.seed` `seed`, on every label (`variant`
    None) or with the `VARIANTS[variant]` label weights; trained into `work_dir` unless it is there already
    (the shipped `models/base` is the plain model of the shipped seed)."""
    from pipeline.core.config import DEFAULT_PARAMS, REPO_ROOT
    from pipeline.core.params import load_params

    if variant is None and seed == load_params().train.seed:
        return REPO_ROOT / "models" / "base", DEFAULT_PARAMS
    name = f"base-{variant}-seed-{seed}" if variant else f"base-seed-{seed}"
    settings: dict[str, Any] = {"seed": seed, **({"label_weights": VARIANTS[variant]} if variant else {})}
    params_path = params_with_train(DEFAULT_PARAMS, work_dir / f"params-{name}.yaml", **settings)
    return trained_unless_present(prepared, work_dir / name, params_path, work_dir / f"checkpoints-{name}",
                                  "training labels"), params_path


def run(prepared: Path, *, seeds: Sequence[int], work_dir: Path, variant: str = "masked") -> dict[str, Any]:
    """Per seed the plain base model and the `variant` one, each scored as a base model and under the default
    head."""
    from pipeline.model.classifier import read_metadata
    from pipeline.tools.training_length_experiment import base_model_scores
    from pipeline.tools.training_seed_experiment import adapted_bench

    rows: list[dict[str, Any]] = []
    for seed in seeds:
        row: dict[str, Any] = {"train_seed": seed}
        benches: dict[str, Any] = {}
        for kind, chosen in (("plain", None), (variant, variant)):
            model_dir, params_path = base_model(prepared, work_dir, seed, variant=chosen)
            metadata = read_metadata(model_dir)
            adapted, benches[kind] = adapted_bench(prepared, model_dir)
            row[kind] = {"label_weights": metadata.params.get("label_weights", {}), "precision": metadata.precision,
                         "validation": metadata.validation,
                         "base_model": base_model_scores(prepared, model_dir, work_dir / f"eval-{kind}-{seed}",
                                                         params_path),
                         "adapted": adapted}
            print(f"training labels: seed {seed}, {kind}: adapted loco {means_line(adapted['loco'])}; "
                  f"{held_out_line(adapted['held_out'])}", file=sys.stderr)
        # the variant minus plain on the same quotes, crossval's paired bootstrap per crossval seed
        plain = benches["plain"]
        row[f"{variant}_minus_plain_loco"] = benches[variant].loco_minus_labels(
            "default", {seed: plain.loco_labels("default", seed) for seed in plain.settings.seeds})
        rows.append(row)
    over = {f"{kind}_{what}": spread([row[kind] for row in rows], path)
            for kind in ("plain", variant)
            for what, path in (("adapted_loco", ("adapted", "loco")),
                               ("adapted_synthetic_test", ("adapted", "held_out", "synthetic")),
                               ("adapted_field_test", ("adapted", "held_out", "field")),
                               ("base_synthetic_test", ("base_model", "test_synthetic", "alpha")),
                               ("base_field_test", ("base_model", "test_field", "alpha")))}
    return {"what": __doc__.splitlines()[0], f"{variant}_labels": VARIANTS[variant], "models": rows,
            "over_training_seeds": over}


def main(argv: Sequence[str] | None = None) -> None:
    def options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help="train.seed values")
        parser.add_argument("--variant", choices=sorted(VARIANTS), default="masked",
                            help="the label weights to train with beside the plain model (default: masked)")

    main_with_work_dir(__doc__.splitlines()[0], "capcode-labels-",
                       "where the trained models go (default: a temporary folder, removed after); models already "
                       "there are reused",
                       lambda args, work_dir: run(args.prepared, seeds=args.seeds, work_dir=work_dir,
                                                  variant=args.variant), argv, options)


if __name__ == "__main__":
    main()
