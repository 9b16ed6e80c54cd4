"""Reading whatever a user hands a command: transcripts, `.qdpx` projects, or a JSONL of segmented fragments.

Every input is read and checked before any output is written, so bad input leaves nothing behind.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.documents import Document, SpanCoding
from pipeline.core.errors import InputError
from pipeline.core.io_utils import read_jsonl
from pipeline.core.progress import progress
from pipeline.ingest.language import not_dutch_warning
from pipeline.ingest.reader import read_document
from pipeline.ingest.segmentation import segment_document
from pipeline.qdpx.importer import read_qdpx_collection


def read_inputs(inputs: list[Path], *, encoding: str | None = None) -> list[Document]:
    """Read every input fully before any output is written, so bad input leaves nothing behind; warn on
    stderr about each document that is clearly not Dutch."""
    return read_inputs_with_codings(inputs, encoding=encoding)[0]


def read_inputs_with_codings(inputs: list[Path], *, encoding: str | None = None,
                             codebook: Codebook | None = None) -> tuple[list[Document], list[SpanCoding]]:
    """`read_inputs`, and the codings the `.qdpx` projects among them hold (codes mapped onto `codebook`'s
    ids, default the shipped one; codings of other codes left out)."""
    documents: list[Document] = []
    codings: list[SpanCoding] = []
    seen: dict[str, Path] = {}
    for path in progress(inputs, desc="reading", unit="file"):
        if path.suffix.lower() == ".qdpx":
            collection = read_qdpx_collection(path, codebook or load_codebook())
            new = list(collection.documents.values())
            codings.extend(collection.codings)
        else:
            new = [read_document(path, encoding=encoding, report_encoding=True)]
        for document in new:
            if document.id in seen:
                raise InputError(path, f"document id '{document.id}' also comes from {seen[document.id]}; rename one file")
            seen[document.id] = path
            warning = not_dutch_warning(document.text)
            if warning:
                name = path if path.suffix.lower() != ".qdpx" else f"{path} ({document.metadata.get('qdpx_name')})"
                print(f"{name}: warning: {warning}", file=sys.stderr)
        documents.extend(new)
    return documents, codings


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
    for document in progress(documents, desc="segmenting", unit="doc"):
        records.extend(f.to_dict() for f in segment_document(document, max_fragment_tokens=max_fragment_tokens))
    if not records:
        raise InputError(", ".join(map(str, inputs)), "no text to pre-code")
    return PredictionInput(records, documents, [p for p in inputs if p.suffix.lower() == ".qdpx"])


