"""Ingest: read a transcript file of any supported kind into a normalised `Document` with speaker turns.

Supported: plain text (`.txt`, `.text`, `.md`), Word (`.docx`), captions (`.vtt`, `.srt`, Whisper `.json`).
REFI-QDA projects (`.qdpx`) hold several documents and codings; they are read by `pipeline.qdpx.importer`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pipeline.core.documents import Document
from pipeline.core.errors import InputError
from pipeline.core.unicode_safety import readable_name
from pipeline.ingest.docx import read_docx_text
from pipeline.ingest.subtitles import cues_to_document, parse_cues, parse_whisper_json
from pipeline.ingest.textnorm import decode_bytes, normalise_text
from pipeline.ingest.turns import assign_roles, find_turns, load_conventions

TEXT_SUFFIXES = {".txt", ".text", ".md"}
CAPTION_SUFFIXES = {".vtt", ".srt", ".json"}  # .json: Whisper/WhisperX transcripts
TRANSCRIPT_SUFFIXES = TEXT_SUFFIXES | CAPTION_SUFFIXES | {".docx"}


def _read_bytes(path: Path) -> bytes:
    if path.is_dir():
        raise InputError(path, "is a directory; expected a transcript file (.txt, .docx, .vtt, .srt)")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except OSError as err:
        raise InputError(path, f"cannot read the file: {err.strerror}") from None


def read_document(
    path: str | Path,
    *,
    document_id: str | None = None,
    encoding: str | None = None,
    metadata: dict[str, Any] | None = None,
    report_encoding: bool = False,
) -> Document:
    """Read one transcript into a `Document` whose turns carry speaker and role.

    `metadata` (from the corpus) may name the interviewers; `report_encoding` prints a note on stderr when
    a legacy encoding was detected, so the user knows what was assumed.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        raise InputError(path, "is a directory; expected a transcript file (.txt, .docx, .vtt, .srt)")
    if suffix not in TRANSCRIPT_SUFFIXES:
        raise InputError(
            path, f"unsupported file type '{suffix or '(none)'}'; expected .txt, .docx, .vtt, .srt, Whisper .json or .qdpx"
        )
    data = _read_bytes(path)
    metadata = dict(metadata or {})
    if suffix == ".docx":
        if not data:
            raise InputError(path, "the file is empty; expected a Word document")
        text = normalise_text(read_docx_text(path))
        metadata.setdefault("encoding", "docx")
    else:
        decoded = decode_bytes(data, path, encoding)
        text = normalise_text(decoded.text)
        metadata.setdefault("encoding", decoded.encoding)
        if report_encoding and decoded.encoding not in ("utf-8", "utf-8-sig"):
            print(f"{path}: read as {decoded.encoding}", file=sys.stderr)
    conventions = load_conventions()
    if suffix in CAPTION_SUFFIXES:
        cues = parse_whisper_json(text, path) if suffix == ".json" else parse_cues(text, path)
        text, turns = cues_to_document(cues)
        text = normalise_text(text)
    else:
        turns = find_turns(text, conventions)
    if not text.strip():
        raise InputError(path, "contains no text; expected a transcript")
    metadata["interviewer_source"] = assign_roles(turns, text, conventions, metadata.get("interviewers"))
    if not any(t.role != "other" for t in turns):
        raise InputError(path, "has speaker markers but no spoken text after them; expected turns like 'R: ...'")
    if document_id is None and readable_name(path.stem) != path.stem:
        print(f"{readable_name(str(path))}: the file name is not valid UTF-8; its document id is "
              f"'{readable_name(path.stem)}' (U+FFFD for each unreadable byte)", file=sys.stderr)
    document = Document(
        id=document_id or readable_name(path.stem),
        text=text,
        source=readable_name(str(path)),
        turns=turns,
        metadata=metadata,
    )
    document.check_offsets()
    return document
