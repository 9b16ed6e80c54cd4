"""How much the training precision (`train.precision`: bf16 autocast or fp32) changes the base model and the default.

`train.precision: auto` trains with bf16 autocast where the CPU computes bf16 natively and faster (AMX, or
AVX512-BF16 on AMD; `pipeline.model.precision.cpu_prefers_bf16`) and in fp32 elsewhere, so the same `dvc.lock` inputs give different models on different CPUs (README item 23
measured AMX against AVX512-BF16, both bf16). This tool trains the base model again on the same machine with
`train.precision: fp32`, everything else as shipped (seed included), and measures it as
`training_seed_experiment` measures a retrained model: the base model's own poles head and thresholds on the
test splits and the quotes, and the default `adapt` builds on it (leave one case out on the 47 quotes, and
the synthetic and field test splits). The shipped `models/base` (trained with `precision: auto`) is measured
beside it, so the difference is the precision's alone on one CPU.

Run: ``python -m pipeline.tools.training_precision_experiment -o reports/experiments/training_precision.json``
(fp32 training takes about twice bf16's on an AMX machine).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.tools import main_with_work_dir, params_with_train


def run(prepared: Path, *, work_dir: Path) -> dict[str, Any]:
    """The shipped base model and one trained with `train.precision: fp32`, each scored with its adapted default."""
    import time

    from pipeline.core.config import DEFAULT_PARAMS, REPO_ROOT
    from pipeline.model.classifier import METADATA_FILE, read_metadata
    from pipeline.tools.training_seed_experiment import scored_model
    from pipeline.train import train

    fp32_params = params_with_train(DEFAULT_PARAMS, work_dir / "params-fp32.yaml", precision="fp32")
    fp32_dir = work_dir / "base-fp32"
    seconds = None
    if not (fp32_dir / METADATA_FILE).is_file():
        print("training precision: training the base model with train.precision fp32", file=sys.stderr)
        start = time.perf_counter()
        train(prepared=prepared, model_dir=fp32_dir, checkpoint_dir=work_dir / "checkpoints-fp32",
              params_path=fp32_params)
        seconds = round(time.perf_counter() - start, 1)
    rows = []
    for name, model_dir, params_path in (("shipped (precision auto)", REPO_ROOT / "models" / "base", DEFAULT_PARAMS),
                                         ("fp32", fp32_dir, fp32_params)):
        precision = read_metadata(model_dir).precision
        rows.append({"model": name, **scored_model(prepared, model_dir, params_path, work_dir / f"eval-{precision}",
                                                   f"training precision {precision}")})
    return {"what": __doc__.splitlines()[0], "fp32_training_seconds": seconds, "models": rows}


def main(argv: Sequence[str] | None = None) -> None:
    main_with_work_dir(__doc__.splitlines()[0], "capcode-precision-",
                       "where the fp32 model goes (default: a temporary folder, removed after); a model already "
                       "there is reused", lambda args, work_dir: run(args.prepared, work_dir=work_dir), argv)


if __name__ == "__main__":
    main()
