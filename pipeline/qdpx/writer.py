"""Writing a pre-coded REFI-QDA project (.qdpx) that QDA programs open with the model's suggestions.

The project holds the transcripts as text sources (`sources/<GUID>.txt`, UTF-8, LF, no BOM; positions in
code points, as the spec says), the codebook as one folder code per axis (`isCodable="false"`) with its two
codes under it, and the suggestions as `PlainTextSelection`s on fragment spans, coded by a separate `User`
named after the model, so a reviewer can filter them or compare them with a human coder in the QDA program.
Each selection's `Description` carries the model's scores and, per axis, its decision margin.

Given the project the documents came from (`base_project`), its users, code tree, text sources and human
codings are kept and the suggestions are added beside them; codebook codes map onto existing codes that
resolve to the same code id. GUIDs are uuid5 of content, so the same input gives the same file.

The base project's Sets are kept (the reviewer's `capcode: reviewed` among them, `pipeline.corpus.review`).
`capcode next` adds, instead of suggestions, a Set of the interviews to code next (`SourceSet`) and a Note on
each chosen fragment or interview (`notes`, `source_notes`): a `PlainTextSelection` by the model user with a
`NoteRef`, or a `NoteRef` on the `TextSource`; a base Set of the same name is replaced, not doubled.

Fragments up for review (a decision margin below `predict.review_margin`) get the code `capcode: nakijken` from
the model user, and the codes in doubt with their scores (and thresholds) in the selection's Description, so a
reviewer can filter on them in any of the four programs.

Positions are written in the dialect the project came in (`QdaProject.dialect`, detected at import), on
its texts in the form they came in (NVivo for Windows: BOM and CRLF, CRLF counted 2), so that the program
that wrote the project selects the same characters when it reads it back: NVivo counts UTF-16 units, and
code points put every selection after an emoji off by one unit per emoji before it. `positions` chooses a
dialect instead (on LF text without BOM); without a base project the default is the spec's code points.
"""

from __future__ import annotations

import hashlib
import os
import uuid
import zipfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from lxml import etree

from pipeline import __version__
from pipeline.core.codebook import Codebook
from pipeline.core.documents import Document
from pipeline.core.io_utils import atomic_path
from pipeline.core.numbers import cut_to
from pipeline.qdpx.archive import NAMESPACE
from pipeline.qdpx.dialect import DIALECTS, SPEC_DIALECT, Dialect, SourceText, capcode_origin
from pipeline.qdpx.project import REVIEW_CODE_NAME, QdaProject, QdaSelection, QdaSet, QdaSource

GUID_NAMESPACE = uuid.UUID("6f1c7e0a-3d5b-5a8e-9c41-2b7d0e5f8a13")  # fixed: capcode's own uuid5 namespace
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed entry times keep the archive reproducible
SCORE_DIGITS = 3
REVIEW_COLOUR = "#CC0000"
REVIEW_DEFINITION = ("Door capcode gemarkeerd om na te kijken: de beslissing op een as ligt dicht bij een andere "
                     "(beslissingsmarge onder predict.review_margin). De beschrijving van de selectie zegt welke "
                     "codes in twijfel zijn, met hun scores, en geeft per as de marge.")
POSITION_CHOICES = ("auto", *DIALECTS)


@dataclass(frozen=True)
class Suggestion:
    """One model coding: `code` (a code id) suggested for `[start, end)` of `document` with `score`."""

    document: str
    start: int
    end: int
    code: str
    score: float


@dataclass(frozen=True)
class SourceSet:
    """A REFI-QDA Set of text sources: `documents` (document ids) under `name`, e.g. "capcode: code next"."""

    name: str
    documents: tuple[str, ...]
    description: str | None = None


# (document id, start, end) -> {code id: probability}: every score of a fragment, for the Description.
FragmentScores = Mapping[tuple[str, int, int], Mapping[str, float]]
# (document id, start, end) -> {axis id: decision margin} (`pipeline.model.selection.decision_margins`).
FragmentMargins = Mapping[tuple[str, int, int], Mapping[str, float | None]]
# (document id, start, end) -> why the fragment is up for review, e.g. "strategisch 0.340 at threshold 0.350".
ReviewReasons = Mapping[tuple[str, int, int], str]


def guid(*parts: object) -> str:
    """A deterministic GUID from content (uuid5 over the parts)."""
    return str(uuid.uuid5(GUID_NAMESPACE, "\x1f".join(str(p) for p in parts)))


