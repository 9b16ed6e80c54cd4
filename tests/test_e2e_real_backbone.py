"""End to end on the real converted backbone: prepare -> train (a few steps) -> predict, via the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pipeline.core.config import REPO_ROOT
from tests.tiny_model import write_mini_corpus

pytestmark = pytest.mark.slow


def capcode(*args: str, cwd) -> subprocess.CompletedProcess:
    env = dict(os.environ, CAPCODE_PROGRESS="0", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    result = subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True, cwd=cwd,
                            env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def test_prepare_train_predict_on_the_real_backbone(real_backbone, tmp_path):
    corpus = write_mini_corpus(tmp_path / "corpus", n_documents=6, turns=6)
    params = REPO_ROOT / "configs" / "params.yaml"
    capcode("prepare", str(corpus), "-o", str(tmp_path / "prepared"), "--params", str(params), cwd=tmp_path)
    capcode("train", "--prepared", str(tmp_path / "prepared" / "fragments.jsonl"), "-o", str(tmp_path / "model"),
            "--checkpoints", str(tmp_path / "checkpoints"), "--live-dir", str(tmp_path / "live"),
            "--backbone", str(real_backbone), "--max-steps", "2", "--params", str(params), cwd=tmp_path)
    metadata = json.loads((tmp_path / "model" / "capcode_model.json").read_text())
    # a directory outside the checkout is recorded by name only: no path of this machine in the model
    assert metadata["backbone"]["spec"] == real_backbone.name and "path" not in metadata["backbone"]
    assert len(metadata["backbone"]["sha256"]) == 64
    assert (tmp_path / "live" / "metrics.json").exists()  # dvclive logged the run
    transcript = tmp_path / "nieuw.txt"
    transcript.write_text(
        "I: Hoe zit de regie in elkaar?\n\nR: Euh, het managementteam bespreekt het budget, allez, en met de "
        "scholen en de vrijwilligers werken we samen aan het taalcafé.\n", encoding="utf-8")
    capcode("predict", str(transcript), "--model", str(tmp_path / "model"), "-o", str(tmp_path / "out.jsonl"),
            cwd=tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["coded"] for r in rows] == [False, True]
    assert all(0.0 < p < 1.0 for p in rows[1]["scores"].values())
