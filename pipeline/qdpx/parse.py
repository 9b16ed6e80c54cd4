"""Reading the elements of a REFI-QDA project XML into `pipeline.qdpx.project` pieces.

Each function reads one kind of element (users, the code tree, a text source's text, a selection) and turns
what is missing or malformed into an `InputError` that names the project and the element. Assembling the
pieces into a `QdaProject` is `pipeline.qdpx.importer.read_project`'s job; the archive and XML safety checks are
`pipeline.qdpx.archive`'s.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from pathlib import Path

from lxml import etree

from pipeline.core.errors import InputError
from pipeline.ingest.textnorm import decode_bytes
from pipeline.qdpx.archive import NS, QdpxArchive, local_name, source_file_name
from pipeline.qdpx.project import QdaCode, QdaCoding, QdaSet, QdaSource, RawSelection

_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")


def find_child(element: etree._Element, name: str) -> etree._Element | None:
    """The first child element `name` in the REFI-QDA namespace, or None."""
    return element.find(NS + name)


def description_of(element: etree._Element) -> str | None:
    """The text of an element's <Description>, or None when it has none or it is empty."""
    node = find_child(element, "Description")
    return node.text if node is not None and node.text else None


def require_attribute(element: etree._Element, attribute: str, path: Path, what: str) -> str:
    """An attribute that the schema requires, stripped; an InputError naming `what` when it is missing."""
    value = element.get(attribute)
    if value is None or not value.strip():
        raise InputError(path, f"{what} lacks the required attribute '{attribute}'")
    return value.strip()


def parse_users(root: etree._Element, path: Path) -> dict[str, str]:
    """User guid (lower case) -> display name (its name, else its id, else its guid)."""
    users: dict[str, str] = {}
    node = find_child(root, "Users")
    for user in node.findall(NS + "User") if node is not None else []:
        guid = require_attribute(user, "guid", path, "a <User>").lower()
        users[guid] = user.get("name") or user.get("id") or guid
    return users


def parse_codes(root: etree._Element, path: Path) -> dict[str, QdaCode]:
    """The CodeBook as code guid -> `QdaCode`, parents before children; duplicate guids are refused."""
    codes: dict[str, QdaCode] = {}
    book = find_child(root, "CodeBook")
    container = find_child(book, "Codes") if book is not None else None
    if container is None:
        return codes

    def visit(element: etree._Element, parent: str | None) -> str:
        guid = require_attribute(element, "guid", path, "a <Code>").lower()
        if guid in codes:
            raise InputError(path, f"code guid {guid} appears twice in the CodeBook; each code needs its own guid")
        name = element.get("name")
        if name is None:
            raise InputError(path, f"code {guid} has no name")
        codable = (element.get("isCodable") or "true").strip().lower() not in ("false", "0")
        colour = element.get("color")
        codes[guid] = QdaCode(guid, name, codable, colour if colour and _COLOUR.match(colour) else None, parent, (), description_of(element))
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


def read_text(archive: QdpxArchive, element: etree._Element, path: Path, name: str) -> tuple[str, str | None]:
    """The raw text of a text source (PlainTextContent or the file behind plainTextPath)."""
    content = find_child(element, "PlainTextContent")
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
    that applies the same control-character test with a regex instead of a per-character loop. A UTF-8 BOM
    stays in the text: `SourceText` records it (NVivo for Windows writes one) and strips it."""
    if b"\x00" not in data:
        try:
            text = data.decode("utf-8")
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


def parse_selection(element: etree._Element, source: QdaSource, path: Path) -> RawSelection:
    """A <PlainTextSelection> with its codings, positions as written (their dialect is decided later)."""
    guid = require_attribute(element, "guid", path, f"a selection in source '{source.name}'").lower()
    where = f"selection {guid} in source '{source.name}'"
    start = _position(element, "startPosition", path, where)
    end = _position(element, "endPosition", path, where)
    if start > end:
        raise InputError(path, f"{where}: startPosition {start} is after endPosition {end}")
    user = (element.get("creatingUser") or "").lower() or None
    codings: list[QdaCoding] = []
    for coding in element.findall(NS + "Coding"):
        ref = find_child(coding, "CodeRef")
        if ref is None or not ref.get("targetGUID"):
            raise InputError(path, f"{where}: a <Coding> has no <CodeRef targetGUID=...>")
        coding_guid = (coding.get("guid") or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{guid}/{len(codings)}"))).lower()
        coding_user = (coding.get("creatingUser") or "").lower() or user
        codings.append(QdaCoding(coding_guid, ref.get("targetGUID").lower(), coding_user))
    return RawSelection(guid, source.guid, start, end, user, tuple(codings), description_of(element))


def text_sources(root: etree._Element) -> Iterable[tuple[etree._Element, str]]:
    """(TextSource-like element, display name): text sources, and PDF sources' plain-text representation."""
    node = find_child(root, "Sources")
    for element in node if node is not None else []:
        kind = local_name(element)
        if kind == "TextSource":
            yield element, element.get("name") or element.get("guid") or ""
        elif kind == "PDFSource":
            representation = find_child(element, "Representation")
            if representation is not None:
                yield representation, element.get("name") or representation.get("name") or ""


