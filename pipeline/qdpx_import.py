"""Reading a REFI-QDA project (.qdpx) from a QDA program: its users, code tree, texts and coded selections.

Two levels:

- `read_project(path) -> QdaProject`: the project as the QDA program wrote it, with every selection's
  positions converted to code points of the *normalised* text (NFC, `\\n`, no BOM), the offsets every other
  part of capcode uses (DESIGN.md section 3).
- `read_qdpx_collection(path, codebook) -> Collection`: the same project as a capcode corpus collection:
  text sources become `Document`s with speaker turns, users become coders, and code names map to the six
  code ids through `Codebook.resolve`.

Position dialects (DESIGN.md section 7, `shared/refi-qda/samples/README.md`): the spec counts code points,
QualCoder too (and keeps its LF-based offsets when it writes CRLF text for MAXQDA, so CRLF counts 1),
NVivo counts UTF-16 code units and on Windows writes BOM + CRLF text with CRLF counted as 2. `Project/@origin`
names the writer but a later tool may have changed it, so it is only a tie-breaker: the dialect is the one
under which the coded spans land on word boundaries and inside the text (`detect_dialect`).
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from lxml import etree

from pipeline.codebook import Codebook
from pipeline.corpus import Collection, validate_codings
from pipeline.documents import Document, SpanCoding
from pipeline.errors import InputError
from pipeline.qdpx_read import NS, QdpxArchive, local_name, parse_project_xml, source_file_name
from pipeline.textnorm import decode_bytes, normalise_text
from pipeline.turns import assign_roles, find_turns, load_conventions

# ---------------------------------------------------------------------------------------------------------
# The project as written by the QDA program
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QdaCode:
    guid: str
    name: str
    codable: bool  # False for folders (`isCodable="false"`)
    colour: str | None
    parent: str | None
    children: tuple[str, ...]
    description: str | None = None


@dataclass(frozen=True)
class QdaSource:
    guid: str
    name: str
    text: str  # normalised: NFC, "\n", no BOM
    plain_text_path: str | None  # as written, e.g. "internal://<guid>.txt"; None for PlainTextContent
    description: str | None = None


@dataclass(frozen=True)
class QdaCoding:
    guid: str
    code: str  # code guid
    user: str | None  # the Coding's creatingUser, else the selection's


@dataclass(frozen=True)
class QdaSelection:
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


@dataclass
class QdaProject:
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


# ---------------------------------------------------------------------------------------------------------
# Position dialects and conversion to normalised code points
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dialect:
    name: str
    utf16: bool  # positions count UTF-16 code units: a character outside the BMP counts 2
    crlf_counts_two: bool  # a CRLF in the text file counts 2 positions (else 1, as if the text had LF)


DIALECTS = {
    d.name: d
    for d in (
        Dialect("codepoint", utf16=False, crlf_counts_two=True),  # the spec, on the text as stored
        Dialect("codepoint-lf", utf16=False, crlf_counts_two=False),  # QualCoder
        Dialect("utf16", utf16=True, crlf_counts_two=True),  # NVivo (Mac: LF text; Windows: BOM + CRLF)
        Dialect("utf16-lf", utf16=True, crlf_counts_two=False),
    )
}
SPEC_DIALECT = "codepoint"

_NON_BMP = re.compile("[\U00010000-\U0010ffff]")
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


class SourceText:
    """A source's text as stored, and the maps from dialect positions to its normalised text.

    Three texts: the raw text (decoded, BOM removed), the LF text (CRLF and lone CR -> LF, code points) and
    the normalised text (the LF text in NFC). CRLFs and non-BMP characters are sparse, so a dialect position
    maps to an LF index by bisection over them; NFC changes (rare: most exports are NFC already) are mapped
    chunk by chunk.
    """

    def __init__(self, raw: str) -> None:
        self.had_bom = raw.startswith("\ufeff")
        self.had_cr = "\r" in raw
        raw = raw.lstrip("\ufeff")
        self.text = normalise_text(raw)
        crlf = [m.start() for m in re.finditer("\r\n", raw)]
        self._crlf_lf = [r - j for j, r in enumerate(crlf)]  # LF-text index of the LF of each CRLF
        self._wide = [m.start() - bisect_left(crlf, m.start()) for m in _NON_BMP.finditer(raw)]
        self.lf_length = len(raw) - len(crlf)
        lf_text = raw.replace("\r\n", "\n").replace("\r", "\n")
        self._nfc = _NfcMap(lf_text, self.text)
        self._tables: dict[str, tuple[list[int], list[int]]] = {}

    def _table(self, dialect: Dialect) -> tuple[list[int], list[int]]:
        """(LF index, dialect position) of every character that counts 2 in this dialect."""
        if dialect.name not in self._tables:
            wide = sorted((self._wide if dialect.utf16 else []) + (self._crlf_lf if dialect.crlf_counts_two else []))
            self._tables[dialect.name] = (wide, [index + k for k, index in enumerate(wide)])
        return self._tables[dialect.name]

    def length(self, dialect: Dialect) -> int:
        return self.lf_length + len(self._table(dialect)[0])

    def to_normalised(self, position: int, dialect: Dialect, *, round_up: bool) -> tuple[int, bool]:
        """A dialect position as an index into the normalised text, and whether it fell on a character
        boundary (not inside a surrogate pair, a CRLF or a composed character). Inside one, `round_up`
        moves it after that character (for `end`), else before it (for `start`)."""
        wide, starts = self._table(dialect)
        k = bisect_right(starts, position) - 1
        aligned = True
        if k < 0:
            lf_index = position
        elif position == starts[k]:
            lf_index = wide[k]
        elif position == starts[k] + 1:  # second unit of a 2-unit character
            lf_index, aligned = wide[k] + (1 if round_up else 0), False
        else:
            lf_index = position - (k + 1)
        index, nfc_aligned = self._nfc.map(lf_index, round_up=round_up)
        return index, aligned and nfc_aligned

    def from_normalised(self, index: int, dialect: Dialect) -> int:
        """The inverse, for writing a project in a given dialect (tests, benchmark): requires an NFC text."""
        if not self._nfc.identity:
            raise ValueError("from_normalised needs a source whose text is already NFC")
        wide, _ = self._table(dialect)
        return index + bisect_left(wide, index)


class _NfcMap:
    """LF-text index -> normalised (NFC) index. NFC never composes across an ASCII character (none is the
    second half of a canonical composition, and each is a starter that blocks reordering), so the text is
    cut before every ASCII character and only the chunks that NFC changes are mapped."""

    def __init__(self, lf_text: str, normalised: str) -> None:
        self.identity = lf_text == normalised
        self._chunks: list[tuple[int, int, int, int, str]] = []  # lf start, lf end, nfc start, nfc end, text
        if self.identity:
            return
        shift = 0
        for match in _NON_ASCII_RUN.finditer(lf_text):
            start = max(match.start() - 1, 0)
            chunk = lf_text[start : match.end()]
            composed = unicodedata.normalize("NFC", chunk)
            if composed != chunk:
                self._chunks.append((start, match.end(), start + shift, start + shift + len(composed), chunk))
                shift += len(composed) - len(chunk)
        self._starts = [c[0] for c in self._chunks]
        if len(lf_text) + shift != len(normalised):
            raise AssertionError("NFC chunk map out of step with normalise_text")

    def map(self, index: int, *, round_up: bool) -> tuple[int, bool]:
        if self.identity:
            return index, True
        k = bisect_right(self._starts, index) - 1
        if k < 0:
            return index, True
        lf_start, lf_end, nfc_start, nfc_end, chunk = self._chunks[k]
        if index >= lf_end:
            return index + (nfc_end - lf_end), True
        whole = unicodedata.normalize("NFC", chunk)

        def splits_cleanly(offset: int) -> bool:
            nfc = unicodedata.normalize
            return nfc("NFC", chunk[:offset]) + nfc("NFC", chunk[offset:]) == whole

        offset = index - lf_start
        aligned = splits_cleanly(offset)
        step = 1 if round_up else -1
        while not splits_cleanly(offset):  # ends at 0 or len(chunk) at the latest
            offset += step
        return nfc_start + len(unicodedata.normalize("NFC", chunk[:offset])), aligned


def _on_boundary(text: str, index: int) -> bool:
    """Whether a selection edge at `index` leaves words whole: not between two word characters, and not
    before a combining mark."""
    if index <= 0 or index >= len(text):
        return True
    after = text[index]
    if unicodedata.category(after).startswith("M"):
        return False
    before = text[index - 1]
    return not ((before.isalnum() or before == "_") and (after.isalnum() or after == "_"))


@dataclass(frozen=True)
class _RawSelection:
    guid: str
    source: str
    start: int
    end: int
    user: str | None
    codings: tuple[QdaCoding, ...]
    description: str | None


def _hint_order(origin: str | None) -> list[str]:
    origin = (origin or "").casefold()
    if "nvivo" in origin:
        first = "utf16"
    elif "qualcoder" in origin:
        first = "codepoint-lf"
    else:
        first = SPEC_DIALECT
    return [first] + [name for name in DIALECTS if name != first]


def _convert(raw: _RawSelection, text: SourceText, dialect: Dialect) -> tuple[int, int, bool]:
    start, start_ok = text.to_normalised(raw.start, dialect, round_up=False)
    end, end_ok = text.to_normalised(raw.end, dialect, round_up=True)
    clean = start_ok and end_ok and _on_boundary(text.text, start) and _on_boundary(text.text, end)
    return start, end, clean


def _written_by_capcode(origin: str | None, texts: dict[str, SourceText]) -> bool:
    """capcode writes code points on LF text without a BOM; a file that still looks like that is ours."""
    return (origin or "").startswith("capcode ") and not any(t.had_bom or t.had_cr for t in texts.values())


def detect_dialect(
    selections: list[_RawSelection], texts: dict[str, SourceText], origin: str | None
) -> tuple[Dialect | None, dict[str, object]]:
    """Choose the position dialect under which the project's spans make sense.

    Rule: a dialect is *feasible* when every selection ends inside its text. Among feasible dialects, the
    one under which the most spans start and end on word boundaries (and not inside a surrogate pair or a
    CRLF) wins; ties, and projects where all dialects select the same characters, go to the dialect the
    `origin` suggests (NVivo: utf16, QualCoder: codepoint-lf, others: the spec's codepoint). A file that
    capcode wrote (origin "capcode ...", and its texts still LF without BOM) is read as code points, since
    its spans are model fragments whatever their boundaries. Returns None when no dialect is feasible.
    """
    order = _hint_order(origin)
    evidence: dict[str, object] = {"hint": order[0], "selections": len(selections)}
    if _written_by_capcode(origin, texts) and all(s.end <= texts[s.source].length(DIALECTS[SPEC_DIALECT]) for s in selections):
        evidence.update(decided_by="written by capcode: code points on LF text without BOM", chosen=SPEC_DIALECT)
        return DIALECTS[SPEC_DIALECT], evidence
    results: dict[str, tuple] = {}
    scores: dict[str, dict[str, object]] = {}
    for name in order:
        dialect = DIALECTS[name]
        feasible = all(s.end <= texts[s.source].length(dialect) for s in selections)
        converted = [_convert(s, texts[s.source], dialect) for s in selections] if feasible else []
        clean = sum(1 for *_, ok in converted if ok)
        scores[name] = {"feasible": feasible, "clean_spans": clean}
        if feasible:
            results[name] = tuple((a, b) for a, b, _ in converted)
    evidence["scores"] = scores
    if not results:
        return None, evidence
    distinct = {results[name] for name in results}
    if len(distinct) == 1:
        chosen = next(name for name in order if name in results)
        evidence["decided_by"] = "all interpretations select the same text" if len(results) > 1 else "only feasible"
    else:
        chosen = max(results, key=lambda n: (scores[n]["clean_spans"], -order.index(n)))
        runner_up = max((scores[n]["clean_spans"] for n in results if results[n] != results[chosen]), default=-1)
        evidence["decided_by"] = "origin hint (tie)" if runner_up == scores[chosen]["clean_spans"] else "word boundaries"
    evidence["chosen"] = chosen
    return DIALECTS[chosen], evidence


# ---------------------------------------------------------------------------------------------------------
# Parsing the XML
# ---------------------------------------------------------------------------------------------------------

_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")


def _child(element: etree._Element, name: str) -> etree._Element | None:
    return element.find(NS + name)


def _description(element: etree._Element) -> str | None:
    node = _child(element, "Description")
    return node.text if node is not None and node.text else None


def _require(element: etree._Element, attribute: str, path: Path, what: str) -> str:
    value = element.get(attribute)
    if value is None or not value.strip():
        raise InputError(path, f"{what} lacks the required attribute '{attribute}'")
    return value.strip()


def _parse_users(root: etree._Element, path: Path) -> dict[str, str]:
    users: dict[str, str] = {}
    node = _child(root, "Users")
    for user in node.findall(NS + "User") if node is not None else []:
        guid = _require(user, "guid", path, "a <User>").lower()
        users[guid] = user.get("name") or user.get("id") or guid
    return users


def _parse_codes(root: etree._Element, path: Path) -> dict[str, QdaCode]:
    codes: dict[str, QdaCode] = {}
    book = _child(root, "CodeBook")
    container = _child(book, "Codes") if book is not None else None
    if container is None:
        return codes

    def visit(element: etree._Element, parent: str | None) -> str:
        guid = _require(element, "guid", path, "a <Code>").lower()
        if guid in codes:
            raise InputError(path, f"code guid {guid} appears twice in the CodeBook; each code needs its own guid")
        name = element.get("name")
        if name is None:
            raise InputError(path, f"code {guid} has no name")
        codable = (element.get("isCodable") or "true").strip().lower() not in ("false", "0")
        colour = element.get("color")
        codes[guid] = QdaCode(guid, name, codable, colour if colour and _COLOUR.match(colour) else None, parent, (), _description(element))
        children = tuple(visit(child, guid) for child in element.findall(NS + "Code"))
        codes[guid] = QdaCode(guid, name, codable, codes[guid].colour, parent, children, codes[guid].description)
        return guid

    for element in container.findall(NS + "Code"):
        visit(element, None)
    return codes


def _position(element: etree._Element, attribute: str, path: Path, where: str) -> int:
    value = element.get(attribute)
    try:
        number = int(value or "")
    except ValueError:
        raise InputError(path, f"{where}: {attribute} {value!r} is not a whole number") from None
    if number < 0:
        raise InputError(path, f"{where}: {attribute} {number} is negative")
    return number


def _read_text(archive: QdpxArchive, element: etree._Element, path: Path, name: str) -> tuple[str, str | None]:
    """The raw text of a text source (PlainTextContent or the file behind plainTextPath)."""
    content = _child(element, "PlainTextContent")
    uri = element.get("plainTextPath")
    if uri is None:
        if content is None:
            raise InputError(path, f"text source '{name}' has neither plainTextPath nor PlainTextContent")
        return content.text or "", None
    scheme, relative = source_file_name(uri)
    if scheme == "absolute":
        raise InputError(
            path, f"text source '{name}' points to a file outside the project ({uri}); export the project with its sources inside"
        )
    if scheme not in ("internal", "relative") or not relative:
        raise InputError(path, f"text source '{name}' has an unsupported plainTextPath {uri!r}; expected internal://<file>")
    entry = archive.find(relative)
    if entry is not None:
        data = archive.read(entry)
    elif scheme == "relative":
        data = _read_beside(path, relative, name, uri)
    else:
        raise InputError(path, f"text source '{name}' names {uri}, but the archive has no sources/{relative}")
    if not data:
        return "", uri
    return _decode(data, f"{path}:{entry or relative}"), uri


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")  # category Cc less \t \n \r \f, as textnorm


def _decode(data: bytes, label: str) -> str:
    """`decode_bytes` for source files, with a fast path for what REFI-QDA prescribes (UTF-8, maybe a BOM)
    that applies the same control-character test with a regex instead of a per-character loop."""
    if b"\x00" not in data:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = None
        if text is not None and len(_CONTROL.findall(text)) <= 0.01 * len(text):
            return text
    return decode_bytes(data, label).text  # UTF-16, cp1252, or a clear error


def _read_beside(path: Path, relative: str, name: str, uri: str) -> bytes:
    """A `relative://` source not inside the archive: look beside the .qdpx, never above its folder."""
    folder = path.resolve().parent
    candidate = (folder / relative).resolve()
    if folder not in candidate.parents or not candidate.is_file():
        raise InputError(path, f"text source '{name}' names {uri}, which is neither in the archive nor beside it")
    return candidate.read_bytes()


def _parse_selection(element: etree._Element, source: QdaSource, path: Path) -> _RawSelection:
    guid = _require(element, "guid", path, f"a selection in source '{source.name}'").lower()
    where = f"selection {guid} in source '{source.name}'"
    start = _position(element, "startPosition", path, where)
    end = _position(element, "endPosition", path, where)
    if start > end:
        raise InputError(path, f"{where}: startPosition {start} is after endPosition {end}")
    user = (element.get("creatingUser") or "").lower() or None
    codings = []
    for coding in element.findall(NS + "Coding"):
        ref = _child(coding, "CodeRef")
        if ref is None or not ref.get("targetGUID"):
            raise InputError(path, f"{where}: a <Coding> has no <CodeRef targetGUID=...>")
        coding_guid = (coding.get("guid") or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{guid}/{len(codings)}"))).lower()
        coding_user = (coding.get("creatingUser") or "").lower() or user
        codings.append(QdaCoding(coding_guid, ref.get("targetGUID").lower(), coding_user))
    return _RawSelection(guid, source.guid, start, end, user, tuple(codings), _description(element))


def _text_sources(root: etree._Element) -> Iterable[tuple[etree._Element, str]]:
    """(TextSource-like element, display name): text sources, and PDF sources' plain-text representation."""
    node = _child(root, "Sources")
    for element in node if node is not None else []:
        kind = local_name(element)
        if kind == "TextSource":
            yield element, element.get("name") or element.get("guid") or ""
        elif kind == "PDFSource":
            representation = _child(element, "Representation")
            if representation is not None:
                yield representation, element.get("name") or representation.get("name") or ""


def read_project(path: str | Path) -> QdaProject:
    """Read a `.qdpx` into a `QdaProject` with positions in code points of the normalised texts."""
    path = Path(path)
    skipped: dict[str, int] = defaultdict(int)
    with QdpxArchive(path) as archive:
        entry = archive.project_entry()
        root = parse_project_xml(archive.read(entry), path, entry)
        users = _parse_users(root, path)
        codes = _parse_codes(root, path)
        texts: dict[str, SourceText] = {}
        sources: dict[str, QdaSource] = {}
        raw_selections: list[_RawSelection] = []
        for element, name in _text_sources(root):
            guid = _require(element, "guid", path, f"text source '{name}'").lower()
            if guid in sources:
                raise InputError(path, f"source guid {guid} appears twice")
            raw, uri = _read_text(archive, element, path, name)
            texts[guid] = SourceText(raw)
            sources[guid] = QdaSource(guid, name, texts[guid].text, uri, _description(element))
            for selection in element.findall(NS + "PlainTextSelection"):
                parsed = _parse_selection(selection, sources[guid], path)
                if parsed.start == parsed.end:
                    skipped["empty selections"] += 1
                    continue
                raw_selections.append(parsed)
            skipped["source-level codings"] += len(element.findall(NS + "Coding"))
        sources_node = _child(root, "Sources")
        for element in sources_node if sources_node is not None else []:
            if local_name(element) not in ("TextSource", "PDFSource", ""):
                skipped[f"{local_name(element)}s (not text)"] += 1
    for selection in raw_selections:
        for coding in selection.codings:
            if coding.code not in codes:
                raise InputError(
                    path, f"selection {selection.guid} is coded with code guid {coding.code}, which is not in the CodeBook"
                )
    dialect, evidence = detect_dialect(raw_selections, texts, root.get("origin"))
    if dialect is None:
        worst = max(raw_selections, key=lambda s: s.end - texts[s.source].length(DIALECTS["codepoint"]))
        raise InputError(
            path,
            f"selection {worst.guid} in source '{sources[worst.source].name}' ends at {worst.end}, beyond the text "
            f"(length {len(sources[worst.source].text)} characters); the positions do not fit the text",
        )
    selections = []
    for raw in raw_selections:
        start, end, _ = _convert(raw, texts[raw.source], dialect)
        selections.append(QdaSelection(raw.guid, raw.source, start, end, raw.user, raw.codings, raw.description, raw.start, raw.end))
    description = _description(root)
    return QdaProject(
        name=root.get("name") or path.stem,
        origin=root.get("origin"),
        path=str(path),
        users=users,
        codes=codes,
        sources=sources,
        selections=selections,
        dialect=dialect.name,
        dialect_evidence=evidence,
        description=description,
        skipped={k: v for k, v in skipped.items() if v},
    )


# ---------------------------------------------------------------------------------------------------------
# The project as a capcode collection
# ---------------------------------------------------------------------------------------------------------

_DOC_SUFFIX = re.compile(r"\.(txt|docx?|rtf|odt|pdf|md)$", re.IGNORECASE)
_SYNTHETIC = re.compile(r"\bsynthetic\b", re.IGNORECASE)


def slugify(name: str) -> str:
    """A safe document id from a source name: ASCII letters, digits and '-', at most 80 characters."""
    stem = _DOC_SUFFIX.sub("", name.strip())
    ascii_only = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_only.lower()).strip("-")[:80].strip("-")
    return slug or "source"


