"""DVC stage `export`: pre-coded output for the held-out (validation and test) interviews.

Reads the prepared fragments and documents, scores the held-out interviews' fragments with the trained model
and writes them in every format a researcher uses: JSONL, CSV, a readable HTML page and a REFI-QDA project
to open in NVivo, ATLAS.ti, MAXQDA or QualCoder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.core.codebook import load_codebook
from pipeline.core.documents import Document, read_prepared
from pipeline.core.errors import InputError
from pipeline.core.io_utils import atomic_directory, read_jsonl
from pipeline.core.params import load_params
from pipeline.model.apply import apply_model
from pipeline.report.predictions import write_predictions

FORMATS = (".jsonl", ".csv", ".html", ".qdpx")


def load_prepared_documents(path: Path, ids: set[str]) -> list[Document]:
    """Documents written by `prepare` (text and metadata; turns are not needed for export)."""
    documents = []
    for record in read_jsonl(path):
        if record["id"] in ids:
            documents.append(Document(id=record["id"], text=record["text"], source=record["source"],
                                      turns=[], metadata=record["metadata"]))
    return documents


def export(
    *, prepared_dir: Path, model_dir: Path, output_dir: Path, splits: tuple[str, ...] = ("validation", "test"),
    params_path: Path | None = None, codebook_path: Path | None = None,
) -> dict[str, Any]:
    """Write `predictions.{jsonl,csv,html,qdpx}` for the fragments of `splits` into `output_dir`."""
    params = load_params(params_path).predict
    codebook = load_codebook(codebook_path)
    fragments_path = prepared_dir / "fragments.jsonl"
    # the prepared record without the human labels, split last (the columns of the predictions files)
    records = [
        {k: v for k, v in r.to_dict().items() if k not in ("labels", "split")} | {"split": r.split}
        for r in read_prepared(fragments_path) if r.split in splits
    ]
    if not records:
        raise InputError(fragments_path, f"no fragments in splits {', '.join(splits)}; run the prepare stage first")
    predicted, metadata = apply_model(records, model_dir=model_dir, codebook=codebook, params=params)
    documents = load_prepared_documents(prepared_dir / "documents.jsonl", {r["document"] for r in records})
    with atomic_directory(output_dir) as staging:  # all four files or none
        for suffix in FORMATS:
            write_predictions(staging / f"predictions{suffix}", records=predicted, documents=documents,
                              metadata=metadata, codebook=codebook, base_projects=[],
                              review_margin=float(params.review_margin))
    return {"fragments": len(predicted), "documents": len(documents), "model": metadata.identity}
