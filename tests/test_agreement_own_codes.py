"""Agreement on a project's own codebook: the real NVivo and ATLAS.ti samples, code choice and roll-up, units."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.agreement import agreement
from pipeline.core.errors import InputError
from pipeline.qdpx.importer import read_project
from tests.qdpx_second_coder import with_second_coder
from tests.test_agreement_cli import SPANS, TRANSCRIPT, run_cli, write_corpus

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "refi-qda" / "samples"
if not SAMPLES.is_dir():
    SAMPLES = Path("/work/shared/refi-qda/samples")
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared/refi-qda/samples not present")


@pytest.fixture(scope="module")
def nvivo_two_coders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("nvivo") / "nvivo-two-coders.qdpx"
    assert with_second_coder(SAMPLES / "nvivo-win-12.6-small.qdpx", target) == ("floriansipos", "Gergo")
    return target


@needs_samples
def test_one_coder_sample_is_one_clear_line(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    result = run_cli("agreement", str(SAMPLES / "nvivo-mac-12.7.qdpx"), "-o", str(out), "--unit", "character")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "only one coder ('floriansipos')" in lines[0] and len(lines[0]) < 300
    assert "not in the codebook" not in lines[0] and not out.exists()


@needs_samples
def test_nvivo_sample_by_characters_on_its_own_codes(nvivo_two_coders: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    report = agreement(inputs=[nvivo_two_coders], output=out, unit="character")
    assert report["scheme"]["codebook"] == "project" and report["unit"] == "character"
    project = read_project(SAMPLES / "nvivo-win-12.6-small.qdpx")
    names = {code.name for code in project.codes.values()}
    assert set(report["scheme"]["codes"]) <= names and len(report["scheme"]["codes"]) > 10
    pair = report["pairs"]["Gergo vs floriansipos"]
    for figures in pair["codes"].values():
        assert set(figures) >= {"percent_agreement", "cohen_kappa", "krippendorff_alpha_u", "n_characters"}
        assert figures["n_characters"] == report["data"]["n_characters"]  # every character of every source
    # the second coder left out every 5th selection and recoded every 7th: disagreement, but far from chance
    pooled = pair["pooled"]
    assert 0.5 < pooled["cohen_kappa"] < 0.99 and 0.3 < pooled["krippendorff_alpha_u"] < 0.99
    assert pooled["only_first"] > 0 and pooled["only_second"] > 0
    assert len(pair["sources"]) == report["data"]["n_documents"] == 1
    first = next(iter(pair["sources"].values()))
    assert set(first["codes"]) == set(report["scheme"]["codes"])
    # disagreements carry their text, ordered by code
    spans = report["disagreements"]
    assert spans and all(d["text"].strip() for d in spans)
    order = report["scheme"]["codes"]
    assert [order.index(d["code"]) for d in spans] == sorted(order.index(d["code"]) for d in spans)
    written = json.loads(out.read_text())
    assert all(len(str(v).split(".")[-1]) <= 4 for v in written["pairs"]["Gergo vs floriansipos"]["pooled"].values()
               if isinstance(v, float))


@pytest.mark.slow
@needs_samples
def test_nvivo_sample_by_paragraphs_with_depth_and_codes(nvivo_two_coders: Path, tmp_path: Path) -> None:
    project = read_project(SAMPLES / "nvivo-win-12.6-small.qdpx")
    roots = {code.name for code in project.root_codes}
    top = agreement(inputs=[nvivo_two_coders], output=tmp_path / "top.json", unit="paragraph", depth=1, n_boot=0)
    assert set(top["per_code"]) <= roots and top["scheme"]["depth"] == 1
    assert top["unit"] == "paragraph" and "Gergo vs floriansipos" in top["pairs"]
    assert set(top["per_coder"]) == {"floriansipos", "Gergo"} and top["missing"]["n_missing"] == 0
    folder = next(code for code in project.root_codes if code.children)
    below = {project.codes[g].name for g in project.codes if folder.guid in _ancestors(project, g)}
    chosen = agreement(inputs=[nvivo_two_coders], output=tmp_path / "folder.json", unit="paragraph",
                       codes=[folder.name], n_boot=0)
    assert set(chosen["per_code"]) <= below | {folder.name} and chosen["scheme"]["n_codings_not_selected"] > 0
    with pytest.raises(InputError, match="no code or folder named 'Nope'"):
        agreement(inputs=[nvivo_two_coders], output=tmp_path / "x.json", codes=["Nope"], unit="paragraph")


def _ancestors(project, guid: str) -> set[str]:
    found, current = set(), project.codes[guid].parent
    while current is not None:
        found.add(current)
        current = project.codes[current].parent
    return found


@pytest.mark.slow
@needs_samples
def test_atlasti_sample(tmp_path: Path) -> None:
    # as shipped, the sample has no texts: one clear line naming the missing source
    result = run_cli("agreement", str(SAMPLES / "atlasti-8.4-no-text.qdpx"), "-o", str(tmp_path / "r.json"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "archive has no sources/" in result.stderr
    # with made-up texts and a second coder, agreement on its own codes in all three units
    project = tmp_path / "atlas-two-coders.qdpx"
    first, second = with_second_coder(SAMPLES / "atlasti-8.4-no-text.qdpx", project, fill_texts=True)
    assert (first, second) == ("Friedrich Markgraf", "Sebastian Petrausch")
    key = f"{first} vs {second}"
    characters = agreement(inputs=[project], output=tmp_path / "c.html", unit="character")
    assert "cornflakes" in characters["pairs"][key]["codes"]
    assert characters["scheme"]["codings_per_code"]["sleepy"] == {second: 1}  # one coder's code: reported
    assert characters["pairs"][key]["codes"]["sleepy"]["cohen_kappa"] == 0.0
    page = (tmp_path / "c.html").read_text(encoding="utf-8")
    assert "Unitizing alpha" in page and "Used by one coder only (1): sleepy" in page and "<blockquote>" in page
    for unit in ("fragment", "paragraph"):
        report = agreement(inputs=[project], output=tmp_path / f"{unit}.html", unit=unit, n_boot=20)
        assert report["pairs"][key]["per_code"]["cornflakes"]["krippendorff_alpha"] is not None
        assert report["per_axis"] == {} and report["unit"] == unit
        html = (tmp_path / f"{unit}.html").read_text(encoding="utf-8")
        assert "Per coder" in html and "Where the coders differ" in html and "the project's own codes" in html


def test_corpus_directory_own_codes_by_character(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", [("A", "Samenwerking", SPANS[1]), ("B", "Samenwerking", SPANS[1]),
                                                ("A", "Visie", SPANS[3])])
    report = agreement(inputs=[corpus], output=tmp_path / "r.json", unit="character")
    pair = report["pairs"]["A vs B"]
    assert pair["codes"]["Samenwerking"]["cohen_kappa"] == 1.0
    assert pair["codes"]["Samenwerking"]["both"] == len(SPANS[1])
    assert pair["codes"]["Visie"]["only_first"] == len(SPANS[3]) and pair["codes"]["Visie"]["cohen_kappa"] == 0.0
    assert report["disagreements"] == [{"code": "Visie", "document": "d1", "start": TRANSCRIPT.index(SPANS[3]),
                                        "end": TRANSCRIPT.index(SPANS[3]) + len(SPANS[3]), "text": SPANS[3],
                                        "coded_by": ["A"], "not_coded_by": ["B"]}]
    with pytest.raises(InputError, match="--depth rolls up a code tree"):
        agreement(inputs=[corpus], output=tmp_path / "r.json", depth=1)


def test_overlapping_spans_of_one_coder_and_code_are_refused(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", [("A", "Visie", SPANS[1]), ("B", "Visie", SPANS[1])])
    start = TRANSCRIPT.index(SPANS[1])
    with (corpus / "codings.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"document": "d1", "start": start + 5, "end": start + 30, "code": "Visie",
                                 "coder": "A"}) + "\n")
    out = tmp_path / "r.json"
    result = run_cli("agreement", str(corpus), "-o", str(out), "--unit", "character")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "overlapping codings of 'Visie' by coder 'A'" in result.stderr and "codings.jsonl" in result.stderr
    assert not out.exists()


def test_unit_options_are_checked(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", [("A", "intern", SPANS[1]), ("B", "intern", SPANS[1])])
    with pytest.raises(InputError, match="unknown unit 'word'"):
        agreement(inputs=[corpus], output=tmp_path / "r.json", unit="word")
    with pytest.raises(InputError, match="--depth"):
        agreement(inputs=[corpus], output=tmp_path / "r.json", codes=["capcode"], depth=2)
    report = agreement(inputs=[corpus], output=tmp_path / "r.json", unit="character")
    assert report["scheme"]["codebook"] == "capcode" and set(report["codes"]) == {
        "intern", "extern", "beleid", "beheer", "strategisch", "operationeel"}


def test_a_coder_who_used_only_other_codes_still_coded_the_document(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus", [("A", "Visie", SPANS[1]), ("A", "Visie", SPANS[3]),
                                                ("B", "Visie", SPANS[1]), ("B", "Samenwerking", SPANS[2])])
    report = agreement(inputs=[corpus], output=tmp_path / "r.json", codes=["visie"], n_boot=0)
    assert list(report["per_code"]) == ["Visie"] and report["scheme"]["n_codings_not_selected"] == 1
    visie = report["per_code"]["Visie"]
    # every fragment of d1 is compared (B's "not Visie" is an answer, not a missing rating): 1 disagreement
    assert visie["n_units"] == report["data"]["n_fragments_compared"] and report["missing"]["n_missing"] == 0
    assert [d["coded_by"] for d in report["disagreements"]] == [["A"]]


def test_per_coder_table_finds_the_coder_who_disagrees(tmp_path: Path) -> None:
    same = [(coder, "Visie", SPANS[1]) for coder in ("A", "B", "C")] + [("A", "Taal", SPANS[3]), ("B", "Taal", SPANS[3])]
    odd = [("C", "Taal", SPANS[2]), ("C", "Taal", SPANS[4])]
    report = agreement(inputs=[write_corpus(tmp_path / "corpus", same + odd)], output=tmp_path / "r.json", n_boot=0)
    rows = report["per_coder"]
    assert set(report["pairs"]) == {"A vs B", "A vs C", "B vs C"}
    assert rows["C"]["krippendorff_alpha_without"] == 1.0  # A and B agree perfectly without C
    assert rows["A"]["krippendorff_alpha_without"] < 1.0 and rows["B"]["krippendorff_alpha_without"] < 1.0
    assert rows["C"]["mean_krippendorff_alpha"] < rows["A"]["mean_krippendorff_alpha"]
    assert report["pairs"]["A vs B"]["krippendorff_alpha"] == 1.0