_VALUE_ELEMENTS = ("TextValue", "BooleanValue", "IntegerValue", "FloatValue", "DateValue", "DateTimeValue")


def _variable_value(element: etree._Element, variables: dict[str, str]) -> tuple[str, object] | None:
    """(variable name, value) of a <VariableValue>, or None when its variable or value is missing."""
    ref = find_child(element, "VariableRef")
    name = variables.get((ref.get("targetGUID") or "").lower()) if ref is not None else None
    if name is None:
        return None
    for kind in _VALUE_ELEMENTS:
        node = find_child(element, kind)
        if node is not None and node.text is not None:
            text = node.text.strip()
            if kind == "BooleanValue":
                return name, text.lower() in ("true", "1")
            if kind == "IntegerValue":
                try:
                    return name, int(text)
                except ValueError:
                    return name, text
            return name, text
    return None


def parse_source_attributes(root: etree._Element) -> dict[str, dict[str, object]]:
    """Source guid -> attributes from REFI-QDA Cases and Variables: ``case`` (the name of the case the source
    belongs to; a list when several), the case's variable values, and the source's own variable values."""
    variables: dict[str, str] = {}
    node = find_child(root, "Variables")
    for variable in node.findall(NS + "Variable") if node is not None else []:
        if variable.get("guid") and variable.get("name"):
            variables[variable.get("guid", "").lower()] = variable.get("name", "")
    attributes: dict[str, dict[str, object]] = {}
    sources = find_child(root, "Sources")
    for source in sources if sources is not None else []:
        guid = (source.get("guid") or "").lower()
        for element in source.findall(NS + "VariableValue"):
            pair = _variable_value(element, variables)
            if guid and pair:
                attributes.setdefault(guid, {})[pair[0]] = pair[1]
    cases = find_child(root, "Cases")
    for case in cases.findall(NS + "Case") if cases is not None else []:
        name = case.get("name") or case.get("guid") or ""
        values = [pair for pair in (_variable_value(v, variables) for v in case.findall(NS + "VariableValue")) if pair]
        for ref in case.findall(NS + "SourceRef"):
            guid = (ref.get("targetGUID") or "").lower()
            if not guid:
                continue
            entry = attributes.setdefault(guid, {})
            if "case" in entry:
                previous = entry["case"]
                entry["case"] = [*(previous if isinstance(previous, list) else [previous]), name]
            else:
                entry["case"] = name
            for key, value in values:
                entry.setdefault(key, value)
    return attributes


def parse_sets(root: etree._Element, path: Path) -> list[QdaSet]:
    """The project's Sets, in document order, with the guids of their member sources and codes."""
    node = find_child(root, "Sets")
    sets = []
    for element in node.findall(NS + "Set") if node is not None else []:
        guid = require_attribute(element, "guid", path, "a <Set>").lower()
        members = {kind: tuple(ref.get("targetGUID", "").lower() for ref in element.findall(NS + kind)
                               if ref.get("targetGUID")) for kind in ("MemberSource", "MemberCode")}
        sets.append(QdaSet(guid, element.get("name") or "", members["MemberSource"], members["MemberCode"],
                           description_of(element)))
    return sets
