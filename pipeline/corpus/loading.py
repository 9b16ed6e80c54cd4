"""Loading a collection from disk: a corpus directory (see corpus/README.md) or a REFI-QDA `.qdpx` project."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from pipeline.core.codebook import Codebook
from pipeline.core.config import read_yaml
from pipeline.core.documents import Document, SpanCoding
from pipeline.core.errors import InputError
from pipeline.core.io_utils import read_jsonl
from pipeline.corpus.collection import Collection, validate_codings
from pipeline.ingest.reader import read_document
from pipeline.qdpx.importer import read_qdpx_collection


def _parse_coding(record: dict[str, Any], number: int, path: Path) -> tuple[dict[str, Any], str]:
    missing = [k for k in ("document", "start", "end", "code", "coder") if k not in record]
    if missing:
        raise InputError(path, f"coding {number} lacks {', '.join(missing)}; expected document, start, end, code, coder")
    if not all(isinstance(record[k], int) and not isinstance(record[k], bool) for k in ("start", "end")):
        raise InputError(path, f"coding {number}: start and end must be integers, found {record['start']!r}, {record['end']!r}")
    return record, str(record["code"])


def load_corpus_dir(directory: Path, codebook: Codebook, *, own_codes: bool = False) -> Collection:
    """Load a collection directory in the corpus format (see the module docstring).

    With ``own_codes`` the codings keep their code names as written (agreement on any codebook) instead of
    being mapped onto the codebook's ids.
    """
    if not (directory / "collection.yaml").is_file():
        raise InputError(directory, "not a corpus collection (no collection.yaml); see corpus/README.md")
    info = read_yaml(directory / "collection.yaml")
    use = info.get("use", "train")
    if use not in ("train", "evaluation"):
        raise InputError(directory / "collection.yaml", f"use must be 'train' or 'evaluation', found {use!r}")
    documents: dict[str, Document] = {}
    for record in read_jsonl(directory / "metadata.jsonl"):
        if "document" not in record or "file" not in record:
            raise InputError(directory / "metadata.jsonl", f"entry {record} needs 'document' and 'file'")
        doc_id = str(record["document"])
        if doc_id in documents:
            raise InputError(directory / "metadata.jsonl", f"document '{doc_id}' is listed twice")
        documents[doc_id] = read_document(directory / record["file"], document_id=doc_id, metadata=record)
    codings: list[SpanCoding] = []
    unmapped: dict[str, int] = defaultdict(int)
    codings_path = directory / "codings.jsonl"
    for number, record in enumerate(read_jsonl(codings_path) if codings_path.exists() else [], 1):
        record, name = _parse_coding(record, number, codings_path)
        code_id = name.strip() if own_codes else codebook.resolve(name)
        if not code_id:
            unmapped[name] += 1
            continue
        codings.append(SpanCoding(str(record["document"]), record["start"], record["end"], code_id, str(record["coder"])))
    validate_codings(codings, documents, codings_path)
    return Collection(
        name=str(info.get("name", directory.name)),
        source=str(directory),
        documents=documents,
        codings=codings,
        synthetic=bool(info.get("synthetic", False)),
        use=use,
        coder_axes=dict(info.get("coder_axes") or {}),
        unmapped_codes=dict(unmapped),
    )


def load_collection(path: str | Path, codebook: Codebook) -> Collection:
    """Load a collection from a corpus directory or a REFI-QDA `.qdpx` project."""
    path = Path(path)
    if path.suffix.lower() == ".qdpx":
        return read_qdpx_collection(path, codebook)
    if path.is_dir():
        return load_corpus_dir(path, codebook)
    if not path.exists():
        raise InputError(path, "not found; expected a corpus directory or a .qdpx project")
    raise InputError(path, "expected a corpus directory (with collection.yaml) or a .qdpx project")
