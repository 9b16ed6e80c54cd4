"""The REFI-QDA project as a QDA program wrote it: users, code tree, text sources and coded selections.

Plain dataclasses, filled by `pipeline.qdpx.importer.read_project` and read by the collection conversion and
`pipeline.qdpx.writer`. Positions in `QdaSelection` are code points of the normalised text (`pipeline.core.documents`); `RawSelection` holds a selection as the file states it, before its position dialect is known
(`pipeline.qdpx.dialect`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# The code capcode's model user applies to fragments up for review (a score near its threshold): a code shows
# in all four QDA programs (NVivo, ATLAS.ti, MAXQDA, QualCoder); sets and notes do not travel as well.
REVIEW_CODE_NAME = "capcode: nakijken"
# The Set a reviewer puts the interviews they reviewed in (REFI-QDA `Sets/Set`, NVivo's "Sets"), so that
# `capcode adapt` learns from exactly those interviews.
REVIEWED_SET_NAME = "capcode: reviewed"
# The QDA user capcode's suggestions come from: "capcode model <model identity> codebook <fingerprint[:8]>".
# The name is what every QDA program keeps of a user, so it carries the codebook the model was trained on.
SUGGESTIONS_USER_PREFIX = "capcode model "
CODEBOOK_MARK = re.compile(r" codebook ([0-9a-f]{8})$")


def suggestions_user_name(model_identity: str, codebook_fingerprint: str) -> str:
    """The name of the QDA user that carries a model's suggestions (see `SUGGESTIONS_USER_PREFIX`)."""
    return f"{SUGGESTIONS_USER_PREFIX}{model_identity} codebook {codebook_fingerprint[:8]}"


def is_suggestions_user(name: str) -> bool:
    """Whether a user name is one capcode gave its suggestions (never a human coder)."""
    return name.startswith(SUGGESTIONS_USER_PREFIX)


def suggestions_codebook(name: str) -> str | None:
    """The codebook fingerprint prefix a suggestions user's name records (None: an older export without one)."""
    match = CODEBOOK_MARK.search(name)
    return match.group(1) if match else None


@dataclass(frozen=True)
class QdaCode:
    """A code or code folder of the CodeBook, with its place in the tree."""

    guid: str
    name: str
    codable: bool  # False for folders (`isCodable="false"`)
    colour: str | None
    parent: str | None
    children: tuple[str, ...]
    description: str | None = None


@dataclass(frozen=True)
class QdaSource:
    """A text source (or a PDF source's plain-text representation) and its normalised text."""

    guid: str
    name: str
    text: str  # normalised: NFC, "\n", no BOM
    plain_text_path: str | None  # as written, e.g. "internal://<guid>.txt"; None for PlainTextContent
    description: str | None = None
    had_bom: bool = False  # the text file as written: with a BOM, and with CR/CRLF line ends (NVivo Windows)
    had_crlf: bool = False


@dataclass(frozen=True)
class QdaCoding:
    """One code applied to a selection, and by whom."""

    guid: str
    code: str  # code guid
    user: str | None  # the Coding's creatingUser, else the selection's


@dataclass(frozen=True)
class QdaSelection:
    """A coded span of a source, in code points of its normalised text, with the positions as written."""

    guid: str
    source: str  # source guid
    start: int  # code points into the source's normalised text, end exclusive
    end: int
    user: str | None  # the selection's creatingUser
    codings: tuple[QdaCoding, ...]
    description: str | None = None
    raw_start: int = 0  # the positions as written in the file, in the project's dialect
    raw_end: int = 0

    @property
    def code_guids(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.codings)


@dataclass(frozen=True)
class QdaSet:
    """A REFI-QDA Set: a named group of sources and codes (notes are not kept)."""

    guid: str
    name: str
    sources: tuple[str, ...]  # source guids
    codes: tuple[str, ...] = ()  # code guids
    description: str | None = None


@dataclass
class QdaProject:
    """The whole project: what `read_project` read, and what it detected and skipped along the way."""

    name: str
    origin: str | None
    path: str
    users: dict[str, str]  # guid -> name
    codes: dict[str, QdaCode]  # guid -> code, in document order (parents before children)
    sources: dict[str, QdaSource]  # guid -> text source, in document order
    selections: list[QdaSelection]
    dialect: str  # one of DIALECTS' names
    dialect_evidence: dict[str, object] = field(default_factory=dict)
    description: str | None = None
    skipped: dict[str, int] = field(default_factory=dict)  # what was read but not kept, with counts
    # source guid -> REFI-QDA Cases and variable values: {"case": name, variable name: value}
    attributes: dict[str, dict[str, object]] = field(default_factory=dict)
    sets: list[QdaSet] = field(default_factory=list)

    @property
    def root_codes(self) -> list[QdaCode]:
        return [c for c in self.codes.values() if c.parent is None]

    def code_path(self, guid: str) -> list[str]:
        """Names from the top folder down to the code, e.g. ['Capaciteit', 'Intern']."""
        names = []
        current: str | None = guid
        while current is not None:
            names.append(self.codes[current].name)
            current = self.codes[current].parent
        return names[::-1]


@dataclass(frozen=True)
class RawSelection:
    """A selection as written in the file: positions in the project's (still unknown) dialect."""

    guid: str
    source: str
    start: int
    end: int
    user: str | None
    codings: tuple[QdaCoding, ...]
    description: str | None
