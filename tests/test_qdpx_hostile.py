"""Hostile and broken .qdpx files: each is refused with an InputError naming the file and the problem,
and nothing is ever written to disk while reading."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from pipeline.core.errors import InputError
from pipeline.qdpx import archive as qdpx_read
from pipeline.qdpx.importer import read_project

NS = 'xmlns="urn:QDA-XML:project:1.0"'
SOURCE_GUID = "44444444-4444-4444-4444-444444444444"


def project_xml(selection: str = "", namespace: str = NS, prolog: str = "", body: str = "") -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{prolog}<Project {namespace} name="p"><Sources>'
        f'<TextSource guid="{SOURCE_GUID}" name="t" plainTextPath="internal://{SOURCE_GUID}.txt">{selection}</TextSource>'
        f"</Sources>{body}</Project>"
    )


def make(tmp_path: Path, entries: dict[str, bytes | str], name: str = "p.qdpx") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for entry, data in entries.items():
            archive.writestr(entry, data)
    return path


def good_entries(**overrides: bytes | str) -> dict[str, bytes | str]:
    return {"project.qde": project_xml(), f"sources/{SOURCE_GUID}.txt": "Een korte tekst.", **overrides}


def refused(path: Path, pattern: str) -> InputError:
    with pytest.raises(InputError, match=pattern) as caught:
        read_project(path)
    assert str(path) in str(caught.value)  # the message names the file
    assert "\n" not in str(caught.value)  # and fits on one line
    return caught.value


def test_a_good_minimal_project_reads(tmp_path):
    assert next(iter(read_project(make(tmp_path, good_entries())).sources.values())).text == "Een korte tekst."


@pytest.mark.parametrize(
    "entry,pattern",
    [
        ("../evil.txt", "outside the archive"),
        ("sources/../../evil.txt", "outside the archive"),
        ("..\\..\\evil.txt", "outside the archive"),
        ("/etc/evil.txt", "absolute path"),
        ("C:/Windows/evil.txt", "absolute path"),
    ],
)
def test_entries_that_escape_the_archive(tmp_path, entry, pattern):
    refused(make(tmp_path, good_entries(**{entry: "x"})), pattern)
    assert not (tmp_path.parent / "evil.txt").exists()


def test_a_source_path_that_escapes(tmp_path):
    xml = project_xml().replace(f"internal://{SOURCE_GUID}.txt", "internal://../../etc/passwd")
    refused(make(tmp_path, good_entries(**{"project.qde": xml})), "outside the archive")
    xml = project_xml().replace(f"internal://{SOURCE_GUID}.txt", "absolute:///etc/passwd")
    refused(make(tmp_path, good_entries(**{"project.qde": xml})), "outside the project")
    xml = project_xml().replace(f"internal://{SOURCE_GUID}.txt", "relative://../secret.txt")
    (tmp_path / "secret.txt").write_text("geheim")  # exists, but above the folder of the .qdpx
    (tmp_path / "sub").mkdir()
    refused(make(tmp_path / "sub", good_entries(**{"project.qde": xml})), "outside the archive")
    xml = project_xml().replace(f"internal://{SOURCE_GUID}.txt", "relative:///nowhere.txt")
    refused(make(tmp_path / "sub", good_entries(**{"project.qde": xml})), "neither in the archive nor beside it")


BILLION_LAUGHS = (
    '<!DOCTYPE Project [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">'
    '<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>'
)


def test_entity_expansion_is_refused(tmp_path):
    xml = project_xml(prolog=BILLION_LAUGHS, body="<Description>&lol4;</Description>")
    refused(make(tmp_path, good_entries(**{"project.qde": xml})), "DOCTYPE")


def test_external_entities_are_refused_and_never_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    prolog = f'<!DOCTYPE Project [<!ENTITY xxe SYSTEM "file://{secret}">]>'
    xml = project_xml(prolog=prolog, body="<Description>&xxe;</Description>")
    error = refused(make(tmp_path, good_entries(**{"project.qde": xml})), "DOCTYPE")
    assert "TOP-SECRET" not in str(error)
    prolog = '<!DOCTYPE Project SYSTEM "http://example.invalid/evil.dtd">'
    refused(make(tmp_path, good_entries(**{"project.qde": project_xml(prolog=prolog)})), "DOCTYPE")


def test_compression_bomb_is_refused(tmp_path):
    # 8 MB of zeros compress about 1000 to 1; real text compresses 3-10 to 1
    refused(make(tmp_path, good_entries(**{"sources/zeros.txt": b"\0" * (8 * 1024**2)})), "compressed .* to 1")


def test_absurd_sizes_and_counts_are_refused(tmp_path, monkeypatch):
    entries = good_entries(**{f"sources/n{k}.txt": b"" for k in range(qdpx_read.MAX_ENTRIES)})
    refused(make(tmp_path, entries, "many.qdpx"), "entries; refusing more than 10000")
    monkeypatch.setattr(qdpx_read, "MAX_TOTAL_UNCOMPRESSED", 1000)  # 2 GB for real; not built here
    refused(make(tmp_path, good_entries(**{"sources/big.txt": os.urandom(2000)})), "unpacks to more than")


def test_an_entry_that_lies_about_its_size(tmp_path):
    path = make(tmp_path, good_entries())
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(f"sources/{SOURCE_GUID}.txt")
    central = data.rfind(info.filename.encode()) - 46
    data[central + 24 : central + 28] = (4).to_bytes(4, "little")  # uncompressed size in the central directory
    path.write_bytes(bytes(data))
    refused(path, "cannot be read|larger than it declares")


def test_duplicate_entries_are_refused(tmp_path):
    path = tmp_path / "dup.qdpx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.qde", project_xml())
        archive.writestr(f"sources/{SOURCE_GUID}.txt", "een")
        with pytest.warns(UserWarning):
            archive.writestr(f"sources/{SOURCE_GUID}.txt", "twee")
    refused(path, "appears twice")


def test_entries_differing_only_in_case_are_refused(tmp_path):
    refused(make(tmp_path, good_entries(**{f"Sources/{SOURCE_GUID}.txt": "ander"})), "differ only in case")


def test_missing_source_file(tmp_path):
    refused(make(tmp_path, {"project.qde": project_xml()}), f"no sources/{SOURCE_GUID}.txt")


@pytest.mark.parametrize(
    "start,end,pattern",
    [
        (5, 400, "beyond the text"),
        (9, 3, "after endPosition"),
        (-1, 3, "negative"),
        ("x", 3, "not a whole number"),
    ],
)
def test_bad_positions(tmp_path, start, end, pattern):
    selection = f'<PlainTextSelection guid="55555555-5555-5555-5555-555555555555" startPosition="{start}" endPosition="{end}"/>'
    refused(make(tmp_path, good_entries(**{"project.qde": project_xml(selection)})), pattern)


def test_a_coding_of_an_unknown_code(tmp_path):
    selection = (
        '<PlainTextSelection guid="55555555-5555-5555-5555-555555555555" startPosition="0" endPosition="3">'
        '<Coding guid="66666666-6666-6666-6666-666666666666"><CodeRef targetGUID="77777777-7777-7777-7777-777777777777"/>'
        "</Coding></PlainTextSelection>"
    )
    refused(make(tmp_path, good_entries(**{"project.qde": project_xml(selection)})), "not in the CodeBook")


def test_unknown_namespace_versions(tmp_path):
    xml = project_xml(namespace='xmlns="urn:QDA-XML:project:2.0"')
    refused(make(tmp_path, good_entries(**{"project.qde": xml})), "urn:QDA-XML:project:2.0")
    refused(make(tmp_path, good_entries(**{"project.qde": project_xml(namespace="")})), "no namespace")
    codebook = '<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes/></CodeBook>'
    refused(make(tmp_path, good_entries(**{"project.qde": codebook})), "codebook")


def test_not_a_zip_and_no_project(tmp_path):
    text = tmp_path / "notes.qdpx"
    text.write_text("just text")
    refused(text, "not a .qdpx: a .qdpx is a ZIP")
    refused(make(tmp_path, {"sources/a.txt": "x"}), r"no project XML \(\*\.qde\)")
    refused(tmp_path / "absent.qdpx", "not found")


def test_a_qde_that_is_not_xml(tmp_path):
    refused(make(tmp_path, good_entries(**{"project.qde": b"\x89PNG\r\n\x1a\n not xml"})), "not well-formed XML")
    refused(make(tmp_path, good_entries(**{"project.qde": "<Project "})), "not well-formed XML")
    refused(make(tmp_path, good_entries(**{"project.qde": ""})), "not well-formed XML|empty")


def test_deeply_nested_xml(tmp_path):
    depth = 5000
    codes = '<Code guid="11111111-1111-1111-1111-111111111111" name="c" isCodable="true">' * depth + "</Code>" * depth
    xml = project_xml(body="").replace("<Sources>", f"<CodeBook><Codes>{codes}</Codes></CodeBook><Sources>")
    refused(make(tmp_path, good_entries(**{"project.qde": xml})), "deep")
    codes = '<Code guid="11111111-1111-1111-1111-111111111111" name="c" isCodable="true">' * 200 + "</Code>" * 200
    xml = project_xml(body="").replace("<Sources>", f"<CodeBook><Codes>{codes}</Codes></CodeBook><Sources>")
    refused(make(tmp_path, good_entries(**{"project.qde": xml})), f"more than {qdpx_read.MAX_XML_DEPTH} deep")


def test_binary_source_text(tmp_path):
    refused(make(tmp_path, good_entries(**{f"sources/{SOURCE_GUID}.txt": b"\x00\x01\x02binary"})), "binary")


def test_reading_never_writes(tmp_path):
    path = make(tmp_path, good_entries(**{"../evil.txt": "x"}))
    before = sorted(p for p in tmp_path.rglob("*"))
    cwd_before = sorted(os.listdir(Path.cwd()))
    with pytest.raises(InputError):
        read_project(path)
    read_project(make(tmp_path, good_entries(), "ok.qdpx"))
    assert sorted(p for p in tmp_path.rglob("*")) == sorted([*before, tmp_path / "ok.qdpx"])
    assert sorted(os.listdir(Path.cwd())) == cwd_before
