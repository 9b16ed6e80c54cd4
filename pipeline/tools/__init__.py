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


def main_on_prepared(description: str, run: Callable[[Path], dict[str, Any]],
                     argv: Sequence[str] | None = None) -> None:
    """The command line of an experiment that reads the prepared fragments: `[--prepared P] -o OUT.json`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--prepared", type=Path, default=Path("data/prepared/fragments.jsonl"))
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    write_result(args.output, run(args.prepared))