def _unique(slug: str, taken: set[str]) -> str:
    candidate, n = slug, 1
    while candidate in taken:
        n += 1
        candidate = f"{slug}-{n}"
    taken.add(candidate)
    return candidate


def coder_names(project: QdaProject) -> dict[str | None, str]:
    """User guid -> coder name; users who share a name keep apart by a guid prefix."""
    counts: dict[str, int] = defaultdict(int)
    for name in project.users.values():
        counts[name] += 1
    names: dict[str | None, str] = {None: "unknown"}
    for guid, name in project.users.items():
        names[guid] = name if counts[name] == 1 else f"{name} ({guid[:8]})"
    return names


def resolve_code(project: QdaProject, guid: str, codebook: Codebook) -> str | None:
    """The code id for a QDA code: its own name if it resolves, else the nearest ancestor's that does.

    A sub-code ("Intern" > "MAT") says that the text belongs to its parent's category, so a coding with it
    counts for the parent's code. Codes with no resolving ancestor return None (counted as unmapped).
    """
    current: str | None = guid
    while current is not None:
        code_id = codebook.resolve(project.codes[current].name)
        if code_id is not None:
            return code_id
        current = project.codes[current].parent
    return None


def _merge(codings: list[SpanCoding]) -> list[SpanCoding]:
    """Union overlapping spans of one code by one coder in one document (QDA programs allow overlaps;
    several QDA codes may also map to one code id)."""
    groups: dict[tuple[str, str, str], list[SpanCoding]] = defaultdict(list)
    for coding in codings:
        groups[(coding.document, coding.coder, coding.code)].append(coding)
    merged = []
    for (document, coder, code), group in groups.items():
        group.sort(key=lambda c: (c.start, c.end))
        start, end = group[0].start, group[0].end
        for coding in group[1:]:
            if coding.start < end:
                end = max(end, coding.end)
            else:
                merged.append(SpanCoding(document, start, end, code, coder))
                start, end = coding.start, coding.end
        merged.append(SpanCoding(document, start, end, code, coder))
    return sorted(merged, key=lambda c: (c.document, c.start, c.end, c.code, c.coder))


