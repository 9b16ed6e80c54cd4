"""How long the base model trains (`train.epochs`), and what that changes on the synthetic test and for `adapt`.

The first delivery trained up to 8 epochs on the synthetic corpus alone and reached 0.58-0.59 on
strategisch/operationeel on the synthetic test split. Since the field corpus doubled the training data,
`train.epochs` is 3 (to keep `make run` under 30 minutes), and the adapted default scores 0.48 there. This tool
asks where that gap comes from. It trains the base model again with `--epochs` (every other setting as
shipped, same seed, same prepared data) into a scratch folder and measures:

1. ``base_models``: the shipped `models/base` and the longer-trained one, each with its own poles head and
   tuned thresholds, on the test splits (synthetic, field; coder A) and on the 47 quotes (`gold`; neither
   base model saw them), as `capcode evaluate` scores them;
2. ``adapted_head``: the categories head `adapt` fits, on the backbone interpolated towards the longer-trained
   encoder at `--shares` (0.2 is the shipped share, 1 the fine-tuned encoder itself): leave one case out on the
   quotes (seeds 1-3) and the synthetic and field test splits, exactly as
   `pipeline.tools.encoder_interpolation_experiment` measures the shipped encoder.

Run: ``python -m pipeline.tools.training_length_experiment --epochs 6 -o
reports/experiments/training_length.json`` (about 25 minutes on 2 cores, 14 of them training).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.tools import main_with_work_dir, params_with_train

SPLITS = ("test_synthetic", "test_field", "gold")


def base_model_scores(prepared: Path, model_dir: Path, output_dir: Path, params_path: Path) -> dict[str, Any]:
    """Alpha per axis and macro-F1 of a base model (its poles head and thresholds) on the splits of `SPLITS`."""
    from pipeline.evaluate import evaluate

    evaluate(prepared=prepared, model_dir=model_dir, output_dir=output_dir, params_path=params_path)
    headline = json.loads((output_dir / "headline.json").read_text(encoding="utf-8"))
    return {split: {"alpha": {axis: round(value, 4) for axis, value in headline[split]["model"]["alpha"].items()},
                    "macro_f1": round(headline[split]["model"]["macro_f1"], 4)}
            for split in SPLITS if split in headline}


def run(prepared: Path, *, epochs: int, shares: Sequence[float], work_dir: Path) -> dict[str, Any]:
    from pipeline.core.config import DEFAULT_PARAMS, REPO_ROOT
    from pipeline.core.params import load_params
    from pipeline.model.classifier import read_metadata
    from pipeline.tools.encoder_interpolation_experiment import run as interpolation
    from pipeline.train import train

    shipped = load_params().train
    params_path = params_with_train(DEFAULT_PARAMS, work_dir / "params.yaml", epochs=epochs)
    longer = work_dir / f"base-{epochs}-epochs"
    print(f"training length: training the base model for {epochs} epochs (shipped: {shipped.epochs})", file=sys.stderr)
    train(prepared=prepared, model_dir=longer, checkpoint_dir=work_dir / "checkpoints", params_path=params_path)
    trained = read_metadata(longer)
    base = REPO_ROOT / "models" / "base"
    return {
        "what": "the base model trained longer (train.epochs), everything else as shipped",
        "epochs": {"shipped": shipped.epochs, "longer": epochs},
        "longer_model": {"seed": shipped.seed, "precision": trained.precision, "validation": trained.validation},
        "base_models": {
            f"shipped models/base ({shipped.epochs} epochs)": base_model_scores(prepared, base, work_dir / "eval-base",
                                                                               DEFAULT_PARAMS),
            f"{epochs} epochs": base_model_scores(prepared, longer, work_dir / "eval-longer", params_path),
        },
        "adapted_head": interpolation(prepared, model_dir=longer, shares=shares, nested=False),
    }


def main(argv: Sequence[str] | None = None) -> None:
    def options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--epochs", type=int, default=6,
                            help="epochs of the longer training (shipped: train.epochs)")
        parser.add_argument("--shares", type=float, nargs="+", default=[0.2, 1.0],
                            help="interpolation shares towards the longer-trained encoder for the adapted head")

    main_with_work_dir(__doc__.splitlines()[0], "capcode-epochs-",
                       "where the longer-trained model goes (default: a temporary folder, removed after)",
                       lambda args, work_dir: run(args.prepared, epochs=args.epochs, shares=args.shares,
                                                  work_dir=work_dir), argv, options)


if __name__ == "__main__":
    main()
