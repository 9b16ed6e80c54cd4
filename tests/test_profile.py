"""`capcode profile`: the grids' figures by hand, themes, grouping, the human-model comparison, bad input."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.core.codebook import load_codebook
from pipeline.core.errors import InputError
from pipeline.core.params import load_params
from pipeline.corpus.coded import load_coded
from pipeline.corpus.grouping import assign_groups
from pipeline.profile import CSV_COLUMNS, build_profiles, profile
from pipeline.reliability import bootstrap
from pipeline.reliability.grids import (
    balance,
    bootstrap_weights,
    dominant_pole,
    grid_figures,
    layout_from_poles,
    paired_differences,
    pole_counts,
    spearman,
)
from pipeline.report.themes import cell_themes
from tests.tiny_model import CODES, SENTENCES

CODEBOOK = load_codebook()
LAYOUT = layout_from_poles({axis.id: axis.poles for axis in CODEBOOK.axes})


def labels(*codes: str) -> dict[str, int]:
    return {c: int(c in codes) for c in CODES}


# --------------------------------------------------------------------------- the figures by hand


def test_cells_count_fragments_with_all_three_codes_and_both_poles_count_twice():
    fragments = [
        labels("strategisch", "beleid", "intern"),
        labels("strategisch", "beleid", "intern", "extern"),  # both poles: intern and extern cell
        labels("strategisch", "beheer"),  # in the grid, in no cell (no intern/extern)
        labels("operationeel", "beheer", "extern"),
        labels(),  # nothing
    ]
    figures = {(f.grid, f.row, f.column): f for f in grid_figures(fragments, LAYOUT, n_boot=0, seed=0, confidence=0.95)}
    assert len(figures) == 8
    assert figures["strategisch", "beleid", "intern"].n == 2
    assert figures["strategisch", "beleid", "extern"].n == 1
    assert figures["strategisch", "beleid", "intern"].n_grid == 3
    assert figures["strategisch", "beleid", "intern"].share == pytest.approx(2 / 3)
    assert figures["strategisch", "beheer", "intern"].share == 0.0
    assert figures["operationeel", "beheer", "extern"].share == 1.0
    assert figures["operationeel", "beleid", "intern"].share == 0.0


def test_empty_grid_has_no_share_and_intervals_bracket_the_share():
    fragments = [labels("strategisch", "beleid", "intern")] * 6 + [labels("strategisch", "beheer", "extern")] * 4
    figures = grid_figures(fragments, LAYOUT, n_boot=500, seed=3, confidence=0.95)
    by_cell = {(f.grid, f.row, f.column): f for f in figures}
    operational = [f for f in figures if f.grid == "operationeel"]
    assert all(f.n == 0 and f.share is None and f.low is None and f.high is None for f in operational)
    cell = by_cell["strategisch", "beleid", "intern"]
    assert cell.share == pytest.approx(0.6)
    assert cell.low is not None and cell.high is not None and cell.low < 0.6 < cell.high
    assert 0.2 <= cell.low and cell.high <= 0.95
    assert grid_figures([], LAYOUT, n_boot=100, seed=0, confidence=0.95)[0].share is None  # an empty group


def test_paired_differences():
    a = [labels("strategisch", "beleid", "intern")] * 5 + [labels("strategisch", "beheer", "intern")] * 5
    same = paired_differences(a, a, LAYOUT, n_boot=200, seed=0, confidence=0.95)
    assert all(d.difference in (0.0, None) for d in same)
    assert all(d.low in (0.0, None) and d.high in (0.0, None) for d in same)
    b = [labels("strategisch", "beleid", "intern")] * 10  # b puts everything in beleid/intern
    diff = {(d.grid, d.row, d.column): d for d in paired_differences(a, b, LAYOUT, n_boot=500, seed=0, confidence=0.95)}
    cell = diff["strategisch", "beleid", "intern"]
    assert (cell.share_a, cell.share_b, cell.difference) == (0.5, 1.0, 0.5)
    assert cell.low > 0  # every resample has b above a
    with pytest.raises(ValueError):
        paired_differences(a, b[:3], LAYOUT, n_boot=0, seed=0, confidence=0.95)


def test_grid_intervals_resample_as_every_agreement_interval_does(monkeypatch: pytest.MonkeyPatch):
    """The grids draw their resamples with `bootstrap.resample_weights`, as the agreement intervals do: the same
    counts for the same number of units and seed (several blocks included), each resample drawing n units."""
    monkeypatch.setattr(bootstrap, "BLOCK_ENTRIES", 7 * 4)  # blocks of 4 resamples of 7 units
    weights = bootstrap_weights(7, n_boot=10, seed=5)
    assert weights.shape == (10, 7) and (weights.sum(axis=1) == 7).all()
    assert np.array_equal(weights, np.vstack(list(bootstrap.resample_weights(7, 10, 5))))
    assert not np.array_equal(weights, bootstrap_weights(7, n_boot=10, seed=6))
    assert bootstrap_weights(0, n_boot=10, seed=5).shape == (10, 0)
    assert bootstrap_weights(7, n_boot=0, seed=5).shape == (0, 7)


def test_axis_placement_rank_correlation_and_dominant_pole():
    fragments = [labels("intern"), labels("intern", "extern"), labels("extern"), labels("extern"), labels()]
    assert pole_counts(fragments, ("intern", "extern")) == (2, 3)
    assert balance(2, 3) == pytest.approx(0.4) and balance(0, 0) is None
    assert dominant_pole(2, 3, ("intern", "extern")) == "extern"
    assert dominant_pole(3, 3, ("intern", "extern")) == "tie" and dominant_pole(0, 0, ("a", "b")) is None
    assert spearman([0.1, 0.5, 0.9], [0.2, 0.3, 0.8]) == pytest.approx(1.0)
    assert spearman([0.1, 0.5, 0.9], [0.8, 0.3, 0.2]) == pytest.approx(-1.0)
    assert spearman([0.1, 0.5, 0.9], [0.3, 0.2, 0.8]) == pytest.approx(0.5)
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert spearman([0.5, 0.5], [0.1, 0.2]) is None and spearman([0.3], [0.4]) is None


def test_themes_are_recurring_distinctive_terms():
    fragments = ["Het taalcafé draait elke week.", "Ook het taalcafé in de bibliotheek loopt goed.",
                 "Het taalcafé en de buddy's.", "Het meerjarenplan geeft de richting.",
                 "Het meerjarenplan is te gedetailleerd.", "Eén keer sprak ik over de bibliotheek."]
    themes = cell_themes(fragments, {"operational": [0, 1, 2, 5], "strategic": [3, 4]}, top_n=3, min_fragments=2)
    assert themes["operational"][0]["term"] == "taalcafé" and themes["operational"][0]["fragments"] == 3
    assert themes["strategic"][0]["term"] == "meerjarenplan"
    assert all(t["term"] != "het" for t in themes["operational"])  # a function word is no theme
    assert all(t["fragments"] >= 2 for ts in themes.values() for t in ts)  # once is not recurring
    assert cell_themes(fragments, {"x": [0]}, top_n=0) == {"x": []}
    assert cell_themes(["ja ja", "nee"], {"x": [0, 1]}, top_n=3) == {"x": []}


# --------------------------------------------------------------------------- material


def write_corpus(directory: Path, *, with_municipality: bool = True) -> Path:
    """Three interviews in three municipalities; coder A codes all, B only d1 and d2 (so B has nothing in
    Zeeveld). Each respondent turn is built from the sentences of the codes it carries."""
    plans = {
        "d1": [("intern", "beleid", "strategisch"), ("intern", "beheer", "operationeel"), ("extern", "beleid", "strategisch"),
               ("intern", "beleid", "strategisch"), ()],
        "d2": [("extern", "beheer", "operationeel"), ("extern", "beleid", "operationeel"), ("intern", "beheer", "strategisch"),
               ("extern", "beheer", "operationeel")],
        "d3": [("intern", "beleid", "strategisch"), ("extern", "beheer", "operationeel")],
    }
    places = {"d1": "Aalbeke", "d2": "Bergdorp", "d3": "Zeeveld"}
    roles = {"d1": "civil servant", "d2": "politician", "d3": "civil servant"}
    (directory / "transcripts").mkdir(parents=True)
    metadata, codings = [], []
    for doc, plan in plans.items():
        text = ""
        for codes in plan:
            text += "I: Hoe gaat dat bij u?\n\n"
            body = " ".join(SENTENCES[c] for c in codes) or "Ja, goeiemorgen."
            start = len(text) + 3
            text += f"R: {body}\n\n"
            for code in codes:
                codings.append({"document": doc, "start": start, "end": start + len(body), "code": code, "coder": "A"})
                if doc != "d3" and not (doc == "d2" and code == "extern"):  # B reads d2's externals as internal
                    codings.append({"document": doc, "start": start, "end": start + len(body), "code": code, "coder": "B"})
                elif doc == "d2":
                    codings.append({"document": doc, "start": start, "end": start + len(body), "code": "intern",
                                    "coder": "B"})
        (directory / "transcripts" / f"{doc}.txt").write_text(text, encoding="utf-8")
        entry = {"document": doc, "file": f"transcripts/{doc}.txt", "respondent_kind": roles[doc]}
        if with_municipality:
            entry["municipality"] = places[doc]
        metadata.append(entry)
    (directory / "metadata.jsonl").write_text("\n".join(json.dumps(m) for m in metadata) + "\n", encoding="utf-8")
    (directory / "codings.jsonl").write_text("\n".join(json.dumps(c) for c in codings) + "\n", encoding="utf-8")
    (directory / "collection.yaml").write_text("name: towns\nsynthetic: true\nuse: train\n", encoding="utf-8")
    return directory


def write_predictions(path: Path, corpus: Path, *, swap: tuple[str, str] | None = None,
                      codes: tuple[str, ...] = CODES) -> Path:
    """Predictions lines for the corpus's respondent fragments: coder A's labels (the two codes of `swap`
    exchanged), with scores."""
    coded = load_coded([corpus], CODEBOOK, max_fragment_tokens=80, min_fragment_share=0.5, min_span_share=0.5)
    lines = []
    for record in coded.records.values():
        truth = dict(record["labels"]["A"])
        if swap:
            truth[swap[0]], truth[swap[1]] = truth[swap[1]], truth[swap[0]]
        lines.append({"id": record["id"], "document": record["document"], "text": record["text"], "coded": True,
                      "labels": {c: truth.get(c, 0) for c in codes},
                      "scores": {c: 0.9 if truth.get(c) else 0.1 for c in codes}, "review": False, "model": "m"})
    lines.append({"id": "d1@0-20", "document": "d1", "text": "Hoe gaat dat bij u?", "coded": False,
                  "labels": {c: 0 for c in codes}, "scores": {c: None for c in codes}})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "towns")


@pytest.fixture()
def fast_params(tmp_path: Path) -> Path:
    import yaml

    from pipeline.core.config import DEFAULT_PARAMS

    params = yaml.safe_load(DEFAULT_PARAMS.read_text(encoding="utf-8"))
    params["profile"]["n_boot"] = 200
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    return path


def test_profile_of_a_corpus_with_predictions(corpus: Path, tmp_path: Path, fast_params: Path):
    predictions = write_predictions(tmp_path / "pred.jsonl", corpus, swap=("strategisch", "operationeel"))
    outputs = [tmp_path / "p.json", tmp_path / "p.csv", tmp_path / "p.html"]
    report = profile(inputs=[corpus, predictions], outputs=outputs, plot=tmp_path / "plot.csv", params_path=fast_params)
    assert report["groups"] == ["Aalbeke", "Bergdorp", "Zeeveld"]
    assert report["coders"] == ["A", "B", "model"] and report["model_coders"] == ["model"]
    assert json.loads(outputs[0].read_text()) == json.loads(json.dumps(report))

    rows = list(csv.DictReader(outputs[1].open(encoding="utf-8")))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 3 * 3 * 8  # coder x group x cell
    a_aalbeke = {(r["grid"], r["beleid_beheer"], r["intern_extern"]): r for r in rows
                 if r["coder"] == "A" and r["group"] == "Aalbeke"}
    # Aalbeke (d1): strategisch on 3 fragments: beleid/intern twice, beleid/extern once
    assert a_aalbeke["strategisch", "beleid", "intern"]["n"] == "2"
    assert float(a_aalbeke["strategisch", "beleid", "intern"]["share"]) == pytest.approx(2 / 3, abs=1e-4)
    assert float(a_aalbeke["strategisch", "beleid", "extern"]["share"]) == pytest.approx(1 / 3, abs=1e-4)
    assert a_aalbeke["operationeel", "beheer", "intern"]["share"] == "1.0"
    # B coded nothing in Zeeveld: an explicit empty profile, empty shares, no crash
    empty = next(p for p in report["profiles"] if p["coder"] == "B" and p["group"] == "Zeeveld")
    assert empty["empty"] and empty["n_fragments"] == 0
    assert all(c["n"] == 0 and c["share"] is None for c in empty["cells"])
    assert all(r["share"] == "" for r in rows if r["coder"] == "B" and r["group"] == "Zeeveld")

    # evidence: a human's every fragment, the model's by score; themes recur
    cell = next(c for c in next(p for p in report["profiles"] if p["coder"] == "A" and p["group"] == "Aalbeke")["cells"]
                if (c["grid"], c["beleid_beheer"], c["intern_extern"]) == ("strategisch", "beleid", "intern"))
    assert len(cell["evidence"]) == 2 and all("managementteam" in e["text"] for e in cell["evidence"])
    assert cell["evidence"][0]["respondent_role"] == "civil servant" and cell["evidence"][0]["document"] == "d1"
    assert cell["themes"] and all(sum(t["term"] in e["text"].lower() for e in cell["evidence"]) >= 2
                                  for t in cell["themes"])

    pairs = {tuple(c["coders"]): c for c in report["comparisons"]}
    assert set(pairs) == {("A", "model"), ("B", "model"), ("A", "B")}
    # the model swaps strategisch and operationeel: in Aalbeke strategisch/beleid/intern goes from 2 of 3 to 0 of 1
    a_model = pairs["A", "model"]
    aalbeke = next(g for g in a_model["groups"] if g["group"] == "Aalbeke")
    diff = next(c for c in aalbeke["cells"] if (c["grid"], c["beleid_beheer"], c["intern_extern"]) ==
                ("strategisch", "beleid", "intern"))
    assert diff["share_a"] == pytest.approx(2 / 3, abs=1e-4) and diff["share_b"] == 0.0
    assert diff["difference"] == pytest.approx(-2 / 3, abs=1e-4)
    across = a_model["across_groups"]
    assert across["intern_extern"]["spearman_rho"] == 1.0 and across["intern_extern"]["dominant_pole_agreement"] == 3
    swapped = across["strategisch_operationeel"]  # every dominant pole flips; Zeeveld's tie stays a tie
    assert swapped["dominant_pole_agreement"] == 1 and swapped["dominant_pole_disagreement"] == ["Aalbeke", "Bergdorp"]
    assert swapped["spearman_rho"] == -1.0
    # B read Bergdorp's externals as internal: the dominant pole differs there only
    a_b = pairs["A", "B"]["across_groups"]["intern_extern"]
    assert a_b["n_groups_judged"] == 2 and a_b["dominant_pole_disagreement"] == ["Bergdorp"]

    plot = list(csv.DictReader((tmp_path / "plot.csv").open(encoding="utf-8")))
    assert len(plot) == len(rows) and plot[0]["cell"].startswith("Aalbeke | Strategisch")


def test_group_by_interview_and_role(corpus: Path, tmp_path: Path, fast_params: Path):
    by_doc = profile(inputs=[corpus], outputs=[tmp_path / "d.json"], by="interview", params_path=fast_params)
    assert by_doc["groups"] == ["d1", "d2", "d3"]
    by_role = profile(inputs=[corpus], outputs=[tmp_path / "r.json"], by="role", params_path=fast_params)
    assert by_role["groups"] == ["civil servant", "politician"]
    a = {p["group"]: p for p in by_role["profiles"] if p["coder"] == "A"}
    assert a["civil servant"]["n_interviews"] == 2 and a["civil servant"]["n_fragments"] == 7


def test_partial_coders_combine_into_one(tmp_path: Path, fast_params: Path):
    """The study's quotes: `report` placed them strategic/operational, `dev` coded the other two axes."""
    rows, cases = [], {}
    for q, (case, codes) in enumerate([(1, ("strategisch", "intern", "beleid")), (1, ("operationeel", "extern", "beheer")),
                                       (2, ("strategisch", "extern", "beleid")), (3, ("operationeel", "intern", "beheer"))]):
        text = " ".join(SENTENCES[c] for c in codes)
        cases[f"q{q}"] = case
        rows.append({"id": f"q{q}@0-{len(text)}", "document": f"q{q}", "speaker": None, "role": "respondent",
                     "start": 0, "end": len(text), "text": text, "turn": 0, "timestamp": None, "codable": True,
                     "collection": "study-quotes", "synthetic": False, "split": "gold",
                     "labels": {"report": {c: int(c in codes) for c in ("strategisch", "operationeel")},
                                "dev": {c: int(c in codes) for c in ("intern", "extern", "beleid", "beheer")}}})
    prepared = tmp_path / "prepared"
    prepared.mkdir()
    (prepared / "fragments.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (prepared / "documents.jsonl").write_text("".join(json.dumps({"id": doc, "metadata": {"case": case}}) + "\n"
                                                      for doc, case in cases.items()), encoding="utf-8")
    loco = tmp_path / "loco_predictions.jsonl"  # the cross-validation's shape: id, document, case, labels
    loco.write_text("".join(json.dumps({"id": r["id"], "document": r["document"], "case": 9,
                                        "labels": {c: 1 for c in CODES}}) + "\n" for r in rows), encoding="utf-8")
    report = profile(inputs=[prepared, loco], outputs=[tmp_path / "q.json"], splits=["gold"], params_path=fast_params)
    assert report["coders"] == ["dev+report", "model"]
    assert report["groups"] == ["case 1", "case 2", "case 3"]  # the documents' metadata wins over the line's case
    assert any("dev+report" in note for note in report["notes"])
    case1 = next(p for p in report["profiles"] if p["coder"] == "dev+report" and p["group"] == "case 1")
    assert case1["n_fragments"] == 2 and case1["grid_sizes"] == {"strategisch": 1, "operationeel": 1}
    # predictions alone: the line's own `case` groups them
    alone = profile(inputs=[loco], outputs=[tmp_path / "alone.json"], params_path=fast_params)
    assert alone["groups"] == ["case 9"] and alone["coders"] == ["model"]
    # predictions that carry their split (as `export` writes them) follow --split like the prepared fragments
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(loco.read_text() + json.dumps({"id": "s1@0-5", "document": "s1", "split": "test", "municipality":
                                                    "X", "labels": {c: 0 for c in CODES}}) + "\n", encoding="utf-8")
    gold = profile(inputs=[prepared, mixed], outputs=[tmp_path / "g.json"], splits=["gold"], params_path=fast_params)
    assert gold["groups"] == ["case 1", "case 2", "case 3"]


