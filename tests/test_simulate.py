"""`capcode simulate`: random batches against `capcode next`'s, on a tiny model and the inline prepared records."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.core.codebook import load_codebook
from pipeline.core.config import DEFAULT_PARAMS
from pipeline.core.errors import InputError
from pipeline.evaluate import _read_simulation
from pipeline.report.simulation_page import simulation_sections
from pipeline.simulate import CURVE_COLUMNS, needed, simulate, summarise
from tests.tiny_model import prepared_records

CODEBOOK = load_codebook()
AXES = [axis.id for axis in CODEBOOK.axes]


def capcode(*args: str) -> subprocess.CompletedProcess:
    env = {"CAPCODE_PROGRESS": "0", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, env=env)


def write_params(path: Path, *, collection: str = "synthetic") -> Path:
    params = yaml.safe_load(DEFAULT_PARAMS.read_text(encoding="utf-8"))
    params["adapt"].update(steps=30, max_replay=40)
    params["simulate"] = {"seeds": [1, 2], "corpora": {
        "synthetic": {"collection": collection, "coders": ["A"], "design": "split", "pool_splits": ["train"],
                      "test_splits": ["validation", "test"], "group_by": "case", "start": "empty", "batch_size": 8,
                      "max_coded": 24},
        "quotes": {"collection": "study-quotes", "coders": ["report", "dev"], "design": "leave_one_out",
                   "pool_splits": ["gold"], "test_splits": ["gold"], "group_by": "case", "start": "base",
                   "batch_size": 2, "max_coded": 0}}}
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def prepared(tiny_trained, tmp_path_factory) -> Path:
    """The tiny model's own prepared fragments, with a documents.jsonl that puts the quotes in three cases."""
    folder = tmp_path_factory.mktemp("prepared")
    fragments = folder / "fragments.jsonl"
    fragments.write_text(tiny_trained.prepared.read_text(encoding="utf-8"), encoding="utf-8")
    documents = sorted({r["document"] for r in prepared_records()})
    (folder / "documents.jsonl").write_text("".join(
        json.dumps({"id": d, "metadata": {"case": int(d[1:]) % 3 + 1} if d.startswith("q") else {}}) + "\n"
        for d in documents), encoding="utf-8")
    return fragments


@pytest.fixture(scope="module")
def simulated(tiny_trained, tiny_backbone, prepared, tmp_path_factory) -> Path:
    """The default: the axis_categories head on the encoder adapt builds (the tiny backbone interpolated towards
    the tiny model's fine-tuned encoder) in the loop."""
    folder = tmp_path_factory.mktemp("simulate")
    out = folder / "simulate"
    simulate(prepared=prepared, model_dir=tiny_trained.model_dir, output_dir=out,
             params_path=write_params(folder / "params.yaml"), backbone=str(tiny_backbone))
    return out


def test_the_metrics_file_holds_the_mean_savings_of_simulation_json(simulated) -> None:
    output = json.loads((simulated / "simulation.json").read_text(encoding="utf-8"))
    metrics = json.loads((simulated / "metrics.json").read_text(encoding="utf-8"))
    assert set(metrics) == set(output["corpora"])
    for name, corpus in output["corpora"].items():
        for axis, figures in corpus["axes"].items():
            assert metrics[name][axis] == {key: figures[key]["mean"] for key in
                                           ("saved", "next_needs", "random_needs", "alpha_whole_pool")}


def test_simulation_writes_curves_and_savings(simulated) -> None:
    output = json.loads((simulated / "simulation.json").read_text(encoding="utf-8"))
    assert set(output["corpora"]) == {"synthetic", "quotes"} and output["seeds"] == [1, 2]
    synthetic, quotes = output["corpora"]["synthetic"], output["corpora"]["quotes"]
    assert synthetic["n_tasks"] == 1 and quotes["n_tasks"] == 3  # leave each of the three cases out
    assert synthetic["n_whole_pool"] == 72  # 6 train interviews x 12 fragments, coded by A
    xs = [row["n_coded"] for row in synthetic["curve"]]
    assert xs == [8, 16, 24, 72]  # rounds of 8 up to max_coded, then the whole pool
    assert [row["n_coded"] for row in quotes["curve"]][0] == 0  # the base model before anything is coded
    for corpus in (synthetic, quotes):
        first, last = corpus["curve"][0], corpus["curve"][-1]
        for axis in AXES:
            # the same start (a random first batch, or the base model) and the same whole pool for both strategies
            assert first["random"][axis] == first["next"][axis]
            assert last["random"][axis] == last["next"][axis]
            figures = corpus["axes"][axis]
            assert figures["alpha_whole_pool"]["mean"] == last["random"][axis]["mean"]
            for value in figures["saved_per_seed"]:
                assert value is None or 0 <= value <= corpus["n_whole_pool"] + 0.01
            if figures["saved"]["mean"] is not None:
                assert figures["saved"]["min"] <= figures["saved"]["mean"] <= figures["saved"]["max"]
    for corpus in ("synthetic", "quotes"):
        for axis in AXES:
            rows = list(csv.DictReader((simulated / f"curve_{corpus}_{axis}.csv").open(encoding="utf-8")))
            assert tuple(rows[0]) == CURVE_COLUMNS
            assert [float(r["n_coded"]) for r in rows] == [row["n_coded"] for row in output["corpora"][corpus]["curve"]]


