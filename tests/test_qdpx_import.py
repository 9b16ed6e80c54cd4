"""Importing REFI-QDA projects: the real NVivo/ATLAS.ti samples, and hand-made projects in each dialect."""

from __future__ import annotations

import unicodedata
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from pipeline.benchmarks.qdpx import FixtureSelection, write_dialect_project
from pipeline.core.codebook import load_codebook
from pipeline.core.errors import InputError
from pipeline.corpus.loading import load_collection
from pipeline.qdpx.archive import QdpxArchive, parse_project_xml
from pipeline.qdpx.dialect import DIALECTS, SourceText, _on_boundary
from pipeline.qdpx.importer import read_project, read_qdpx_collection, slugify

REPO = Path(__file__).resolve().parents[1]
SAMPLES = next(
    (p for p in (REPO / "shared/refi-qda/samples", REPO.parent / "shared/refi-qda/samples") if p.is_dir()), None
)
needs_samples = pytest.mark.skipif(SAMPLES is None, reason="shared/refi-qda/samples not present in this checkout")


def dialect_position(lf_text: str, index: int, *, utf16: bool, crlf_two: bool) -> int:
    """An independent oracle: the position a writer of this dialect puts at `index` of the LF text."""
    prefix = lf_text[:index]
    if crlf_two:
        prefix = prefix.replace("\n", "\r\n")
    return len(prefix.encode("utf-16-le")) // 2 if utf16 else len(prefix)


@pytest.fixture(scope="module")
def codebook():
    return load_codebook()


@pytest.fixture(scope="module")
def mac():
    return read_project(SAMPLES / "nvivo-mac-12.7.qdpx")


@pytest.fixture(scope="module")
def win():
    return read_project(SAMPLES / "nvivo-win-12.6.qdpx")


# --- the real NVivo exports (shared/refi-qda/samples/README.md) ------------------------------------------


@needs_samples
def test_nvivo_mac_sample(mac):
    assert len(mac.selections) == 297
    assert len(mac.codes) == 152
    assert sum(not c.codable for c in mac.codes.values()) == 1
    assert max(len(mac.code_path(g)) for g in mac.codes) == 4
    assert mac.dialect == "utf16"
    assert mac.dialect_evidence["decided_by"] == "word boundaries"
    assert len(mac.sources) == 2
    assert set(mac.users.values()) == {"floriansipos", "Gergo"}
    clean = sum(_on_boundary(mac.sources[s.source].text, s.start) and _on_boundary(mac.sources[s.source].text, s.end) for s in mac.selections)
    assert clean >= 294  # a few selections really start mid-word; with code points over half would


@needs_samples
def test_nvivo_windows_samples(win):
    assert len(win.selections) == 303
    assert win.dialect == "utf16"  # UTF-16 units, BOM not counted, CRLF counted 2
    small = read_project(SAMPLES / "nvivo-win-12.6-small.qdpx")
    assert (len(small.selections), len(small.codes), small.dialect) == (97, 60, "utf16")
    for project in (win, small):
        assert all("\r" not in s.text and not s.text.startswith("\ufeff") for s in project.sources.values())


@needs_samples
def test_mac_and_windows_exports_select_the_same_text(mac, win):
    by_name = {s.name: s for s in win.sources.values()}
    for source in mac.sources.values():  # the Mac text has one more trailing newline
        assert source.text.rstrip("\n") == by_name[source.name].text.rstrip("\n")

    def codings(project):
        return {
            (project.sources[s.source].name, tuple(project.code_path(c.code)), s.start, s.end)
            for s in project.selections
            for c in s.codings
        }

    mac_codings, win_codings = codings(mac), codings(win)
    assert mac_codings <= win_codings
    shared_texts = {(name, path, mac.sources[next(g for g in mac.sources if mac.sources[g].name == name)].text[a:b]) for name, path, a, b in mac_codings}
    assert len(shared_texts) == 295  # the README's 295 shared codings, all selecting identical text
    raw_equal = sum(s.raw_start == s.start for s in win.selections)
    assert raw_equal < len(win.selections) / 2  # the conversion mattered


