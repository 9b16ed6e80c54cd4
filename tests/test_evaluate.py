"""`capcode evaluate`: a tiny trained model against inline manual coding, with baselines and human agreement."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.core.codebook import load_codebook
from pipeline.core.params import TfidfParams
from pipeline.evaluate import code_scores, evaluation_set, human_agreement
from pipeline.model.baselines import majority_labels, tfidf_labels
from tests.tiny_model import CODES, prepared_fragments, prepared_records

REPO = Path(__file__).resolve().parent.parent
AXES = ("intern_extern", "beleid_beheer", "strategisch_operationeel")


@pytest.fixture(scope="module")
def evaluated(tiny_trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run `capcode evaluate` on the session's tiny model, return the output directory."""
    work = tmp_path_factory.mktemp("evaluate")
    model_dir, prepared, params = tiny_trained.model_dir, tiny_trained.prepared, tiny_trained.params
    output_dir = work / "reports" / "evaluate"
    env = {**os.environ, "CAPCODE_PROGRESS": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "evaluate", "--prepared", str(prepared), "--model", str(model_dir),
         "-o", str(output_dir), "--params", str(params)],
        cwd=REPO, capture_output=True, text=True, env=env, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "test.model.macro_f1" in result.stderr
    return output_dir


def test_metrics_are_flat_and_complete(evaluated: Path) -> None:
    metrics = json.loads((evaluated / "metrics.json").read_text())
    assert all(not isinstance(v, (dict, list)) for v in metrics.values())  # flat, for `dvc metrics show`
    for set_name in ("test", "gold"):
        for system in ("model", "tfidf", "majority"):
            assert f"{set_name}.{system}.macro_f1" in metrics
            for axis in AXES:
                for name in ("macro_f1", "alpha", "alpha_low", "alpha_high", "kappa", "kappa_low", "kappa_high"):
                    assert f"{set_name}.{system}.{axis}.{name}" in metrics
            for code in CODES:
                for name in ("precision", "recall", "f1", "support", "alpha", "kappa", "alpha_low", "kappa_high"):
                    assert f"{set_name}.{system}.{code}.{name}" in metrics
    assert metrics["test.n_fragments"] == 20 and metrics["gold.n_fragments"] == 8
    # gold: strategisch is referenced by `report`, which placed 4 of the 8 quotes under strategic capacity
    assert metrics["gold.model.strategisch.support"] == 4
    assert metrics["gold.majority.beheer.support"] == 0
    # the majority baseline predicts, per code, the label most of coder A's train fragments have: recall 1.0
    # where that is "present", 0.0 where it is "absent", undefined (None) where the test set has no positive
    train = np.array([[r["labels"]["A"][c] for c in CODES] for r in prepared_records()
                      if r["split"] == "train" and r["codable"]])
    majority = train.mean(axis=0) > 0.5
    for j, code in enumerate(CODES):
        support = metrics[f"test.majority.{code}.support"]
        assert metrics[f"test.majority.{code}.recall"] == (None if support == 0 else float(majority[j])), code
        if not majority[j]:  # never predicted: precision is 0/0
            assert metrics[f"test.majority.{code}.precision"] is None, code
    assert any(metrics[f"test.majority.{code}.support"] for code in CODES)  # the check above is not vacuous
    assert "human.A_B.intern.alpha" in metrics and "human.A_B.alpha" in metrics
    assert "human.A_B.strategisch_operationeel.kappa" in metrics
    assert metrics["human.A_B.n_fragments"] == 22
    assert not any(key.startswith("human.dev_report") for key in metrics)  # they coded disjoint axes
    assert metrics["test.tfidf.macro_f1"] is not None and 0 <= metrics["test.tfidf.macro_f1"] <= 1
    # humans and model on the same held-out fragments: only the test interview that B double-coded
    test_b = metrics["heldout.A_B.n_fragments"]
    assert 0 < test_b < metrics["human.A_B.n_fragments"]
    for who in ("A_B", "model_A", "model_B"):
        for name in (*CODES, *AXES):
            assert f"heldout.A_B.{who}.{name}.alpha" in metrics


