"""Test helper: a copy of a real REFI-QDA sample with a second coder, for agreement on the project's own codes.

The samples in shared/refi-qda/samples were coded by one user. `with_second_coder` copies one and lets a
second user (an existing user without codings, else a new one) code again what the first coded, with
deterministic differences: every 5th selection left out, every 7th given the next code of the codebook,
every 4th cut short at a word boundary near its middle. Positions stay in the file's own units (UTF-16
code units of the text as stored, which for NVivo is what its positions count), so the copy reads like the
original. ``fill_texts`` writes a made-up plain text for every text source whose file is missing (the
ATLAS.ti sample ships its XML without texts), with each selection's name (its first words) at its start.
"""

from __future__ import annotations

import re
import uuid
import zipfile
from pathlib import Path

from lxml import etree

NS = "{urn:QDA-XML:project:1.0}"
FILLER = "and then we talked about other things for a while "


def _units_to_index(text: str) -> list[int]:
    """For each UTF-16 code unit offset 0..n, the code point index it falls in."""
    index = []
    for i, char in enumerate(text):
        index.extend([i] * (2 if ord(char) > 0xFFFF else 1))
    index.append(len(text))
    return index


def _unit_offsets(text: str) -> list[int]:
    offsets, units = [], 0
    for char in text:
        offsets.append(units)
        units += 2 if ord(char) > 0xFFFF else 1
    offsets.append(units)
    return offsets


def _cut_short(text: str, start: int, end: int, to_index: list[int], to_units: list[int]) -> int:
    """A new end (in UTF-16 units) at a space near the middle of [start, end), or ``end`` when there is none."""
    first, last = to_index[min(start, len(to_index) - 1)], to_index[min(end, len(to_index) - 1)]
    middle = (first + last) // 2
    space = text.rfind(" ", first + 1, middle + 1)
    return to_units[space] if space > first else end


def _made_up_text(selections: list[etree._Element]) -> str:
    length = max((int(s.get("endPosition")) for s in selections), default=0) + 200
    chars = list((FILLER * (length // len(FILLER) + 1))[:length])
    for index in range(80, length, 97):
        chars[index] = "\n"
    for selection in selections:
        start, end = int(selection.get("startPosition")), int(selection.get("endPosition"))
        words = (selection.get("name") or "").rstrip("\u2026").replace("\n", " ")[: end - start]
        chars[start : start + len(words)] = list(words)
    return "".join(chars)


def with_second_coder(source: Path, target: Path, *, fill_texts: bool = False) -> tuple[str, str]:
    """Write ``target``: ``source`` plus a second coder's codings; return (first coder, second coder) names."""
    with zipfile.ZipFile(source) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    project_entry = next(name for name in entries if name.lower().endswith(".qde"))
    root = etree.fromstring(entries[project_entry])
    users = {u.get("guid"): u.get("name") for u in root.iter(NS + "User")}
    coded_by = [c.get("creatingUser") for c in root.iter(NS + "Coding")]
    first = max(set(coded_by), key=coded_by.count)
    idle = [guid for guid in users if guid not in coded_by]
    if idle:
        second = idle[-1]
    else:
        second = str(uuid.uuid5(uuid.NAMESPACE_URL, "second-coder")).upper()
        etree.SubElement(root.find(NS + "Users"), NS + "User", guid=second, name="Second coder")
        users[second] = "Second coder"
    codable = [c.get("guid") for c in root.iter(NS + "Code") if c.get("isCodable", "true") == "true"]
    sources_folder = next((n.split("/")[0] for n in entries if n.lower().startswith("sources/")), "sources")
    number = 0
    for text_source in [e for e in root.iter() if e.get("plainTextPath")]:
        selections = text_source.findall(NS + "PlainTextSelection")
        path = (text_source.get("plainTextPath") or "").replace("internal://", "")
        entry = f"{sources_folder}/{path}"
        if entry not in entries and path:
            if not fill_texts:
                continue
            entries[entry] = _made_up_text(selections).encode("utf-8")
        raw = entries[entry].decode("utf-8-sig") if path else ""
        to_index, to_units = _units_to_index(raw), _unit_offsets(raw)
        for selection in selections:
            codings = [c for c in selection.findall(NS + "Coding") if c.get("creatingUser") == first]
            if not codings:
                continue
            number += 1
            if number % 5 == 0:
                continue
            copy = etree.SubElement(text_source, NS + "PlainTextSelection")
            for key, value in selection.attrib.items():
                copy.set(key, value)
            copy.set("guid", str(uuid.uuid5(uuid.NAMESPACE_URL, selection.get("guid"))).upper())
            copy.set("creatingUser", second)
            start, end = int(selection.get("startPosition")), int(selection.get("endPosition"))
            if number % 4 == 1 and raw:
                copy.set("endPosition", str(_cut_short(raw, start, end, to_index, to_units)))
            for coding in codings:
                target_code = coding.find(NS + "CodeRef").get("targetGUID")
                if number % 7 == 3 and target_code in codable:
                    target_code = codable[(codable.index(target_code) + 1) % len(codable)]
                new = etree.SubElement(copy, NS + "Coding", guid=str(uuid.uuid4()).upper(), creatingUser=second)
                etree.SubElement(new, NS + "CodeRef", targetGUID=target_code)
    entries[project_entry] = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return users[first], users[second]


def strip_guid(name: str) -> str:
    return re.sub(r" \([0-9a-f]{8}\)$", "", name)
