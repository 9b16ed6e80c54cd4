"""Each axis's decision margin: how far the model's decision on it stands from changing, written by `predict` in
every output (JSONL `margins`, CSV `margin_<axis>`, the HTML hover text, the .qdpx Description), and the review
flag raised exactly where a margin is below `predict.review_margin` (README, review loop; item 32 of the quality
section: a team takes the model's surest suggestions first)."""

from __future__ import annotations

import csv
import dataclasses
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from lxml import etree

from pipeline.core.codebook import load_codebook
from pipeline.core.numbers import cut_to
from pipeline.core.params import load_params
from pipeline.model.apply import label_records
from pipeline.model.classifier import AXIS_CATEGORIES, ModelMetadata
from pipeline.model.decision import AXIS, axis_pole_indices, threshold_rule
from pipeline.model.scoring import Scores
from pipeline.model.selection import decision_margins
from pipeline.predict import predict
from pipeline.report.predictions import render_html, write_predictions

CODEBOOK = load_codebook()
CODE_IDS = list(CODEBOOK.code_ids)
AXIS_IDS = [axis.id for axis in CODEBOOK.axes]
POLES = axis_pole_indices(CODE_IDS, CODEBOOK)
NS = "{urn:QDA-XML:project:1.0}"
HALF = {c: 0.5 for c in CODE_IDS}
# beleid/beheer "one pole only", the other axes plain thresholds: the margin must follow the rule
EXCLUSIVE = {"kind": AXIS, "thresholds": HALF, "axes": {"beleid_beheer": {"exclusive": True}}}


def _metadata(head: str = "poles", decision: dict | None = None) -> ModelMetadata:
    return ModelMetadata(code_ids=CODE_IDS, codebook_fingerprint="x", thresholds=dict(HALF),
                         backbone={"spec": "tiny"}, training_data_sha256="0" * 64, params={}, max_length=32,
                         text_prefix="", label_coder="A", synthetic_training_data=True, head=head, decision=decision)


def _label(probabilities: np.ndarray, categories: np.ndarray | None = None, *, head: str = "poles",
           decision: dict | None = None, review_margin: float = 0.1, uncoded: int = 0):
    n = len(probabilities)
    scores = Scores(probabilities, [1] * n, [False] * n, categories)
    params = dataclasses.replace(load_params().predict, review_margin=review_margin)
    records = [{"id": str(k), "text": "x"} for k in range(n + uncoded)]
    out, _ = label_records(records, list(range(n)), scores, metadata=_metadata(head, decision), params=params,
                           codebook=CODEBOOK)
    return out


def test_a_category_margin_is_half_the_gap_between_the_two_most_probable_categories() -> None:
    categories = np.array([[0.7, 0.2, 0.05, 0.05, 0.4, 0.4, 0.1, 0.1, 0.1, 0.2, 0.3, 0.4]])
    margins = decision_margins(np.zeros((1, 6)), categories, None, CODE_IDS, CODEBOOK)
    assert margins.shape == (1, 3)
    assert margins[0] == pytest.approx([0.25, 0.0, 0.05])


def test_a_threshold_margin_is_the_distance_of_the_pole_score_nearest_its_threshold() -> None:
    probabilities = np.array([[0.9, 0.45, 0.2, 0.1, 0.36, 0.95]])
    rule = threshold_rule(CODE_IDS, [0.5, 0.5, 0.5, 0.5, 0.35, 0.6])
    margins = decision_margins(probabilities, None, rule, CODE_IDS, CODEBOOK)
    assert margins[0] == pytest.approx([0.05, 0.3, 0.01])


def test_under_an_axis_rule_the_margin_is_the_distance_to_a_changed_decision_not_to_a_threshold() -> None:
    # beleid 0.9 and beheer 0.86 both pass 0.5, "one pole only" keeps beleid: swapping their margins (0.02 each)
    # changes the decision, while each is 0.36 or more from its threshold
    probabilities = np.array([[0.9, 0.1, 0.9, 0.86, 0.9, 0.1]])
    exclusive = decision_margins(probabilities, None, EXCLUSIVE, CODE_IDS, CODEBOOK)
    plain = decision_margins(probabilities, None, threshold_rule(CODE_IDS, [0.5] * 6), CODE_IDS, CODEBOOK)
    assert exclusive[0, 1] == pytest.approx(0.02) and plain[0, 1] == pytest.approx(0.36)
    out = _label(probabilities, decision=EXCLUSIVE, review_margin=0.05)
    assert out[0]["labels"]["beleid"] == 1 and out[0]["labels"]["beheer"] == 0
    assert out[0]["review"] and out[0]["margins"]["beleid_beheer"] < 0.05
    assert not _label(probabilities, review_margin=0.05)[0]["review"]  # under plain thresholds: sure