def test_qdpx_cases_group_the_sources(tmp_path: Path, fast_params: Path):
    texts = {f"55555555-5555-5555-5555-55555555555{k}": f"I: Vraag?\nR: {SENTENCES['intern']} {SENTENCES['beleid']} "
             f"{SENTENCES['strategisch']}\n" for k in (1, 2)}
    guids = list(texts)
    selections = {}
    for k, (guid, text) in enumerate(texts.items()):
        start = text.index("De diensten")
        end = len(text) - 1
        selections[guid] = "".join(
            f'<PlainTextSelection guid="00000000-0000-0000-000{k}-00000000000{j}" startPosition="{start}" '
            f'endPosition="{end}" creatingUser="11111111-1111-1111-1111-111111111111"><Coding '
            f'guid="00000000-0000-0001-000{k}-00000000000{j}" creatingUser="11111111-1111-1111-1111-111111111111">'
            f'<CodeRef targetGUID="2222222{j}-2222-2222-2222-222222222222"/></Coding></PlainTextSelection>'
            for j in range(3))
    code_names = ["Interne capaciteit", "Beleidscapaciteit", "Strategische capaciteit"]
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>\n<Project xmlns="urn:QDA-XML:project:1.0" name="cases">'
        '<Users><User guid="11111111-1111-1111-1111-111111111111" name="Els"/></Users><CodeBook><Codes>'
        + "".join(f'<Code guid="2222222{j}-2222-2222-2222-222222222222" name="{n}" isCodable="true"/>'
                  for j, n in enumerate(code_names))
        + '</Codes></CodeBook><Variables><Variable guid="66666666-6666-6666-6666-666666666666" name="provincie" '
        'typeOfVariable="Text"/></Variables><Cases>'
        + "".join(f'<Case guid="7777777{k}-7777-7777-7777-777777777777" name="Gemeente {name}"><VariableValue>'
                  f'<VariableRef targetGUID="66666666-6666-6666-6666-666666666666"/><TextValue>{prov}</TextValue>'
                  f'</VariableValue><SourceRef targetGUID="{guids[k]}"/></Case>'
                  for k, (name, prov) in enumerate([("Noord", "Antwerpen"), ("Zuid", "Limburg")]))
        + "</Cases><Sources>"
        + "".join(f'<TextSource guid="{g}" name="Interview {k}.txt" plainTextPath="internal://{g}.txt">{selections[g]}'
                  "</TextSource>" for k, g in enumerate(guids))
        + "</Sources></Project>"
    )
    path = tmp_path / "cases.qdpx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("project.qde", xml)
        for guid, text in texts.items():
            archive.writestr(f"sources/{guid}.txt", text.encode())
    report = profile(inputs=[path], outputs=[tmp_path / "c.json"], params_path=fast_params)
    assert report["groups"] == ["Gemeente Noord", "Gemeente Zuid"] and report["coders"] == ["Els"]
    for p in report["profiles"]:
        cell = p["cells"][0]
        assert (cell["grid"], cell["beleid_beheer"], cell["intern_extern"], cell["n"], cell["share"]) == \
            ("strategisch", "beleid", "intern", 1, 1.0)
    by_province = profile(inputs=[path], outputs=[tmp_path / "v.json"], field=["provincie"], params_path=fast_params)
    assert by_province["groups"] == ["Antwerpen", "Limburg"]