def _timestamp(created: datetime | None) -> str:
    if created is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        created = datetime.fromtimestamp(int(epoch), timezone.utc) if epoch else datetime.now(timezone.utc)
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return created.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sub(parent: etree._Element, tag: str, **attributes: str | None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{NAMESPACE}}}{tag}")
    for key, value in attributes.items():
        if value is not None:
            element.set(key, value)
    return element


def _description(parent: etree._Element, text: str | None) -> None:
    if text:
        _sub(parent, "Description").text = text


@dataclass
class _Code:
    guid: str
    name: str
    codable: bool
    colour: str | None
    description: str | None
    children: list[_Code]


def _code_tree(
    codebook: Codebook, base: QdaProject | None, *, with_review: bool = False
) -> tuple[list[_Code], dict[str, str]]:
    """The code tree to write and code id -> code guid for the suggestions (key REVIEW_CODE_NAME: the review
    code's guid, when `with_review`)."""
    roots: list[_Code] = []
    target: dict[str, str] = {}
    taken = set(base.codes) if base is not None else set()

    def fresh(*parts: object) -> str:
        value, n = guid(*parts), 1
        while value in taken:  # a base project that already holds capcode's folder under another name
            n += 1
            value = guid(*parts, n)
        taken.add(value)
        return value

    if base is not None:
        built: dict[str, _Code] = {}
        rank: dict[str, int] = {}
        for code in base.codes.values():  # parents come before children
            built[code.guid] = _Code(code.guid, code.name, code.codable, code.colour, code.description, [])
            (built[code.parent].children if code.parent else roots).append(built[code.guid])
            code_id = codebook.resolve(code.name)
            if code_id is None or not code.codable:
                continue
            # prefer a code named like the id or label ("Intern") over an alias ("Interne capaciteit")
            named = code.name.strip().casefold() in (code_id, codebook.code(code_id).label.casefold())
            if rank.get(code_id, 2) > (0 if named else 1):
                target[code_id], rank[code_id] = code.guid, 0 if named else 1
    for axis in codebook.axes:
        missing = [codebook.code(pole) for pole in axis.poles if pole not in target]
        if not missing:
            continue
        folder = _Code(fresh("axis", axis.id), axis.label, False, None, None, [])
        for pole in missing:
            folder.children.append(_Code(fresh("code", pole.id), pole.label, True, pole.colour, pole.definition, []))
            target[pole.id] = folder.children[-1].guid
        roots.append(folder)
    if with_review:
        existing = [c.guid for c in (base.codes.values() if base else []) if c.name == REVIEW_CODE_NAME and c.codable]
        if existing:
            target[REVIEW_CODE_NAME] = existing[0]
        else:
            roots.append(_Code(fresh("review"), REVIEW_CODE_NAME, True, REVIEW_COLOUR, REVIEW_DEFINITION, []))
            target[REVIEW_CODE_NAME] = roots[-1].guid
    return roots, target


def _write_codes(parent: etree._Element, codes: list[_Code]) -> None:
    for code in codes:
        element = _sub(parent, "Code", guid=code.guid, name=code.name, isCodable="true" if code.codable else "false", color=code.colour)
        _description(element, code.description)
        _write_codes(element, code.children)


def _score_text(model_user: str, codes: list[tuple[str, float]], all_scores: Mapping[str, float] | None,
                review: str | None = None, margins: Mapping[str, float | None] | None = None) -> str:
    suggested = ", ".join(f"{code} {score:.{SCORE_DIGITS}f}" for code, score in codes) or "no code suggested"
    text = f"capcode {__version__} suggestion by {model_user}: {suggested}"
    if review:
        text += f"; review: {review}"
    if all_scores:
        text += "; all scores: " + ", ".join(f"{c} {s:.{SCORE_DIGITS}f}" for c, s in sorted(all_scores.items()))
    shown = {axis: value for axis, value in (margins or {}).items() if value is not None}
    if shown:  # in the order given (predict's: the codebook's axes); cut, not rounded (pipeline.core.numbers)
        text += "; decision margins: " + ", ".join(f"{a} {cut_to(v, SCORE_DIGITS):.{SCORE_DIGITS}f}"
                                                   for a, v in shown.items())
    return text


def _check(suggestions: Sequence[Suggestion], documents: dict[str, Document], codebook: Codebook) -> None:
    """Suggestions come from our own predict step: a bad one is a programming error, not bad input."""
    for s in suggestions:
        if s.document not in documents:
            raise ValueError(f"suggestion {s} names document '{s.document}', which is not among the documents")
        if not 0 <= s.start < s.end <= len(documents[s.document].text):
            raise ValueError(f"suggestion {s} lies outside document '{s.document}' (length {len(documents[s.document].text)})")
        if s.code not in codebook.code_ids:
            raise ValueError(f"suggestion {s} has code '{s.code}', not one of {codebook.code_ids}")


