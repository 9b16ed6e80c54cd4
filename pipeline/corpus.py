"""The corpus contract: a coded collection of transcripts, and loading it from disk or a `.qdpx`.

A collection directory (see `corpus/README.md`) holds:

- `collection.yaml`: `name`, `synthetic` (bool), `use` (`train` or `evaluation`: evaluation collections are
  never trained on), optional `coder_axes` ({coder: [axis ids]} for coders that coded only some axes);
- `metadata.jsonl`: one object per document with at least `document` and `file` (relative path);
  other fields (municipality, respondent role, `interviewers`, ...) are carried along;
- `codings.jsonl`: span codings `{document, start, end, code, coder}`, code-point offsets into the
  normalised text of the document, `end` exclusive.

A `.qdpx` project is a collection too: its users are the coders (`pipeline.qdpx_import`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.codebook import Codebook
from pipeline.config import read_yaml
from pipeline.documents import Document, SpanCoding
from pipeline.errors import InputError
from pipeline.ingest import read_document


@dataclass
class Collection:
    name: str
    source: str
    documents: dict[str, Document]
    codings: list[SpanCoding]
    synthetic: bool = False
    use: str = "train"
    coder_axes: dict[str, list[str]] = field(default_factory=dict)
    unmapped_codes: dict[str, int] = field(default_factory=dict)  # code name -> number of codings

    @property
    def coders(self) -> list[str]:
        return sorted({c.coder for c in self.codings})

    def axes_of(self, coder: str, codebook: Codebook) -> list[str]:
        """The axes a coder coded (all, unless `coder_axes` restricts them)."""
        return list(self.coder_axes.get(coder, [axis.id for axis in codebook.axes]))

    def coders_of(self, document_id: str) -> list[str]:
        """Coders who coded this document: those with a coding in it, or listed in its metadata."""
        listed = self.documents[document_id].metadata.get("coders")
        if listed:
            return list(listed)
        return sorted({c.coder for c in self.codings if c.document == document_id})


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSON-lines file; a malformed line is an InputError naming the line."""
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except UnicodeDecodeError as err:
        raise InputError(path, f"not UTF-8 ({err.reason} at byte {err.start})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(path, f"line {number} is not valid JSON: {err.msg}") from None
        if not isinstance(record, dict):
            raise InputError(path, f"line {number}: expected a JSON object, found {type(record).__name__}")
        records.append(record)
    return records


def validate_codings(
    codings: list[SpanCoding], documents: dict[str, Document], path: str | Path
) -> None:
    """Refuse codings outside their document and overlapping codings of one code by one coder."""
    by_key: dict[tuple[str, str, str], list[SpanCoding]] = defaultdict(list)
    for coding in codings:
        if coding.document not in documents:
            raise InputError(path, f"coding {coding.to_dict()} names document '{coding.document}', which is not in the collection")
        length = len(documents[coding.document].text)
        if not 0 <= coding.start < coding.end <= length:
            raise InputError(
                path,
                f"coding {coding.code}/{coding.coder} [{coding.start}, {coding.end}) is outside document "
                f"'{coding.document}' (length {length}); expected 0 <= start < end <= length",
            )
        by_key[(coding.document, coding.coder, coding.code)].append(coding)
    for (document, coder, code), group in by_key.items():
        group.sort(key=lambda c: c.start)
        for before, after in zip(group, group[1:]):
            if after.start < before.end:
                raise InputError(
                    path,
                    f"overlapping codings of '{code}' by coder '{coder}' in '{document}': "
                    f"[{before.start}, {before.end}) and [{after.start}, {after.end}); merge them into one span",
                )


def _parse_coding(record: dict[str, Any], number: int, path: Path) -> tuple[dict[str, Any], str]:
    missing = [k for k in ("document", "start", "end", "code", "coder") if k not in record]
    if missing:
        raise InputError(path, f"coding {number} lacks {', '.join(missing)}; expected document, start, end, code, coder")
    if not all(isinstance(record[k], int) and not isinstance(record[k], bool) for k in ("start", "end")):
        raise InputError(path, f"coding {number}: start and end must be integers, found {record['start']!r}, {record['end']!r}")
    return record, str(record["code"])


def load_corpus_dir(directory: Path, codebook: Codebook) -> Collection:
    """Load a collection directory in the corpus format (see the module docstring)."""
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
        code_id = codebook.resolve(name)
        if code_id is None:
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
        from pipeline.qdpx_import import read_qdpx_collection

        return read_qdpx_collection(path, codebook)
    if path.is_dir():
        return load_corpus_dir(path, codebook)
    if not path.exists():
        raise InputError(path, "not found; expected a corpus directory or a .qdpx project")
    raise InputError(path, "expected a corpus directory (with collection.yaml) or a .qdpx project")
