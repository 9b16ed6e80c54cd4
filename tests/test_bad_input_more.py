"""A wider battery of bad input: a clean result, or one line, exit 2, nothing written (issue 14, items 10-14, 17)."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.core.documents import Document, Turn
from pipeline.ingest.segmentation import segment_document, text_pieces


def _segment(tmp_path: Path, *paths: Path, extra: tuple[str, ...] = ()):
    output = tmp_path / "out" / "f.jsonl"
    result = CliRunner().invoke(app, ["segment", *map(str, paths), "-o", str(output), *extra])
    records = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()] if output.exists() else []
    return result, records, output


def _refused(result, output: Path, *words: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for word in words:
        assert word in result.output
    assert not output.exists()


# --- 10: text longer than spaCy's max_length -----------------------------------------------------------------


def test_text_pieces_cover_the_text_at_line_breaks_or_spaces():
    text = ("woord " * 30 + "\n") * 200
    pieces = text_pieces(text, limit=1000)
    assert pieces[0][0] == 0 and pieces[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))
    assert all(end - start <= 1000 for start, end in pieces)
    assert all(text[end - 1] == "\n" for _, end in pieces[:-1])
    assert text_pieces("x" * 2500, limit=1000) == [(0, 1000), (1000, 2000), (2000, 2500)]


@pytest.mark.slow
def test_a_turn_over_spacys_max_length_is_segmented():
    sentence = "Het budget voor de integratiedienst is dit jaar beperkt gebleven. "
    turn = sentence * (1_000_100 // len(sentence) + 1)
    text = f"R: {turn}\nI: Dank u.\n"
    document = Document("long", text, "long.txt", [Turn("R", "respondent", 3, 3 + len(turn.rstrip())),
                                                   Turn("I", "interviewer", len(text) - 9, len(text) - 1)])
    assert len(turn) > 1_000_000
    fragments = segment_document(document, max_fragment_tokens=120)
    assert all(f.text == text[f.start : f.end] for f in fragments)
    assert all(len(f.text) < 2_000 for f in fragments) and fragments[-1].text == "Dank u."
    covered = sum(len(f.text) for f in fragments[:-1])
    assert covered >= len(turn.rstrip()) - len(fragments)  # only the spaces between sentence runs are left out


# --- 11: UTF-16 without a BOM -------------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_read(tmp_path: Path, codec: str):
    path = tmp_path / "t.txt"
    path.write_bytes("I: Hoe gaat het met de dienst?\nR: Goed, het café draait.\n".encode(codec))
    result, records, _ = _segment(tmp_path, path)
    assert result.exit_code == 0, result.output
    assert [r["text"] for r in records] == ["Hoe gaat het met de dienst?", "Goed, het café draait."]
    assert f"read as {codec} (no byte order mark)" in result.output


def test_binary_with_nul_bytes_still_refused(tmp_path: Path):
    path = tmp_path / "t.txt"
    path.write_bytes(bytes(range(256)) * 4)
    result, _, output = _segment(tmp_path, path)
    _refused(result, output, "binary")


# --- 12: invisible format characters before speaker markers ------------------------------------------------------


@pytest.mark.parametrize("mark", ["\u200b", "\u200e", "\u200f", "\u2066", "\u202a", "\u2060", "\ufeff"])
def test_invisible_marks_do_not_hide_speaker_markers(tmp_path: Path, mark: str):
    text = f"I: Hoe organiseert u dat?\n{mark}I: En de scholen?\n{mark}R: Via het overleg met de directies.\n"
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    result, records, _ = _segment(tmp_path, path)
    assert result.exit_code == 0, result.output
    assert [(r["speaker"], r["role"], r["text"]) for r in records] == [
        ("I", "interviewer", "Hoe organiseert u dat?"),
        ("I", "interviewer", "En de scholen?"),
        ("R", "respondent", "Via het overleg met de directies."),
    ]
    source = (tmp_path / "t.txt").read_text(encoding="utf-8").lstrip("\ufeff")
    assert all(source[r["start"] : r["end"]] == r["text"] for r in records)  # offsets stay exact


# --- 13: lone surrogates and file names that are not UTF-8 -------------------------------------------------------


def test_lone_surrogate_in_whisper_json_is_replaced_and_said(tmp_path: Path):
    path = tmp_path / "w.json"
    path.write_text('{"segments": [{"start": 0, "end": 2, "text": "Het budget \\ud800 is op."}]}', encoding="utf-8")
    result, records, _ = _segment(tmp_path, path)
    assert result.exit_code == 0, result.output
    assert records[0]["text"] == "Het budget \ufffd is op."
    assert "1 lone surrogate" in result.output and "U+FFFD" in result.output


def test_lone_surrogate_in_fragments_file_is_replaced_and_said(tmp_path: Path):
    from pipeline.corpus.inputs import read_fragments_jsonl

    path = tmp_path / "f.jsonl"
    path.write_text('{"id": "a", "text": "x \\udc80 y", "note": ["\\ud83d"]}\n'
                    '{"id": "b", "text": "ok \\ud83d\\ude00"}\n', encoding="utf-8")
    records = read_fragments_jsonl(path)
    assert records[0]["text"] == "x \ufffd y" and records[0]["note"] == ["\ufffd"]
    assert records[1]["text"] == "ok \U0001f600"  # a proper pair is one character, kept
    json.dumps(records, ensure_ascii=False).encode("utf-8")  # writable as UTF-8


def test_a_line_separator_inside_a_json_string_does_not_split_the_line(tmp_path: Path):
    """U+2028, U+2029 and U+0085 may stand unescaped in JSON (our writers keep them): both JSONL readers keep
    such a record whole, where str.splitlines used to cut it in two ("not valid JSON")."""
    from pipeline.core.io_utils import read_jsonl
    from pipeline.corpus.stream import check_fragments_file, iter_fragments_file

    path = tmp_path / "f.jsonl"
    texts = ["een\u2028twee", "drie\u2029vier", "vijf\x85zes"]
    path.write_text("".join(json.dumps({"id": str(k), "text": t}, ensure_ascii=False) + "\r\n"
                            for k, t in enumerate(texts)), encoding="utf-8")
    assert [r["text"] for r in read_jsonl(path)] == texts
    assert check_fragments_file(path) == 3 and [r["text"] for r in iter_fragments_file(path)] == texts
    path.write_text("".join(json.dumps({"id": str(k), "text": t}, ensure_ascii=False) + "\r"
                            for k, t in enumerate(texts)), encoding="utf-8")  # old Mac line ends
    assert [r["text"] for r in read_jsonl(path)] == texts


def test_jsonl_reader_refuses_a_directory_and_bad_bytes_as_one_line(tmp_path: Path):
    from pipeline.core.errors import InputError
    from pipeline.core.io_utils import read_jsonl

    with pytest.raises(InputError, match="is a directory; expected a JSON-lines file"):
        read_jsonl(tmp_path)
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'{"id": "a", "text": "ok"}\n{"id": "b", "text": "\xff"}\n')
    with pytest.raises(InputError, match="not UTF-8 .* at line 2, byte 22"):
        read_jsonl(path)


def test_file_name_that_is_not_utf8(tmp_path: Path):
    raw_dir = os.fsencode(tmp_path)
    name = raw_dir + b"/interview-\xe9t\xe9.txt"  # latin-1 bytes in a file name
    with open(name, "wb") as handle:
        handle.write(b"I: Hoe gaat het?\nR: Goed.\n")
    path = Path(os.fsdecode(name))
    result, records, _ = _segment(tmp_path, path)
    assert result.exit_code == 0, result.output
    assert records[0]["document"] == "interview-\ufffdt\ufffd"
    assert "not valid UTF-8" in result.output


# --- 14: captions and Word documents that lose text ---------------------------------------------------------------


def test_vtt_cue_with_a_malformed_time_keeps_its_text(tmp_path: Path):
    path = tmp_path / "t.vtt"
    path.write_text("WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n<v Jan>Hoe begon het?</v>\n\n"
                    "00:00:03.000 --> 00:0x:05.000\n<v Els>Met een visie.</v>\n\n"
                    "00:00:06.000 --> 00:00:08.000\n<v Jan>Dank u.</v>\n", encoding="utf-8")
    result, records, _ = _segment(tmp_path, path)
    assert result.exit_code == 0, result.output
    assert [r["text"] for r in records] == ["Hoe begon het?", "Met een visie.", "Dank u."]
    assert "malformed" in result.output and "00:0x:05.000" in result.output


def test_srt_cue_with_a_negative_time_keeps_its_text(tmp_path: Path):
    path = tmp_path / "t.srt"
    path.write_text("1\n00:00:01,000 --> 00:00:03,000\nHoe begon het?\n\n"
                    "2\n-00:00:01,000 --> 00:00:05,000\nMet een visie.\n", encoding="utf-8")
    result, records, _ = _segment(tmp_path, path)
    assert result.exit_code == 0, result.output
    assert "Met een visie." in " ".join(r["text"] for r in records)
    assert "-00:00:01,000" in result.output


def test_caption_block_without_timing_is_reported(tmp_path: Path):
    path = tmp_path / "t.srt"
    path.write_text("1\n00:00:01,000 --> 00:00:03,000\nHoe begon het?\n\nverloren regel zonder tijd\n",
                    encoding="utf-8")
    result, records, _ = _segment(tmp_path, path)
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output and "verloren regel" in result.output


def test_docx_with_an_external_entity_is_refused(tmp_path: Path):
    from tests.test_cli_segment import make_docx

    path = tmp_path / "t.docx"
    make_docx(path, ["I: Hoe gaat het?", "R: Goed, PLACEHOLDER."])
    with zipfile.ZipFile(path) as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    xml = entries["word/document.xml"].decode("utf-8")
    declaration = '<!DOCTYPE w:document [<!ENTITY ext SYSTEM "file:///etc/hostname">]>'
    xml = xml.replace("?>", "?>" + declaration, 1).replace("PLACEHOLDER", "&ext;")
    entries["word/document.xml"] = xml.encode("utf-8")
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    result, _, output = _segment(tmp_path, path)
    _refused(result, output, "entit")


# --- 17: NA in a ratings file -------------------------------------------------------------------------------------


def test_na_in_ratings_is_missing_not_a_category(tmp_path: Path):
    from pipeline.reliability.table import read_ratings_csv

    text = "unit,coder,value\n1,a,ja\n1,b,ja\n2,a,nee\n2,b,NA\n3,a,nee\n3,b,nee\n4,a,N/A\n4,b,ja\n5,a,ja\n5,b,#N/A\n"
    path = tmp_path / "ratings.csv"
    path.write_text(text, encoding="utf-8")
    empty = tmp_path / "empty.csv"
    empty.write_text(text.replace(",NA", ",").replace(",N/A", ",").replace(",#N/A", ","), encoding="utf-8")
    ratings, units, coders = read_ratings_csv(path, level="nominal")
    expected, _, _ = read_ratings_csv(empty, level="nominal")
    assert units == ["1", "2", "3", "4", "5"] and coders == ["a", "b"]
    assert ((ratings == expected) | (np.isnan(ratings) & np.isnan(expected))).all()
    assert sorted(set(ratings[~np.isnan(ratings)])) == [0.0, 1.0]  # ja and nee; no third category 'NA'
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["agreement", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["n_units_compared"] == 2 and report["percent_agreement"] == 1.0  # units 1 and 3 agree


def test_na_is_a_category_when_named(tmp_path: Path):
    from pipeline.reliability.table import read_ratings_csv

    path = tmp_path / "ratings.csv"
    path.write_text("unit,coder,value\n1,a,NA\n1,b,NA\n2,a,ja\n2,b,NA\n", encoding="utf-8")
    ratings, _, _ = read_ratings_csv(path, level="nominal", categories=["ja", "NA"])
    assert ratings.tolist() == [[1.0, 0.0], [1.0, 1.0]]
