"""The model is found from any folder, a missing one is said at once, with the right advice; flags show as flags.

Issue 14, items 1 and 9.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import pipeline.core.config as config
from pipeline.cli import app
from pipeline.core.config import locate_model_dir
from pipeline.core.errors import InputError

REPO = Path(__file__).resolve().parents[1]


def _transcript(folder: Path) -> Path:
    path = folder / "t4_director.txt"
    path.write_text("I: Hoe organiseert u dat?\nR: Het budget en het personeel zijn beperkt.\n", encoding="utf-8")
    return path


def test_predict_without_model_option_works_from_another_folder(tiny_model, tmp_path, monkeypatch) -> None:
    checkout = tmp_path / "checkout"
    shutil.copytree(tiny_model, checkout / "models" / "default")
    monkeypatch.setattr(config, "REPO_ROOT", checkout)
    monkeypatch.setattr(config, "DEFAULT_MODEL_DIR", checkout / "models" / "default")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    transcript = _transcript(elsewhere)
    result = CliRunner().invoke(app, ["predict", transcript.name, "-o", "x.jsonl"])
    assert result.exit_code == 0, result.output
    assert len((elsewhere / "x.jsonl").read_text(encoding="utf-8").splitlines()) == 2
    # the README's explicit `--model models/default` works from here too, and says where it found it
    result = CliRunner().invoke(app, ["predict", transcript.name, "--model", "models/default", "-o", "y.jsonl"])
    assert result.exit_code == 0, result.output
    assert "from the checkout" in result.output and (elsewhere / "y.jsonl").is_file()


def test_missing_default_model_gives_the_right_advice(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(config, "DEFAULT_MODEL_DIR", tmp_path / "checkout" / "models" / "default")
    with pytest.raises(InputError, match="no default model yet; make it with `make run` or `dvc repro`"):
        locate_model_dir(None)
    with pytest.raises(InputError, match="looked from .*leave it out to use the default model") as err:
        locate_model_dir(tmp_path / "nowhere")
    assert "train one" not in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a capcode model directory"):
        locate_model_dir(tmp_path / "empty")


def test_missing_model_is_noticed_before_loading_anything_heavy(tmp_path) -> None:
    """The check runs before torch, transformers or spaCy are imported (they cost seconds)."""
    transcript = _transcript(tmp_path)
    code = (
        "import sys\n"
        "from pipeline.cli import app\n"
        "try:\n"
        f"    app([\"predict\", {str(transcript)!r}, \"--model\", {str(tmp_path / 'absent')!r}, \"-o\", "
        f"{str(tmp_path / 'x.html')!r}])\n"
        "except SystemExit as exit:\n"
        "    print(exit.code, sorted(m for m in ('torch', 'transformers', 'spacy') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env,
                            timeout=120)
    assert result.stdout.strip() == "2 []", result.stdout + result.stderr
    assert "model directory not found" in result.stderr
    assert not (tmp_path / "x.html").exists()


def test_flags_show_as_flags_in_help() -> None:
    result = CliRunner().invoke(app, ["predict", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip().startswith("--")}
    for flag in ("--all-roles", "--in-place", "--help"):
        assert "<bool>" not in lines[flag] and "bool" not in lines[flag].split("  ")[0], lines[flag]
    assert "<path>" in lines["--model"]  # options that take a value still say so
    train_help = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "120"}).output
    assert "--resume " in train_help and "<bool>" not in train_help

