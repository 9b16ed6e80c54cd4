"""One-command scripts: corpus building and statistics, and the experiments of the README's quality section."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def write_result(path: Path, result: dict[str, Any]) -> None:
    """Write an experiment's result as indented JSON, creating the folder (`reports/experiments/`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def study_quotes_data(prepared: Path, params: Any, codebook: Any, model_dir: Path) -> Any:
    """`crossval.load_data` on the bundled study quotes (reference coders `report` + `dev`, groups by
    `crossval.group_by`), with the replay of `prepared` and the model in `model_dir`: the data every quotes
    experiment scores on, loaded as `capcode crossval` loads it."""
    from pipeline.core.config import REPO_ROOT
    from pipeline.crossval import load_data

    data, _ = load_data(REPO_ROOT / "corpus" / "study-quotes", ["report", "dev"], model_dir, prepared, params.adapt,
                        codebook, max_fragment_tokens=params.segment.max_fragment_tokens,
                        min_fragment_share=params.prepare.min_fragment_share,
                        min_span_share=params.prepare.min_span_share, group_by=params.crossval.group_by)
    return data


def main_on_prepared(description: str, run: Callable[[Path], dict[str, Any]],
                     argv: Sequence[str] | None = None) -> None:
    """The command line of an experiment that reads the prepared fragments: `[--prepared P] -o OUT.json`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--prepared", type=Path, default=Path("data/prepared/fragments.jsonl"))
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    write_result(args.output, run(args.prepared))
