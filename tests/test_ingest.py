"""Ingest: encodings, Word documents, captions and every kind of bad input, all with inline data."""

from __future__ import annotations

import codecs
import unicodedata
import zipfile
from pathlib import Path

import pytest

from pipeline.core.documents import INTERVIEWER, OTHER, RESPONDENT, Document
from pipeline.core.errors import InputError
from pipeline.ingest.reader import read_document
from pipeline.ingest.subtitles import parse_cues
from pipeline.ingest.textnorm import decode_bytes, normalise_text

TRANSCRIPT = "I: Hoe werken jullie samen met de scholen?\nR: Goed, we hebben één overleg per maand.\n"


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def turn_texts(document: Document) -> list[tuple[str | None, str, str]]:
    return [(t.speaker, t.role, document.text[t.start : t.end]) for t in document.turns]


def assert_offsets(document: Document) -> None:
    document.check_offsets()
    for turn in document.turns:
        span = document.text[turn.start : turn.end]
        assert span == span.strip() and span


# --- text normalisation and encodings -------------------------------------------------------------------------


def test_normalise_text_strips_bom_unifies_line_ends_and_composes() -> None:
    assert normalise_text("\ufeffa\r\nb\rc\n") == "a\nb\nc\n"
    assert normalise_text("cafe\u0301") == "café"
    assert unicodedata.is_normalized("NFC", normalise_text("e\u0301e\u0308"))


@pytest.mark.parametrize(
    ("data", "encoding", "text"),
    [
        ("R: één café".encode(), "utf-8", "R: één café"),
        (codecs.BOM_UTF8 + "R: één café".encode(), "utf-8-sig", "R: één café"),
        ("R: één café".encode("utf-16"), "utf-16", "R: één café"),
        ("R: één café – “citaat” €5".encode("cp1252"), "cp1252", "R: één café – “citaat” €5"),
        ("R: garçon à la carte".encode("latin-1"), "cp1252", "R: garçon à la carte"),
    ],
)
def test_decode_bytes_detects_encoding(data: bytes, encoding: str, text: str) -> None:
    decoded = decode_bytes(data, "x.txt")
    assert decoded.encoding == encoding
    assert normalise_text(decoded.text) == text


def test_decode_bytes_forced_encoding() -> None:
    assert decode_bytes("één".encode("latin-1"), "x.txt", "latin-1").text == "één"
    with pytest.raises(InputError, match="cannot be read as ascii"):
        decode_bytes("één".encode(), "x.txt", "ascii")
    with pytest.raises(InputError, match="check --encoding"):
        decode_bytes(b"abc", "x.txt", "no-such-codec")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"R: hallo\x00\x00\x01binary", "binary"),
        (bytes(range(1, 32)) * 20 + b"R: tekst", "binary"),
        (bytes([0x81, 0x8D, 0x41, 0x42]) * 10, "unreadable encoding"),
    ],
)
def test_decode_bytes_refuses_bad_input(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        decode_bytes(data, "bad.txt")
    assert str(info.value).startswith("bad.txt: ")


def test_utf8_bom_and_crlf_give_the_same_document_as_plain_utf8(tmp_path: Path) -> None:
    plain = read_document(write(tmp_path, "plain.txt", TRANSCRIPT))
    bom = read_document(write(tmp_path, "bom.txt", codecs.BOM_UTF8 + TRANSCRIPT.replace("\n", "\r\n").encode()))
    assert bom.text == plain.text
    assert turn_texts(bom) == turn_texts(plain)
    assert plain.metadata["encoding"] == "utf-8"
    assert bom.metadata["encoding"] == "utf-8-sig"
    assert "\ufeff" not in bom.text and "\r" not in bom.text


def test_cp1252_is_converted_and_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "oud.txt", "I: Vraag?\nR: Het café – één €.\n".encode("cp1252"))
    document = read_document(path, report_encoding=True)
    assert document.metadata["encoding"] == "cp1252"
    assert turn_texts(document)[1] == ("R", RESPONDENT, "Het café – één €.")
    assert capsys.readouterr().err.strip() == f"{path}: read as cp1252"
    read_document(write(tmp_path, "nieuw.txt", TRANSCRIPT), report_encoding=True)
    assert capsys.readouterr().err == ""  # UTF-8 is not worth a note


