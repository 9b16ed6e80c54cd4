"""`capcode adapt`, the per-axis decision rule and `capcode crossval`, on a tiny model and inline quotes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipeline.core.codebook import load_codebook
from pipeline.core.config import DEFAULT_PARAMS
from pipeline.model.adaptation import team_fragments
from pipeline.model.decision import apply_decision, axis_category, tune_axis_rule

CODEBOOK = load_codebook()
CODES = CODEBOOK.code_ids
SENTENCES = {
    ("intern", "beleid", "strategisch"): "In het managementteam schrijven we de visie voor het meerjarenplan.",
    ("extern", "beheer", "operationeel"): "Elke dinsdag regelen we met de vrijwilligers de zaal en het budget.",
    ("intern", "beheer", "operationeel"): "De collega's van de dienst jeugd helpen deze week met de inschrijvingen.",
    ("extern", "beleid", "strategisch"): "Met de scholen en zelforganisaties kiezen we de prioriteiten voor later.",
}


def write_quotes(directory: Path, *, per_case: int = 6) -> Path:
    """A real-looking collection: 3 cases, one quote per document; `report` codes strategisch/operationeel
    only, `dev` the other two axes (as corpus/study-quotes)."""
    (directory / "transcripts").mkdir(parents=True)
    metadata, codings = [], []
    keys = list(SENTENCES)
    for case in (1, 2, 3):
        for q in range(per_case):
            codes = keys[(q + case) % len(keys)]
            doc = f"c{case}-q{q}"
            text = SENTENCES[codes] + f" Dat was in jaar {q}."
            (directory / "transcripts" / f"{doc}.txt").write_text(text, encoding="utf-8")
            metadata.append({"document": doc, "file": f"transcripts/{doc}.txt", "case": case,
                             "coders": ["report", "dev"]})
            for code in codes:
                coder = "report" if code in ("strategisch", "operationeel") else "dev"
                codings.append({"document": doc, "start": 0, "end": len(text), "code": code, "coder": coder})
    (directory / "metadata.jsonl").write_text("\n".join(json.dumps(m) for m in metadata), encoding="utf-8")
    (directory / "codings.jsonl").write_text("\n".join(json.dumps(c) for c in codings), encoding="utf-8")
    (directory / "collection.yaml").write_text(
        "name: quotes\nsynthetic: false\nuse: evaluation\ncoder_axes:\n  report: [strategisch_operationeel]\n"
        "  dev: [intern_extern, beleid_beheer]\n", encoding="utf-8")
    return directory


def fast_params(path: Path) -> Path:
    params = yaml.safe_load(DEFAULT_PARAMS.read_text(encoding="utf-8"))
    # the poles head on the model's own encoder, which these tests are about (tests/test_category_head.py: the default)
    params["adapt"].update(steps=40, max_replay=50, head="poles", encoder="model")
    params["crossval"].update(seeds=[1, 2], n_boot=20, learning_curve=[0, 4], real_weights=[1.0])
    params["predict"].update(precision="fp32", batch_size=16)
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return path


def capcode(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True,
                          env={"CAPCODE_PROGRESS": "0", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})


# --------------------------------------------------------------------------- decision rule


def test_axis_rule_forces_one_pole_and_exclusivity() -> None:
    probabilities = np.array([[0.2, 0.3, 0.9, 0.8, 0.1, 0.1]])
    rule = {"kind": "axis", "thresholds": dict.fromkeys(CODES, 0.5),
            "axes": {"intern_extern": {"at_least_one": True, "exclusive": False},
                     "beleid_beheer": {"at_least_one": False, "exclusive": True},
                     "strategisch_operationeel": {"at_least_one": False, "exclusive": False}}}
    labels = apply_decision(probabilities, rule, CODES, CODEBOOK)
    assert labels[0].tolist() == [0, 1, 1, 0, 0, 0]  # extern wins the empty axis, beleid the doubled one
    plain = apply_decision(probabilities, {"kind": "thresholds", "thresholds": rule["thresholds"]}, CODES, CODEBOOK)
    assert plain[0].tolist() == [0, 0, 1, 1, 0, 0]


def test_tuning_finds_the_rule_that_matches_the_coding() -> None:
    rng = np.random.default_rng(0)
    truth = np.zeros((40, 6))
    strategic = rng.random(40) < 0.5
    truth[:, 4], truth[:, 5] = strategic, ~strategic
    truth[:, :4] = np.nan  # other axes not coded: masked, never read as absent
    probabilities = np.full((40, 6), 0.1)
    probabilities[:, 4] = np.where(strategic, 0.35, 0.2)  # below 0.5, but ordered: a lower threshold fixes it
    probabilities[:, 5] = np.where(strategic, 0.2, 0.3)
    rule = tune_axis_rule(probabilities, truth, CODES, CODEBOOK, [0.1, 0.25, 0.5, 0.7])
    labels = apply_decision(probabilities, rule, CODES, CODEBOOK)
    assert rule["axes"]["strategisch_operationeel"]["alpha_cv"] == pytest.approx(1.0)
    assert (labels[:, 4] == strategic).all() and (labels[:, 5] == ~strategic).all()
    assert rule["axes"]["intern_extern"]["n"] == 0


def test_axis_category_codes() -> None:
    got = axis_category(np.array([1.0, 0, 1, 0, np.nan]), np.array([0.0, 1, 1, 0, 1]))
    assert got[:4].tolist() == [0, 1, 2, 3] and np.isnan(got[4])


def test_team_labels_take_each_axis_from_the_first_coder_that_coded_it() -> None:
    records = [{"id": "f", "text": "t", "codable": True, "document": "d", "group": "1",
                "labels": {"report": {"strategisch": 1, "operationeel": 0},
                           "dev": {"intern": 0, "extern": 1, "beleid": 1, "beheer": 0}}},
               {"id": "g", "text": "u", "codable": True, "document": "e", "group": "2",
                "labels": {"report": {"strategisch": 0, "operationeel": 1}}}]
    team = team_fragments(records, coders=["report", "dev"], codebook=CODEBOOK, group_by="group")
    assert team.labels[0].tolist() == [0, 1, 1, 0, 1, 0]
    assert np.isnan(team.labels[1, :4]).all() and team.labels[1, 4:].tolist() == [0, 1]
    assert team.groups == ["1", "2"]


# --------------------------------------------------------------------------- the commands


@pytest.fixture(scope="module")
def quotes(tmp_path_factory) -> Path:
    return write_quotes(tmp_path_factory.mktemp("quotes") / "quotes")


def test_adapt_writes_a_model_that_records_what_it_learned(tiny_model, prepared_mini, quotes, tmp_path) -> None:
    params = fast_params(tmp_path / "params.yaml")
    out = tmp_path / "adapted"
    result = capcode("adapt", str(quotes), "--coder", "report", "--coder", "dev", "--model", str(tiny_model),
                     "--replay", str(prepared_mini / "fragments.jsonl"), "-o", str(out), "--params", str(params))
    assert result.returncode == 0, result.stderr
    meta = json.loads((out / "capcode_model.json").read_text())
    assert meta["adapted"]["coders"] == ["report", "dev"] and meta["adapted"]["n_fragments"] == 18
    assert meta["adapted"]["documents"][0] == "c1-q0" and meta["decision"]["kind"] == "axis"
    assert set(meta["training_documents"]) >= set(meta["adapted"]["documents"])
    assert meta["thresholds"] == meta["decision"]["thresholds"]
    base_head = (tiny_model / "head.safetensors").read_bytes()
    assert (out / "head.safetensors").read_bytes() != base_head
    predicted = tmp_path / "p.jsonl"
    result = capcode("predict", str(quotes / "transcripts" / "c1-q0.txt"), "--model", str(out), "-o", str(predicted),
                     "--params", str(params))
    assert result.returncode == 0, result.stderr
    row = json.loads(predicted.read_text().splitlines()[0])
    for axis in CODEBOOK.axes:  # the stored per-axis rule is applied by predict
        if meta["decision"]["axes"][axis.id]["at_least_one"]:
            assert sum(row["labels"][p] for p in axis.poles) >= 1


@pytest.mark.parametrize("args, message", [
    (["--coder", "nobody"], "no coding by 'nobody'"),
    (["--coder", "report", "--model", "MODEL_AS_OUTPUT"], "new directory"),
])
def test_adapt_bad_input_is_one_line_and_writes_nothing(tiny_model, quotes, tmp_path, args, message) -> None:
    out = tmp_path / "adapted"
    args = [str(tiny_model) if a == "MODEL_AS_OUTPUT" else a for a in args]
    target = tiny_model if "--model" in args else out
    command = ["adapt", str(quotes), *args, "-o", str(target)]
    if "--model" not in args:
        command += ["--model", str(tiny_model)]
    result = capcode(*command)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not out.exists()


def test_crossval_reports_held_out_figures_curve_and_ablation(tiny_model, tiny_backbone, prepared_mini, quotes,
                                                              tmp_path) -> None:
    params = fast_params(tmp_path / "params.yaml")
    (quotes / "metadata.jsonl").read_text()
    out = tmp_path / "crossval"
    # the two reference coders double as "human" coders here (each leaves the other's axes empty: "neither"),
    # enough to exercise the human rows and the mean of several humans
    result = capcode("crossval", str(quotes), "--coder", "report", "--coder", "dev", "--model", str(tiny_model),
                     "--replay", str(prepared_mini / "fragments.jsonl"), "-o", str(out), "--params", str(params),
                     "--backbone", str(tiny_backbone), "--human", "report", "--human", "dev")
    assert result.returncode == 0, result.stderr
    output = json.loads((out / "crossval.json").read_text())
    assert output["cases"] == ["1", "2", "3"] and output["n_fragments"] == 18
    default = output["systems"][output["default"]]
    assert set(default) == {a.id for a in CODEBOOK.axes}
    assert len(default["intern_extern"]["seeds"]) == 2
    assert [r["n_team_fragments"] for r in output["learning_curve"]] == [0, 4, "all"]
    assert output["learning_curve"][-1]["n_used_mean"] == 12  # two training cases of 6 quotes
    metrics = json.loads((out / "metrics.json").read_text())
    baselines = {"base", "tfidf", "frozen_lr", "tfidf_base_thresholds", "frozen_lr_base_thresholds", "tfidf_categories",
                 "frozen_categories"}
    assert set(metrics["loco"]) >= baselines | {"adapted", "human_report", "human_dev", "human_mean"}
    assert set(metrics["adapted_minus"]) == baselines | {"human_report", "human_dev", "human_mean"}
    assert output["compared_systems"]["tfidf_categories"] in output["systems"]
    assert output["baseline_thresholds"].startswith("tuned per fit on the replay's validation split")
    for axis in ("intern_extern", "strategisch_operationeel"):  # one human is the reference there, one is not
        both = [metrics["loco"][f"human_{h}"][axis] for h in ("report", "dev")]
        assert metrics["loco"]["human_mean"][axis] == pytest.approx(np.mean(both), abs=2e-4)
        assert metrics["adapted_minus"]["human_mean"][axis]["mean"] == pytest.approx(
            np.mean([metrics["adapted_minus"][f"human_{h}"][axis]["mean"] for h in ("report", "dev")]), abs=2e-4)
    for key, axes in metrics["adapted_minus"].items():  # paired on the same seeds: the difference of the means
        for axis, difference in axes.items():
            if difference["mean"] is not None:
                expected = metrics["loco"]["adapted"][axis] - metrics["loco"][key][axis]
                assert difference["mean"] == pytest.approx(expected, abs=2e-4)
    rows = [json.loads(line) for line in (out / "loco_predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 18 and {r["case"] for r in rows} == {"1", "2", "3"}
    html = (out / "report.html").read_text()
    assert "Learning curve" in html and "<svg" in html and "Ablation" in html and "Paired differences" in html
    assert "human: mean of report, dev" in html and "the coders&#x27; mean" in html
    assert "baselines' own thresholds: tuned per fit on the replay&#x27;s validation split" in html


def _threshold_data(collections: list[str], validation_y: np.ndarray):
    """A `crossval.Data` of 4 team + 4 replay rows (nothing fitted on it) with a validation split of the given
    collections and coding."""
    from pipeline.crossval import Data, ValidationSplit

    n = len(validation_y)
    x = np.zeros((8, 3))
    return Data(team=None, texts=[""] * 8, y=np.zeros((8, 6)), tuned=x, frozen=x, adapted=x,  # type: ignore[arg-type]
                n_team=4, base_weight=np.zeros((6, 3)), base_bias=np.zeros(6), base_thresholds=np.full(6, 0.9),
                replay_collections=["synthetic"] * 4,
                validation=ValidationSplit([""] * n, validation_y, np.zeros((n, 3)), collections))


def test_per_code_baselines_tune_their_own_thresholds_on_the_validation_split() -> None:
    """`own_thresholds`: per code the grid value with the best validation F1, the base model's procedure; a
    collection that weighs 0 on an axis (adapt.replay_weights) is not tuned on for that axis; 0.5 everywhere
    without a validation split."""
    from dataclasses import replace

    from pipeline.core.params import load_params
    from pipeline.crossval import own_thresholds

    params = replace(load_params(DEFAULT_PARAMS).adapt, threshold_grid=[0.2, 0.4, 0.6, 0.8],
                     replay_weights={"strategisch_operationeel": {"field": 0.0}})
    # rows 0-3 synthetic, 4-7 field; code 0 (intern) positive on rows 0, 1, 4 with scores that separate it at
    # 0.6 on every row; code 4 (strategisch) positive on rows 0, 4, 5: the field rows, scored low, would pull
    # its threshold down, but they do not count on strat./oper.
    y = np.zeros((8, 6))
    y[[0, 1, 4], 0] = 1
    y[[0, 4, 5], 4] = 1
    probabilities = np.full((8, 6), 0.1)
    probabilities[[0, 1, 4], 0] = 0.7
    probabilities[[2, 3], 0] = 0.5
    probabilities[0, 4] = 0.9
    probabilities[[1, 2], 4] = 0.7
    probabilities[[4, 5], 4] = 0.3
    data = _threshold_data(["synthetic"] * 4 + ["field"] * 4, y)
    chosen = own_thresholds(data, params, CODEBOOK, probabilities)
    assert chosen[0] == pytest.approx(0.6)
    assert chosen[4] == pytest.approx(0.8)  # on the synthetic rows alone; with the field rows it would be 0.2
    assert own_thresholds(replace(data, validation=None), params, CODEBOOK, None).tolist() == [0.5] * 6


def test_a_baseline_with_its_own_thresholds_decides_on_them_not_on_the_base_models() -> None:
    """`predict_held_out` with a `ThresholdedPredictor`: its thresholds, not `data.base_thresholds`, decide;
    a plain predictor (the model's heads) keeps the base model's."""
    from pipeline.crossval import ThresholdedPredictor, predict_held_out

    data = _threshold_data(["synthetic"], np.zeros((1, 6)))
    scores = np.full((4, 6), 0.5)
    own = ThresholdedPredictor(lambda test: scores[: len(test)], np.full(6, 0.4))
    _, labels = predict_held_out(lambda rows: own, data, np.array([0, 1]), np.array([2, 3]), np.array([], int),
                                 decision=None, grid=[0.5], codebook=CODEBOOK)
    assert labels.tolist() == [[1] * 6] * 2  # 0.5 >= its own 0.4
    _, labels = predict_held_out(lambda rows: own.predict, data, np.array([0, 1]), np.array([2, 3]),
                                 np.array([], int), decision=None, grid=[0.5], codebook=CODEBOOK)
    assert labels.tolist() == [[0] * 6] * 2  # 0.5 < the base model's 0.9


def _codings(categories: list[int]) -> np.ndarray:
    """0/1 labels of the six codes with the same category (0 only pole 1, 1 only pole 2, 2 both, 3 neither) on
    every axis."""
    poles = {0: (1, 0), 1: (0, 1), 2: (1, 1), 3: (0, 0)}
    return np.array([[v for _ in range(3) for v in poles[c]] for c in categories], dtype=float)


def test_paired_difference_is_zero_for_the_same_coding_and_resolves_a_clear_gap() -> None:
    from pipeline.crossval import paired_difference

    rng = np.random.default_rng(5)
    truth = rng.integers(0, 4, 60)
    reference = _codings(list(truth))
    close = _codings([t if rng.random() < 0.9 else (t + 1) % 4 for t in truth])
    noise = _codings(list(rng.integers(0, 4, 60)))
    same = paired_difference(reference, close, close, CODEBOOK, n_boot=200, confidence=0.95, seed=1)
    assert all(s["alpha"] == 0 and s["ci"] == [0.0, 0.0] and s["n"] == 60 for s in same.values())
    gap = paired_difference(reference, close, noise, CODEBOOK, n_boot=200, confidence=0.95, seed=1)
    for axis in gap.values():
        assert axis["alpha"] > 0.5 and 0 < axis["ci"][0] <= axis["alpha"] <= axis["ci"][1]
    worse = paired_difference(reference, noise, close, CODEBOOK, n_boot=200, confidence=0.95, seed=1)
    assert all(w["alpha"] == pytest.approx(-g["alpha"]) and w["ci"][1] < 0 for w, g in zip(worse.values(), gap.values()))


def test_paired_difference_leaves_out_fragments_the_reference_did_not_code() -> None:
    from pipeline.crossval import paired_difference
    from pipeline.reliability.coefficients import krippendorff_alpha

    rng = np.random.default_rng(6)
    reference = _codings(list(rng.integers(0, 4, 40)))
    reference[:10, :2] = np.nan  # ten fragments without a reference on the first axis
    one, two = _codings(list(rng.integers(0, 4, 40))), _codings(list(rng.integers(0, 4, 40)))
    result = paired_difference(reference, one, two, CODEBOOK, n_boot=0, confidence=0.95, seed=1)
    first = CODEBOOK.axes[0].id
    assert result[first]["n"] == 30 and result[first]["ci"] is None
    from pipeline.model.decision import axis_category

    def category(rows: np.ndarray) -> np.ndarray:
        return axis_category(rows[10:, 0], rows[10:, 1])
    expected = (krippendorff_alpha(np.vstack([category(reference), category(one)]), level="nominal")
                - krippendorff_alpha(np.vstack([category(reference), category(two)]), level="nominal"))
    assert result[first]["alpha"] == pytest.approx(expected)


def test_paired_difference_to_several_codings_is_the_difference_to_their_mean_alpha() -> None:
    from pipeline.crossval import mean_coder_alpha, paired_difference

    rng = np.random.default_rng(7)
    truth = rng.integers(0, 4, 50)
    reference = _codings(list(truth))
    coders = [_codings([t if rng.random() < share else int(rng.integers(0, 4)) for t in truth])
              for share in (0.9, 0.7, 0.5)]
    model = _codings([t if rng.random() < 0.8 else (t + 1) % 4 for t in truth])
    together = paired_difference(reference, model, coders, CODEBOOK, n_boot=200, confidence=0.95, seed=2)
    each = [paired_difference(reference, model, c, CODEBOOK, n_boot=0, confidence=0.95, seed=2) for c in coders]
    mean = mean_coder_alpha(reference, coders, CODEBOOK, n_boot=200, confidence=0.95, seed=2)
    alone = [mean_coder_alpha(reference, [c], CODEBOOK, n_boot=0, confidence=0.95, seed=2) for c in coders]
    for axis in together:
        # the difference to the mean alpha is the mean of the differences to each coder
        assert together[axis]["alpha"] == pytest.approx(np.mean([e[axis]["alpha"] for e in each]))
        assert together[axis]["ci"][0] <= together[axis]["alpha"] <= together[axis]["ci"][1]
        # the coders' mean alpha is the mean of their alphas, inside its own interval
        assert mean[axis]["alpha"] == pytest.approx(np.mean([a[axis]["alpha"] for a in alone]))
        assert mean[axis]["ci"][0] <= mean[axis]["alpha"] <= mean[axis]["ci"][1] and mean[axis]["n"] == 50
    # the most careful coder agrees best: the order the shares were drawn in
    first = CODEBOOK.axes[0].id
    assert alone[0][first]["alpha"] > alone[2][first]["alpha"]
    # one coding in a list is the same as that coding alone
    single = paired_difference(reference, model, [coders[0]], CODEBOOK, n_boot=100, confidence=0.95, seed=3)
    assert single == paired_difference(reference, model, coders[0], CODEBOOK, n_boot=100, confidence=0.95, seed=3)


def test_training_stores_replay_embeddings_that_adapt_uses(tiny_model, quotes, tmp_path) -> None:
    from pipeline.model.adaptation import load_replay

    stored = load_replay(tiny_model)
    assert stored is not None
    x, y, collections = stored
    assert len(collections) == len(x) and all(collections)  # each fragment's collection, for adapt.replay_weights
    assert x.shape[0] == y.shape[0] > 0 and y.shape[1] == len(CODES) and set(np.unique(y)) <= {0.0, 1.0}
    out = tmp_path / "adapted"
    result = capcode("adapt", str(quotes), "--coder", "report", "--coder", "dev", "--model", str(tiny_model),
                     "-o", str(out), "--params", str(fast_params(tmp_path / "params.yaml")))
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "capcode_model.json").read_text())["adapted"]["n_replay"] == min(len(x), 50)


def test_fast_alpha_of_the_tuning_loop_matches_the_reference_implementation() -> None:
    from pipeline.model.decision import category_alpha
    from pipeline.reliability.coefficients import krippendorff_alpha

    rng = np.random.default_rng(3)
    for _ in range(20):
        truth = rng.integers(0, 4, 30).astype(float)
        predicted = np.where(rng.random(30) < 0.6, truth, rng.integers(0, 4, 30)).astype(float)
        assert category_alpha(truth, predicted) == pytest.approx(krippendorff_alpha(np.vstack([truth, predicted])))


def test_rate_rule_reads_the_switches_off_the_coding() -> None:
    from pipeline.model.decision import rate_rule

    truth = np.full((20, 6), np.nan)
    truth[:, 4] = np.arange(20) % 2  # strategisch/operationeel: always exactly one pole
    truth[:, 5] = 1 - truth[:, 4]
    truth[:, 2] = 1.0  # beleid/beheer: both poles on a quarter of the fragments
    truth[:, 3] = (np.arange(20) % 4 == 0).astype(float)
    rule = rate_rule(truth, CODES, CODEBOOK, [0.4] * 6, max_rate=0.05)
    assert rule["axes"]["strategisch_operationeel"] == {"at_least_one": True, "exclusive": True, "neither_rate": 0.0,
                                                       "both_rate": 0.0, "n": 20, "min_evidence": 0.0}
    assert rule["axes"]["beleid_beheer"]["exclusive"] is False and rule["axes"]["beleid_beheer"]["both_rate"] == 0.25
    assert rule["axes"]["intern_extern"] == {"at_least_one": False, "exclusive": False, "neither_rate": 1.0,
                                             "both_rate": 1.0, "n": 0, "min_evidence": 0.0}  # not coded: no switch
    assert set(rule["thresholds"].values()) == {0.4}


@pytest.mark.parametrize(("changes", "key"), [
    ({"interpolation": 0.0}, "adapt.interpolation"),  # 0 is the pretrained encoder: say so, not interpolate
    ({"interpolation": 1.5}, "adapt.interpolation"),
    ({"head": "poles", "encoder": "interpolated"}, "adapt.encoder"),  # poles refits the model's own head
])
def test_encoder_settings_that_cannot_work_are_refused(changes, key, tmp_path) -> None:
    from pipeline.core.errors import InputError
    from pipeline.core.params import load_params

    params = yaml.safe_load(DEFAULT_PARAMS.read_text(encoding="utf-8"))
    params["adapt"].update(changes)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    with pytest.raises(InputError, match=key.replace(".", r"\.")):
        load_params(tmp_path / "bad.yaml")
