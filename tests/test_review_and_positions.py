"""Review flags say which code is in doubt (HTML and .qdpx), timestamps stay with their fragment, and a .qdpx
goes back in the position dialect it came in (issue 14, items 5, 6 and 8)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from pipeline.core.codebook import load_codebook
from pipeline.ingest.reader import read_document
from pipeline.ingest.segmentation import segment_document
from pipeline.model.classifier import ModelMetadata
from pipeline.qdpx.importer import project_to_collection, read_project, read_qdpx_collection
from pipeline.qdpx.project import REVIEW_CODE_NAME
from pipeline.qdpx.writer import build_project_xml
from pipeline.report.predictions import codes_in_doubt, render_html, write_predictions

SAMPLES = Path("/work/shared/refi-qda/samples")
if not SAMPLES.is_dir():
    SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "refi-qda" / "samples"
NS = "{urn:QDA-XML:project:1.0}"
CODEBOOK = load_codebook()
THRESHOLDS = {"intern": 0.5, "extern": 0.5, "beleid": 0.5, "beheer": 0.5, "strategisch": 0.35, "operationeel": 0.6}


def _metadata() -> ModelMetadata:
    return ModelMetadata(code_ids=list(CODEBOOK.code_ids), codebook_fingerprint="x", thresholds=dict(THRESHOLDS),
                         backbone={"spec": "tiny"}, training_data_sha256="0" * 64, params={}, max_length=32,
                         text_prefix="", label_coder="A", synthetic_training_data=True)


def _document(tmp_path: Path, text: str):
    path = tmp_path / "interview.txt"
    path.write_text(text, encoding="utf-8")
    document = read_document(path)
    return document, [f.to_dict() for f in segment_document(document, max_fragment_tokens=200)]


def _code(records, index, scores, review):
    record = records[index]
    record.update(coded=record["codable"], scores=scores, review=review, model="m",
                  labels={c: int(scores[c] is not None and scores[c] >= THRESHOLDS[c]) for c in scores})


SCORES_DOUBT = {"intern": 0.9, "extern": 0.05, "beleid": 0.8, "beheer": 0.1, "strategisch": 0.34, "operationeel": 0.1}
SCORES_NONE = {"intern": 0.1, "extern": 0.05, "beleid": 0.2, "beheer": 0.1, "strategisch": 0.1, "operationeel": 0.57}
SCORES_CLEAR = {"intern": 0.9, "extern": 0.05, "beleid": 0.1, "beheer": 0.9, "strategisch": 0.1, "operationeel": 0.95}
TEXT = ("I: Hoe begon het integratiebeleid? #00:00:12-3#\n"
        "R: Het college koos een visie voor de lange termijn. #00:00:20-1#\n"
        "I: En in de praktijk? #00:01:02-0#\n"
        "R: Elke dinsdag loopt het taalcafé. #00:01:10-5#\n"
        "R: De diensten werken samen. #00:01:30-0#\n")


def _coded(tmp_path: Path):
    document, records = _document(tmp_path, TEXT)
    empty = {c: None for c in CODEBOOK.code_ids}
    for index in range(len(records)):
        _code(records, index, empty, False)
    _code(records, 1, SCORES_DOUBT, True)  # codes shown are far from their thresholds; strategisch is in doubt
    _code(records, 3, SCORES_NONE, True)  # no code suggested, operationeel just under its threshold
    _code(records, 4, SCORES_CLEAR, False)
    return document, records


def test_codes_in_doubt_names_the_hidden_code():
    record = {"review": True, "scores": SCORES_DOUBT}
    assert codes_in_doubt(record, THRESHOLDS, 0.05) == [("strategisch", 0.34, 0.35)]
    assert codes_in_doubt(record, THRESHOLDS, None) == [("strategisch", 0.34, 0.35)]  # nearest, without a margin
    assert codes_in_doubt({"review": False, "scores": SCORES_DOUBT}, THRESHOLDS, 0.05) == []


def test_html_shows_the_code_in_doubt_and_the_thresholds(tmp_path: Path):
    document, records = _coded(tmp_path)
    html = render_html(records, [document], _metadata(), CODEBOOK, review_margin=0.05)
    assert "review: Strategisch 0.34 at threshold 0.35" in html
    assert "review: Operationeel 0.57 at threshold 0.60" in html
    assert html.count("review:") == 2  # the clear fragment is not flagged
    table = re.search(r'<table class="thresholds">.*?</table>', html, re.S).group(0)
    assert "<th>Strategisch</th>" in table and "<td>0.35</td>" in table and "<td>0.60</td>" in table


def test_timestamps_stay_with_their_fragment(tmp_path: Path):
    document, records = _coded(tmp_path)
    html = render_html(records, [document], _metadata(), CODEBOOK, review_margin=0.05)
    assert 'class="plain"' not in html  # no timestamp printed on its own line under a question
    for record, stamp in zip(records, ["#00:00:12-3#", "#00:00:20-1#", "#00:01:02-0#", "#00:01:10-5#", "#00:01:30-0#"]):
        fragment = re.search(rf'id="{re.escape(record["id"])}">(.*?)<br>', html, re.S)
        assert fragment and fragment.group(1).endswith(f'<span class="stamp">{stamp}</span>'), record["text"]


def test_leading_timestamps_stay_before_their_turn(tmp_path: Path):
    document, records = _document(tmp_path, "[00:00:05] I: Hoe begon het?\n[00:00:09] R: Met een visie.\n")
    for index in range(len(records)):
        _code(records, index, SCORES_CLEAR, False)
    html = render_html(records, [document], _metadata(), CODEBOOK)
    assert html.index("[00:00:09]") < html.index(f'id="{records[1]["id"]}"')
    assert html.index("[00:00:09]") > html.index(f'id="{records[0]["id"]}"')


def test_qdpx_carries_the_review_flag(tmp_path: Path):
    document, records = _coded(tmp_path)
    output = tmp_path / "out.qdpx"
    write_predictions(output, records=records, documents=[document], metadata=_metadata(), codebook=CODEBOOK,
                      base_projects=[], review_margin=0.05)
    with zipfile.ZipFile(output) as archive:
        root = etree.fromstring(archive.read("project.qde"))
    review_codes = [c for c in root.iter(NS + "Code") if c.get("name") == REVIEW_CODE_NAME]
    assert len(review_codes) == 1 and review_codes[0].get("isCodable") == "true"
    flagged = [s for s in root.iter(NS + "PlainTextSelection")
               if any(ref.get("targetGUID") == review_codes[0].get("guid") for ref in s.iter(NS + "CodeRef"))]
    spans = {(int(s.get("startPosition")), int(s.get("endPosition"))) for s in flagged}
    assert spans == {(records[1]["start"], records[1]["end"]), (records[3]["start"], records[3]["end"])}
    descriptions = " ".join(s.findtext(NS + "Description") for s in flagged)
    assert "review: strategisch 0.340 at threshold 0.350" in descriptions
    assert "no code suggested; review: operationeel 0.570 at threshold 0.600" in descriptions
    # read back as a collection: the flag is no code of the scheme and is not reported as unmapped
    collection = read_qdpx_collection(output, CODEBOOK)
    assert collection.unmapped_codes == {}
    model_codes = {(c.start, c.code) for c in collection.codings}
    assert (records[1]["start"], "intern") in model_codes and (records[4]["start"], "operationeel") in model_codes


def _raw_positions(xml: bytes) -> dict[str, tuple[int, int]]:
    root = etree.fromstring(xml)
    return {e.get("guid"): (int(e.get("startPosition")), int(e.get("endPosition")))
            for e in root.iter(NS + "PlainTextSelection")}


@pytest.mark.parametrize("sample", ["nvivo-mac-12.7.qdpx", "nvivo-win-12.6.qdpx", "nvivo-win-12.6-small.qdpx"])
def test_nvivo_project_goes_back_in_nvivo_positions(sample: str, tmp_path: Path):
    project = read_project(SAMPLES / sample)
    documents = list(project_to_collection(project, CODEBOOK).documents.values())
    xml, files = build_project_xml(documents=documents, suggestions=[], codebook=CODEBOOK, model_user="m",
                                   base_project=project)
    written = _raw_positions(xml)
    assert {s.guid: (s.raw_start, s.raw_end) for s in project.selections} == {g: written[g] for g in written}
    with zipfile.ZipFile(SAMPLES / sample) as archive:  # the texts go back in the form NVivo wrote them
        originals = {Path(n).stem.lower(): archive.read(n).decode("utf-8") for n in archive.namelist()
                     if n.lower().startswith("sources/") and n.endswith(".txt")}
    for name, text in files.items():
        assert text == originals[Path(name).stem.lower()]
    # and capcode reads its own file back onto the same characters
    path = tmp_path / "back.qdpx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.qde", xml)
        for name, text in files.items():
            archive.writestr(name, text.encode("utf-8"))
    again = read_project(path)
    assert {s.guid: (s.start, s.end) for s in again.selections} == {s.guid: (s.start, s.end) for s in project.selections}


def test_positions_can_be_chosen(tmp_path: Path):
    project = read_project(SAMPLES / "nvivo-mac-12.7.qdpx")
    documents = list(project_to_collection(project, CODEBOOK).documents.values())
    xml, _ = build_project_xml(documents=documents, suggestions=[], codebook=CODEBOOK, model_user="m",
                               base_project=project, positions="codepoint")
    written = _raw_positions(xml)
    assert all(written[s.guid] == (s.start, s.end) for s in project.selections)
    shifted = sum(written[s.guid] != (s.raw_start, s.raw_end) for s in project.selections)
    assert shifted == 284  # what NVivo would misread: the simulation on this sample
    assert b'origin="capcode' in xml and b"positions" not in etree.tostring(etree.fromstring(xml)).split(b">")[0]
    with pytest.raises(ValueError, match="unknown position dialect"):
        build_project_xml(documents=documents, suggestions=[], codebook=CODEBOOK, model_user="m",
                          base_project=project, positions="utf8")


@pytest.mark.slow
def test_predict_in_place_on_an_nvivo_project_keeps_nvivo_positions(tiny_model, tmp_path: Path):
    """`capcode predict project.qdpx -o project.qdpx --in-place`: the project is replaced only when asked, and
    NVivo's own selections keep the positions NVivo wrote (UTF-16 units on BOM + CRLF text)."""
    import shutil

    from typer.testing import CliRunner

    from pipeline.cli import app

    project = tmp_path / "project.qdpx"
    shutil.copy(SAMPLES / "nvivo-win-12.6-small.qdpx", project)
    original = read_project(project)
    refused = CliRunner().invoke(app, ["predict", str(project), "--model", str(tiny_model), "-o", str(project)])
    assert refused.exit_code == 2 and "--in-place" in refused.output
    assert project.read_bytes() == (SAMPLES / "nvivo-win-12.6-small.qdpx").read_bytes()
    result = CliRunner().invoke(app, ["predict", str(project), "--model", str(tiny_model), "-o", str(project),
                                      "--in-place"])
    assert result.exit_code == 0, result.output
    assert "does not look Dutch but Hungarian" in result.output
    with zipfile.ZipFile(project) as archive:
        written = _raw_positions(archive.read("project.qde"))
        root = etree.fromstring(archive.read("project.qde"))
    assert all(written[s.guid] == (s.raw_start, s.raw_end) for s in original.selections)
    assert "positions utf16" in root.get("origin")
    again = read_project(project)  # capcode reads its own output back onto the same characters
    back = {s.guid: (s.start, s.end) for s in again.selections}
    assert all(back[s.guid] == (s.start, s.end) for s in original.selections)