def test_nfd_text_is_composed_so_offsets_count_code_points(tmp_path: Path) -> None:
    path = write(tmp_path, "nfd.txt", unicodedata.normalize("NFD", TRANSCRIPT))
    document = read_document(path)
    assert document.text == TRANSCRIPT
    assert turn_texts(document)[1][2] == "Goed, we hebben één overleg per maand."


def test_text_document_turns_roles_and_ids(tmp_path: Path) -> None:
    document = read_document(write(tmp_path, "gent_03.txt", TRANSCRIPT))
    assert document.id == "gent_03"
    assert document.source == str(tmp_path / "gent_03.txt")
    assert turn_texts(document) == [
        ("I", INTERVIEWER, "Hoe werken jullie samen met de scholen?"),
        ("R", RESPONDENT, "Goed, we hebben één overleg per maand."),
    ]
    assert document.metadata["interviewer_source"] == "pattern"
    assert read_document(tmp_path / "gent_03.txt", document_id="doc7").id == "doc7"
    assert_offsets(document)


def test_metadata_interviewers_override_patterns(tmp_path: Path) -> None:
    path = write(tmp_path, "namen.txt", "An Claes: Wat doet u?\nBert Pauwels: Ik leid de dienst.\n"
                 "An Claes: En verder\nBert Pauwels: Niets.\n")
    document = read_document(path, metadata={"interviewers": ["Bert Pauwels"], "municipality": "Gent"})
    roles = {t.speaker: t.role for t in document.turns}
    assert roles == {"An Claes": RESPONDENT, "Bert Pauwels": INTERVIEWER}
    assert document.metadata["interviewer_source"] == "metadata"
    assert document.metadata["municipality"] == "Gent"


def test_text_before_the_first_marker_is_other(tmp_path: Path) -> None:
    path = write(tmp_path, "kop.txt", "Interview 12, Gent\nDatum: 3 mei\n\nI: Vraag?\nR: Antwoord.\n")
    document = read_document(path)
    assert turn_texts(document)[0] == (None, OTHER, "Interview 12, Gent\nDatum: 3 mei")
    assert [t.role for t in document.turns[1:]] == [INTERVIEWER, RESPONDENT]


# --- Word documents -------------------------------------------------------------------------------------------


def make_docx(path: Path, paragraphs: list[str], table: list[list[str]] | None = None) -> Path:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, cell in enumerate(row):
                grid.cell(r, c).text = cell
    document.save(str(path))
    return path


def test_docx_paragraphs_in_order(tmp_path: Path) -> None:
    paragraphs = [
        "Interview gemeente Aalst",
        "I: Hoe verloopt het overleg met het MAT?",
        "R: Elke week. We bespreken o.a. het meerjarenplan.",
        "En ook de begroting.",
        "I: Dank u. #00:12:01-3#",
    ]
    path = make_docx(tmp_path / "aalst.docx", paragraphs, table=[["niet", "transcript"]])
    document = read_document(path)
    assert document.text == "\n".join(paragraphs)
    assert document.metadata["encoding"] == "docx"
    assert turn_texts(document) == [
        (None, OTHER, "Interview gemeente Aalst"),
        ("I", INTERVIEWER, "Hoe verloopt het overleg met het MAT?"),
        ("R", RESPONDENT, "Elke week. We bespreken o.a. het meerjarenplan.\nEn ook de begroting."),
        ("I", INTERVIEWER, "Dank u."),
    ]
    assert document.turns[-1].timestamp == "#00:12:01-3#"
    assert "niet" not in document.text
    assert_offsets(document)


def test_docx_without_markers_is_one_speaker_split_at_blank_paragraphs(tmp_path: Path) -> None:
    path = make_docx(tmp_path / "vrij.docx", ["Eerste deel.", "nog een zin.", "", "Tweede deel."])
    document = read_document(path)
    assert turn_texts(document) == [(None, RESPONDENT, "Eerste deel.\nnog een zin."), (None, RESPONDENT, "Tweede deel.")]


def test_docx_with_nfd_text_is_normalised(tmp_path: Path) -> None:
    path = make_docx(tmp_path / "nfd.docx", ["R: " + unicodedata.normalize("NFD", "één café")])
    assert read_document(path).text == "R: één café"


