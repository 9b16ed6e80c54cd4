"""The data that flows between stages: documents, speaker turns, fragments and span codings.

All offsets are Unicode code-point offsets into a document's *normalised* text (UTF-8, ``\\n`` line ends,
NFC, BOM stripped), ``end`` exclusive, as REFI-QDA positions are defined (spec section 10.2).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

INTERVIEWER = "interviewer"
RESPONDENT = "respondent"
OTHER = "other"  # text before the first speaker marker (headers, notes)


@dataclass
class Turn:
    """One speaker turn: the spoken text after the marker, without a trailing timestamp."""

    speaker: str | None
    role: str
    start: int
    end: int
    timestamp: str | None = None


@dataclass
class Document:
    """A transcript in normalised form, with its speaker turns."""

    id: str
    text: str
    source: str
    turns: list[Turn] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def check_offsets(self) -> None:
        """Raise ValueError if a turn lies outside the text (a programming error, not bad input)."""
        for turn in self.turns:
            if not 0 <= turn.start <= turn.end <= len(self.text):
                raise ValueError(f"turn {turn} outside document {self.id} of length {len(self.text)}")


@dataclass
class Fragment:
    """The unit of coding: a speaker turn, or a run of its sentences when the turn is long."""

    id: str
    document: str
    speaker: str | None
    role: str
    start: int
    end: int
    text: str
    turn: int
    timestamp: str | None = None

    @property
    def codable(self) -> bool:
        return self.role == RESPONDENT

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record["codable"] = self.codable
        return record


@dataclass(frozen=True)
class SpanCoding:
    """A human (or model) coding: ``code`` applied by ``coder`` to ``[start, end)`` of ``document``."""

    document: str
    start: int
    end: int
    code: str
    coder: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fragment_id(document_id: str, start: int, end: int) -> str:
    """Stable fragment id derived from the document and the position, so re-runs give the same ids."""
    return f"{document_id}@{start}-{end}"