@needs_samples
def test_nvivo_sample_as_collection(codebook):
    collection = read_qdpx_collection(SAMPLES / "nvivo-mac-12.7.qdpx", codebook)
    assert collection.name == "Untitled" and collection.use == "train" and not collection.synthetic
    assert sorted(collection.documents) == ["videos-10-selected", "videos-selection"]
    assert collection.codings == []  # Hungarian codes: none maps to the six codes ...
    assert sum(collection.unmapped_codes.values()) == 297  # ... and every one is counted, not dropped
    document = collection.documents["videos-selection"]
    assert document.metadata["qdpx_dialect"] == "utf16"
    assert document.metadata["qdpx_guid"] == "0a47de65-c207-4521-8a66-9a6d9ffa5f8d"
    assert load_collection(SAMPLES / "nvivo-mac-12.7.qdpx", codebook).unmapped_codes == collection.unmapped_codes


# --- ATLAS.ti: Project.qde, Sources/, upper-case GUIDs, file names apart from source GUIDs ---------------


@needs_samples
def test_atlasti_sample_xml_shape():
    path = SAMPLES / "atlasti-8.4-no-text.qdpx"
    with QdpxArchive(path) as archive:
        entry = archive.project_entry()
        root = parse_project_xml(archive.read(entry), path, entry)
    assert entry == "Project.qde"
    assert root.get("origin").startswith("ATLAS.ti")
    with pytest.raises(InputError, match=r"no sources/01106019-2518-43DD-BBD1-8F0252BACB30\.txt"):
        read_project(path)  # its Sources/ folder is empty


