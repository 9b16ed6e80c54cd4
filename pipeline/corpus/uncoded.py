"""What `capcode next` reads: everything `capcode predict` takes, and which fragments a human already coded.

- transcripts: nothing is coded;
- `.qdpx` projects: a fragment is coded when a human user's coding of a codebook code aligns with it (the
  alignment of `prepare`: `prepare.min_fragment_share` / `min_span_share`); capcode's own suggestions (users
  named `capcode model ...`, as `capcode predict` writes them) are never a human's coding;
- fragment `.jsonl` files: a line whose `labels` are per coder (`{coder: {code: 0|1}}`, as `prepare` writes
  them) is coded by those coders; a line with a prediction's flat `labels` (`{code: 0|1}`) is not.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.codebook import Codebook
from pipeline.core.documents import Document
from pipeline.core.errors import InputError
from pipeline.corpus.align import align_codings
from pipeline.corpus.inputs import read_fragments_jsonl, read_inputs_with_codings
from pipeline.ingest.segmentation import segment_document
from pipeline.qdpx.project import is_suggestions_user

@dataclass
class CodingState:
    """Every fragment record of the inputs (input order) and who coded it."""

    records: list[dict[str, Any]]
    coded_by: dict[str, set[str]]  # fragment id -> human coders (absent: nobody)
    documents: list[Document]  # transcripts and projects (empty for fragment files)
    base_projects: list[Path]  # .qdpx inputs, kept in a .qdpx output

    def coded(self, record: dict[str, Any]) -> bool:
        return bool(self.coded_by.get(str(record["id"])))

    @property
    def coders(self) -> list[str]:
        return sorted({c for names in self.coded_by.values() for c in names})


def _human_coders_of_line(record: dict[str, Any]) -> set[str]:
    labels = record.get("labels")
    if isinstance(labels, dict) and labels and all(isinstance(v, dict) for v in labels.values()):
        return {str(coder) for coder in labels if not is_suggestions_user(str(coder))}
    return set()


def read_coding_state(inputs: list[Path], codebook: Codebook, *, max_fragment_tokens: int, min_fragment_share: float,
                      min_span_share: float, encoding: str | None = None) -> CodingState:
    """Read and segment all inputs (fragment files first, then transcripts and projects, as `predict` orders
    them) and find the fragments a human coded; nothing is written, so bad input fails here."""
    records: list[dict[str, Any]] = []
    coded_by: dict[str, set[str]] = defaultdict(set)
    for path in inputs:
        if path.suffix.lower() == ".jsonl":
            for record in read_fragments_jsonl(path):
                records.append(record)
                coders = _human_coders_of_line(record)
                if coders:
                    coded_by[str(record["id"])] |= coders
    others = [p for p in inputs if p.suffix.lower() != ".jsonl"]
    documents, codings = read_inputs_with_codings(others, encoding=encoding, codebook=codebook) if others else ([], [])
    fragments = [f for document in documents for f in segment_document(document, max_fragment_tokens=max_fragment_tokens)]
    human = [c for c in codings if not is_suggestions_user(c.coder)]
    aligned, _ = align_codings(fragments, human, min_fragment_share=min_fragment_share, min_span_share=min_span_share)
    for fragment in fragments:
        records.append(fragment.to_dict())
        for coder, codes in aligned.get(fragment.id, {}).items():
            if codes:
                coded_by[fragment.id].add(coder)
    if not records:
        raise InputError(", ".join(map(str, inputs)), "no text to rank")
    ids = [str(r["id"]) for r in records]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise InputError(", ".join(map(str, inputs)), f"fragment id {duplicate!r} occurs in two inputs")
    return CodingState(records, dict(coded_by), documents, [p for p in inputs if p.suffix.lower() == ".qdpx"])
