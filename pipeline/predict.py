"""Pre-coding: score fragments with a trained model and write the suggestions (README, "Command line").

Inputs are transcripts (segmented on the fly), `.qdpx` projects, or a JSONL of already-segmented fragments
(`id` + `text`, other fields carried through, not re-segmented). Everything is read and checked before the
model runs, and outputs are written atomically, so bad input leaves no partial file.

The work streams: fragments are read, scored and written in chunks of `compute.predict_chunk_size`, in input
order, so memory stays flat as the input grows (`.html` and `.qdpx` outputs keep the records until the end).
Under a launcher (`torchrun --nproc-per-node N -m pipeline predict ...`, or `accelerate launch`) every
process reads the same input, scores its share of each chunk's batches on its own device, and the first
process writes the one output, byte for byte what a single process writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.core.codebook import load_codebook
from pipeline.core.errors import InputError
from pipeline.core.io_utils import check_output_file
from pipeline.core.params import load_params
from pipeline.core.progress import progress
from pipeline.corpus.stream import open_prediction_input

OUTPUT_SUFFIXES = {".jsonl", ".csv", ".html", ".qdpx"}


def predict(
    *, inputs: list[Path], model_dir: Path, output: Path, params_path: Path | None = None,
    codebook_path: Path | None = None, encoding: str | None = None, code_all_roles: bool = False,
    qdpx_positions: str = "auto",
) -> dict[str, Any] | None:
    """Pre-code `inputs` with the model in `model_dir`; the output format follows `output`'s extension
    (`qdpx_positions`: the position dialect of a .qdpx output, "auto" = the one the input project came in).

    Returns the counts (fragments, coded, review, model) on the process that wrote the output, None on the
    other processes of a launched run."""
    check_output_file(output, OUTPUT_SUFFIXES)
    if output.suffix.lower() == ".qdpx" and any(p.suffix.lower() == ".jsonl" for p in inputs):
        raise InputError(output, "a .qdpx needs the full transcripts; give transcripts or a .qdpx as input, not fragments")
    all_params = load_params(params_path)
    params, compute = all_params.predict, all_params.compute
    codebook = load_codebook(codebook_path)
    source = open_prediction_input(inputs, max_fragment_tokens=int(all_params.segment.max_fragment_tokens),
                                   encoding=encoding)

    from pipeline.model.apply import load_scorer
    from pipeline.model.device import select_device
    from pipeline.model.distributed import join_world, leave_world
    from pipeline.report.predictions import open_prediction_writer

    world = join_world(select_device(compute.device))
    try:
        scorer = load_scorer(model_dir=model_dir, codebook=codebook, params=params, compute=compute, world=world,
                             show_progress=False)
        size = int(compute.predict_chunk_size)
        chunks = progress(source.chunks(size), desc="pre-coding", unit="chunk", total=-(-source.n_fragments // size),
                          enabled=world.is_main)
        if world.is_main:
            with open_prediction_writer(output, metadata=scorer.metadata, codebook=codebook, documents=source.documents,
                                        base_projects=source.base_projects, review_margin=float(params.review_margin),
                                        qdpx_positions=qdpx_positions) as write:
                for chunk in chunks:
                    write(scorer.apply(chunk, code_all_roles=code_all_roles))
        else:  # the other processes score their share of every chunk; the first one writes
            for chunk in chunks:
                scorer.apply(chunk, code_all_roles=code_all_roles)
        scorer.report()
    finally:
        leave_world()
    if not world.is_main:
        return None
    counts = scorer.counts
    return {"fragments": counts["fragments"], "coded": counts["coded"], "review": counts["review"],
            "model": scorer.metadata.identity}
