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
from pipeline.core.params import load_params
from pipeline.model.apply import label_records
from pipeline.model.classifier import AXIS_CATEGORIES, ModelMetadata
from pipeline.model.decision import axis_decision_margins, axis_pole_indices
from pipeline.model.scoring import Scores
from pipeline.predict import predict
from pipeline.report.predictions import render_html, write_predictions

CODEBOOK = load_codebook()
CODE_IDS = list(CODEBOOK.code_ids)
AXIS_IDS = [axis.id for axis in CODEBOOK.axes]
POLES = axis_pole_indices(CODE_IDS, CODEBOOK)
NS = "{urn:QDA-XML:project:1.0}"


def _metadata(head: str = "poles", thresholds: float = 0.5) -> ModelMetadata:
    return ModelMetadata(code_ids=CODE_IDS, codebook_fingerprint="x", thresholds={c: thresholds for c in CODE_IDS},
                         backbone={"spec": "tiny"}, training_data_sha256="0" * 64, params={}, max_length=32,
                         text_prefix="", label_coder="A", synthetic_training_data=True, head=head)


def test_a_category_margin_is_half_the_gap_between_the_two_most_probable_categories() -> None:
    categories = np.array([[0.7, 0.2, 0.05, 0.05, 0.4, 0.4, 0.1, 0.1, 0.1, 0.2, 0.3, 0.4]])
    margins = axis_decision_margins(np.zeros((1, 6)), np.zeros(6), POLES, categories)
    assert margins.shape == (1, 3)
    assert margins[0] == pytest.approx([0.25, 0.0, 0.05])


def test_a_threshold_margin_is_the_distance_of_the_pole_score_nearest_its_threshold() -> None:
    probabilities = np.array([[0.9, 0.45, 0.2, 0.1, 0.36, 0.95]])
    thresholds = np.array([0.5, 0.5, 0.5, 0.5, 0.35, 0.6])
    margins = axis_decision_margins(probabilities, thresholds, POLES)
    assert margins[0] == pytest.approx([0.05, 0.3, 0.01])


@pytest.mark.parametrize("head", ["poles", AXIS_CATEGORIES])
def test_the_review_flag_is_raised_exactly_where_a_margin_is_below_the_review_margin(head: str) -> None:
    rng = np.random.default_rng(7)
    n = 200
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
    scores = Scores(probabilities, [1] * n, [False] * n, categories)
    params = dataclasses.replace(load_params().predict, review_margin=0.1)
    records = [{"id": str(k), "text": "x"} for k in range(n + 1)]  # the last one is not coded
    out, _ = label_records(records, list(range(n)), scores, metadata=_metadata(head), params=params,
                           codebook=CODEBOOK)
    flagged = [r["review"] for r in out[:n]]
    below = [min(r["margins"].values()) < 0.1 for r in out[:n]]
    assert flagged == below and 10 < sum(flagged) < n - 10  # both kinds of fragment occur
    assert all(set(r["margins"]) == set(AXIS_IDS) for r in out)
    assert out[n]["margins"] == {a: None for a in AXIS_IDS} and out[n]["coded"] is False
    if head == AXIS_CATEGORIES:  # the axes named in doubt are those whose margin is below it
        for record in out[:n]:
            named = set(record.get("review_codes", []))
            doubtful = {pole for axis in CODEBOOK.axes if record["margins"][axis.id] < 0.1 for pole in axis.poles}
            assert named == doubtful


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
    html = render_html(records, [document], _metadata(), CODEBOOK)
    assert html.count('title="decision margin: Intern / extern 0.40, Beleid / beheer 0.30, '
                      'Strategisch / operationeel 0.16"') == sum(r["coded"] for r in records) == 1
