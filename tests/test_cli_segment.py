"""The `capcode` command line: help, `segment` end to end, and every bad input.

Bad input must give exit code 2, exactly one line on stderr that names the file, no traceback and no output
file (README, "Command line"). The bad inputs the issue lists run as real subprocesses of the console script,
started together in one module fixture so the file costs about as much as the slowest run; the other bad
inputs run in process with typer's CliRunner, which keeps stderr apart too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.core.config import DEFAULT_CODEBOOK

CAPCODE = Path(sys.executable).with_name("capcode")
COMMAND = [str(CAPCODE)] if CAPCODE.exists() else [sys.executable, "-m", "pipeline.cli"]

GOOD_TXT = "I: Hoe werkt het MAT samen met de diensten?\nR: Elke week is er overleg. De directeur zit het voor.\n"
GOOD_VTT = (
    "WEBVTT\n\n1\n00:00:01.000 --> 00:00:03.000\n<v Jan Janssens>Wat doet de dienst?</v>\n\n"
    "2\n00:00:03.000 --> 00:00:06.000\n<v Els Peeters>Wij organiseren de vrijwilligers.</v>\n"
)
PARAMS = """segment:
  max_fragment_tokens: 80
prepare:
  seed: 13
  min_fragment_share: 0.5
  min_span_share: 0.5
  split_fractions: {train: 0.7, validation: 0.15, test: 0.15}