def build_project_xml(
    *,
    documents: Sequence[Document],
    suggestions: Sequence[Suggestion],
    codebook: Codebook,
    model_user: str,
    base_project: QdaProject | None = None,
    scores: FragmentScores | None = None,
    project_name: str | None = None,
    created: datetime | None = None,
    review: ReviewReasons | None = None,
    margins: FragmentMargins | None = None,
    positions: str = "auto",
    sets: Sequence[SourceSet] = (),
    notes: Mapping[tuple[str, int, int], str] | None = None,
    source_notes: Mapping[str, str] | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The project XML and the source files ({entry name: text}) of the .qdpx that `write_qdpx` writes."""
    by_id = {d.id: d for d in documents}
    _check(suggestions, by_id, codebook)
    review = {key: reason for key, reason in (review or {}).items() if key[0] in by_id}
    dialect = _dialect(positions, base_project)
    stamp = _timestamp(created)
    nsmap = {None: NAMESPACE}
    root = etree.Element(f"{{{NAMESPACE}}}Project", nsmap=nsmap)
    model_guid = guid("user", model_user)
    if base_project is not None:
        model_guid = next((g for g, n in base_project.users.items() if n == model_user), model_guid)
    name = project_name or (base_project.name if base_project else "capcode suggestions")
    root.set("name", name)
    root.set("origin", capcode_origin(__version__, dialect.name))
    root.set("creatingUserGUID", model_guid)
    root.set("creationDateTime", stamp)

    users = _sub(root, "Users")
    for user_guid, user_name in (base_project.users.items() if base_project else []):
        if user_guid != model_guid:
            _sub(users, "User", guid=user_guid, name=user_name)
    _sub(users, "User", guid=model_guid, name=model_user)

    code_roots, code_guid = _code_tree(codebook, base_project, with_review=bool(review))
    _write_codes(_sub(_sub(root, "CodeBook"), "Codes"), code_roots)

    # Sources: those of the base project (in its order), then documents not in it.
    files: dict[str, str] = {}
    keep_form = positions == "auto"
    source_of_document: dict[str, str] = {}
    base_selections: dict[str, list[QdaSelection]] = defaultdict(list)
    order: list[tuple[str, str, str, str | None]] = []  # (guid, name, text as written, description)
    if base_project is not None:
        for selection in base_project.selections:
            if selection.user != model_guid and all(c.user != model_guid for c in selection.codings):
                base_selections[selection.source].append(selection)
        for source in base_project.sources.values():
            order.append((source.guid, source.name, _written_text(source, keep_form), source.description))
    known = {entry[0] for entry in order}
    for document in documents:
        source_guid = document.metadata.get("qdpx_guid")
        if source_guid in known:
            base_text = base_project.sources[source_guid].text  # type: ignore[union-attr]
            if base_text != document.text:
                raise ValueError(f"document '{document.id}' differs from source {source_guid} of the base project")
        else:
            source_guid = guid("source", document.id, hashlib.sha256(document.text.encode()).hexdigest())
            name_ = str(document.metadata.get("qdpx_name") or document.id)
            order.append((source_guid, name_, document.text, None))
            known.add(source_guid)
        source_of_document[document.id] = source_guid

    names = {source_guid: source_name for source_guid, source_name, *_ in order}

    def name_of(doc_id: str) -> str:
        return names[source_of_document[doc_id]]

    grouped: dict[tuple[str, int, int], list[Suggestion]] = defaultdict(list)
    for s in suggestions:
        grouped[(s.document, s.start, s.end)].append(s)
    for key in review:
        grouped.setdefault(key, [])  # a fragment up for review with no code suggested still gets the flag
    model_selections: dict[str, list[tuple[int, int, str, str, list[Suggestion], bool]]] = defaultdict(list)
    for (doc_id, start, end), group in sorted(grouped.items()):
        source_guid = source_of_document[doc_id]
        selection_guid = guid("selection", source_guid, start, end, model_user)
        codes = sorted({(s.code, s.score) for s in group}, key=lambda cs: codebook.code_ids.index(cs[0]))
        reason = review.get((doc_id, start, end))
        text = _score_text(model_user, codes, (scores or {}).get((doc_id, start, end)), reason,
                           (margins or {}).get((doc_id, start, end)))
        model_selections[source_guid].append((start, end, selection_guid, text, group, reason is not None))

    note_texts: list[tuple[str, str, str]] = []  # (note guid, name, text)
    note_selections: dict[str, list[tuple[int, int, str, str]]] = defaultdict(list)
    for (doc_id, start, end), text in sorted((notes or {}).items()):
        source_guid = source_of_document[doc_id]
        note_guid = guid("note", source_guid, start, end, model_user)
        note_texts.append((note_guid, f"{model_user}: {name_of(doc_id)} {start}-{end}", text))
        note_selections[source_guid].append((start, end, guid("note selection", source_guid, start, end, model_user),
                                             note_guid))
    source_note_guids: dict[str, str] = {}
    for doc_id, text in sorted((source_notes or {}).items()):
        source_guid = source_of_document[doc_id]
        source_note_guids[source_guid] = guid("source note", source_guid, model_user)
        note_texts.append((source_note_guids[source_guid], f"{model_user}: {name_of(doc_id)}", text))

    sources = _sub(root, "Sources") if order else None
    for source_guid, source_name, text, description in order:
        entry = f"{source_guid}.txt"
        files[f"sources/{entry}"] = text
        element = _sub(sources, "TextSource", guid=source_guid, name=source_name, plainTextPath=f"internal://{entry}")
        _description(element, description)
        position = _position_map(text, dialect)
        rows: list[tuple[int, int, str, etree._Element]] = []
        for selection in base_selections.get(source_guid, []):
            rows.append((selection.start, selection.end, selection.guid, _base_selection(selection, position)))
        for start, end, selection_guid, text_, group, flagged in model_selections.get(source_guid, []):
            rows.append((start, end, selection_guid, _model_selection(
                position(start), position(end), selection_guid, text_, group, model_guid, code_guid, stamp,
                flagged=flagged)))
        for start, end, selection_guid, note_guid in note_selections.get(source_guid, []):
            rows.append((start, end, selection_guid, _note_selection(position(start), position(end), selection_guid,
                                                                     note_guid, model_guid, stamp)))
        for *_, selection_element in sorted(rows, key=lambda r: (r[0], r[1], r[2])):
            element.append(selection_element)
        if source_guid in source_note_guids:
            _sub(element, "NoteRef", targetGUID=source_note_guids[source_guid])

    if note_texts:
        notes_element = _sub(root, "Notes")
        for note_guid, note_name, text in note_texts:
            note = _sub(notes_element, "Note", guid=note_guid, name=note_name, creatingUser=model_guid,
                        creationDateTime=stamp)
            _sub(note, "PlainTextContent").text = text
    replaced = {source_set.name for source_set in sets}
    kept = [qda_set for qda_set in base_project.sets if qda_set.name not in replaced] if base_project is not None else []
    if kept or sets:
        sets_element = _sub(root, "Sets")
        if base_project is not None:
            _write_sets(sets_element, base_project, kept)
        for source_set in sets:
            element = _sub(sets_element, "Set", guid=guid("set", source_set.name), name=source_set.name)
            _description(element, source_set.description)
            for doc_id in source_set.documents:
                _sub(element, "MemberSource", targetGUID=source_of_document[doc_id])
    if base_project is not None and base_project.description:
        _sub(root, "Description").text = base_project.description
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True, standalone=True)
    return xml, files


def _write_sets(parent: etree._Element, base: QdaProject, kept: Sequence[QdaSet]) -> None:
    """The base project's Sets in `kept` (e.g. the reviewer's `capcode: reviewed`), with their sources and codes;
    every source and code of the base project is written, so every member still resolves (notes are not kept)."""
    for qda_set in kept:
        element = _sub(parent, "Set", guid=qda_set.guid, name=qda_set.name)
        _description(element, qda_set.description)
        for code in qda_set.codes:
            if code in base.codes:
                _sub(element, "MemberCode", targetGUID=code)
        for source in qda_set.sources:
            if source in base.sources:
                _sub(element, "MemberSource", targetGUID=source)


def _dialect(positions: str, base: QdaProject | None) -> Dialect:
    """The position dialect to write: the base project's for "auto" (code points without one), else the named."""
    name = (base.dialect if base is not None else SPEC_DIALECT) if positions == "auto" else positions
    if name not in DIALECTS:
        raise ValueError(f"unknown position dialect {positions!r}; expected one of {', '.join(POSITION_CHOICES)}")
    return DIALECTS[name]


