"""Test helper: a reviewer's work in a QDA program, simulated on a .qdpx that capcode pre-coded.

`simulate_review` copies a project with capcode's suggestions and lets a new user, the reviewer, do what a
researcher does in NVivo: in the reviewed source, code again under their own user every third suggestion
(all its codes) and the first code of the next one, leave the rest alone, and add one code the model did
not suggest; put the source into the Set `capcode: reviewed`; and, in another source that is *not* in the
Set, code one fragment (work in progress, which must not count). Positions are copied from the suggestions
as written, so they stay in the project's own dialect. It returns what a correct reader must count.
"""

from __future__ import annotations

import uuid
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from pipeline.core.codebook import load_codebook

NS = "{urn:QDA-XML:project:1.0}"
REVIEW_FLAG = "capcode: nakijken"


@dataclass
class SimulatedReview:
    reviewer: str
    suggester: str  # the suggestions user's name
    reviewed_source: str  # name of the source in the Set
    other_source: str  # name of a source the reviewer coded in but did not mark reviewed
    expected: dict[str, Counter] = field(default_factory=dict)  # code name -> Counter(accepted, rejected, added)
    rejected_spans: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, code name) as written
    added_span: tuple[int, int, str] | None = None


def _guid(*parts: object) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(map(str, parts)))).upper()


def _code_by_reviewer(source: etree._Element, start: str, end: str, code_guids: list[str], reviewer: str,
                      key: object) -> None:
    selection = etree.SubElement(source, NS + "PlainTextSelection", guid=_guid("review", key), name="",
                                 startPosition=start, endPosition=end, creatingUser=reviewer)
    for code in code_guids:
        coding = etree.SubElement(selection, NS + "Coding", guid=_guid("coding", key, code), creatingUser=reviewer)
        etree.SubElement(coding, NS + "CodeRef", targetGUID=code)


def simulate_review(predicted: Path, target: Path, *, reviewer: str = "Reviewer", set_name: str | None =
                    "capcode: reviewed", added_code: str = "Intern") -> SimulatedReview:
    """Write ``target``: ``predicted`` after a simulated review (module docstring)."""
    entries = _entries(predicted)
    root = etree.fromstring(entries["project.qde"])
    users = {u.get("guid"): u.get("name") for u in root.iter(NS + "User")}
    suggester = next(g for g, n in users.items() if n.startswith("capcode model "))
    reviewer_guid = _guid("user", reviewer)
    etree.SubElement(root.find(NS + "Users"), NS + "User", guid=reviewer_guid, name=reviewer)
    names = {c.get("guid"): c.get("name") for c in root.iter(NS + "Code")}
    guid_of = {name: guid for guid, name in names.items()}
    sources = [s for s in root.find(NS + "Sources") if s.tag == NS + "TextSource"]
    reviewed, other = sources[0], sources[1]
    review = SimulatedReview(reviewer, users[suggester], reviewed.get("name"), other.get("name"))
    expected: dict[str, Counter] = {}
    suggested = [s for s in reviewed.findall(NS + "PlainTextSelection") if s.get("creatingUser") == suggester]
    codes_of = {}
    for selection in suggested:
        codes = [c.find(NS + "CodeRef").get("targetGUID") for c in selection.findall(NS + "Coding")]
        codes_of[selection.get("guid")] = [c for c in codes if names[c] != REVIEW_FLAG]
    added_code = _code_to_add(added_code, [c for c in codes_of.values() if c], guid_of)
    number = 0
    for selection in suggested:
        codes = codes_of[selection.get("guid")]
        if not codes:
            continue
        start, end = selection.get("startPosition"), selection.get("endPosition")
        accepted = codes if number % 3 == 0 else codes[:1] if number % 3 == 1 else []
        extra = [] if review.added_span or guid_of[added_code] in codes else [guid_of[added_code]]
        if extra:
            review.added_span = (int(start), int(end), added_code)
        for code in codes:
            outcome = "accepted" if code in accepted else "rejected"
            expected.setdefault(names[code], Counter())[outcome] += 1
            if outcome == "rejected":
                review.rejected_spans.append((int(start), int(end), names[code]))
        for code in extra:
            expected.setdefault(names[code], Counter())["added"] += 1
        if accepted or extra:
            _code_by_reviewer(reviewed, start, end, accepted + extra, reviewer_guid, selection.get("guid"))
        number += 1
    review.expected = expected
    first_other = next(s for s in other.findall(NS + "PlainTextSelection") if s.get("creatingUser") == suggester)
    _code_by_reviewer(other, first_other.get("startPosition"), first_other.get("endPosition"),
                      [guid_of["Beleid"]], reviewer_guid, "work in progress")
    if set_name is not None:
        sets = etree.Element(NS + "Sets")
        member_set = etree.SubElement(sets, NS + "Set", guid=_guid("set", set_name), name=set_name)
        etree.SubElement(member_set, NS + "MemberSource", targetGUID=reviewed.get("guid"))
        root.find(NS + "Sources").addnext(sets)
    entries["project.qde"] = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    _write(target, entries)
    return review


def _code_to_add(preferred: str, suggested_codes: list[list[str]], guid_of: dict[str, str]) -> str:
    """The code the reviewer adds: ``preferred`` if some suggested selection lacks it, else the first code
    that some suggested selection lacks (the tiny test model may suggest one code on every selection)."""
    codebook_names = [code.label for code in load_codebook().codes]  # not the sample project's own codes
    candidates = [preferred] + [n for n in codebook_names if n != preferred and n in guid_of]
    for name in candidates:
        if any(guid_of[name] not in codes for codes in suggested_codes):
            return name
    raise AssertionError("every suggested selection carries every code: nowhere to add one")


def rewrite_project_xml(source: Path, target: Path, old: str, new: str) -> Path:
    """A copy of ``source`` with ``old`` replaced by ``new`` in its project XML (a bad-input variant)."""
    entries = _entries(source)
    xml = entries["project.qde"].decode("utf-8")
    assert old in xml, old
    entries["project.qde"] = xml.replace(old, new).encode("utf-8")
    _write(target, entries)
    return target


def _entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write(path: Path, entries: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