"""


@dataclass
class Case:
    args: list[str]
    output: Path | None  # the output the run must (not) leave behind
    names: str | None = None  # the file the error line must name
    process: subprocess.Popen | None = None
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""


def make_docx(path: Path, paragraphs: list[str]) -> None:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    document.save(str(path))


def make_corpus(root: Path, codings: list[dict]) -> Path:
    (root / "transcripts").mkdir(parents=True)
    (root / "collection.yaml").write_text("name: c\nuse: train\n", encoding="utf-8")
    (root / "transcripts" / "a.txt").write_text(GOOD_TXT, encoding="utf-8")
    (root / "metadata.jsonl").write_text('{"document": "a", "file": "transcripts/a.txt"}\n', encoding="utf-8")
    (root / "codings.jsonl").write_text("".join(json.dumps(c) + "\n" for c in codings), encoding="utf-8")
    return root


def build_cases(tmp: Path) -> dict[str, Case]:
    inputs, outputs = tmp / "in", tmp / "out"
    inputs.mkdir()
    outputs.mkdir()

    def write(name: str, data: bytes | str) -> Path:
        path = inputs / name
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        return path

    def segment(case: str, *paths: Path, extra: tuple[str, ...] = (), output_name: str = "fragments.jsonl") -> Case:
        output = outputs / case / output_name
        output.parent.mkdir()
        named = output if not output_name.endswith(".jsonl") else paths[-1]
        return Case(["segment", *map(str, paths), "-o", str(output), *extra], output, named.name)

    def prepare(case: str, corpus: Path) -> Case:
        output = outputs / case / "prepared"
        output.parent.mkdir()
        args = ["prepare", str(corpus), "-o", str(output), "--params", str(params),
                "--codebook", str(DEFAULT_CODEBOOK)]
        return Case(args, output, "codings.jsonl")

    params = write("params.yaml", PARAMS)
    good = write("good.txt", GOOD_TXT)
    fake_docx = inputs / "fake.docx"
    with zipfile.ZipFile(fake_docx, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        archive.writestr("content.xml", "<office:document/>")
    (inputs / "folder.txt").mkdir()
    (inputs / "a").mkdir()
    (inputs / "b").mkdir()
    shutil.copy(good, inputs / "a" / "same.txt")
    shutil.copy(good, inputs / "b" / "same.txt")
    make_docx(inputs / "interview.docx", ["Interview Lier", "I: Wie beslist?", "R: Het college.", "Na advies."])
    write("calls.vtt", GOOD_VTT)
    write("legacy.txt", "I: Vraag?\nR: Het café – één €.\n".encode("cp1252"))
    overlapping = make_corpus(inputs / "overlap", [
        {"document": "a", "start": 3, "end": 30, "code": "intern", "coder": "A"},
        {"document": "a", "start": 20, "end": 50, "code": "intern", "coder": "A"},
    ])
    out_of_range = make_corpus(inputs / "range", [
        {"document": "a", "start": 3, "end": 5000, "code": "intern", "coder": "A"},
    ])
    good_output = outputs / "good" / "fragments.jsonl"
    return {
        # bad input
        "empty": segment("empty", write("empty.txt", b"")),
        "binary": segment("binary", write("photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50)),
        "zip_not_docx": segment("zip_not_docx", fake_docx),
        "docx_not_zip": segment("docx_not_zip", write("plain.docx", "I: dit is tekst\n")),
        "docx_empty": segment("docx_empty", write("empty.docx", b"")),
        "encoding": segment("encoding", write("odd.txt", b"R: caf\x81 \x8d\x90 en zo\n")),
        "forced_encoding": segment("forced_encoding", write("utf8.txt", "R: één\n"), extra=("--encoding", "ascii")),
        "directory": segment("directory", inputs / "folder.txt"),
        "markers_only": segment("markers_only", write("markers.txt", "I:\nR:\nI: #00:01:02-3#\n")),
        "missing": segment("missing", inputs / "missing.txt"),
        "unsupported": segment("unsupported", write("report.pdf", b"%PDF-1.4\n")),
        "no_cues": segment("no_cues", write("empty.vtt", "WEBVTT\n\nNOTE nothing\n")),
        "second_input_bad": segment("second_input_bad", good, inputs / "empty.txt"),
        "duplicate_ids": segment("duplicate_ids", inputs / "a" / "same.txt", inputs / "b" / "same.txt"),
        "bad_output_type": segment("bad_output_type", good, output_name="fragments.csv"),
        "overlapping_codings": prepare("overlapping_codings", overlapping),
        "out_of_range_codings": prepare("out_of_range_codings", out_of_range),
        # good input
        "good": Case(["segment", str(good), str(inputs / "interview.docx"), str(inputs / "calls.vtt"),
                      str(inputs / "legacy.txt"), "-o", str(good_output), "--max-fragment-tokens", "5"], good_output),
        "help": Case(["--help"], None),
        "segment_help": Case(["segment", "--help"], None),
        "missing_option": Case(["segment", str(good)], None),
    }


SUBPROCESS_BAD_INPUT = [
    "empty", "binary", "zip_not_docx", "encoding", "directory", "markers_only", "overlapping_codings",
    "out_of_range_codings",
]
IN_PROCESS_BAD_INPUT = [
    "docx_not_zip", "docx_empty", "forced_encoding", "missing", "unsupported", "no_cues", "second_input_bad",
    "duplicate_ids", "bad_output_type",
]
SUBPROCESS_OTHER = ["good", "help", "missing_option"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def cases(workdir: Path) -> dict[str, Case]:
    return build_cases(workdir)


@pytest.fixture(scope="module")
def runs(cases: dict[str, Case], workdir: Path) -> dict[str, Case]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CAPCODE_")}
    env.update(NO_COLOR="1", COLUMNS="120")
    started = [cases[name] for name in SUBPROCESS_BAD_INPUT + SUBPROCESS_OTHER]
    for case in started:
        case.process = subprocess.Popen(
            [*COMMAND, *case.args], cwd=workdir, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
    for case in started:
        case.stdout, case.stderr = case.process.communicate(timeout=300)
        case.returncode = case.process.returncode
    return cases


def invoke(case: Case) -> Case:
    result = CliRunner().invoke(app, case.args)
    case.returncode, case.stdout, case.stderr = result.exit_code, result.stdout, result.stderr
    return case


def assert_bad_input(case: Case) -> None:
    assert case.returncode == 2, case.stderr
    assert "Traceback" not in case.stderr and "Traceback" not in case.stdout
    lines = case.stderr.splitlines()
    assert len(lines) == 1, case.stderr
    assert "\r" not in case.stderr
    assert lines[0].startswith("capcode: ")
    assert case.names in lines[0]
    assert not case.output.exists()
    parent = case.output.parent
    assert not parent.exists() or list(parent.iterdir()) == [], "a temporary or partial file was left behind"
    assert EXPECTED_WORDS[name_of(case)] in lines[0]


EXPECTED_WORDS = {
    "empty": "empty", "binary": "binary", "zip_not_docx": "not a Word document", "docx_not_zip": "not a ZIP",
    "docx_empty": "empty", "encoding": "unreadable encoding", "forced_encoding": "cannot be read as ascii",
    "directory": "is a directory", "markers_only": "no spoken text", "missing": "not found",
    "unsupported": "unsupported file type", "no_cues": "no caption cues", "second_input_bad": "empty",
    "duplicate_ids": "also comes from", "bad_output_type": "unsupported output type",
    "overlapping_codings": "overlapping codings", "out_of_range_codings": "outside document",
}


def name_of(case: Case) -> str:
    return case.output.parent.name


@pytest.mark.parametrize("name", SUBPROCESS_BAD_INPUT)
def test_bad_input_in_a_subprocess(runs: dict[str, Case], name: str) -> None:
    assert_bad_input(runs[name])


@pytest.mark.parametrize("name", IN_PROCESS_BAD_INPUT)
def test_bad_input_in_process(cases: dict[str, Case], name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAPCODE_DEBUG", raising=False)
    assert_bad_input(invoke(cases[name]))


def test_segment_writes_fragments(runs: dict[str, Case]) -> None:
    case = runs["good"]
    assert case.returncode == 0, case.stderr
    assert "Traceback" not in case.stderr
    legacy = next(arg for arg in case.args if arg.endswith("legacy.txt"))
    assert case.stderr.splitlines() == [
        f"{legacy}: read as cp1252",
        f"segment: 4 documents, {len(case.output.read_text(encoding='utf-8').splitlines())} fragments -> {case.output}",
    ]
    records = [json.loads(line) for line in case.output.read_text(encoding="utf-8").splitlines()]
    assert {r["document"] for r in records} == {"good", "interview", "calls", "legacy"}
    for record in records:
        assert set(record) >= {"id", "document", "speaker", "role", "start", "end", "text", "turn", "codable"}
        assert record["id"] == f"{record['document']}@{record['start']}-{record['end']}"
        assert record["end"] - record["start"] == len(record["text"])
    by_doc = {d: [r["text"] for r in records if r["document"] == d] for d in ("good", "interview", "calls", "legacy")}
    assert by_doc["good"] == ["Hoe werkt het MAT samen met de diensten?", "Elke week is er overleg.",
                              "De directeur zit het voor."]
    assert by_doc["interview"] == ["Interview Lier", "Wie beslist?", "Het college.", "Na advies."]
    assert by_doc["calls"] == ["Wat doet de dienst?", "Wij organiseren de vrijwilligers."]
    assert by_doc["legacy"] == ["Vraag?", "Het café – één €."]
    calls = [r for r in records if r["document"] == "calls"]
    assert [(r["speaker"], r["role"], r["codable"]) for r in calls] == [
        ("Jan Janssens", "interviewer", False), ("Els Peeters", "respondent", True),
    ]
    assert calls[0]["timestamp"] == "00:00:01.000 --> 00:00:03.000"
    assert list(case.output.parent.iterdir()) == [case.output]


def test_help(runs: dict[str, Case]) -> None:
    assert runs["help"].returncode == 0, runs["help"].stderr
    for command in ("segment", "prepare"):
        assert command in runs["help"].stdout
    segment_help = invoke(runs["segment_help"])
    assert segment_help.returncode == 0
    assert "--output" in segment_help.stdout and "--max-fragment-tokens" in segment_help.stdout


def test_usage_error_exits_2(runs: dict[str, Case]) -> None:
    case = runs["missing_option"]
    assert case.returncode == 2
    assert "Traceback" not in case.stderr and "--output" in case.stderr


# --- in-process checks with typer's runner ----------------------------------------------------------------------


def test_segment_in_process_with_budget(tmp_path: Path) -> None:
    source = tmp_path / "t.txt"
    source.write_text("R: Een. Twee. Drie.\n", encoding="utf-8")
    output = tmp_path / "o.jsonl"
    result = CliRunner().invoke(app, ["segment", str(source), "-o", str(output), "--max-fragment-tokens", "2"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["text"] for line in output.read_text(encoding="utf-8").splitlines()] == [
        "Een.", "Twee.", "Drie."
    ]


def test_existing_output_survives_bad_input(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    output = tmp_path / "o.jsonl"
    output.write_text("old\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["segment", str(tmp_path / "empty.txt"), "-o", str(output)])
    assert result.exit_code == 2
    assert output.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.txt", "o.jsonl"]


def test_unexpected_error_is_one_line_exit_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.segment

    def boom(**_: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.delenv("CAPCODE_DEBUG", raising=False)
    monkeypatch.setattr(pipeline.segment, "segment_files", boom)
    (tmp_path / "t.txt").write_text("R: Een.\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["segment", str(tmp_path / "t.txt"), "-o", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 1
    assert "failed: RuntimeError: disk on fire" in result.output
