"""`capcode predict`'s input as a stream of bounded chunks of fragment records, in input order.

Fragment files (JSONL, `id` + `text`) are checked completely in a first pass that keeps nothing but the ids
(so bad input still fails before the model loads, and leaves no output), then read again chunk by chunk
while the model scores: memory does not grow with the number of fragments. Transcripts and `.qdpx` projects
are read and segmented up front, as before (their full text is needed for the `.html` and `.qdpx` outputs);
the modules that read them, spaCy among them, are only imported when such an input is given.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.documents import Document, Fragment
from pipeline.core.errors import InputError
from pipeline.core.io_utils import iter_jsonl

FRAGMENT_SUFFIX = ".jsonl"


def check_fragments_file(path: Path) -> int:
    """Check every line of a fragments file (an object with `id` and a string `text`, ids unique) without
    keeping the records; return how many fragments it holds."""
    seen: set[str | int] = set()
    for number, record in iter_jsonl(path):
        if not isinstance(record.get("id"), (str, int)) or not isinstance(record.get("text"), str):
            raise InputError(path, f"line {number}: expected 'id' and a string 'text', found keys {sorted(record)}")
        if record["id"] in seen:
            raise InputError(path, f"line {number}: fragment id {record['id']!r} occurs twice")
        seen.add(record["id"])
    if not seen:
        raise InputError(path, "no fragments; expected one JSON object per line with 'id' and 'text'")
    return len(seen)


def iter_fragments_file(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a checked fragments file, one at a time (`codable` defaults to true)."""
    for _, record in iter_jsonl(path, report_replacements=False):  # the check pass reported them
        record.setdefault("codable", True)
        yield record


@dataclass
class PredictionSource:
    """Everything `predict` reads, checked; `chunks` yields the fragment records in input order."""

    fragment_files: list[Path]
    documents: list[Document]  # transcripts and projects, read and normalised
    segmented: list[list[Fragment]]  # the fragments of each document
    base_projects: list[Path]  # .qdpx inputs, kept in a .qdpx output
    n_fragments: int

    def records(self) -> Iterator[dict[str, Any]]:
        """Fragment files first (in the order given), then the segmented transcripts, as before."""
        for path in self.fragment_files:
            yield from iter_fragments_file(path)
        for fragments in self.segmented:
            for fragment in fragments:
                yield fragment.to_dict()

    def chunks(self, size: int) -> Iterator[list[dict[str, Any]]]:
        """The records in lists of at most `size`."""
        chunk: list[dict[str, Any]] = []
        for record in self.records():
            chunk.append(record)
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def open_prediction_input(inputs: list[Path], *, max_fragment_tokens: int,
                          encoding: str | None = None) -> PredictionSource:
    """Check all inputs (fragment files line by line; transcripts and projects read and segmented) before
    any model work, so bad input fails early and leaves no output."""
    fragment_files = [p for p in inputs if p.suffix.lower() == FRAGMENT_SUFFIX]
    transcripts = [p for p in inputs if p.suffix.lower() != FRAGMENT_SUFFIX]
    n_fragments = sum(check_fragments_file(p) for p in fragment_files)
    documents: list[Document] = []
    segmented: list[list[Fragment]] = []
    if transcripts:
        from pipeline.corpus.inputs import read_inputs
        from pipeline.ingest.segmentation import segment_document

        documents = read_inputs(transcripts, encoding=encoding)
        segmented = [list(segment_document(d, max_fragment_tokens=max_fragment_tokens)) for d in documents]
        n_fragments += sum(len(f) for f in segmented)
    if not n_fragments:
        raise InputError(", ".join(map(str, inputs)), "no text to pre-code")
    return PredictionSource(fragment_files, documents, segmented,
                            [p for p in inputs if p.suffix.lower() == ".qdpx"], n_fragments)