@needs_samples
def test_atlasti_sample_with_texts_added(tmp_path):
    """The ATLAS.ti project read fully once its (empty) Sources/ gets text files of a fitting length."""
    original = SAMPLES / "atlasti-8.4-no-text.qdpx"
    data = zipfile.ZipFile(original).read("Project.qde")
    root = etree.fromstring(data)
    out = tmp_path / "atlas.qdpx"
    longest: dict[str, int] = {}
    for element in root.iter():
        uri = element.get("plainTextPath")
        if uri:  # notes and sources may share a file
            ends = [int(s.get("endPosition")) for s in element if s.tag.endswith("PlainTextSelection")]
            longest[uri] = max([longest.get(uri, 0), *ends])
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("Project.qde", data)
        for uri, end in longest.items():
            archive.writestr("Sources/" + uri.split("://")[1], ("lorem ipsum " * (end // 12 + 2)).encode())
    project = read_project(out)
    assert project.dialect == "codepoint"  # no CRLF, no emoji: every reading agrees; the spec's wins
    assert len(project.users) == 3 and len(project.codes) == 14
    assert len(project.sources) == 8  # 6 text sources + 2 PDF plain-text representations
    assert len(project.selections) == 8
    assert sorted(len(s.codings) for s in project.selections) == [0, 1, 1, 1, 1, 1, 1, 3]  # 3+ codings kept
    assert project.skipped["PictureSources (not text)"] == 1 and project.skipped["VideoSources (not text)"] == 2


# --- hand-made projects in the other dialects -------------------------------------------------------------

INTERVIEW = (
    "I: Hoe werkt de gemeente samen met partners? 😀\n"
    "R: We overleggen elke maand met de scholen en de vrijwilligers 👍🏽. Het managementteam volgt dat op.\n"
    "I: En het meerjarenplan?\n"
    "R: De visie staat in het meerjarenplan, café-overleg inbegrepen. 𝔘 Ideeën komen van de raad.\n"
)
WORDS = ["scholen", "vrijwilligers", "managementteam", "meerjarenplan", "visie", "raad", "Ideeën", "gemeente"]


def _word_selections(text: str) -> list[FixtureSelection]:
    selections = []
    for k, word in enumerate(WORDS):
        start = text.rindex(word) if k % 2 else text.index(word)
        selections.append(FixtureSelection(0, start, start + len(word), ("Intern" if k % 2 else "Extern",), "An"))
    return selections


def test_fixture_writer_matches_independent_oracle(tmp_path):
    selections = _word_selections(INTERVIEW)
    for name, dialect in DIALECTS.items():
        path = write_dialect_project(tmp_path / f"{name}.qdpx", texts=[("int", INTERVIEW)], selections=selections, dialect=name, crlf=True)
        root = etree.fromstring(zipfile.ZipFile(path).read("project.qde"))
        written = [(int(e.get("startPosition")), int(e.get("endPosition"))) for e in root.iter("{*}PlainTextSelection")]
        expected = [
            (dialect_position(INTERVIEW, s.start, utf16=dialect.utf16, crlf_two=dialect.crlf_counts_two),
             dialect_position(INTERVIEW, s.end, utf16=dialect.utf16, crlf_two=dialect.crlf_counts_two))
            for s in selections
        ]
        assert written == expected


CASES = [
    # (dialect, crlf, bom, origin): who writes this
    ("codepoint-lf", False, True, "QualCoder 3.5"),  # QualCoder: code points on LF text, BOM
    ("codepoint-lf", True, True, "QualCoder 3.5"),  # QualCoder for MAXQDA: CRLF text, offsets still LF-based
    ("utf16", True, True, "NVivo for Windows 14"),  # NVivo Windows
    ("utf16", False, False, "NVivo for Mac 12.7.0"),  # NVivo Mac
    ("codepoint", True, False, "MAXQDA 2022"),  # the spec read literally on CRLF text
    ("codepoint-lf", True, True, "NVivo 14"),  # origin says NVivo, but a later tool rewrote it: data wins
    ("utf16", True, True, "QualCoder 3.5"),  # and the other way round
]


@pytest.mark.parametrize("dialect,crlf,bom,origin", CASES)
def test_dialects_import_to_the_same_spans(tmp_path, dialect, crlf, bom, origin):
    selections = _word_selections(INTERVIEW)
    path = write_dialect_project(
        tmp_path / "p.qdpx", texts=[("Interview 1.docx", INTERVIEW)], selections=selections,
        dialect=dialect, crlf=crlf, bom=bom, origin=origin,
    )
    project = read_project(path)
    source = next(iter(project.sources.values()))
    assert source.text == INTERVIEW
    assert [source.text[s.start : s.end] for s in project.selections] == WORDS
    chosen, written = DIALECTS[project.dialect], DIALECTS[dialect]
    assert chosen.utf16 == written.utf16
    assert chosen.crlf_counts_two == written.crlf_counts_two or not crlf  # on LF text both read the same


def test_qualcoder_project_by_hand(tmp_path):
    """Written out by hand, as QualCoder exports for MAXQDA: BOM, CRLF text, code-point offsets on LF."""
    text = "I: Wie beslist?\nR: Het college, na advies van het MAT.\nR: De raad keurt het meerjarenplan goed 😀.\n"
    spans = [(text.index(w), text.index(w) + len(w)) for w in ("college", "advies", "MAT", "raad", "meerjarenplan")]
    selections = "".join(
        f'<PlainTextSelection guid="00000000-0000-0000-0000-00000000000{k}" startPosition="{a}" endPosition="{b}" '
        f'creatingUser="11111111-1111-1111-1111-111111111111"><Coding guid="00000000-0000-0000-0001-00000000000{k}" '
        f'creatingUser="11111111-1111-1111-1111-111111111111"><CodeRef targetGUID="22222222-2222-2222-2222-222222222222"/>'
        f"</Coding></PlainTextSelection>"
        for k, (a, b) in enumerate(spans)
    )
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>\n<Project xmlns="urn:QDA-XML:project:1.0" name="qc" origin="QualCoder 3.5">'
        '<Users><User guid="11111111-1111-1111-1111-111111111111" name="Coder B"/></Users>'
        '<CodeBook><Codes><Code guid="33333333-3333-3333-3333-333333333333" name="Capaciteit" isCodable="false">'
        '<Code guid="22222222-2222-2222-2222-222222222222" name="Interne capaciteit" isCodable="true" color="#1f77b4"/>'
        "</Code></Codes></CodeBook><Sources>"
        '<TextSource guid="44444444-4444-4444-4444-444444444444" name="Interview B.txt" plainTextPath="internal://44444444-4444-4444-4444-444444444444.txt">'
        f"{selections}</TextSource></Sources><Description>A synthetic test project</Description></Project>"
    )
    path = tmp_path / "qc.qdpx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.qde", xml)
        archive.writestr("sources/44444444-4444-4444-4444-444444444444.txt", b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    collection = read_qdpx_collection(path, load_codebook())
    assert collection.synthetic and collection.name == "qc"
    document = collection.documents["interview-b"]
    assert document.metadata["qdpx_dialect"] == "codepoint-lf"
    assert [document.text[c.start : c.end] for c in collection.codings] == ["college", "advies", "MAT", "raad", "meerjarenplan"]
    assert {(c.code, c.coder) for c in collection.codings} == {("intern", "Coder B")}
    assert [(t.speaker, t.role) for t in document.turns] == [("I", "interviewer"), ("R", "respondent"), ("R", "respondent")]


def test_code_mapping_nested_folders_ancestors_and_unmapped(tmp_path, codebook):
    text = "R: " + " ".join(f"woord{k}" for k in range(40)) + "\n"
    def word(k):
        start = text.index(f"woord{k} ")
        return start, start + len(f"woord{k}")
    sels = [
        FixtureSelection(0, *word(1), ("Intern",), "An"),  # a codebook label
        FixtureSelection(0, *word(2), ("Beleidscapaciteit",), "Bram"),  # an alias
        FixtureSelection(0, *word(3), ("personeelsbeleid",), "An"),  # a child of "Beheer": counts as beheer
        FixtureSelection(0, *word(4), ("Iets anders",), "An"),  # no mapping: counted
        FixtureSelection(0, *word(5), ("Iets anders", "Extern"), "Bram"),
        FixtureSelection(0, word(6)[0], word(8)[1], ("Intern",), "An"),  # overlapping spans of one code by one
        FixtureSelection(0, word(7)[0], word(9)[1], ("Interne capaciteit",), "An"),  # coder are merged
    ]
    path = write_dialect_project(
        tmp_path / "codes.qdpx", texts=[("Gesprek 7", text)], selections=sels, dialect="codepoint",
        folders={"Capaciteit": ["Intern", "Extern", "Beleidscapaciteit", "Interne capaciteit"], "Beheer": ["personeelsbeleid"]},
    )
    project = read_project(path)
    assert [c.name for c in project.root_codes][:2] == ["Capaciteit", "Beheer"]
    assert not project.codes[project.root_codes[0].guid].codable
    collection = read_qdpx_collection(path, codebook)
    got = {(collection.documents["gesprek-7"].text[c.start : c.end], c.code, c.coder) for c in collection.codings}
    assert got == {
        ("woord1", "intern", "An"),
        ("woord2", "beleid", "Bram"),
        ("woord3", "beheer", "An"),
        ("woord5", "extern", "Bram"),
        ("woord6 woord7 woord8 woord9", "intern", "An"),
    }
    assert collection.unmapped_codes == {"Iets anders": 2}
    assert collection.coders == ["An", "Bram"]


def test_relative_paths_and_plain_text_content(tmp_path):
    xml = (
        '<Project xmlns="urn:QDA-XML:project:1.0" name="rel"><Sources>'
        '<TextSource guid="55555555-5555-5555-5555-555555555555" name="a" plainTextPath="relative://texts/a.txt"/>'
        '<TextSource guid="66666666-6666-6666-6666-666666666666" name="b" plainTextPath="relative:///beside.txt"/>'
        '<TextSource guid="77777777-7777-7777-7777-777777777777" name="c"><PlainTextContent>Inline tekst</PlainTextContent>'
        '<PlainTextSelection guid="88888888-8888-8888-8888-888888888888" startPosition="7" endPosition="12"/></TextSource>'
        "</Sources></Project>"
    )
    path = tmp_path / "rel.qdpx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.qde", xml)
        archive.writestr("sources/texts/a.txt", "in het archief")
    (tmp_path / "beside.txt").write_text("naast het archief", encoding="utf-8")
    project = read_project(path)
    assert [s.text for s in project.sources.values()] == ["in het archief", "naast het archief", "Inline tekst"]
    assert project.sources["77777777-7777-7777-7777-777777777777"].text[7:12] == "tekst"


def test_slugs_are_safe_and_unique(tmp_path):
    assert slugify("Mabêl 2ième.txt") == "mabel-2ieme"
    assert slugify("../../etc/passwd") == "etc-passwd"
    assert slugify("😀") == "source"
    texts = [("Interview 1.docx", "R: een\n"), ("Interview 1.txt", "R: twee\n"), ("Interview/1", "R: drie\n")]
    path = write_dialect_project(tmp_path / "s.qdpx", texts=texts, selections=[], dialect="codepoint")
    collection = read_qdpx_collection(path, load_codebook())
    assert list(collection.documents) == ["interview-1", "interview-1-2", "interview-1-3"]


# --- position conversion, property-based -------------------------------------------------------------------

TEXT_CHARS = st.sampled_from(list("ab ,.\nxyzéüïçñ") + ["😀", "𝔘", "👍", "日", "e\u0301", "\u0301", "\r\n", "\r", "\ufeff"])


@settings(max_examples=150, deadline=None)
@given(pieces=st.lists(TEXT_CHARS, max_size=60), data=st.data())
def test_every_dialect_position_maps_back(pieces, data):
    """For any text, a writer's position in any dialect maps to the same place in the normalised text."""
    raw = "".join(pieces)
    lf = raw.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    nfc = unicodedata.normalize("NFC", lf)
    stored = SourceText(raw)
    assert stored.text == nfc
    # positions that split no composed character: there, LF index i is NFC index len(NFC(lf[:i]))
    clean = [i for i in range(len(lf) + 1) if unicodedata.normalize("NFC", lf[:i]) + unicodedata.normalize("NFC", lf[i:]) == nfc]
    index = data.draw(st.sampled_from(clean))
    for dialect in DIALECTS.values():
        written = _writer_prefix(raw.lstrip("\ufeff"), index, dialect.crlf_counts_two)
        position = len(written.encode("utf-16-le")) // 2 if dialect.utf16 else len(written)
        got, aligned = stored.to_normalised(position, dialect, round_up=False)
        assert aligned and got == len(unicodedata.normalize("NFC", lf[:index]))


def _writer_prefix(raw: str, lf_length: int, crlf_two: bool) -> str:
    """The prefix of the stored text (CRLF kept when it counts 2) that covers `lf_length` LF characters."""
    out, count, k = [], 0, 0
    while count < lf_length:
        if raw.startswith("\r\n", k):
            out.append("\r\n" if crlf_two else "\n")
            k += 2
        else:
            out.append(raw[k])
            k += 1
        count += 1
    return "".join(out)


def test_positions_inside_a_character_round_outwards():
    stored = SourceText("a😀b\r\nc")
    utf16 = DIALECTS["utf16"]
    assert stored.to_normalised(2, utf16, round_up=False) == (1, False)  # between the surrogates
    assert stored.to_normalised(2, utf16, round_up=True) == (2, False)
    assert stored.to_normalised(5, utf16, round_up=False) == (3, False)  # between CR and LF
    assert stored.to_normalised(7, utf16, round_up=False) == (5, True)
    assert stored.length(utf16) == 7 and stored.length(DIALECTS["codepoint-lf"]) == 5
    decomposed = SourceText("cafe\u0301 x")  # stored decomposed; normalised to "café x"
    spec = DIALECTS["codepoint"]
    assert decomposed.text == "café x"
    assert decomposed.to_normalised(4, spec, round_up=False) == (3, False)  # between e and its accent
    assert decomposed.to_normalised(4, spec, round_up=True) == (4, False)
    assert decomposed.to_normalised(6, spec, round_up=False) == (5, True)


@pytest.mark.parametrize("encoding", ["utf-16", "cp1252", "utf-8-sig"])
def test_source_files_in_other_encodings(tmp_path, encoding):
    text = "R: De schepen van financiën zegt: ‘één visie’.\n"
    start = text.index("visie")
    xml = (
        '<Project xmlns="urn:QDA-XML:project:1.0" name="enc"><Sources>'
        '<TextSource guid="55555555-5555-5555-5555-555555555555" name="a" plainTextPath="internal://a.txt">'
        f'<PlainTextSelection guid="66666666-6666-6666-6666-666666666666" startPosition="{start}" endPosition="{start + 5}"/>'
        "</TextSource></Sources></Project>"
    )
    path = tmp_path / "enc.qdpx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.qde", xml)
        archive.writestr("sources/a.txt", text.encode(encoding))
    project = read_project(path)
    source = project.sources["55555555-5555-5555-5555-555555555555"]
    assert source.text == text and source.text[project.selections[0].start : project.selections[0].end] == "visie"


def test_users_sharing_a_name_stay_apart(tmp_path):
    text = "R: een twee drie\n"
    sels = [FixtureSelection(0, 3, 6, ("Intern",), "Jan"), FixtureSelection(0, 7, 11, ("Intern",), "Piet")]
    path = write_dialect_project(tmp_path / "u.qdpx", texts=[("t", text)], selections=sels, dialect="codepoint")
    data = zipfile.ZipFile(path).read("project.qde").decode().replace('name="Piet"', 'name="Jan"')
    with zipfile.ZipFile(path) as original, zipfile.ZipFile(tmp_path / "u2.qdpx", "w") as copy:
        for name in original.namelist():
            copy.writestr(name, data if name == "project.qde" else original.read(name))
    collection = read_qdpx_collection(tmp_path / "u2.qdpx", load_codebook())
    assert len(collection.coders) == 2 and all(c.startswith("Jan (") for c in collection.coders)
