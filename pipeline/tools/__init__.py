"""One-command scripts: corpus building and statistics, and the experiments of the README's quality section."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def seconds_taking_turns(runs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Wall-clock seconds of each run, ``repeats`` times, the runs taking turns within each repeat and each repeat
    starting with the next run, so that a busy shared machine slows them alike (the speed experiments' timing;
    warm them up first)."""
    import time

    names = list(runs)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        for name in names[repeat % len(names):] + names[: repeat % len(names)]:
            start = time.perf_counter()
            runs[name]()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def write_result(path: Path, result: dict[str, Any]) -> None:
    """Write an experiment's result as indented JSON, creating the folder (`reports/experiments/`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def params_with_train(source: Path, target: Path, **settings: Any) -> Path:
    """A copy of the params file `source` at `target` with the given `train` settings changed (`epochs=6`,
    `seed=43`; everything else as shipped): the params of an experiment that retrains the base model."""
    import yaml

    from pipeline.core.config import read_yaml

    params = read_yaml(source)
    params["train"].update(settings)
    target.write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return target


def trained_unless_present(prepared: Path, model_dir: Path, params_path: Path, checkpoint_dir: Path,
                           tool: str) -> Path:
    """`model_dir`, trained on `prepared` with the params in `params_path` unless a model is there already (a kept
    `--work-dir` of an earlier run: the retraining tools reuse it rather than train it again); `tool` names the
    tool in the progress line."""
    import sys

    from pipeline.model.classifier import METADATA_FILE
    from pipeline.train import train

    if (model_dir / METADATA_FILE).is_file():
        print(f"{tool}: using the base model in {model_dir}", file=sys.stderr)
    else:
        print(f"{tool}: training {model_dir.name}", file=sys.stderr)
        train(prepared=prepared, model_dir=model_dir, checkpoint_dir=checkpoint_dir, params_path=params_path)
    return model_dir


def in_work_dir(work_dir: Path | None, prefix: str, run: Callable[[Path], T]) -> T:
    """`run(folder)` in `work_dir` (created, and kept after) or, where None, in a temporary folder whose name
    starts with `prefix`, removed after: where an experiment that trains models puts them."""
    import tempfile

    if work_dir is not None:
        work_dir.mkdir(parents=True, exist_ok=True)
        return run(work_dir)
    with tempfile.TemporaryDirectory(prefix=prefix) as scratch:
        return run(Path(scratch))


def study_quotes_load(prepared: Path, params: Any, codebook: Any, model_dir: Path) -> tuple[Any, list[dict[str, Any]]]:
    """`crossval.load_data` on the bundled study quotes (reference coders `report` + `dev`, groups by
    `crossval.group_by`), with the replay of `prepared` and the model in `model_dir`: the data every quotes
    experiment scores on, loaded as `capcode crossval` loads it, and the quotes' records with every coder's codes
    (what `crossval.human_labels` reads the blind coders from)."""
    from pipeline.core.config import REPO_ROOT
    from pipeline.crossval import load_data

    return load_data(REPO_ROOT / "corpus" / "study-quotes", ["report", "dev"], model_dir, prepared, params.adapt,
                     codebook, max_fragment_tokens=params.segment.max_fragment_tokens,
                     min_fragment_share=params.prepare.min_fragment_share,
                     min_span_share=params.prepare.min_span_share, group_by=params.crossval.group_by)


def study_quotes_data(prepared: Path, params: Any, codebook: Any, model_dir: Path) -> Any:
    """The data of `study_quotes_load`, without the records."""
    return study_quotes_load(prepared, params, codebook, model_dir)[0]


@dataclass(frozen=True)
class QuotesSetup:
    """What every quotes experiment starts from: the params and codebook in force, the model directory and its
    metadata, and `study_quotes_data` (the quotes + replay as `capcode crossval` loads them)."""

    prepared: Path
    params: Any
    codebook: Any
    model_dir: Path
    metadata: Any
    data: Any
    records: Sequence[dict[str, Any]] = ()  # the quotes' records (`study_quotes_load`), where a tool needs them

    def held_out(self, split: str, share: float) -> dict[str, tuple[Any, Any]]:
        """Per collection of `split` (synthetic, field): the replay coder's fully coded fragments, embedded by
        the encoder adapt builds at `share`, and their labels (`category_head_checks.held_out_sets`)."""
        from pipeline.tools.category_head_checks import held_out_sets

        return held_out_sets(self.prepared, split, self.params.adapt.replay_coder, self.codebook,
                             self.metadata.backbone["spec"], model_dir=self.model_dir, share=share,
                             prefix=self.metadata.text_prefix, max_length=self.metadata.max_length)


def load_quotes_setup(prepared: Path, model_dir: Path | None = None) -> QuotesSetup:
    """The `QuotesSetup` of `prepared` and the model in `model_dir` (default `models/base`)."""
    from pipeline.core.codebook import load_codebook
    from pipeline.core.config import REPO_ROOT
    from pipeline.core.params import load_params
    from pipeline.model.classifier import read_metadata

    params = load_params()
    codebook = load_codebook()
    base = model_dir if model_dir is not None else REPO_ROOT / "models" / "base"
    metadata = read_metadata(base)
    data, records = study_quotes_load(prepared, params, codebook, base)
    return QuotesSetup(prepared, params, codebook, base, metadata, data, records)


def main_on_prepared(description: str, run: Callable[[Path], dict[str, Any]],
                     argv: Sequence[str] | None = None) -> None:
    """The command line of an experiment that reads the prepared fragments: `[--prepared P] -o OUT.json`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--prepared", type=Path, default=Path("data/prepared/fragments.jsonl"))
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    write_result(args.output, run(args.prepared))


def main_with_work_dir(description: str, prefix: str, work_dir_help: str,
                       run: Callable[[argparse.Namespace, Path], dict[str, Any]], argv: Sequence[str] | None = None,
                       add_arguments: Callable[[argparse.ArgumentParser], None] | None = None) -> None:
    """The command line of an experiment that trains models: `[--prepared P] [its own options] [--work-dir D]
    -o OUT.json`; `run(args, folder)` runs in `in_work_dir(--work-dir, prefix)` and its result is written to OUT."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--prepared", type=Path, default=Path("data/prepared/fragments.jsonl"))
    if add_arguments is not None:
        add_arguments(parser)
    parser.add_argument("--work-dir", type=Path, default=None, help=work_dir_help)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    write_result(args.output, in_work_dir(args.work_dir, prefix, lambda work_dir: run(args, work_dir)))


def main_over_training_seeds(description: str, prefix: str, run: Callable[..., dict[str, Any]],
                             default_seeds: Sequence[int], argv: Sequence[str] | None = None) -> None:
    """The command line of a tool that trains the base model again per `train.seed`: `[--prepared P] [--seeds S
    ...] [--work-dir D] -o OUT.json`, calling `run(prepared, seeds=..., work_dir=...)`."""
    def options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--seeds", type=int, nargs="+", default=list(default_seeds),
                            help=f"train.seed values to retrain with (default: {' '.join(map(str, default_seeds))})")

    main_with_work_dir(description, prefix,
                       "where the retrained models go (default: a temporary folder, removed after); models "
                       "already there are reused",
                       lambda args, work_dir: run(args.prepared, seeds=args.seeds, work_dir=work_dir), argv, options)