def test_simulation_is_drawn_in_the_report(simulated) -> None:
    output = _read_simulation(simulated / "simulation.json")
    html = "".join(simulation_sections(output, CODEBOOK))
    assert html.count("<svg") == 6 and "capcode next" in html and "random batches" in html
    assert "Simulation: what to code next (quotes)" in html and "saved by next" in html


def test_a_bad_simulation_file_is_bad_input(tmp_path) -> None:
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"sets": {}}', encoding="utf-8")
    with pytest.raises(InputError, match="simulation.json"):
        _read_simulation(wrong)
    with pytest.raises(InputError, match="not found"):
        _read_simulation(tmp_path / "missing.json")


def test_fragments_needed_and_saved() -> None:
    def curve(points):
        return [{"n_coded": x, "alpha": {"intern_extern": a}} for x, a in points]

    random = curve([(8, 0.2), (16, 0.5), (24, 0.4), (100, 0.6)])
    active = curve([(8, 0.2), (16, 0.65), (24, 0.5), (100, 0.6)])
    assert needed(active, "intern_extern", 0.6, 8) == 16
    assert needed(random, "intern_extern", 0.6, 8) is None  # reached only at the whole pool, after a gap
    assert needed(curve([(8, 0.2), (16, 0.6)]), "intern_extern", 0.6, 8) == 16  # no gap: the whole pool counts
    codebook_axes = {"random": [random], "next": [active]}
    summary = summarise({k: [[{**p, "alpha": {a: p["alpha"]["intern_extern"] for a in AXES}} for p in c[0]]]
                         for k, c in codebook_axes.items()}, CODEBOOK, 8)
    figures = summary["axes"]["intern_extern"]
    assert figures["saved"]["mean"] == 84 and figures["next_needs"]["mean"] == 16
    assert figures["random_needs"]["mean"] is None and figures["reached_within_rounds"] == "1 of 1 seeds"


def test_simulate_bad_input_is_one_line_and_writes_nothing(tiny_trained, prepared, tmp_path) -> None:
    out = tmp_path / "simulate"
    result = capcode("simulate", "--prepared", str(prepared), "--model", str(tiny_trained.model_dir), "-o", str(out),
                     "--params", str(write_params(tmp_path / "params.yaml", collection="field")))
    assert result.returncode == 2 and "no fragments of collection 'field'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not out.exists()


def test_evaluate_draws_the_simulation_in_its_report(tiny_trained, simulated, tmp_path) -> None:
    from pipeline.evaluate import evaluate

    out = tmp_path / "evaluate"
    evaluate(prepared=tiny_trained.prepared, model_dir=tiny_trained.model_dir, output_dir=out,
             params_path=tiny_trained.params, simulation=simulated / "simulation.json")
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Simulation: what to code next (synthetic)" in page and "saved by next" in page
    assert json.loads((out / "evaluation.json").read_text(encoding="utf-8"))["simulation"]["seeds"] == [1, 2]


def test_the_default_loop_runs_the_categories_head_on_the_interpolated_encoder(simulated) -> None:
    output = json.loads((simulated / "simulation.json").read_text(encoding="utf-8"))
    assert output["head"] == "axis_categories" and output["encoder"] == "interpolated"
    assert output["finetuned_share"] == 0.2


def test_the_poles_head_loop_still_runs_on_the_models_own_encoder(tiny_trained, prepared, tmp_path) -> None:
    params = write_params(tmp_path / "params.yaml")
    settings = yaml.safe_load(params.read_text(encoding="utf-8"))
    settings["adapt"].update(head="poles", encoder="model")
    params.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    output = simulate(prepared=prepared, model_dir=tiny_trained.model_dir, output_dir=tmp_path / "simulate",
                      params_path=params)
    assert output["head"] == "poles" and output["encoder"] == "model"
    assert [row["n_coded"] for row in output["corpora"]["synthetic"]["curve"]] == [8, 16, 24, 72]


def test_the_categories_learner_learns_what_it_is_told_and_ranks_by_the_category_gap() -> None:
    import numpy as np

    from pipeline.model.active_learning import CategoryLearner, Chooser, Task, next_batch

    rng = np.random.default_rng(0)
    # two clusters: one coded intern + beleid + strategisch, the other extern + beheer + operationeel
    centres = np.eye(8)[[0, 1]] * 3
    side = np.repeat([0, 1], 20)
    x = centres[side] + rng.normal(scale=0.3, size=(40, 8))
    y = np.array([[1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 0, 1]], dtype=float)[side]
    task = Task(x, y, [f"d{i % 4}" for i in range(40)], x)
    learner = CategoryLearner(np.zeros((0, 8)), np.zeros((0, 6)), 10.0, 1.0, 0, CODEBOOK)
    nothing = learner.fit(task, [])
    assert not nothing.labels(x, CODEBOOK).any()  # no data, no replay: "neither" on every axis
    model = learner.fit(task, [0, 1, 2, 20, 21, 22])
    assert np.array_equal(model.labels(x, CODEBOOK), y)
    doubt = model.doubt(x, CODEBOOK)
    assert doubt.category_probabilities is not None and doubt.distances.shape == (40, 3)
    middle = np.vstack([x, (centres[0] + centres[1]) / 2])  # halfway between the clusters: the most doubtful
    task = Task(middle, np.vstack([y, y[:1]]), [f"d{i % 4}" for i in range(41)], middle)
    batch = next_batch(task, learner.fit(task, [0, 1, 2, 20, 21, 22]), [0, 1, 2, 20, 21, 22], 1,
                       Chooser(shortlist_factor=4.0, near_duplicate_cosine=0.99), CODEBOOK)
    assert batch == [40]
