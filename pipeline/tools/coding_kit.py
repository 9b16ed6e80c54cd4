"""Blind coding kits: hand a coder the fragments of a collection's transcripts, and take their coding back.

How the `corpus/field` collection was coded (see its README): the writer of a transcript never codes it; a
coder gets only the coding guide (`docs/coding-guide.md`) and, per interview, a kit file with the respondent
fragments in order, each with the interviewer question that precedes it (as context):

    python -m pipeline.tools.coding_kit make corpus/field KIT_DIR        # KIT_DIR/<document>.fragments.jsonl
    python -m pipeline.tools.coding_kit take corpus/field ANSWER_DIR CODER
        # ANSWER_DIR/<document>.jsonl lines {"id": ..., "codes": [...]} -> annotations/<document>.<CODER>.jsonl

`take` writes quote-anchored annotations (the fragment text as the quote, with its offsets), which
`python -m pipeline.tools.corpus_build` turns into `codings.jsonl`. A fragment coded with no code gets no
span, so it aligns as coded-absent (the document lists the coder in its metadata `coders`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pipeline.core.codebook import load_codebook
from pipeline.core.errors import InputError
from pipeline.core.io_utils import read_jsonl, write_jsonl
from pipeline.core.params import load_params
from pipeline.ingest.reader import read_document
from pipeline.ingest.segmentation import segment_document
from pipeline.tools.corpus_build import gather_metadata


def kit_records(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """Per document: its respondent fragments, each with the preceding interviewer turn as `context`."""
    budget = load_params().segment.max_fragment_tokens
    kits: dict[str, list[dict[str, Any]]] = {}
    for meta in gather_metadata(directory):
        document = read_document(directory / meta["file"], document_id=meta["document"], metadata=meta)
        question = ""
        rows = []
        for fragment in segment_document(document, max_fragment_tokens=budget):
            if fragment.role == "interviewer":
                question = fragment.text
                continue
            if not fragment.codable:
                continue
            rows.append({"id": fragment.id, "context_question": question, "text": fragment.text})
        kits[document.id] = rows
    return kits


def make(directory: Path, kit_dir: Path) -> int:
    kit_dir.mkdir(parents=True, exist_ok=True)
    total = 0
    for document_id, rows in kit_records(directory).items():
        write_jsonl(kit_dir / f"{document_id}.fragments.jsonl", rows)
        total += len(rows)
    return total


def take(directory: Path, answer_dir: Path, coder: str) -> int:
    """Turn a coder's answers into `annotations/<document>.<coder>.jsonl` (quote + offsets + codes)."""
    codebook = load_codebook()
    kits = kit_records(directory)
    written = 0
    for answer_path in sorted(answer_dir.glob("*.jsonl")):
        document_id = answer_path.name[: -len(".jsonl")]
        if document_id not in kits:
            raise InputError(answer_path, f"answers for unknown document '{document_id}'")
        by_id = {row["id"]: row for row in kits[document_id]}
        answers = {str(a["id"]): a for a in read_jsonl(answer_path)}
        missing = sorted(set(by_id) - set(answers))
        if missing:
            raise InputError(answer_path, f"{len(missing)} fragments not coded, e.g. {missing[0]}")
        rows = []
        for fragment_id, row in by_id.items():
            codes = [codebook.require(c, answer_path) for c in answers[fragment_id].get("codes", [])]
            start, end = (int(x) for x in fragment_id.rsplit("@", 1)[1].split("-"))
            rows.append({"quote": row["text"], "start": start, "end": end, "codes": codes})
        write_jsonl(directory / "annotations" / f"{document_id}.{coder}.jsonl", rows)
        written += len(rows)
    return written


if __name__ == "__main__":
    try:
        if sys.argv[1] == "make":
            print(json.dumps({"fragments": make(Path(sys.argv[2]), Path(sys.argv[3]))}))
        elif sys.argv[1] == "take":
            print(json.dumps({"fragments": take(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])}))
        else:
            raise SystemExit("usage: python -m pipeline.tools.coding_kit make|take ...")
    except InputError as err:
        print(f"coding_kit: {err}", file=sys.stderr)
        raise SystemExit(2) from None
