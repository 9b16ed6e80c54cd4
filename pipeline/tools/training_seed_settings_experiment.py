"""Whether the settings read off the shipped base model hold on other trainings of it, and on their average.

Item 21 of the README found that one training run of the base model (`train.seed`) moves the real-speech
figures as much as most settings compared in the quality section; and the two settings read off the quotes,
the encoder share (`adapt.interpolation`, item 12) and the per-axis replay weighting (`adapt.replay_weights`,
item 16), were read off the shipped model (`train.seed` 42) alone. This tool repeats item 19's grid (share 0,
0.1, 0.2, 0.3 x three replay weightings; `nested_selection_experiment`) on

- the shipped `models/base` and the base models trained with `train.seed` 43 and 44 (as item 21 trains them;
  a kept `--work-dir` of an earlier run is reused), each with the nested choice of both settings inside each
  leave-one-case-out fold (the honest figure of the procedure, per trained model);
- their uniform **soup**: one model whose every weight is the mean of the three fine-tuned models' (Wortsman
  et al., "Model soups: averaging weights of multiple fine-tuned models improves accuracy without increasing
  inference time", ICML 2022). The three start from the same pretrained backbone and differ only in data
  order, dropout and head initialisation, so their average is a model of the same size whose training noise
  is partly averaged out: it costs two more trainings, nothing at prediction time.

and reports, per grid point, the mean (range) over the three trained models of the leave-one-case-out figure:
a setting that is best on that mean was not chosen for one training run's noise. Leave one case out on the
47 quotes, crossval's seeds and replay samples, as everywhere in the quality section.

Run: ``python -m pipeline.tools.training_seed_settings_experiment --work-dir /tmp/capcode-seeds -o
reports/experiments/training_seed_settings.json`` (about 40 minutes on a 2-core AMX machine: two trainings of
5 minutes, then about 9 minutes per model; longer where bf16 is not computed on AMX tiles; models kept in
`--work-dir` are not trained again). `--shipped-result PATH` reads the shipped model's grid from a JSON of
`nested_selection_experiment` run on the same model instead of computing it again.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.tools import main_with_work_dir
from pipeline.tools.training_seed_experiment import SEEDS, trained_base_models


def average_models(model_dirs: Sequence[Path], target: Path) -> Path:
    """A model directory at `target` whose encoder and head weights are the element-wise mean of those of the
    models in `model_dirs` (which must share one architecture: fine-tuned from one backbone); metadata,
    tokenizer and everything else are the first model's. Integer tensors (position ids) are the first's."""
    import torch
    from safetensors.torch import load_file, save_file

    from pipeline.model.classifier import ENCODER_DIR, HEAD_FILE

    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(model_dirs[0], target)
    weight_files = [Path(ENCODER_DIR) / path.name for path in sorted((model_dirs[0] / ENCODER_DIR).glob("*.safetensors"))]
    for relative in [*weight_files, Path(HEAD_FILE)]:
        loaded = [load_file(directory / relative) for directory in model_dirs]
        if any(set(tensors) != set(loaded[0]) for tensors in loaded):
            raise ValueError(f"{relative}: the models do not have the same weights; they cannot be averaged")
        averaged = {name: torch.stack([tensors[name].float() for tensors in loaded]).mean(0).to(tensor.dtype)
                    if tensor.is_floating_point() else tensor for name, tensor in loaded[0].items()}
        save_file({name: t.contiguous() for name, t in averaged.items()}, target / relative, metadata={"format": "pt"})
    return target


def over_models(results: Sequence[dict[str, Any]], pick: Any) -> dict[str, dict[str, float]]:
    """Mean, min and max over models, per axis, of the per-axis mean `pick(result)` returns for each model."""
    values: dict[str, list[float]] = {}
    for result in results:
        for axis, summary in pick(result).items():
            values.setdefault(axis, []).append(float(summary["mean"]))
    return {axis: {"mean": round(float(np.mean(v)), 4), "min": round(float(np.min(v)), 4),
                   "max": round(float(np.max(v)), 4)} for axis, v in values.items()}


def grid_over_models(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Item 19's grid with each point's leave-one-case-out figure as mean (range) over the trained models,
    and the mean over the axes of those means (what a choice on the mean would compare)."""
    rows = []
    for k, point in enumerate(results[0]["grid"]):
        axes = over_models(results, lambda result, k=k: result["grid"][k]["loco"])
        rows.append({"share": point["share"], "weighting": point["weighting"], "loco": axes,
                     "mean_over_axes": round(float(np.mean([s["mean"] for s in axes.values()])), 4)})
    return rows


def run(prepared: Path, *, seeds: Sequence[int], work_dir: Path, shipped_result: Path | None = None) -> dict[str, Any]:
    """Item 19's grid and nested choices on the shipped and retrained base models, the grid on their soup.
    `shipped_result`: a `nested_selection_experiment` JSON of the shipped `models/base` read instead of
    computed again (the same function on the same model; a `models/base` trained on another CPU is another
    model, so only a JSON made from this checkout's model will do)."""
    from pipeline.tools.nested_selection_experiment import run as selection

    models = trained_base_models(prepared, seeds, work_dir)
    per_model = []
    for k, (seed, model_dir, _) in enumerate(models):
        if k == 0 and shipped_result is not None:
            print(f"train.seed {seed}: the grid and nested choices read from {shipped_result}", file=sys.stderr)
            result = json.loads(shipped_result.read_text(encoding="utf-8"))
        else:
            result = selection(prepared, model_dir=model_dir, label=f"train.seed {seed}")
        per_model.append({"train_seed": seed, **result})
    soup_dir = average_models([model_dir for _, model_dir, _ in models], work_dir / "soup")
    print(f"soup of train.seed {', '.join(str(seed) for seed, _, _ in models)} in {soup_dir}", file=sys.stderr)
    soup = selection(prepared, model_dir=soup_dir, nested=False, label="soup")
    grid = grid_over_models(per_model)
    best = max(grid, key=lambda row: row["mean_over_axes"])
    return {
        "what": __doc__.splitlines()[0],
        "train_seeds": [seed for seed, _, _ in models],
        "models": per_model,
        "over_training_seeds": {
            "grid": grid,
            "best_on_mean": {"share": best["share"], "weighting": best["weighting"]},
            "nested_one_for_all_axes": over_models(per_model, lambda r: r["nested_one_for_all_axes"]["axes"]),
            "nested_per_axis": over_models(per_model, lambda r: r["nested_per_axis"]["axes"]),
        },
        "soup": {"of_train_seeds": [seed for seed, _, _ in models], "grid": soup["grid"]},
    }


def main(argv: Sequence[str] | None = None) -> None:
    def options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS),
                            help="train.seed values to retrain with")
        parser.add_argument("--shipped-result", type=Path, default=None,
                            help="a nested_selection_experiment JSON made from this checkout's models/base, read "
                                 "instead of computing the shipped model's grid again")

    main_with_work_dir(__doc__.splitlines()[0], "capcode-seed-settings-",
                       "where the retrained models and the soup go (default: a temporary folder, removed after); "
                       "models already there are reused",
                       lambda args, work_dir: run(args.prepared, seeds=args.seeds, work_dir=work_dir,
                                                  shipped_result=args.shipped_result), argv, options)


if __name__ == "__main__":
    main()
