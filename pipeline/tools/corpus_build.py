"""Building a corpus collection's `codings.jsonl` and `metadata.jsonl` from quote-anchored annotations.

Coders of the synthetic collection write their coding as quotes, not offsets
(`annotations/<document>.<coder>.jsonl`: `{"quote": "...", "codes": [...]}`), which is how a person codes
and easy to review. This module resolves each quote to its unique `[start, end)` in the normalised
transcript and writes the corpus-format span codings; per-document metadata files (`metadata.parts/*.json`)
are gathered into `metadata.jsonl`. Run: `python -m pipeline.tools.corpus_build corpus/synthetic`.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path

from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.errors import InputError
from pipeline.core.io_utils import read_jsonl, write_jsonl
from pipeline.ingest.reader import read_document


def anchor_quote(text: str, quote: str, *, path: Path, line: int) -> tuple[int, int]:
    """The unique [start, end) of `quote` in `text`; a missing or repeated quote is an InputError."""
    quote = unicodedata.normalize("NFC", quote.strip())
    if not quote:
        raise InputError(path, f"line {line}: empty quote")
    start = text.find(quote)
    if start < 0:
        raise InputError(path, f"line {line}: quote not found in the transcript: {quote[:60]!r}")
    if text.find(quote, start + 1) >= 0:
        raise InputError(path, f"line {line}: quote occurs more than once; make it longer: {quote[:60]!r}")
    return start, start + len(quote)


def build_codings(directory: Path, codebook: Codebook) -> list[dict]:
    metadata = {m["document"]: m for m in gather_metadata(directory)}
    codings = []
    for path in sorted((directory / "annotations").glob("*.jsonl")):
        document_id, coder = path.name[: -len(".jsonl")].rsplit(".", 1)
        if document_id not in metadata:
            raise InputError(path, f"annotations for unknown document '{document_id}'")
        text = read_document(directory / metadata[document_id]["file"], document_id=document_id).text
        for line, record in enumerate(read_jsonl(path), 1):
            if "start" in record:  # a coding kit's answer carries its fragment's offsets
                start, end = int(record["start"]), int(record["end"])
                if text[start:end] != record["quote"]:
                    raise InputError(path, f"line {line}: the text at [{start}, {end}) is not the quote")
            else:
                start, end = anchor_quote(text, record["quote"], path=path, line=line)
            for name in record["codes"]:
                codings.append({"document": document_id, "start": start, "end": end,
                                "code": codebook.require(name, path), "coder": coder})
    return sorted(codings, key=lambda c: (c["document"], c["coder"], c["start"], c["code"]))


def gather_metadata(directory: Path) -> list[dict]:
    parts = sorted((directory / "metadata.parts").glob("*.json"))
    if not parts:
        raise InputError(directory, "no metadata.parts/*.json files")
    return [json.loads(p.read_text(encoding="utf-8")) for p in parts]


def build(directory: Path) -> tuple[int, int]:
    codebook = load_codebook()
    metadata = gather_metadata(directory)
    codings = build_codings(directory, codebook)
    write_jsonl(directory / "metadata.jsonl", metadata)
    write_jsonl(directory / "codings.jsonl", codings)
    return len(metadata), len(codings)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus/synthetic")
    try:
        n_docs, n_codings = build(target)
    except InputError as err:
        print(f"corpus_build: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"{target}: {n_docs} documents, {n_codings} span codings")
