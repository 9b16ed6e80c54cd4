"""`capcode segment`: read transcripts or projects and write their fragments as JSON lines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pipeline.config import load_params
from pipeline.documents import Document
from pipeline.errors import InputError
from pipeline.ingest import read_document
from pipeline.io_utils import write_jsonl
from pipeline.progress import progress
from pipeline.segment import segment_document


def read_inputs(inputs: list[Path], *, encoding: str | None = None) -> list[Document]:
    """Read every input fully before any output is written, so bad input leaves nothing behind."""
    documents: list[Document] = []
    seen: dict[str, Path] = {}
    for path in progress(inputs, desc="reading", unit="file"):
        if path.suffix.lower() == ".qdpx":
            from pipeline.codebook import load_codebook
            from pipeline.corpus import load_collection

            new = list(load_collection(path, load_codebook()).documents.values())
        else:
            new = [read_document(path, encoding=encoding, report_encoding=True)]
        for document in new:
            if document.id in seen:
                raise InputError(path, f"document id '{document.id}' also comes from {seen[document.id]}; rename one file")
            seen[document.id] = path
        documents.extend(new)
    return documents


def segment_files(
    *, inputs: list[Path], output: Path, encoding: str | None = None, max_fragment_tokens: int | None = None
) -> tuple[int, int]:
    """Segment all inputs and write one JSON line per fragment; return (documents, fragments)."""
    budget = max_fragment_tokens or int(load_params("segment")["max_fragment_tokens"])
    documents = read_inputs(inputs, encoding=encoding)

    def records() -> Iterator[dict]:
        for document in progress(documents, desc="segmenting", unit="doc"):
            for fragment in segment_document(document, max_fragment_tokens=budget):
                yield fragment.to_dict()

    n_fragments = write_jsonl(output, records())
    return len(documents), n_fragments
