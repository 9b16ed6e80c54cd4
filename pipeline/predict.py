"""Pre-coding: score fragments with a trained model and write the suggestions (README, "Command line").

Inputs are transcripts (segmented on the fly), `.qdpx` projects, or a JSONL of already-segmented fragments
(`id` + `text`, other fields carried through, not re-segmented). Everything is read and checked before the
model runs, and outputs are written atomically, so bad input leaves no partial file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.core.codebook import load_codebook
from pipeline.core.errors import InputError
from pipeline.core.io_utils import check_output_file
from pipeline.core.params import load_params
from pipeline.corpus.inputs import gather_inputs
from pipeline.model.apply import apply_model

OUTPUT_SUFFIXES = {".jsonl", ".csv", ".html", ".qdpx"}


def predict(
    *, inputs: list[Path], model_dir: Path, output: Path, params_path: Path | None = None,
    codebook_path: Path | None = None, encoding: str | None = None, code_all_roles: bool = False,
    qdpx_positions: str = "auto",
) -> dict[str, Any]:
    """Pre-code `inputs` with the model in `model_dir`; the output format follows `output`'s extension
    (`qdpx_positions`: the position dialect of a .qdpx output, "auto" = the one the input project came in)."""
    from pipeline.report.predictions import write_predictions

    check_output_file(output, OUTPUT_SUFFIXES)
    if output.suffix.lower() == ".qdpx" and any(p.suffix.lower() == ".jsonl" for p in inputs):
        raise InputError(output, "a .qdpx needs the full transcripts; give transcripts or a .qdpx as input, not fragments")
    all_params = load_params(params_path)
    params, segment_params = all_params.predict, all_params.segment
    codebook = load_codebook(codebook_path)
    gathered = gather_inputs(inputs, max_fragment_tokens=int(segment_params.max_fragment_tokens), encoding=encoding)
    records, metadata = apply_model(gathered.records, model_dir=model_dir, codebook=codebook, params=params,
                                    code_all_roles=code_all_roles)
    write_predictions(output, records=records, documents=gathered.documents, metadata=metadata, codebook=codebook,
                      base_projects=gathered.base_projects, review_margin=float(params.review_margin),
                      qdpx_positions=qdpx_positions)
    n_coded = sum(r["coded"] for r in records)
    return {"fragments": len(records), "coded": n_coded, "review": sum(r["review"] for r in records),
            "model": metadata.identity}