def _written_text(source: QdaSource, keep_form: bool) -> str:
    """A base source's text as it goes into the archive: in the form it came in (BOM, CRLF) for "auto"."""
    if not keep_form:
        return source.text
    text = source.text.replace("\n", "\r\n") if source.had_crlf else source.text
    return "\ufeff" + text if source.had_bom else text


def _position_map(written: str, dialect: Dialect):
    """Normalised index -> position in `dialect` on the text as written (identity for code points on LF)."""
    if written.isascii() and "\r" not in written:
        return lambda index: index
    source_text = SourceText(written)
    return lambda index: source_text.from_normalised(index, dialect)


def _base_selection(selection: QdaSelection, position) -> etree._Element:
    element = etree.Element(f"{{{NAMESPACE}}}PlainTextSelection")
    element.set("guid", selection.guid)
    element.set("startPosition", str(position(selection.start)))
    element.set("endPosition", str(position(selection.end)))
    if selection.user:
        element.set("creatingUser", selection.user)
    _description(element, selection.description)
    for coding in selection.codings:
        coding_element = _sub(element, "Coding", guid=coding.guid, creatingUser=coding.user)
        _sub(coding_element, "CodeRef", targetGUID=coding.code)
    return element


def _model_selection(
    start: int,
    end: int,
    selection_guid: str,
    text: str,
    group: list[Suggestion],
    model_guid: str,
    code_guid: dict[str, str],
    stamp: str,
    *,
    flagged: bool = False,
) -> etree._Element:
    element = etree.Element(f"{{{NAMESPACE}}}PlainTextSelection")
    for key, value in (
        ("guid", selection_guid),
        ("name", ""),
        ("startPosition", str(start)),
        ("endPosition", str(end)),
        ("creatingUser", model_guid),
        ("creationDateTime", stamp),
    ):
        element.set(key, value)
    _description(element, text)
    for code in sorted({s.code for s in group}) + ([REVIEW_CODE_NAME] if flagged else []):
        coding = _sub(element, "Coding", guid=guid("coding", selection_guid, code), creatingUser=model_guid, creationDateTime=stamp)
        _sub(coding, "CodeRef", targetGUID=code_guid[code])
    return element


