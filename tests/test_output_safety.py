"""Outputs never replace an input unasked, are readable by colleagues, and an uncreatable output path is usage.

Issue 14, items 2, 3, 15 and 16.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.core.errors import InputError
from pipeline.core.io_utils import atomic_directory, check_output_file, write_json, write_jsonl


def _transcript(tmp_path: Path) -> Path:
    path = tmp_path / "t.txt"
    path.write_text("I: Hoe gaat het?\nR: Het budget is beperkt.\n", encoding="utf-8")
    return path


def _one_line_exit_2(result) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output


@pytest.mark.parametrize("suffix", [".qdpx", ".jsonl"])
def test_predict_refuses_to_overwrite_its_input(tmp_path: Path, suffix: str) -> None:
    source = tmp_path / f"same{suffix}"
    source.write_bytes(b"original")
    result = CliRunner().invoke(app, ["predict", str(source), "--model", str(tmp_path), "-o", str(source)])
    _one_line_exit_2(result)
    assert "is also an input" in result.output and "--in-place" in result.output
    assert source.read_bytes() == b"original"
    assert sorted(p.name for p in tmp_path.iterdir()) == [source.name]


def test_the_input_check_sees_through_other_spellings_and_links(tmp_path: Path, monkeypatch) -> None:
    source = _transcript(tmp_path)
    link = tmp_path / "link.jsonl"
    os.link(source, link)
    monkeypatch.chdir(tmp_path)
    for output in (Path("./sub/../t.txt"), link):
        with pytest.raises(InputError, match="is also an input"):
            check_output_file(output, {".txt", ".jsonl"}, inputs=[Path("t.txt")])
    check_output_file(link, {".jsonl"}, inputs=[Path("t.txt")], in_place=True)  # asked for: allowed


def test_segment_refuses_to_overwrite_its_input(tmp_path: Path) -> None:
    source = tmp_path / "t.jsonl"
    source.write_text('{"x": 1}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["segment", str(source), "-o", str(source)])
    _one_line_exit_2(result)
    assert "is also an input" in result.output
    assert source.read_text(encoding="utf-8") == '{"x": 1}\n'


def test_agreement_refuses_to_overwrite_its_input(tmp_path: Path) -> None:
    source = tmp_path / "ratings.json"
    source.write_text("{}", encoding="utf-8")
    result = CliRunner().invoke(app, ["agreement", str(source), "-o", str(source)])
    _one_line_exit_2(result)
    assert "is also an input" in result.output
    assert source.read_text(encoding="utf-8") == "{}"


def test_outputs_get_the_mode_of_a_plain_write(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_jsonl(tmp_path / "new.jsonl", [{"a": 1}])
        assert stat.S_IMODE((tmp_path / "new.jsonl").stat().st_mode) == 0o644
        os.umask(0o002)
        write_json(tmp_path / "group.json", {"a": 1})
        assert stat.S_IMODE((tmp_path / "group.json").stat().st_mode) == 0o664
        existing = tmp_path / "kept.json"
        existing.write_text("{}")
        existing.chmod(0o640)
        write_json(existing, {"b": 2})
        assert stat.S_IMODE(existing.stat().st_mode) == 0o640 and json.loads(existing.read_text()) == {"b": 2}
        os.umask(0o022)
        with atomic_directory(tmp_path / "model") as staging:
            (staging / "f").write_text("x")
        assert stat.S_IMODE((tmp_path / "model").stat().st_mode) == 0o755
    finally:
        os.umask(old)


def test_segment_output_is_readable_by_others(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        result = CliRunner().invoke(app, ["segment", str(_transcript(tmp_path)), "-o", str(tmp_path / "f.jsonl")])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE((tmp_path / "f.jsonl").stat().st_mode) == 0o644


def test_output_under_a_file_is_usage(tmp_path: Path) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("x")
    result = CliRunner().invoke(app, ["segment", str(_transcript(tmp_path)), "-o", str(blocker / "sub" / "f.jsonl")])
    _one_line_exit_2(result)
    assert "is a file, not a folder" in result.output


def test_read_only_folder_is_usage(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "readonly"
    folder.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == folder else real_access(p, mode))
    result = CliRunner().invoke(app, ["segment", str(_transcript(tmp_path)), "-o", str(folder / "f.jsonl")])
    _one_line_exit_2(result)
    assert "not writable" in result.output


def test_write_failure_in_the_folder_is_usage_not_a_crash(tmp_path: Path, monkeypatch) -> None:
    """Where the up-front check cannot know (root on a read-only share, ACLs), the write itself says so."""

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    result = CliRunner().invoke(app, ["segment", str(_transcript(tmp_path)), "-o", str(tmp_path / "f.jsonl")])
    _one_line_exit_2(result)
    assert "Permission denied" in result.output
