"""The HTML reports in a real browser: headless Chromium renders them; we check what a reader would see.

Skipped only where Chromium is missing and the environment variable CI is unset; in CI (`.ci/run` installs
Debian's `chromium`) it must run.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from pipeline.core.codebook import load_codebook
from pipeline.core.params import load_params
from pipeline.evaluate import SYSTEMS, build_results, evaluation_sets, flat_metrics, write_outputs
from tests.tiny_model import prepared_fragments

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                       reason="chromium is not installed (apt-get install chromium); CI installs it and runs this"),
]


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    assert CHROMIUM, "chromium is required in CI (see .ci/run)"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               f"--user-data-dir={tmp_path / 'chromium-profile'}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the inflated image data of a PNG (enough to tell a blank page from a report)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    position, idat = 8, b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kind = data[position + 4:position + 8]
        if kind == b"IDAT":
            idat += data[position + 8:position + 8 + length]
        position += 12 + length
    return width, height, zlib.decompress(idat)


@pytest.fixture(scope="module")
def evaluation_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An evaluation report from inline coding and made-up predictions (no model needed to test rendering)."""
    codebook = load_codebook()
    records = prepared_fragments()
    evaluations = [e for e in evaluation_sets(records, load_params().evaluate, codebook) if len(e.records)]
    rng = np.random.default_rng(0)
    predictions = {system: {} for system in SYSTEMS}
    for evaluation in evaluations:
        truth = np.where(evaluation.truth < 0, 0, evaluation.truth)
        predictions["model"][evaluation.name] = np.where(rng.random(truth.shape) < 0.15, 1 - truth, truth)
        predictions["tfidf"][evaluation.name] = np.where(rng.random(truth.shape) < 0.3, 1 - truth, truth)
        predictions["majority"][evaluation.name] = np.zeros_like(truth)
    model_info = {"identity": "capcode-test-0000", "directory": "models/test", "label_coder": "A",
                  "backbone": "tiny", "thresholds": {}, "trained_on_synthetic_data": True, "n_train": 72,
                  "train_synthetic": True}
    results = build_results(evaluations, predictions, records, model_info=model_info, codebook=codebook,
                            n_boot=100, seed=0)
    output = tmp_path_factory.mktemp("report")
    write_outputs(output, results, flat_metrics(results), codebook)
    return output / "report.html"


def test_evaluation_report_renders(evaluation_report: Path, tmp_path: Path) -> None:
    result = chromium(tmp_path, "--dump-dom", evaluation_report.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert "<h1>Evaluation: the model against manual coding</h1>" in dom
    assert "SYNTHETIC DATA." in dom and 'class="banner"' in dom
    for heading in ("Summary", "Which data and which model", "Test set (synthetic)", "Gold set (real coded material)",
                    "Human coders compared with each other, next to the model", "How to read the figures"):
        assert f"<h2>{heading}</h2>" in dom, heading
    for column in ("Precision", "Recall", "F1", "Support", "Krippendorff's alpha", "Cohen's kappa", "Macro-F1"):
        assert f"<th>{column}</th>" in dom, column
    assert dom.count("<svg") >= 2 * (1 + 1 + 3 + 6) + 1  # per set: bars, forest, 3 axis and 6 code matrices
    assert "<script" not in dom and "https://" not in dom and "@font-face" not in dom

    screenshot = tmp_path / "report.png"
    result = chromium(tmp_path, "--window-size=1200,2400", f"--screenshot={screenshot}", evaluation_report.as_uri())
    assert result.returncode == 0 and screenshot.is_file(), result.stderr[-2000:]
    width, height, pixels = png_pixels(screenshot)
    assert (width, height) == (1200, 2400)
    assert screenshot.stat().st_size > 50_000  # a blank or error page compresses to a few kB
    assert len(set(pixels[::97])) > 50  # many distinct byte values: text, table lines, the banner's colour


def test_agreement_report_renders(tmp_path: Path) -> None:
    from pipeline.agreement import agreement
    from tests.test_agreement_cli import TWO_CODERS, write_corpus

    corpus = write_corpus(tmp_path / "corpus", TWO_CODERS, coder_axes={"B": ["intern_extern"]})
    report = tmp_path / "agreement.html"
    agreement(inputs=[corpus], output=report, n_boot=100)
    result = chromium(tmp_path, "--dump-dom", report.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert "SYNTHETIC DATA." in dom
    for heading in ("Which data", "All coders, all codes together", "Per code", "Per pair of coders",
                    "How to read the coefficients"):
        assert f"<h2>{heading}</h2>" in dom, heading
    for column in ("Percent agreement", "Krippendorff's alpha", "Cohen's kappa", "Fleiss' kappa", "Gwet's AC1"):
        assert f"<th>{column}</th>" in dom, column
    assert "<h3>A vs B</h3>" in dom and "<svg" in dom


def test_character_agreement_report_renders(tmp_path: Path) -> None:
    from pipeline.agreement import agreement
    from tests.test_agreement_cli import SPANS, write_corpus

    corpus = write_corpus(tmp_path / "corpus", [("A", "Samenwerking", SPANS[1]), ("B", "Samenwerking", SPANS[1]),
                                                ("A", "Visie", SPANS[3])])
    report = tmp_path / "agreement.html"
    agreement(inputs=[corpus], output=report, unit="character")
    result = chromium(tmp_path, "--dump-dom", report.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    for heading in ("Which data", "All coders", "Per pair of coders", "Per coder", "Where the coders differ"):
        assert f"<h2>{heading}</h2>" in dom, heading
    assert "<th>Unitizing alpha</th>" in dom and "<h3>A vs B</h3>" in dom
    assert "<blockquote>Met de scholen" in dom  # the span only A coded, with its text