def _note_selection(start: int, end: int, selection_guid: str, note_guid: str, model_guid: str,
                    stamp: str) -> etree._Element:
    """A selection by the model user that carries a note (no coding): `capcode next`'s reason for a fragment."""
    element = etree.Element(f"{{{NAMESPACE}}}PlainTextSelection")
    for key, value in (("guid", selection_guid), ("name", ""), ("startPosition", str(start)),
                       ("endPosition", str(end)), ("creatingUser", model_guid), ("creationDateTime", stamp)):
        element.set(key, value)
    _sub(element, "NoteRef", targetGUID=note_guid)
    return element


def write_qdpx(
    path: str | Path,
    *,
    documents: Sequence[Document],
    suggestions: Sequence[Suggestion],
    codebook: Codebook,
    model_user: str,
    base_project: QdaProject | None = None,
    scores: FragmentScores | None = None,
    project_name: str | None = None,
    created: datetime | None = None,
    review: ReviewReasons | None = None,
    margins: FragmentMargins | None = None,
    positions: str = "auto",
    sets: Sequence[SourceSet] = (),
    notes: Mapping[tuple[str, int, int], str] | None = None,
    source_notes: Mapping[str, str] | None = None,
) -> Path:
    """Write a pre-coded .qdpx atomically (temporary file in the same folder, then rename).

    `model_user` names the QDA user the suggestions come from, e.g. "capcode default 0.1.0". `scores`
    adds every code's probability to each suggested fragment's Description, `margins` each axis's decision
    margin (how far the decision stands from changing: a reviewer accepts the surest first). `created`
    (default: now, or SOURCE_DATE_EPOCH) is the project's creationDateTime; with it fixed the file is
    byte-for-byte reproducible.
    `review` flags fragments for review with the reason (see the module docstring); `positions` is "auto"
    (the base project's dialect, else code points) or a dialect name from `pipeline.qdpx.dialect.DIALECTS`.
    `sets` adds Sets of sources; `notes` ({(document, start, end): text}) and `source_notes` ({document: text})
    add Notes on fragments and on whole sources, by the model user.
    """
    path = Path(path)
    xml, files = build_project_xml(
        documents=documents,
        suggestions=suggestions,
        codebook=codebook,
        model_user=model_user,
        base_project=base_project,
        scores=scores,
        project_name=project_name,
        created=created,
        review=review,
        margins=margins,
        positions=positions,
        sets=sets,
        notes=notes,
        source_notes=source_notes,
    )
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        _add(archive, "project.qde", xml)
        for name in sorted(files):
            _add(archive, name, files[name].encode("utf-8"))
    return path


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)