def test_model_codes_the_fragments(corpus: Path, tmp_path: Path, fast_params: Path, tiny_model: Path):
    report = profile(inputs=[corpus], outputs=[tmp_path / "m.json"], model_dir=tiny_model, params_path=fast_params)
    assert report["coders"][-1] == "model" and ("A", "model") in {tuple(c["coders"]) for c in report["comparisons"]}
    for p in report["profiles"]:
        if p["coder"] != "model":
            continue
        for cell in p["cells"]:
            scores = [e["score"] for e in cell["evidence"]]
            assert scores == sorted(scores, reverse=True) and len(scores) <= 5


# --------------------------------------------------------------------------- bad input


def test_missing_grouping_field_is_one_clear_error(tmp_path: Path, fast_params: Path):
    corpus = write_corpus(tmp_path / "nomuni", with_municipality=False)
    with pytest.raises(InputError, match="none of the metadata fields municipality, case"):
        profile(inputs=[corpus], outputs=[tmp_path / "x.json"], params_path=fast_params)
    assert not (tmp_path / "x.json").exists()
    coded = load_coded([corpus], CODEBOOK, max_fragment_tokens=80, min_fragment_share=0.5, min_span_share=0.5)
    with pytest.raises(InputError, match="d1"):
        assign_groups(list(coded.records.values()), coded.documents, by="case", fields=["municipality"], source="x")