def test_predict_writes_the_chosen_positions(tiny_model, tmp_path: Path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    transcript = tmp_path / "chat.txt"
    transcript.write_text("I: Hoe was het overleg? \U0001f600\nR: Het budget is beperkt, zei de schepen.\n",
                          encoding="utf-8")
    spans = {}
    for positions in ("auto", "utf16"):
        output = tmp_path / f"{positions}.qdpx"
        result = CliRunner().invoke(app, ["predict", str(transcript), "--model", str(tiny_model), "-o", str(output),
                                          "--all-roles", "--qdpx-positions", positions])
        assert result.exit_code == 0, result.output
        with zipfile.ZipFile(output) as archive:
            root = etree.fromstring(archive.read("project.qde"))
        spans[positions] = sorted((int(e.get("startPosition")), int(e.get("endPosition")))
                                  for e in root.iter(NS + "PlainTextSelection"))
        assert read_project(output).dialect == ("codepoint" if positions == "auto" else "utf16")
    emoji = transcript.read_text(encoding="utf-8").index("\U0001f600")

    def utf16(index: int) -> int:  # the emoji counts 2 in UTF-16
        return index + 1 if index > emoji else index

    assert spans["auto"] and any(start > emoji for start, _ in spans["auto"])
    assert spans["utf16"] == [(utf16(a), utf16(b)) for a, b in spans["auto"]]
    result = CliRunner().invoke(app, ["predict", str(transcript), "--model", str(tiny_model), "-o",
                                      str(tmp_path / "x.qdpx"), "--qdpx-positions", "utf8"])
    assert result.exit_code == 2 and "--qdpx-positions utf8" in result.output