def test_zip_that_is_not_a_word_document(tmp_path: Path) -> None:
    path = tmp_path / "fake.docx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("content.xml", "<office/>")
    with pytest.raises(InputError, match="not a Word document") as info:
        read_document(path)
    assert info.value.path == str(path)


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "empty"), (b"I: dit is platte tekst", "not a ZIP"), (b"PK\x03\x04kapot", "not a ZIP|broken")],
)
def test_docx_that_is_not_a_zip(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_document(write(tmp_path, "kapot.docx", data))


def test_docx_with_damaged_document_xml(tmp_path: Path) -> None:
    good = make_docx(tmp_path / "good.docx", ["R: tekst"])
    damaged = tmp_path / "damaged.docx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(damaged, "w") as dst:
        for item in src.infolist():
            data = b"<w:document><w:body" if item.filename == "word/document.xml" else src.read(item.filename)
            dst.writestr(item, data)
    with pytest.raises(InputError, match="damaged|cannot open"):
        read_document(damaged)


def test_empty_docx(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no text"):
        read_document(make_docx(tmp_path / "leeg.docx", []))


# --- captions ---------------------------------------------------------------------------------------------------

TEAMS_VTT = """WEBVTT

NOTE exported from Microsoft Teams

a1b2c3d4-0001
00:00:01.000 --> 00:00:04.000
<v Jan Janssens>Goedemorgen. Hoe verloopt de samenwerking</v>

a1b2c3d4-0002
00:00:04.500 --> 00:00:07.000
<v Jan Janssens>met de scholen?</v>

a1b2c3d4-0003
00:00:07.000 --> 00:00:12.250
<v Els Peeters>Goed. We overleggen
elke <b>maand</b>.</v>

a1b2c3d4-0004
00:00:12.250 --> 00:00:15.000
<v Els Peeters>Met de directies.</v>
"""

ZOOM_VTT = """WEBVTT

1
00:00:01.000 --> 00:00:04.000
Interviewer: Wat is de rol van het MAT?

2
00:00:04.000 --> 00:00:09.000
Marie Claes: Het MAT stuurt bij.

3
00:00:09.000 --> 00:00:11.000
Marie Claes: Elke week: op maandag.
"""

WHISPER_SRT = """1
00:00:00,000 --> 00:00:03,500
Het punt is dit: we hebben te weinig mensen.

2
00:00:03,500 --> 00:00:06,000
En dat merken de burgers.
"""


def test_teams_vtt_voices_merged_and_timestamps_kept_out_of_text(tmp_path: Path) -> None:
    document = read_document(write(tmp_path, "teams.vtt", TEAMS_VTT))
    assert document.text == (
        "Jan Janssens: Goedemorgen. Hoe verloopt de samenwerking met de scholen?\n\n"
        "Els Peeters: Goed. We overleggen elke maand. Met de directies."
    )
    assert turn_texts(document) == [
        ("Jan Janssens", INTERVIEWER, "Goedemorgen. Hoe verloopt de samenwerking met de scholen?"),
        ("Els Peeters", RESPONDENT, "Goed. We overleggen elke maand. Met de directies."),
    ]
    assert [t.timestamp for t in document.turns] == [
        "00:00:01.000 --> 00:00:07.000",
        "00:00:07.000 --> 00:00:15.000",
    ]
    assert "-->" not in document.text and "<v" not in document.text
    assert_offsets(document)


def test_zoom_vtt_speaker_prefix(tmp_path: Path) -> None:
    document = read_document(write(tmp_path, "zoom.vtt", ZOOM_VTT.replace("\n", "\r\n")))
    assert turn_texts(document) == [
        ("Interviewer", INTERVIEWER, "Wat is de rol van het MAT?"),
        ("Marie Claes", RESPONDENT, "Het MAT stuurt bij. Elke week: op maandag."),
    ]
    assert_offsets(document)


def test_zoom_guest_who_speaks_once_keeps_the_name() -> None:
    cues = parse_cues(ZOOM_VTT.replace("Marie Claes: Elke", "Interviewer: Elke") + "\n", Path("z.vtt"))
    assert [c.speaker for c in cues] == ["Interviewer", "Marie Claes", "Interviewer"]


def test_whisper_srt_has_no_speakers_and_a_colon_in_speech_is_not_one(tmp_path: Path) -> None:
    document = read_document(write(tmp_path, "whisper.srt", WHISPER_SRT))
    assert document.text == "Het punt is dit: we hebben te weinig mensen. En dat merken de burgers."
    assert turn_texts(document) == [(None, RESPONDENT, document.text)]
    assert document.turns[0].timestamp == "00:00:00,000 --> 00:00:06,000"
    assert document.metadata["interviewer_source"] == "none"


def test_srt_with_hours_and_speakers(tmp_path: Path) -> None:
    srt = "1\n01:02:03,400 --> 01:02:05,000\nI: Klaar?\n\n2\n01:02:05,000 --> 01:02:07,000\nR: Ja.\n"
    document = read_document(write(tmp_path, "uur.srt", srt))
    assert turn_texts(document) == [("I", INTERVIEWER, "Klaar?"), ("R", RESPONDENT, "Ja.")]
    assert document.turns[0].timestamp == "01:02:03,400 --> 01:02:05,000"


def test_captions_without_cues(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no caption cues"):
        read_document(write(tmp_path, "leeg.vtt", "WEBVTT\n\nNOTE niets\n"))


# --- bad input --------------------------------------------------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="empty"):
        read_document(write(tmp_path, "leeg.txt", b""))


def test_whitespace_only_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no text"):
        read_document(write(tmp_path, "wit.txt", " \n\r\n\t\n"))


def test_binary_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="binary"):
        read_document(write(tmp_path, "foto.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 8))


def test_unreadable_encoding(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unreadable encoding.*0x81"):
        read_document(write(tmp_path, "raar.txt", b"R: caf\x81 \x8d\x90 en zo\n"))


def test_directory_where_a_file_was_expected(tmp_path: Path) -> None:
    (tmp_path / "map.txt").mkdir()
    with pytest.raises(InputError, match="is a directory"):
        read_document(tmp_path / "map.txt")
    with pytest.raises(InputError, match="is a directory"):
        read_document(tmp_path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_document(tmp_path / "weg.txt")


def test_unsupported_suffix(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unsupported file type '.pdf'"):
        read_document(write(tmp_path, "x.pdf", b"%PDF-1.4"))
    with pytest.raises(InputError, match=r"\(none\)"):
        read_document(write(tmp_path, "README", b"R: tekst"))


@pytest.mark.parametrize("text", ["I:\nR:\n", "Interview 3\n\nI:\nR:  #00:01:02-3#\n", "I: [00:00:01]\nR: (00:01)\n"])
def test_markers_without_spoken_text(tmp_path: Path, text: str) -> None:
    with pytest.raises(InputError, match="no spoken text"):
        read_document(write(tmp_path, "leeg.txt", text))


def test_teams_cue_with_two_voices_gives_two_turns(tmp_path):
    vtt = tmp_path / "teams.vtt"
    vtt.write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n<v Sofie Peeters>Hoe gaat het?</v><v Jan Janssens>Goed, dank u.</v>\n\n"
        "00:00:04.000 --> 00:00:06.000\n<v Jan Janssens>We hebben een visie.\n", encoding="utf-8")
    document = read_document(vtt)
    assert [(t.speaker, document.text[t.start : t.end]) for t in document.turns] == [
        ("Sofie Peeters", "Hoe gaat het?"),
        ("Jan Janssens", "Goed, dank u. We hebben een visie."),
    ]


def test_whisper_json_segments(tmp_path):
    import json

    path = tmp_path / "whisper.json"
    path.write_text(json.dumps({"text": "...", "segments": [
        {"start": 0.0, "end": 2.5, "text": " Goeiemorgen."},
        {"start": 2.5, "end": 65.25, "text": " We hebben geen integratiedienst."},
    ]}), encoding="utf-8")
    document = read_document(path)
    assert document.text == "Goeiemorgen. We hebben geen integratiedienst."
    assert [t.timestamp for t in document.turns] == ["00:00:00.000 --> 00:01:05.250"]
    diarised = tmp_path / "whisperx.json"
    diarised.write_text(json.dumps({"segments": [
        {"start": 0, "end": 1, "text": "Hoe zit dat?", "speaker": "SPEAKER_00"},
        {"start": 1, "end": 2, "text": "Het budget is beperkt.", "speaker": "SPEAKER_01"},
    ]}), encoding="utf-8")
    turns = read_document(diarised).turns
    assert [t.speaker for t in turns] == ["SPEAKER_00", "SPEAKER_01"]


@pytest.mark.parametrize("content", ['{"segments": 3}', "[1, 2]", "{not json", '{"segments": [{"start": 1}]}'])
def test_bad_whisper_json_is_input_error(tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match="bad.json"):
        read_document(path)
