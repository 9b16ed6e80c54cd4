"""The data that flows between stages: documents, speaker turns, fragments and span codings.

All offsets are Unicode code-point offsets into a document's *normalised* text (UTF-8, ``\\n`` line ends,
NFC, BOM stripped), ``end`` exclusive, as REFI-QDA positions are defined (spec section 10.2).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from pipeline.core.errors import InputError
from pipeline.core.io_utils import read_jsonl

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


@dataclass(frozen=True)
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


Labels = dict[str, dict[str, int]]  # coder -> {code id: 0|1}, only the codes (axes) the coder coded


@dataclass(frozen=True, kw_only=True)
class PreparedFragment(Fragment):
    """One line of the prepare stage's ``fragments.jsonl``: a fragment, where it comes from, its split and
    the labels of every coder who coded its document. The record the stages hand to each other (train,
    evaluate, export, bench); ``to_dict`` gives the JSONL object, field for field and in this order
    (`PREPARED_FIELDS`: the fragment's fields, ``codable``, then the four below)."""

    collection: str
    synthetic: bool
    split: str
    labels: Labels

    @classmethod
    def from_fragment(cls, fragment: Fragment, *, collection: str, synthetic: bool, split: str,
                      labels: Labels) -> PreparedFragment:
        return cls(**{f.name: getattr(fragment, f.name) for f in fields(Fragment)}, collection=collection,
                   synthetic=synthetic, split=split, labels=labels)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> PreparedFragment:
        """The record of one JSONL line; KeyError names a missing field (`read_prepared` reports it)."""
        values = {name: record[name] for name in PREPARED_FIELDS}
        del values["codable"]  # written for the reader of the file; the fragment's role says it
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in PREPARED_FIELDS}


PREPARED_FIELDS = (tuple(f.name for f in fields(Fragment)) + ("codable",)
                   + tuple(f.name for f in fields(PreparedFragment) if f.name not in Fragment.__dataclass_fields__))


def read_prepared(path: Path) -> list[PreparedFragment]:
    """The prepared fragments of ``path`` (`fragments.jsonl`); a line without a field is an InputError."""
    fragments = []
    for number, record in enumerate(read_jsonl(path), 1):
        try:
            fragments.append(PreparedFragment.from_dict(record))
        except KeyError as missing:
            raise InputError(path, f"line {number}: no field {missing}; expected a fragments.jsonl written by "
                             "`capcode prepare`") from None
    return fragments
