"""Pre-coding: score fragments with a trained model and write the suggestions (DESIGN.md section 4).

Inputs are transcripts (segmented on the fly), `.qdpx` projects, or a JSONL of already-segmented fragments
(`id` + `text`, other fields carried through, not re-segmented). Everything is read and checked before the
model runs, and outputs are written atomically, so bad input leaves no partial file.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.codebook import Codebook, load_codebook
from pipeline.config import load_params
from pipeline.corpus import read_jsonl
from pipeline.documents import Document
from pipeline.errors import InputError
from pipeline.io_utils import check_output_file
from pipeline.model import ModelMetadata, load_model
from pipeline.precision import resolve_precision
from pipeline.scoring import score_texts
from pipeline.segment import segment_document
from pipeline.segment_cli import read_inputs

OUTPUT_SUFFIXES = {".jsonl", ".csv", ".html", ".qdpx"}


@dataclass
class PredictionInput:
    records: list[dict[str, Any]]  # fragment records (id, text, ... carried through)
    documents: list[Document]  # empty for fragment JSONL input
    base_projects: list[Path]  # .qdpx inputs, kept in a .qdpx output


def read_fragments_jsonl(path: Path) -> list[dict[str, Any]]:
    records = read_jsonl(path)
    if not records:
        raise InputError(path, "no fragments; expected one JSON object per line with 'id' and 'text'")
    seen = set()
    for number, record in enumerate(records, 1):
        if not isinstance(record.get("id"), (str, int)) or not isinstance(record.get("text"), str):
            raise InputError(path, f"line {number}: expected 'id' and a string 'text', found keys {sorted(record)}")
        if record["id"] in seen:
            raise InputError(path, f"line {number}: fragment id {record['id']!r} occurs twice")
        seen.add(record["id"])
        record.setdefault("codable", True)
    return records


def gather_inputs(inputs: list[Path], *, max_fragment_tokens: int, encoding: str | None = None) -> PredictionInput:
    """Read all inputs into fragment records (segmenting transcripts and projects)."""
    records: list[dict[str, Any]] = []
    transcripts = [p for p in inputs if p.suffix.lower() != ".jsonl"]
    for path in inputs:
        if path.suffix.lower() == ".jsonl":
            records.extend(read_fragments_jsonl(path))
    documents = read_inputs(transcripts, encoding=encoding) if transcripts else []
    for document in documents:
        records.extend(f.to_dict() for f in segment_document(document, max_fragment_tokens=max_fragment_tokens))
    if not records:
        raise InputError(", ".join(map(str, inputs)), "no text to pre-code")
    return PredictionInput(records, documents, [p for p in inputs if p.suffix.lower() == ".qdpx"])


def apply_model(
    records: list[dict[str, Any]], *, model_dir: Path, codebook: Codebook, params: dict[str, Any],
    code_all_roles: bool = False,
) -> tuple[list[dict[str, Any]], ModelMetadata]:
    """Add labels, scores, review flags and model identity to each record (interviewer turns skipped
    unless `code_all_roles`)."""
    model, tokenizer, metadata = load_model(model_dir, codebook)
    code_ids = metadata.code_ids
    chosen = [i for i, r in enumerate(records) if code_all_roles or r.get("codable", True)]
    if not chosen:
        print("predict: no respondent fragments to code (only interviewer or header text); use --all-roles to "
              "code every turn", file=sys.stderr)
    precision = resolve_precision(params["precision"])
    scores = score_texts(
        model, tokenizer, [records[i]["text"] for i in chosen], text_prefix=metadata.text_prefix,
        max_length=metadata.max_length, batch_size=int(params["batch_size"]), precision=precision,
        long_fragments=params["long_fragments"], window_stride=int(params["window_stride"]),
    )
    thresholds = np.array([metadata.thresholds[c] for c in code_ids])
    margin = float(params["review_margin"])
    out = [dict(r, coded=False, labels={c: 0 for c in code_ids}, scores={c: None for c in code_ids}, review=False,
                model=metadata.identity) for r in records]
    n_long = 0
    for row, index in enumerate(chosen):
        probabilities = scores.probabilities[row]
        out[index].update(
            coded=True,
            labels={c: int(p >= t) for c, p, t in zip(code_ids, probabilities, thresholds)},
            scores={c: round(float(p), 4) for c, p in zip(code_ids, probabilities)},
            review=bool(np.any(np.abs(probabilities - thresholds) < margin)),
        )
        if scores.n_windows[row] > 1 or scores.truncated[row]:
            n_long += 1
            out[index]["long_fragment"] = "truncated" if scores.truncated[row] else f"{scores.n_windows[row]} windows"
    if n_long:
        how = "truncated to" if params["long_fragments"] == "truncate" else "scored in overlapping windows of"
        print(f"predict: {n_long} fragments longer than the model window were {how} {metadata.max_length} tokens",
              file=sys.stderr)
    return out, metadata


def predict(
    *, inputs: list[Path], model_dir: Path, output: Path, params_path: Path | None = None,
    codebook_path: Path | None = None, encoding: str | None = None, code_all_roles: bool = False,
) -> dict[str, Any]:
    """Pre-code `inputs` with the model in `model_dir`; the output format follows `output`'s extension."""
    from pipeline.predict_output import write_predictions

    check_output_file(output, OUTPUT_SUFFIXES)
    if output.suffix.lower() == ".qdpx" and any(p.suffix.lower() == ".jsonl" for p in inputs):
        raise InputError(output, "a .qdpx needs the full transcripts; give transcripts or a .qdpx as input, not fragments")
    params = load_params("predict", params_path)
    segment_params = load_params("segment", params_path)
    codebook = load_codebook(codebook_path)
    gathered = gather_inputs(inputs, max_fragment_tokens=int(segment_params["max_fragment_tokens"]), encoding=encoding)
    records, metadata = apply_model(gathered.records, model_dir=model_dir, codebook=codebook, params=params,
                                    code_all_roles=code_all_roles)
    write_predictions(output, records=records, documents=gathered.documents, metadata=metadata, codebook=codebook,
                      base_projects=gathered.base_projects)
    n_coded = sum(r["coded"] for r in records)
    return {"fragments": len(records), "coded": n_coded, "review": sum(r["review"] for r in records),
            "model": metadata.identity}
