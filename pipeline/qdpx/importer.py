"""Reading a REFI-QDA project (.qdpx) from a QDA program: its users, code tree, texts and coded selections.

Two levels:

- `read_project(path) -> QdaProject`: the project as the QDA program wrote it, with every selection's
  positions converted to code points of the *normalised* text (NFC, `\\n`, no BOM), the offsets every other
  part of capcode uses (`pipeline.core.documents`).
- `read_qdpx_collection(path, codebook) -> Collection`: the same project as a capcode corpus collection:
  text sources become `Document`s with speaker turns, users become coders, and code names map to the six
  code ids through `Codebook.resolve`.

The pieces live in their own modules: the dataclasses in `pipeline.qdpx.project`, the archive and XML safety
checks in `pipeline.qdpx.archive`, reading the XML elements in `pipeline.qdpx.parse`, and the position dialects
(code points or UTF-16 units, CRLF counted as 1 or 2) and their conversion in `pipeline.qdpx.dialect`.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from pathlib import Path
from typing import Any

from pipeline.core.codebook import Codebook
from pipeline.core.documents import Document, SpanCoding
from pipeline.core.errors import InputError
from pipeline.core.unicode_safety import readable_name
from pipeline.corpus.collection import Collection, validate_codings
from pipeline.ingest.turns import assign_roles, find_turns, load_conventions
from pipeline.qdpx.archive import NS, QdpxArchive, local_name, parse_project_xml
from pipeline.qdpx.dialect import DIALECTS, SourceText, convert_selection, detect_dialect
from pipeline.qdpx.parse import (
    description_of,
    find_child,
    parse_codes,
    parse_selection,
    parse_sets,
    parse_source_attributes,
    parse_users,
    read_text,
    require_attribute,
    text_sources,
)
from pipeline.qdpx.project import REVIEW_CODE_NAME, QdaProject, QdaSelection, QdaSource, RawSelection


def read_project(path: str | Path) -> QdaProject:
    """Read a `.qdpx` into a `QdaProject` with positions in code points of the normalised texts."""
    path = Path(path)
    skipped: dict[str, int] = defaultdict(int)
    with QdpxArchive(path) as archive:
        entry = archive.project_entry()
        root = parse_project_xml(archive.read(entry), path, entry)
        users = parse_users(root, path)
        codes = parse_codes(root, path)
        texts: dict[str, SourceText] = {}
        sources: dict[str, QdaSource] = {}
        raw_selections: list[RawSelection] = []
        for element, name in text_sources(root):
            guid = require_attribute(element, "guid", path, f"text source '{name}'").lower()
            if guid in sources:
                raise InputError(path, f"source guid {guid} appears twice")
            raw, uri = read_text(archive, element, path, name)
            texts[guid] = SourceText(raw)
            sources[guid] = QdaSource(guid, name, texts[guid].text, uri, description_of(element),
                                      had_bom=texts[guid].had_bom, had_crlf=texts[guid].had_cr)
            for selection in element.findall(NS + "PlainTextSelection"):
                parsed = parse_selection(selection, sources[guid], path)
                if parsed.start == parsed.end:
                    skipped["empty selections"] += 1
                    continue
                raw_selections.append(parsed)
            skipped["source-level codings"] += len(element.findall(NS + "Coding"))
        sources_node = find_child(root, "Sources")
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
    for stated in raw_selections:
        start, end, _ = convert_selection(stated, texts[stated.source], dialect)
        selections.append(QdaSelection(stated.guid, stated.source, start, end, stated.user, stated.codings,
                                       stated.description, stated.start, stated.end))
    description = description_of(root)
    return QdaProject(
        name=root.get("name") or readable_name(path.stem),
        origin=root.get("origin"),
        path=readable_name(str(path)),  # for messages and records; a name that is not UTF-8 cannot be written
        users=users,
        codes=codes,
        sources=sources,
        selections=selections,
        dialect=dialect.name,
        dialect_evidence=evidence,
        description=description,
        skipped={k: v for k, v in skipped.items() if v},
        attributes=parse_source_attributes(root),
        sets=parse_sets(root, path),
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


merge_overlaps = _merge  # public name for other layers (agreement on a project's own codes)


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
        metadata: dict[str, Any] = {
            "qdpx_guid": source.guid,
            "qdpx_name": source.name,
            "qdpx_dialect": project.dialect,
            "qdpx_origin": project.origin,
            "encoding": "utf-8",
        }
        metadata["interviewer_source"] = assign_roles(turns, source.text, conventions)
        for key, value in project.attributes.get(source.guid, {}).items():  # Cases and variables
            metadata.setdefault(key, value)
        document = Document(id=doc_id, text=source.text, source=project.path, turns=turns, metadata=metadata)
        document.check_offsets()
        documents[doc_id] = document
        doc_of_source[source.guid] = doc_id
    coders = coder_names(project)
    unmapped: dict[str, int] = defaultdict(int)
    codings: list[SpanCoding] = []
    for selection in project.selections:
        for coding in selection.codings:
            if project.codes[coding.code].name == REVIEW_CODE_NAME:
                continue  # capcode's own review flag, not a code of the scheme
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