@pytest.mark.parametrize("head,decision", [("poles", None), ("poles", EXCLUSIVE), (AXIS_CATEGORIES, None)])
def test_the_review_flag_is_raised_exactly_where_a_written_margin_is_below_the_review_margin(
        head: str, decision: dict | None) -> None:
    rng = np.random.default_rng(7)
    n = 300
    categories = None
    if head == AXIS_CATEGORIES:
        logits = rng.normal(size=(n, 12)) * 2
        blocks = np.exp(logits.reshape(n, 3, 4))
        categories = (blocks / blocks.sum(axis=2, keepdims=True)).reshape(n, 12)
        probabilities = np.zeros((n, 6))
        for a, (i, j) in enumerate(POLES):
            probabilities[:, i] = categories[:, 4 * a] + categories[:, 4 * a + 2]
            probabilities[:, j] = categories[:, 4 * a + 1] + categories[:, 4 * a + 2]
    else:
        probabilities = rng.uniform(size=(n, 6))
        probabilities[0, 0], probabilities[0, 1] = 0.5 + 0.099996, 0.05  # a margin that rounds to 0.1
    out = _label(probabilities, categories, head=head, decision=decision, uncoded=1)
    flagged = [r["review"] for r in out[:n]]
    below = [min(r["margins"].values()) < 0.1 for r in out[:n]]
    assert flagged == below and 10 < sum(flagged) < n - 10  # both kinds of fragment occur
    if head == "poles":
        assert out[0]["review"] and out[0]["margins"]["intern_extern"] == 0.0999
    assert all(set(r["margins"]) == set(AXIS_IDS) for r in out)
    assert out[n]["margins"] == {a: None for a in AXIS_IDS} and out[n]["coded"] is False
    if head == AXIS_CATEGORIES:  # the axes named in doubt are those whose margin is below it
        for record in out[:n]:
            named = set(record.get("review_codes", []))
            doubtful = {pole for axis in CODEBOOK.axes if record["margins"][axis.id] < 0.1 for pole in axis.poles}
            assert named == doubtful


@pytest.mark.parametrize("head", ["poles", AXIS_CATEGORIES])
def test_a_chunk_with_nothing_to_code_gets_no_margins(head: str) -> None:
    categories = np.zeros((0, 12)) if head == AXIS_CATEGORIES else None
    out = _label(np.zeros((0, 6)), categories, head=head, uncoded=2)
    assert [r["margins"] for r in out] == [{a: None for a in AXIS_IDS}] * 2 and not any(r["review"] for r in out)


def test_numbers_are_cut_not_rounded() -> None:
    assert cut_to(0.049996, 4) == 0.0499 and cut_to(0.29, 2) == 0.29 and cut_to(0.4, 3) == 0.4
    assert cut_to(0.05, 4) == 0.05 and cut_to(0.9999, 2) == 0.99


def test_predict_writes_the_margins_in_jsonl_and_csv(tiny_model: Path, tmp_path: Path) -> None:
    transcript = tmp_path / "interview.txt"
    transcript.write_text("I: Hoe is de regie geregeld?\n\nR: Het managementteam bespreekt het budget.\n\n"
                          "R: Elke dinsdag loopt het taalcafé in het sociaal huis.\n", encoding="utf-8")
    jsonl, table = tmp_path / "out.jsonl", tmp_path / "out.csv"
    predict(inputs=[transcript], model_dir=tiny_model, output=jsonl)
    predict(inputs=[transcript], model_dir=tiny_model, output=table)
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    interviewer, *respondent = rows
    assert interviewer["margins"] == {a: None for a in AXIS_IDS}
    for row in respondent:
        assert set(row["margins"]) == set(AXIS_IDS) and all(0 <= v <= 1 for v in row["margins"].values())
    with table.open(encoding="utf-8", newline="") as handle:
        lines = list(csv.DictReader(handle))
    assert [line["margin_intern_extern"] for line in lines] == \
        ["" if r["margins"]["intern_extern"] is None else str(r["margins"]["intern_extern"]) for r in rows]
    assert all(f"margin_{a}" in lines[0] for a in AXIS_IDS)


def test_the_qdpx_and_html_show_the_margins(tmp_path: Path) -> None:
    from pipeline.ingest.reader import read_document
    from pipeline.ingest.segmentation import segment_document

    path = tmp_path / "interview.txt"
    path.write_text("I: Hoe begon het?\nR: Het college koos een visie voor de lange termijn.\n", encoding="utf-8")
    document = read_document(path)
    records = [f.to_dict() for f in segment_document(document, max_fragment_tokens=200)]
    scores = {"intern": 0.9, "extern": 0.05, "beleid": 0.8, "beheer": 0.1, "strategisch": 0.34, "operationeel": 0.1}
    margins = {"intern_extern": 0.4, "beleid_beheer": 0.3, "strategisch_operationeel": 0.16}
    for record in records:
        coded = record["codable"]
        record.update(coded=coded, review=False, model="m",
                      scores=scores if coded else {c: None for c in CODE_IDS},
                      labels={c: int(coded and scores[c] >= 0.5) for c in CODE_IDS},
                      margins=margins if coded else {a: None for a in AXIS_IDS})
    output = tmp_path / "out.qdpx"
    write_predictions(output, records=records, documents=[document], metadata=_metadata(), codebook=CODEBOOK,
                      base_projects=[])
    with zipfile.ZipFile(output) as archive:
        root = etree.fromstring(archive.read("project.qde"))
    descriptions = [s.findtext(NS + "Description") for s in root.iter(NS + "PlainTextSelection")]
    assert descriptions and all(d.endswith("decision margins: intern_extern 0.400, beleid_beheer 0.300, "
                                           "strategisch_operationeel 0.160") for d in descriptions)
    records[1]["margins"] = dict(margins, strategisch_operationeel=0.0499)  # shown cut: 0.049, 0.04; not 0.050, 0.05
    write_predictions(output, records=records, documents=[document], metadata=_metadata(), codebook=CODEBOOK,
                      base_projects=[])
    with zipfile.ZipFile(output) as archive:
        root = etree.fromstring(archive.read("project.qde"))
    assert [s.findtext(NS + "Description") for s in root.iter(NS + "PlainTextSelection")][0].endswith(
        "strategisch_operationeel 0.049")
    html = render_html(records, [document], _metadata(), CODEBOOK)
    assert html.count('title="decision margin: Intern / extern 0.40, Beleid / beheer 0.30, '
                      'Strategisch / operationeel 0.04"') == sum(r["coded"] for r in records) == 1