def project_to_collection(project: QdaProject, codebook: Codebook) -> Collection:
    """Turn a read project into a `Collection` (see `read_qdpx_collection`)."""
    conventions = load_conventions()
    documents: dict[str, Document] = {}
    doc_of_source: dict[str, str] = {}
    taken: set[str] = set()
    for source in project.sources.values():
        if not source.text:
            continue
        doc_id = _unique(slugify(source.name), taken)
        turns = find_turns(source.text, conventions)
        metadata = {
            "qdpx_guid": source.guid,
            "qdpx_name": source.name,
            "qdpx_dialect": project.dialect,
            "qdpx_origin": project.origin,
            "encoding": "utf-8",
        }
        metadata["interviewer_source"] = assign_roles(turns, source.text, conventions)
        document = Document(id=doc_id, text=source.text, source=project.path, turns=turns, metadata=metadata)
        document.check_offsets()
        documents[doc_id] = document
        doc_of_source[source.guid] = doc_id
    coders = coder_names(project)
    unmapped: dict[str, int] = defaultdict(int)
    codings: list[SpanCoding] = []
    for selection in project.selections:
        for coding in selection.codings:
            code_id = resolve_code(project, coding.code, codebook)
            if code_id is None:
                unmapped[project.codes[coding.code].name] += 1
                continue
            coder = coders.get(coding.user, coding.user or "unknown")
            codings.append(SpanCoding(doc_of_source[selection.source], selection.start, selection.end, code_id, coder))
    codings = _merge(codings)
    validate_codings(codings, documents, project.path)
    return Collection(
        name=project.name,
        source=project.path,
        documents=documents,
        codings=codings,
        synthetic=bool(project.description and _SYNTHETIC.search(project.description)),
        use="train",
        unmapped_codes=dict(unmapped),
    )


def read_qdpx_collection(path: str | Path, codebook: Codebook) -> Collection:
    """Load a REFI-QDA project as a corpus collection: users are the coders, text sources the documents.

    Every document's metadata records the source guid and name, and the position dialect detected for the
    project (`qdpx_dialect`). Codings of codes that resolve to no code id (nor through an ancestor) are
    counted by code name in `Collection.unmapped_codes`.
    """
    return project_to_collection(read_project(path), codebook)
