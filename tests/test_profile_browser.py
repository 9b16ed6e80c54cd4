"""The profile page in a real browser: headless Chromium renders it; we check what a reader sees.

Skipped only where Chromium is missing and CI is unset (`.ci/run` installs Debian's `chromium`)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.test_profile import write_corpus, write_predictions
from tests.test_report_browser import CHROMIUM, chromium, png_pixels

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"),
                       reason="chromium is not installed (apt-get install chromium); CI installs it and runs this"),
]


def test_profile_page_shows_every_case_side_by_side(tmp_path: Path) -> None:
    from pipeline.profile import profile

    corpus = write_corpus(tmp_path / "towns")
    predictions = write_predictions(tmp_path / "pred.jsonl", corpus, swap=("strategisch", "operationeel"))
    page = tmp_path / "profile.html"
    report = profile(inputs=[corpus, predictions], outputs=[page])
    result = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert "<h1>Capacity profiles per case</h1>" in dom and "SYNTHETIC DATA." in dom
    for heading in ("Which data", "The cases compared", "Side by side: would the conclusions change?",
                    "Profiles per case", "How to read the profiles"):
        assert f"<h2>{heading}</h2>" in dom, heading
    for group in ("Aalbeke", "Bergdorp", "Zeeveld"):  # every case: its heading, two grids per coder, a panel
        assert f'<h3 class="group">{group}</h3>' in dom
        grids = re.findall(rf'<table class="grid" data-coder="([^"]+)" data-group="{group}" data-grid="(\w+)"', dom)
        assert sorted(grids) == sorted((c, g) for c in ("A", "B", "model") for g in ("strategisch", "operationeel"))
        assert f"<title>{group}: share of the grid" in dom
    # the grids are drawn like the report's tables: rows beleid/beheer, columns intern/extern
    assert "<caption>Strategische capaciteit" in dom and "<caption>Operationele capaciteit" in dom
    assert dom.count('<th class="row">Beleidscapaciteit</th>') == 3 * 3 * 2
    assert dom.count("<th>Intern</th><th>Extern</th>") >= 3 * 3 * 2
    # B coded nothing in Zeeveld: explicit empty cells, not a crash or a blank
    assert dom.count("no coded fragment in this group") == 8
    # evidence behind a toggle, themes shown, the comparison tables there
    assert dom.count("<details>") >= 10 and "strongest evidence" in dom and 'class="themes"' in dom
    for pair in ("A vs model", "B vs model", "A vs B"):
        assert f'data-pair="{pair}"' in dom
    assert "Spearman's rho" in dom and "same dominant pole" in dom
    assert "<script" not in dom and "https://" not in dom and "@font-face" not in dom
    assert len(report["groups"]) == 3

    screenshot = tmp_path / "profile.png"
    result = chromium(tmp_path, "--window-size=1300,2400", f"--screenshot={screenshot}", page.as_uri())
    assert result.returncode == 0 and screenshot.is_file(), result.stderr[-2000:]
    width, height, pixels = png_pixels(screenshot)
    assert (width, height) == (1300, 2400)
    assert screenshot.stat().st_size > 50_000
    assert len(set(pixels[::97])) > 50