def test_predictions_of_another_codebook_are_refused(corpus: Path, tmp_path: Path, fast_params: Path):
    other = write_predictions(tmp_path / "other.jsonl", corpus, codes=("intern", "extern", "beleid", "beheer", "lokaal"))
    with pytest.raises(InputError, match="another codebook"):
        profile(inputs=[corpus, other], outputs=[tmp_path / "x.json"], params_path=fast_params)


@pytest.mark.parametrize("args, message", [
    (["--by", "province"], "unknown grouping 'province'"),
    (["--coder", "Z"], "no coder 'Z'"),
    (["-o", "{tmp}/x.txt"], "unsupported output type"),
])
def test_cli_bad_usage_exits_2(corpus: Path, tmp_path: Path, args: list[str], message: str):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    output = [] if "-o" in args else ["-o", str(tmp_path / "x.json")]
    result = CliRunner().invoke(app, ["profile", str(corpus), *output, *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "x.json").exists()


def test_cli_writes_all_outputs(corpus: Path, tmp_path: Path, fast_params: Path):
    predictions = write_predictions(tmp_path / "pred.jsonl", corpus)
    result = CliRunner().invoke(app, ["profile", str(corpus), str(predictions), "-o", str(tmp_path / "a.html"), "-o",
                                      str(tmp_path / "a.csv"), "--params", str(fast_params)])
    assert result.exit_code == 0, result.output
    assert "3 groups x 3 coders" in result.output and "A vs model" in result.output
    assert (tmp_path / "a.html").read_text(encoding="utf-8").count('<table class="grid"') == 3 * 3 * 2


def test_params_section_is_validated(tmp_path: Path):
    import yaml

    from pipeline.core.config import DEFAULT_PARAMS

    params = yaml.safe_load(DEFAULT_PARAMS.read_text(encoding="utf-8"))
    params["profile"]["case_fields"] = []
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    with pytest.raises(InputError, match="profile.case_fields"):
        load_params(path)


def test_build_profiles_needs_coded_fragments(tmp_path: Path):
    from pipeline.corpus.coded import CodedSet

    with pytest.raises(InputError, match="no coded respondent fragments"):
        build_profiles(CodedSet(sources=["x"]), CODEBOOK, load_params().profile, by="case")