def test_headline_metrics_fit_a_screen(evaluated: Path) -> None:
    """headline.json (the DVC metrics file): per set macro-F1 and alpha per axis of every system and the human
    pair, a few dozen numbers that agree with the detailed metrics.json."""
    headline = json.loads((evaluated / "headline.json").read_text())
    metrics = json.loads((evaluated / "metrics.json").read_text())

    def leaves(node):
        return [v for child in node.values() for v in leaves(child)] if isinstance(node, dict) else [node]

    assert set(headline) == {"test", "gold"}
    for set_name in ("test", "gold"):
        for system in ("model", "tfidf", "majority"):
            figures = headline[set_name][system]
            assert figures["macro_f1"] == metrics[f"{set_name}.{system}.macro_f1"]
            assert figures["alpha"] == {axis: metrics[f"{set_name}.{system}.{axis}.alpha"] for axis in AXES}
    # A and B double-coded one held-out test interview: their alpha on exactly those fragments
    assert headline["test"]["human"]["A_B"]["alpha"] == {
        axis: metrics[f"heldout.A_B.A_B.{axis}.alpha"] for axis in AXES}
    assert "human" not in headline["gold"]  # report and dev coded disjoint axes
    assert 20 <= len(leaves(headline)) <= 40


def test_nested_results_plots_and_report(evaluated: Path) -> None:
    results = json.loads((evaluated / "evaluation.json").read_text())
    assert results["synthetic"] is True and results["sets"]["gold"]["synthetic"] is False
    assert results["sets"]["gold"]["reference"]["strategisch"] == "report"
    assert results["sets"]["gold"]["reference"]["intern"] == "dev"
    model_axis = results["sets"]["test"]["systems"]["model"]["axes"]["intern_extern"]
    assert np.array(model_axis["confusion"]).shape == (4, 4) and np.sum(model_axis["confusion"]) == 20
    assert np.array(results["sets"]["test"]["systems"]["tfidf"]["codes"]["beleid"]["confusion"]).shape == (2, 2)
    with (evaluated / "plots" / "f1_test.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {r["system"] for r in rows} == {"model", "tfidf", "majority"}
    assert set(rows[0]) == {"label", "code", "system", "f1"}
    with (evaluated / "plots" / "confusion_gold_strategisch_operationeel.csv").open() as handle:
        confusion = list(csv.DictReader(handle))
    assert len(confusion) == 8 and {r["actual"] for r in confusion} <= {"only strategisch", "only operationeel"}
    html = (evaluated / "report.html").read_text(encoding="utf-8")
    assert "SYNTHETIC DATA" in html and "Gold set (real coded material)" in html and "<script" not in html
    assert html.count("<svg") >= 10


def test_code_scores_by_hand() -> None:
    truth = np.array([1, 1, 0, 0, 1])
    predicted = np.array([1, 0, 1, 0, 1])
    scores = code_scores(truth, predicted)
    assert scores["precision"] == pytest.approx(2 / 3) and scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 / 3) and scores["support"] == 3
    assert scores["confusion"] == [[1, 1], [1, 2]]
    never = code_scores(np.array([0, 0]), np.array([0, 0]))
    assert never["precision"] is None and never["f1"] is None and never["support"] == 0


def test_gold_set_takes_each_axis_from_its_coder() -> None:
    codebook = load_codebook()
    gold = evaluation_set(prepared_fragments(), name="gold", description="", split="gold", codebook=codebook,
                          coder_of_axis={"strategisch_operationeel": "report", "intern_extern": "dev",
                                         "beleid_beheer": "dev"})
    assert gold.truth.shape == (8, 6) and (gold.truth >= 0).all()
    assert gold.truth[:, codebook.code_ids.index("strategisch")].tolist() == [1, 0] * 4


def test_human_agreement_pairs_only_coders_who_overlap() -> None:
    result = human_agreement(prepared_fragments(), load_codebook(), n_boot=0, seed=0)
    assert set(result["pairs"]) == {"A_B"}
    pair = result["pairs"]["A_B"]
    assert pair["splits"] == ["test", "train"] and pair["per_code"]["intern"]["n_units"] == 22


def test_baselines() -> None:
    train = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 0, 1]])
    assert majority_labels(train, 2).tolist() == [[1, 0, 0], [1, 0, 0]]
    texts = ["de diensten en het managementteam", "de scholen en vrijwilligers", "het budget", "de scholen"]
    labels = np.array([[1, 0], [0, 1], [0, 0], [0, 1]])
    params = TfidfParams(ngram_range=[1, 2], min_df=1, max_df=1.0, max_features=None, sublinear_tf=True, C=10.0,
                         class_weight="balanced", max_iter=200)
    first = tfidf_labels(texts, labels, ["scholen", "managementteam diensten"], params=params, seed=1)
    again = tfidf_labels(texts, labels, ["scholen", "managementteam diensten"], params=params, seed=1)
    assert first.tolist() == again.tolist() == [[0, 1], [1, 0]]


def test_missing_model_is_bad_input(tmp_path: Path) -> None:
    from tests.tiny_model import write_prepared

    prepared = write_prepared(tmp_path / "fragments.jsonl")
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "evaluate", "--prepared", str(prepared), "--model",
         str(tmp_path / "nope"), "-o", str(tmp_path / "out")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
