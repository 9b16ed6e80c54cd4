"""`capcode agreement`: coded material (values checked by hand), the ratings CSV, and every bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.agreement import agreement, round_floats
from pipeline.core.errors import InputError

REPO = Path(__file__).resolve().parent.parent

TRANSCRIPT = (
    "I: Hoe is de integratie georganiseerd?\n\n"
    "R: De diensten overleggen elke week in het managementteam over de visie.\n\n"
    "R: De schepen vraagt dat de OCMW-dienst het dossier opvolgt.\n\n"
    "I: En met wie werkt u buiten het huis?\n\n"
    "R: Met de scholen en de vrijwilligers werken we samen aan het taalcafé.\n\n"
    "R: Dat is ongeveer alles, denk ik.\n"
)
SPANS = {  # the four respondent fragments, in order
    1: "De diensten overleggen elke week in het managementteam over de visie.",
    2: "De schepen vraagt dat de OCMW-dienst het dossier opvolgt.",
    3: "Met de scholen en de vrijwilligers werken we samen aan het taalcafé.",
    4: "Dat is ongeveer alles, denk ik.",
}


def span(text: str, fragment: str) -> tuple[int, int]:
    start = text.index(fragment)
    return start, start + len(fragment)


def write_corpus(directory: Path, codings: list[tuple[str, str, str]], *, coder_axes: dict | None = None,
                 synthetic: bool = True) -> Path:
    """A one-interview corpus dir; ``codings``: (coder, code name, text the span covers)."""
    (directory / "transcripts").mkdir(parents=True)
    (directory / "transcripts" / "d1.txt").write_text(TRANSCRIPT, encoding="utf-8")
    info = {"name": directory.name, "synthetic": synthetic, "use": "train"}
    if coder_axes:
        info["coder_axes"] = coder_axes
    (directory / "collection.yaml").write_text(json.dumps(info), encoding="utf-8")
    (directory / "metadata.jsonl").write_text('{"document": "d1", "file": "transcripts/d1.txt"}\n', encoding="utf-8")
    lines = []
    for coder, code, covered in codings:
        start, end = span(TRANSCRIPT, covered)
        lines.append(json.dumps({"document": "d1", "start": start, "end": end, "code": code, "coder": coder}))
    (directory / "codings.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


# A: intern on 1 and 2, extern on 3, beleid on 1, and intern on an interviewer question (not codable).
# B: coded only intern/extern (coder_axes): intern on 1, extern on 3.
TWO_CODERS = [
    ("A", "Intern", SPANS[1]), ("A", "intern", SPANS[2]), ("A", "extern", SPANS[3]), ("A", "beleid", SPANS[1]),
    ("A", "intern", "Hoe is de integratie georganiseerd?"),
    ("B", "Interne capaciteit", SPANS[1]), ("B", "extern", SPANS[3]),
]


@pytest.fixture()
def two_coder_corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "corpus", TWO_CODERS, coder_axes={"B": ["intern_extern"]})


def test_two_coders_by_hand(two_coder_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    report = agreement(inputs=[two_coder_corpus], output=out, n_boot=200, seed=1)
    assert json.loads(out.read_text()) == json.loads(json.dumps(round_floats(report)))  # rounded for reading
    assert report["coders"] == ["A", "B"] and report["synthetic"] is True
    assert report["data"]["n_codable_fragments_coded"] == 4  # the interviewer turn is not counted
    # intern: A = 1 1 0 0, B = 1 0 0 0. p_o = 3/4; Cohen: p_e = .5*.25 + .5*.75 = .5 -> kappa .5;
    # Scott: pooled p(1) = 3/8 -> p_e = 34/64 -> pi = (.75 - .53125)/.46875 = 7/15;
    # alpha: n = 8, o_01 + o_10 = 2, n_0 n_1 = 15 -> 1 - 7 * 2 / (2 * 15) = 8/15.
    intern = report["per_code"]["intern"]
    assert intern["n_units"] == 4 and intern["n_coders"] == 2
    assert intern["percent_agreement"] == pytest.approx(0.75)
    assert intern["cohen_kappa"] == pytest.approx(0.5)
    assert intern["scott_pi"] == pytest.approx(7 / 15)
    assert intern["krippendorff_alpha"] == pytest.approx(8 / 15)
    assert intern["brennan_prediger"] == pytest.approx(0.5)  # (.75 - 1/2) / (1 - 1/2)
    assert report["per_code"]["extern"]["krippendorff_alpha"] == pytest.approx(1.0)
    # B did not code beleid/beheer: only A rated it, nothing to compare.
    assert report["per_code"]["beleid"]["n_units"] == 0 and report["per_code"]["beleid"]["krippendorff_alpha"] is None
    assert report["per_axis"]["beleid_beheer"]["krippendorff_alpha"] is None
    # axis intern_extern: A = only intern, only intern, only extern, neither; B = only intern, neither,
    # only extern, neither. p_o = 3/4; Cohen p_e = .5*.25 + .25*.25 + .25*.5 = .3125 -> kappa = .4375/.6875;
    # Brennan-Prediger with the codebook's 4 categories: (.75 - .25) / .75 = 2/3 (3 observed would give .625).
    axis = report["per_axis"]["intern_extern"]
    assert axis["n_units"] == 4
    assert axis["cohen_kappa"] == pytest.approx(0.4375 / 0.6875)
    assert axis["brennan_prediger"] == pytest.approx(2 / 3)
    # pooled: the 8 decisions on intern and extern both coders made (beleid/beheer/... only A: dropped).
    assert report["n_units"] == 8 and report["percent_agreement"] == pytest.approx(7 / 8)
    assert set(report["pairs"]) == {"A vs B"}
    assert report["pairs"]["A vs B"]["per_code"]["intern"]["cohen_kappa"] == pytest.approx(0.5)
    for key in ("percent_agreement", "krippendorff_alpha", "cohen_kappa", "scott_pi", "fleiss_kappa", "gwet_ac1",
                "brennan_prediger", "ci95", "notes", "per_code", "per_axis", "pairs"):
        assert key in report
    low, high = report["ci95"]["percent_agreement"]
    assert low <= report["percent_agreement"] <= high


def test_one_project_per_coder_merges_on_the_same_fragments(tmp_path: Path) -> None:
    first = write_corpus(tmp_path / "a", [c for c in TWO_CODERS if c[0] == "A"])
    second = write_corpus(tmp_path / "b", [c for c in TWO_CODERS if c[0] == "B"], coder_axes={"B": ["intern_extern"]})
    report = agreement(inputs=[first, second], output=tmp_path / "r.json", n_boot=0)
    assert report["coders"] == ["A", "B"]
    assert report["per_code"]["intern"]["krippendorff_alpha"] == pytest.approx(8 / 15)


def test_html_report_is_self_contained(two_coder_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    agreement(inputs=[two_coder_corpus], output=out, n_boot=50)
    html = out.read_text(encoding="utf-8")
    assert "SYNTHETIC DATA" in html and "Krippendorff&#x27;s alpha" in html and "<svg" in html
    assert "A vs B" in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "<script" not in html and "https://" not in html


# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers, 12 units,
# missing values; published nominal alpha = 0.743, interval alpha = 0.849.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def write_ratings_csv(path: Path, rows: list[list[int | None]]) -> Path:
    lines = ["unit,coder,value"]
    for coder, values in zip("ABCD", rows):
        lines += [f"u{unit},{coder},{value}" for unit, value in enumerate(values, 1) if value is not None]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("level", "published"), [("nominal", 0.743), ("interval", 0.849)])
def test_csv_mode_reproduces_krippendorff_2011(tmp_path: Path, level: str, published: float) -> None:
    csv_path = write_ratings_csv(tmp_path / "ratings.csv", KRIPPENDORFF_2011)
    out = tmp_path / "report.json"
    result = run_cli("agreement", str(csv_path), "--level", level, "-o", str(out), "--n-boot", "100")
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert set(report) == {"n_units", "n_units_compared", "n_coders", "percent_agreement", "krippendorff_alpha",
                           "cohen_kappa", "scott_pi", "fleiss_kappa", "gwet_ac1", "brennan_prediger", "notes", "ci95",
                           "pairs", "per_coder", "table"}
    assert round(report["krippendorff_alpha"], 3) == published
    assert report["n_units"] == 12 and report["n_units_compared"] == 11 and report["n_coders"] == 4
    assert report["cohen_kappa"] is None and any(n.startswith("cohen_kappa") for n in report["notes"])


def test_csv_mode_html(tmp_path: Path) -> None:
    csv_path = write_ratings_csv(tmp_path / "ratings.csv", KRIPPENDORFF_2011)
    out = tmp_path / "report.html"
    agreement(inputs=[csv_path], output=out, n_boot=50)
    html = out.read_text(encoding="utf-8")
    assert "0.74" in html and "SYNTHETIC" not in html


def test_confidence_level_comes_from_params(tmp_path: Path) -> None:
    import yaml

    from pipeline.core.config import DEFAULT_PARAMS

    params = yaml.safe_load(DEFAULT_PARAMS.read_text(encoding="utf-8"))
    params["agreement"]["confidence"] = 0.5
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump(params), encoding="utf-8")
    csv_path = write_ratings_csv(tmp_path / "ratings.csv", KRIPPENDORFF_2011)
    narrow = agreement(inputs=[csv_path], output=tmp_path / "a.json", n_boot=200, params_path=params_path)
    wide = agreement(inputs=[csv_path], output=tmp_path / "b.json", n_boot=200)
    (low, high), (wide_low, wide_high) = narrow["ci95"]["krippendorff_alpha"], wide["ci95"]["krippendorff_alpha"]
    assert wide_low < low < high < wide_high
    agreement(inputs=[csv_path], output=tmp_path / "c.html", n_boot=200, params_path=params_path)
    assert "50% percentile bootstrap" in (tmp_path / "c.html").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- bad input


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CAPCODE_PROGRESS": "0"}
    env.pop("CAPCODE_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], cwd=REPO, capture_output=True, text=True,
                          env=env, timeout=300)


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ratings.csv"
    path.write_text(text, encoding="utf-8")
    return path


BAD_CSV = {
    "missing column": ("unit,rater,value\nu1,A,1\nu1,B,1\n", [], "missing column"),
    "non-numeric at interval": ("unit,coder,value\nu1,A,1\nu1,B,high\nu2,A,2\nu2,B,3\n", ["--level", "interval"],
                                "not a finite number"),
    "one coder": ("unit,coder,value\nu1,A,1\nu2,A,2\n", [], "only one coder"),
    "no overlapping units": ("unit,coder,value\nu1,A,1\nu2,B,2\nu3,A,1\n", [], "no unit is rated by two"),
    "value outside the categories": ("unit,coder,value\nu1,A,yes\nu1,B,maybe\n", ["--categories", "yes,no"],
                                     "not a category"),
    "unknown level": ("unit,coder,value\nu1,A,1\nu1,B,1\n", ["--level", "circular"], "unknown level"),
}


@pytest.mark.parametrize("case", sorted(BAD_CSV))
def test_bad_csv_is_one_line_exit_2_no_output(tmp_path: Path, case: str) -> None:
    text, options, expected = BAD_CSV[case]
    out = tmp_path / "report.json"
    result = run_cli("agreement", str(_csv(tmp_path, text)), "-o", str(out), *options)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
    assert not list(tmp_path.glob(".report.json*"))  # no temporary file left either


def test_code_outside_the_codebook_means_the_projects_own_codes(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", [*TWO_CODERS, ("B", "Participatie", SPANS[4]),
                                                ("A", "Participatie", SPANS[2])])
    out = tmp_path / "report.json"
    result = run_cli("agreement", str(corpus), "-o", str(out), "--n-boot", "0")
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["scheme"]["codebook"] == "project"
    assert set(report["per_code"]) == {"Intern", "intern", "extern", "beleid", "Interne capaciteit", "Participatie"}
    assert report["scheme"]["codings_per_code"]["Participatie"] == {"A": 1, "B": 1}
    # --codes capcode insists on the six codes: one short line naming the unknown name, exit 2, no output
    out.unlink()
    result = run_cli("agreement", str(corpus), "-o", str(out), "--codes", "capcode")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "not in capcode's codebook" in lines[0] and "'Participatie' (2 codings)" in lines[0]
    assert "leave out --codes" in lines[0] and len(lines[0]) < 400
    assert not out.exists()


@pytest.mark.parametrize(
    ("codings", "expected"),
    [
        ([c for c in TWO_CODERS if c[0] == "A"], "only one coder ('A')"),
        ([("A", "intern", SPANS[1]), ("B", "beleid", SPANS[3])], "never coded the same fragment"),
    ],
    ids=["one coder", "no overlap"],
)
def test_coded_material_without_a_second_coder(tmp_path: Path, codings: list, expected: str) -> None:
    coder_axes = {"A": ["intern_extern"], "B": ["beleid_beheer"]}
    corpus = write_corpus(tmp_path / "corpus", codings, coder_axes=coder_axes)
    out = tmp_path / "report.json"
    result = run_cli("agreement", str(corpus), "-o", str(out))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert not out.exists()


def test_other_usage_errors(two_coder_corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="applies to a ratings table only"):
        agreement(inputs=[two_coder_corpus], output=tmp_path / "r.json", level="interval")
    with pytest.raises(InputError, match="expected .json or .html"):
        agreement(inputs=[two_coder_corpus], output=tmp_path / "r.txt")
    result = run_cli("agreement", str(tmp_path / "missing"), "-o", str(tmp_path / "r.json"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_model_as_coder(two_coder_corpus: Path, tmp_path: Path, tiny_model: Path) -> None:
    report = agreement(inputs=[two_coder_corpus], output=tmp_path / "r.json", model_dir=tiny_model, n_boot=0)
    assert report["coders"] == ["A", "B", "model"]
    assert set(report["pairs"]) == {"A vs B", "A vs model", "B vs model"}
    assert report["data"]["fragments_per_coder"]["model"] == 4
    assert report["per_code"]["beleid"]["n_coders"] == 2  # A and the model; B did not code that axis
    # the tiny model was trained on other interviews: no overlap note
    assert report["data"]["model"]["fragments_in_training_documents"] == 0
    assert not any("not a held-out test" in note for note in report["notes"])


def test_model_trained_on_the_material_is_flagged(two_coder_corpus: Path, tmp_path: Path,
                                                  tiny_model: Path) -> None:
    import json
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    meta = json.loads((model / "capcode_model.json").read_text())
    meta["training_documents"] = ["d1"]
    (model / "capcode_model.json").write_text(json.dumps(meta))
    report = agreement(inputs=[two_coder_corpus], output=tmp_path / "r.json", model_dir=model, n_boot=0)
    assert report["data"]["model"]["fragments_in_training_documents"] == 4
    assert any("not a held-out test" in note for note in report["notes"])


def test_one_qdpx_with_two_users(two_coder_corpus: Path, tmp_path: Path) -> None:
    """A REFI-QDA project in which two users coded the same transcript (built with capcode's own writer)."""
    from pipeline.core.codebook import load_codebook
    from pipeline.corpus.loading import load_collection
    from pipeline.qdpx.importer import read_project
    from pipeline.qdpx.writer import Suggestion, write_qdpx

    codebook = load_codebook()
    collection = load_collection(two_coder_corpus, codebook)
    documents = list(collection.documents.values())

    def suggestions(coder: str) -> list[Suggestion]:
        return [Suggestion(c.document, c.start, c.end, c.code, 1.0) for c in collection.codings if c.coder == coder]

    only_a = write_qdpx(tmp_path / "a.qdpx", documents=documents, suggestions=suggestions("A"), codebook=codebook,
                        model_user="A")
    from_project = list(load_collection(only_a, codebook).documents.values())  # they know their source guids
    both = write_qdpx(tmp_path / "ab.qdpx", documents=from_project, suggestions=suggestions("B"), codebook=codebook,
                      model_user="B", base_project=read_project(only_a))
    report = agreement(inputs=[both], output=tmp_path / "r.json", n_boot=0)
    assert report["coders"] == ["A", "B"]
    assert report["per_code"]["intern"]["krippendorff_alpha"] == pytest.approx(8 / 15)
    assert report["per_code"]["extern"]["krippendorff_alpha"] == pytest.approx(1.0)


def test_intervals_are_skipped_beyond_the_limits_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-code intervals up to `MAX_CODES_WITH_INTERVALS` codes, pooled ones up to `MAX_POOLED_WITH_INTERVALS`
    unit x code decisions; beyond either the report says so, and the point figures stay."""
    import pipeline.agreement as module

    codes = ["a", "b", "c"]
    records = [{"id": f"f{i}", "document": "d", "start": i, "end": i + 1, "text": f"fragment {i}",
                "labels": {"x": {c: int((i + k) % 3 == 0) for k, c in enumerate(codes)},
                           "y": {c: int((i + k) % 3 == 0 or i % 7 == 0) for k, c in enumerate(codes)}}}
               for i in range(40)]
    full = module.agreement_report(records, ["x", "y"], codes, n_boot=50, seed=0)
    assert full["ci95"]["krippendorff_alpha"] is not None
    assert all(block["ci95"]["krippendorff_alpha"] is not None for block in full["per_code"].values())
    assert not any("no 95% interval" in note for note in full["notes"])
    monkeypatch.setattr(module, "MAX_CODES_WITH_INTERVALS", 2)
    monkeypatch.setattr(module, "MAX_POOLED_WITH_INTERVALS", 119)  # 40 units x 3 codes = 120 decisions
    limited = module.agreement_report(records, ["x", "y"], codes, n_boot=50, seed=0)
    assert limited["krippendorff_alpha"] == full["krippendorff_alpha"]
    assert limited["ci95"]["krippendorff_alpha"] is None
    assert all(block["ci95"]["krippendorff_alpha"] is None for block in limited["per_code"].values())
    assert any("3 codes: no 95% intervals per code" in note for note in limited["notes"])
    assert any("120 pooled unit x code decisions: no 95% interval" in note for note in limited["notes"])
