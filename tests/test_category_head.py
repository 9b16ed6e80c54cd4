"""The axis_categories head: fitting, deciding, `capcode adapt` on the interpolated encoder, predict, adapt again,
crossval with it as the default, and the refusals; on the tiny model and backbone of the test session."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipeline.core.codebook import load_codebook
from pipeline.core.config import DEFAULT_PARAMS
from pipeline.model.category_head import category_probabilities, fit_category_head, fit_logistic, unit_rows
from pipeline.model.decision import (
    axis_pole_indices,
    category_margins,
    decide_categories,
    pole_probabilities,
    softmax_per_axis,
)
from tests.test_adapt import capcode, write_quotes

CODEBOOK = load_codebook()
CODES = CODEBOOK.code_ids
POLES = axis_pole_indices(CODES, CODEBOOK)


@pytest.fixture(scope="module")
def quotes(tmp_path_factory) -> Path:
    return write_quotes(tmp_path_factory.mktemp("quotes") / "quotes")


def categories_params(path: Path, **changes: object) -> Path:
    """The shipped adapt settings (axis_categories on the interpolated encoder), with a small replay sample;
    `changes` to the adapt section on top."""
    params = yaml.safe_load(DEFAULT_PARAMS.read_text(encoding="utf-8"))
    assert params["adapt"]["head"] == "axis_categories" and params["adapt"]["encoder"] == "interpolated"
    assert params["adapt"]["interpolation"] == 0.2
    params["adapt"].update(max_replay=50, **changes)
    params["crossval"].update(seeds=[1, 2], n_boot=20, learning_curve=[0, 4], real_weights=[1.0])
    params["predict"].update(precision="fp32", batch_size=16)
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the numbers


def test_categories_become_poles_and_labels() -> None:
    logits = np.array([[2.0, 0, 0, 0, 0, 0, 3.0, 0, 0, 0, 0, 1.0]])
    categories = softmax_per_axis(logits)
    assert np.allclose(categories.reshape(1, 3, 4).sum(axis=2), 1.0)
    labels = decide_categories(categories, POLES, len(CODES))
    # intern only; both beleid and beheer; neither strategisch nor operationeel
    assert labels[0].tolist() == [1, 0, 1, 1, 0, 0]
    poles = pole_probabilities(categories, POLES, len(CODES))
    blocks = categories.reshape(3, 4)
    assert poles[0, CODES.index("beleid")] == pytest.approx(blocks[1, 0] + blocks[1, 2])
    assert category_margins(np.array([[0.4, 0.35, 0.2, 0.05] * 3]))[0] == pytest.approx([0.05] * 3)


def test_the_head_learns_categories_masks_uncoded_axes_and_keeps_absent_ones_out() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 8))
    y = np.zeros((120, len(CODES)))
    first = x[:, 0] > 0  # intern only vs extern only, by the sign of the first feature
    y[:, CODES.index("intern")], y[:, CODES.index("extern")] = first, ~first
    y[:, CODES.index("beleid")] = 1  # beleid only everywhere: one category
    y[:60, CODES.index("strategisch")] = np.nan  # not coded there: left out, not "neither"
    y[:60, CODES.index("operationeel")] = np.nan
    y[60:, CODES.index("operationeel")] = 1
    weight, bias = fit_category_head(x, y, np.ones(120), POLES, c=10.0, seed=0)
    assert weight.shape == (12, 8) and bias.shape == (12,)
    labels = decide_categories(category_probabilities(x, weight, bias), POLES, len(CODES))
    assert (labels[:, CODES.index("intern")] == first).mean() > 0.9
    assert labels[:, CODES.index("beleid")].all() and not labels[:, CODES.index("beheer")].any()
    assert labels[:, CODES.index("operationeel")].all()  # the uncoded half did not teach "neither"
    assert bias[4 * 1 + 1] == bias[4 * 1 + 2] == -30.0  # beheer only / both: never seen, never predicted
    assert np.allclose(unit_rows(x)[0] @ unit_rows(x)[0], 1.0)


# --------------------------------------------------------------------------- adapt, predict, adapt again


@pytest.fixture(scope="module")
def adapted(tiny_trained, tiny_backbone, quotes, tmp_path_factory) -> tuple[Path, Path, str]:
    folder = tmp_path_factory.mktemp("categories")
    params = categories_params(folder / "params.yaml")
    out = folder / "adapted"
    result = capcode("adapt", str(quotes), "--coder", "report", "--coder", "dev", "--model", str(tiny_trained.model_dir),
                     "--replay", str(tiny_trained.prepared), "--backbone", str(tiny_backbone), "-o", str(out),
                     "--params", str(params))
    assert result.returncode == 0, result.stderr
    return out, params, result.stderr


def test_adapt_writes_a_categories_model_on_the_interpolated_encoder(adapted, tiny_trained, tiny_backbone) -> None:
    from safetensors.numpy import load_file

    out, _, stderr = adapted
    meta = json.loads((out / "capcode_model.json").read_text())
    assert meta["head"] == "axis_categories" and meta["encoder"] == "interpolated" and meta["precision"] == "fp32"
    assert "interpolated" in meta["adapted"]["encoder"] and "0.2 of the way" in meta["adapted"]["encoder"]
    assert meta["decision"]["kind"] == "categories" and set(meta["decision"]["axes"]) == {a.id for a in CODEBOOK.axes}
    assert meta["adapted"]["n_fragments"] == 18 and meta["adapted"]["params"]["head"] == "axis_categories"
    assert load_file(out / "head.safetensors")["weight"].shape[0] == 12
    pretrained = load_file(tiny_backbone / "model.safetensors")
    written = load_file(out / "encoder" / "model.safetensors")
    fine_tuned = load_file(tiny_trained.model_dir / "encoder" / "model.safetensors")
    key = next(k for k in written if "word_embeddings" not in k and k in fine_tuned)
    source = next(k for k in pretrained if k.endswith(key))
    # every weight a fifth of the way from the backbone as converted to the fine-tuned encoder
    assert not np.array_equal(pretrained[source], fine_tuned[key])
    assert np.allclose(written[key], 0.8 * pretrained[source] + 0.2 * fine_tuned[key], atol=1e-6)
    assert len(load_file(out / "replay.safetensors")["x"]) == meta["adapted"]["n_replay"] == 50
    assert "most probable of four categories" in stderr and "alpha_cv" in stderr
    # the replay's collections: counted in the metadata, stored with the embeddings for the next adapt
    from pipeline.model.adaptation import load_replay

    counts = meta["adapted"]["replay_collections"]
    assert sum(counts.values()) == 50 and "unrecorded" not in counts
    stored = load_replay(out)
    assert stored is not None and sorted(set(stored[2])) == sorted(counts)
    assert meta["adapted"]["params"]["replay_weights"] == {"strategisch_operationeel": {"field": 0.0}}
    assert "50 replay fragments (" in stderr


def test_adapt_refuses_replay_weights_for_an_axis_the_codebook_lacks(tiny_trained, tiny_backbone, quotes,
                                                                      tmp_path) -> None:
    params = categories_params(tmp_path / "params.yaml", replay_weights={"beleid_beheerr": {"field": 0.0}})
    out = tmp_path / "adapted"
    result = capcode("adapt", str(quotes), "--coder", "report", "--model", str(tiny_trained.model_dir),
                     "--replay", str(tiny_trained.prepared), "--backbone", str(tiny_backbone), "-o", str(out),
                     "--params", str(params))
    assert result.returncode == 2 and not out.exists()
    [line] = result.stderr.strip().splitlines()
    assert str(params) in line and "unknown axis 'beleid_beheerr'" in line and "strategisch_operationeel" in line


def test_predict_codes_the_most_probable_category_per_axis(adapted, quotes, tmp_path) -> None:
    out, params, _ = adapted
    predicted = tmp_path / "p.jsonl"
    transcripts = sorted((quotes / "transcripts").glob("*.txt"))[:6]
    result = capcode("predict", *map(str, transcripts), "--model", str(out), "-o", str(predicted),
                     "--params", str(params))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in predicted.read_text().splitlines()]
    assert rows and all(r["coded"] for r in rows)
    for row in rows:
        for axis in CODEBOOK.axes:  # the pole scores are category shares: both poles add up to at most 1 + both
            a, b = (row["scores"][p] for p in axis.poles)
            assert 0 <= a <= 1 and 0 <= b <= 1
        if row["review"]:
            assert row["review_codes"]
    page = tmp_path / "p.html"
    result = capcode("predict", *map(str, transcripts), "--model", str(out), "-o", str(page), "--params", str(params))
    assert result.returncode == 0, result.stderr
    html = page.read_text(encoding="utf-8")
    assert "most probable of four categories" in html and 'class="thresholds"' not in html
    assert "at threshold" not in html


def test_the_adapted_model_adapts_again_from_its_stored_replay(adapted, quotes, tmp_path) -> None:
    out, params, _ = adapted
    again = tmp_path / "again"
    result = capcode("adapt", str(quotes), "--coder", "report", "--coder", "dev", "--model", str(out), "-o",
                     str(again), "--params", str(params))
    assert result.returncode == 0, result.stderr
    meta = json.loads((again / "capcode_model.json").read_text())
    assert meta["head"] == "axis_categories" and meta["encoder"] == "interpolated"
    assert meta["adapted"]["n_replay"] == 50  # the stored replay of that encoder, no --replay needed
    assert meta["adapted"]["encoder"] == "model's own (interpolated)"
    assert (again / "encoder" / "model.safetensors").read_bytes() == (out / "encoder" / "model.safetensors").read_bytes()
    first = json.loads((out / "capcode_model.json").read_text())["adapted"]["replay_collections"]
    assert meta["adapted"]["replay_collections"] == first  # the collections travel with the stored replay


def test_adapting_a_model_whose_replay_records_no_collections_says_the_weights_cannot_apply(adapted, quotes,
                                                                                            tmp_path) -> None:
    import shutil

    from pipeline.model.adaptation import load_replay, save_replay

    out, params, _ = adapted
    old = tmp_path / "old"
    shutil.copytree(out, old)
    x, y, _ = load_replay(old)  # type: ignore[misc]
    save_replay(old, x, y)  # as models written before collections were recorded
    again = tmp_path / "again"
    result = capcode("adapt", str(quotes), "--coder", "report", "--coder", "dev", "--model", str(old), "-o",
                     str(again), "--params", str(params))
    assert result.returncode == 0, result.stderr
    assert "records no collections" in result.stderr and "--replay" in result.stderr
    assert json.loads((again / "capcode_model.json").read_text())["adapted"]["replay_collections"] == {"unrecorded": 50}


@pytest.mark.parametrize("encoder", ["pretrained", "interpolated"])
def test_adapt_loads_only_the_encoders_it_builds_from(encoder, tiny_trained, tiny_backbone, quotes, tmp_path,
                                                      monkeypatch) -> None:
    import pipeline.adapt
    from pipeline.model import classifier

    loaded: list[Path] = []
    real = classifier.load_encoder
    monkeypatch.setattr(classifier, "load_encoder", lambda d: loaded.append(Path(d)) or real(d))
    monkeypatch.setattr(pipeline.adapt, "load_model", lambda *a: pytest.fail("loaded the fine-tuned model"))
    pipeline.adapt.adapt(inputs=[quotes], coders=["report", "dev"], model_dir=tiny_trained.model_dir,
                         output_dir=tmp_path / "adapted", replay=tiny_trained.prepared,
                         params_path=categories_params(tmp_path / "params.yaml", encoder=encoder),
                         backbone=str(tiny_backbone))
    assert (tmp_path / "adapted" / "head.safetensors").is_file()
    meta = json.loads((tmp_path / "adapted" / "capcode_model.json").read_text())
    assert meta["encoder"] == encoder
    # the backbone, and only for the interpolation the fine-tuned encoder (never the whole model with its head)
    expected = [Path(tiny_backbone)] + ([tiny_trained.model_dir / "encoder"] if encoder == "interpolated" else [])
    assert loaded == expected


def test_interpolation_moves_every_weight_and_refuses_other_encoders(tiny_trained, tiny_backbone) -> None:
    import torch

    from pipeline.core.errors import InputError
    from pipeline.model.adaptation import adaptation_embedder, interpolate_encoders
    from pipeline.model.classifier import load_encoder

    tuned = load_encoder(tiny_trained.model_dir / "encoder").state_dict()
    base = load_encoder(tiny_backbone).state_dict()
    for share in (0.0, 0.5, 1.0):
        model, _ = adaptation_embedder(tiny_backbone, tiny_trained.model_dir, share, len(CODES))
        mixed = model.encoder.state_dict()
        for key, value in mixed.items():
            if value.is_floating_point():
                assert torch.allclose(value, (1 - share) * base[key] + share * tuned[key], atol=1e-6), key
            else:
                assert torch.equal(value, base[key])
    wider = load_encoder(tiny_backbone)
    other = load_encoder(tiny_backbone)
    other.resize_token_embeddings(7)  # another vocabulary: not a fine-tuned copy of this backbone
    with pytest.raises(ValueError, match="word_embeddings"):
        interpolate_encoders(wider, other, 0.2)
    with pytest.raises(InputError, match="not fine-tuned from"):  # a model from another backbone: one clear line
        other_dir = tiny_trained.model_dir.parent / "other-encoder-model"
        (other_dir / "encoder").mkdir(parents=True, exist_ok=True)
        other.save_pretrained(other_dir / "encoder")
        adaptation_embedder(tiny_backbone, other_dir, 0.2, len(CODES))


def test_refusals_are_one_line_and_write_nothing(adapted, tiny_trained, tiny_backbone, quotes, tmp_path) -> None:
    out, params, _ = adapted
    poles = yaml.safe_load(Path(params).read_text())
    poles["adapt"].update(head="poles", encoder="model")
    poles_params = tmp_path / "poles.yaml"
    poles_params.write_text(yaml.safe_dump(poles), encoding="utf-8")
    other_backbone = tmp_path / "other-backbone"
    other_backbone.mkdir()
    for file in tiny_backbone.iterdir():
        (other_backbone / file.name).write_bytes(file.read_bytes())
    weights = other_backbone / "model.safetensors"
    weights.write_bytes(weights.read_bytes() + b" ")
    cases = [
        (["--model", str(tiny_trained.model_dir), "--backbone", str(tiny_backbone), "--params", str(params)],
         "pass --replay"),
        (["--model", str(out), "--params", str(poles_params)], "head is 'axis_categories'"),
        (["--model", str(tiny_trained.model_dir), "--replay", str(tiny_trained.prepared), "--backbone",
          str(other_backbone), "--params", str(params)], "the model was trained from"),
    ]
    for args, message in cases:
        target = tmp_path / "refused"
        result = capcode("adapt", str(quotes), "--coder", "report", "--coder", "dev", *args, "-o", str(target))
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
        assert not target.exists()
    # the simulation refits the head adapt.head names: poles on a categories model is refused the same way
    target = tmp_path / "refused-simulation"
    result = capcode("simulate", "--prepared", str(tiny_trained.prepared), "--model", str(out), "-o", str(target),
                     "--params", str(poles_params))
    assert result.returncode == 2 and "head is 'axis_categories'" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not target.exists()


def test_crossval_reports_the_categories_head_as_the_default(tiny_trained, tiny_backbone, quotes, tmp_path) -> None:
    params = categories_params(tmp_path / "params.yaml")
    out = tmp_path / "crossval"
    result = capcode("crossval", str(quotes), "--coder", "report", "--coder", "dev", "--model",
                     str(tiny_trained.model_dir), "--replay", str(tiny_trained.prepared), "-o", str(out), "--params",
                     str(params), "--backbone", str(tiny_backbone))
    assert result.returncode == 0, result.stderr
    output = json.loads((out / "crossval.json").read_text())
    assert output["default"] == "adapted: axis categories on the interpolated encoder (default)"
    assert {"axis categories on the fine-tuned encoder", "axis categories on the pretrained encoder",
            "axis categories on the interpolated encoder, without replay", "poles head refitted + decision 'rates' on the fine-tuned "
            "encoder", "baseline: frozen e5 + LR, same data"} <= set(output["systems"])
    assert [r["n_team_fragments"] for r in output["learning_curve"]] == [0, 4, "all"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["loco"]["adapted"] == {a: s["mean"] for a, s in output["systems"][output["default"]].items()}


def test_category_doubt_is_half_the_gap_to_the_runner_up() -> None:
    from pipeline.model.selection import category_distances

    categories = np.array([[0.5, 0.3, 0.1, 0.1, 0.25, 0.25, 0.25, 0.25, 0.05, 0.05, 0.05, 0.85]])
    doubt = category_distances(categories, CODES, CODEBOOK)
    assert doubt.distances[0].tolist() == pytest.approx([0.1, 0.0, 0.4])
    assert doubt.categories[0].tolist() == [0, 0, 3]
    assert doubt.uncertainty()[0].tolist() == pytest.approx([0.8, 1.0, 0.2])
    assert doubt.reason(0, 0) == "only intern 0.50 vs only extern 0.30 (now: only intern)"


def test_next_ranks_by_the_categories_of_a_categories_model(adapted, quotes, tmp_path) -> None:
    out, params, _ = adapted
    ranked = tmp_path / "next.jsonl"
    transcripts = sorted((quotes / "transcripts").glob("*.txt"))
    result = capcode("next", *map(str, transcripts), "--model", str(out), "-n", "4", "-o", str(ranked),
                     "--params", str(params))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in ranked.read_text(encoding="utf-8").splitlines()]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4]
    for row in rows:
        assert all(" vs " in a["reason"] and "now:" in a["reason"] for a in row["axes"].values())


def test_the_review_loop_runs_on_a_categories_model(adapted, tmp_path) -> None:
    """README "The review loop: one round" with the default kind of model: predict a QDA project, review it,
    adapt from the reviewed project without --replay (the model's stored replay), predict again."""
    from tests.qdpx_review import simulate_review
    from tests.test_agreement_own_codes import SAMPLES

    sample = SAMPLES / "nvivo-mac-12.7.qdpx"
    if not sample.is_file():
        pytest.skip(f"{sample} not found (../shared/refi-qda/samples)")
    out, params, _ = adapted
    predicted, reviewed = tmp_path / "precoded.qdpx", tmp_path / "reviewed.qdpx"
    result = capcode("predict", str(sample), "--model", str(out), "-o", str(predicted), "--params", str(params))
    assert result.returncode == 0, result.stderr
    review = simulate_review(predicted, reviewed)
    round_one = tmp_path / "round-1"
    result = capcode("adapt", str(reviewed), "--coder", "Reviewer", "--model", str(out), "-o", str(round_one),
                     "--params", str(params))
    assert result.returncode == 0, result.stderr
    meta = json.loads((round_one / "capcode_model.json").read_text())
    assert meta["head"] == "axis_categories" and meta["adapted"]["documents"] == ["videos-selection"]
    [summary] = meta["adapted"]["review"].values()
    assert summary["suggesters"] == [review.suggester]
    again = tmp_path / "again.qdpx"
    result = capcode("predict", str(reviewed), "--model", str(round_one), "-o", str(again), "--params", str(params))
    assert result.returncode == 0, result.stderr


def test_crossval_replay_weights_per_axis_refit_each_axis_with_its_own_replay() -> None:
    """adapt.replay_weights as crossval applies them: with none listed it is the ordinary fit; with the field
    replay at 0 on one axis, that axis is the fit without those rows and the other axes are unchanged; the
    shipped params leave the field replay out of strat./oper. only, and `replay_weights={}` undoes it (the
    ablation row)."""
    from dataclasses import replace

    from pipeline.core.params import load_params
    from pipeline.crossval import Data, category_system

    rng = np.random.default_rng(3)
    n_team, n_replay, dim = 12, 40, 5
    n = n_team + n_replay
    y = rng.integers(0, 2, size=(n, len(CODEBOOK.code_ids))).astype(float)
    x = rng.normal(size=(n, dim)) + y[:, :dim] * 2
    collections = ["field" if k % 2 else "synthetic" for k in range(n_replay)]
    data = Data(team=None, texts=[""] * n, y=y, tuned=x, frozen=x, adapted=x, n_team=n_team,  # type: ignore[arg-type]
                base_weight=np.zeros((6, dim)), base_bias=np.zeros(6), base_thresholds=np.full(6, 0.5),
                replay_collections=collections)
    shipped = load_params(DEFAULT_PARAMS).adapt
    params = replace(shipped, replay_weights={})
    rows = np.arange(n)
    plain = category_system(data, params, features=x, codebook=CODEBOOK)(rows)(rows)
    undone = category_system(data, shipped, features=x, codebook=CODEBOOK, replay_weights={})(rows)(rows)
    np.testing.assert_allclose(undone, plain, atol=1e-6)

    axis = CODEBOOK.axes[2].id
    weighted = category_system(data, params, features=x, codebook=CODEBOOK,
                               replay_weights={axis: {"field": 0.0}})(rows)(rows)
    np.testing.assert_allclose(weighted[:, :8], plain[:, :8], atol=1e-6)  # the other two axes
    kept = np.array([k < n_team or collections[k - n_team] != "field" for k in range(n)])
    without = category_system(data, params, features=x, codebook=CODEBOOK)(rows[kept])(rows)
    np.testing.assert_allclose(weighted[:, 8:], without[:, 8:], atol=1e-4)
    assert not np.allclose(weighted[:, 8:], plain[:, 8:], atol=1e-3)

    assert shipped.replay_weights == {axis: {"field": 0.0}}
    default = category_system(data, shipped, features=x, codebook=CODEBOOK)(rows)(rows)
    np.testing.assert_allclose(default[:, :8], plain[:, :8], atol=1e-6)  # the other two keep the field replay
    np.testing.assert_allclose(default[:, 8:], without[:, 8:], atol=1e-4)


def test_the_logistic_fits_run_on_one_thread_and_give_the_threaded_solution(monkeypatch) -> None:
    """Why one thread: README item 36. Every fit of `fit_category_head` (which adapt, crossval and simulate use)
    runs with the BLAS pools at 1, the pools are what they were afterwards, and the solution is the one the
    default (threaded) fit finds, up to rounding."""
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads() -> set[int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    if not blas_threads():
        pytest.skip("threadpoolctl sees no BLAS pool in this numpy build (e.g. Accelerate): nothing to limit")
    rng = np.random.default_rng(3)
    x = unit_rows(rng.normal(size=(400, 64)))
    target = (x[:, :4] @ rng.normal(size=(4, 4))).argmax(axis=1)
    weight = rng.uniform(0.5, 2.0, size=400)
    seen: list[set[int]] = []
    original_fit = LogisticRegression.fit

    def recording_fit(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(blas_threads())
        return original_fit(self, *args, **kwargs)

    with threadpool_limits(limits=2, user_api="blas"):
        monkeypatch.setattr(LogisticRegression, "fit", recording_fit)
        y = np.zeros((400, 6))  # two axes of poles (0, 1) and (2, 3), codes 4-5 unused
        y[np.arange(400), target] = 1.0
        fit_category_head(x, y, np.ones((400, 2)), [(0, 1), (2, 3)], c=1.0, seed=0)
        assert len(seen) == 2 and all(threads == {1} for threads in seen)
        fitted = fit_logistic(x, target, weight, c=1.0, seed=0)
        after = blas_threads()
        threaded = LogisticRegression(C=1.0, max_iter=2000, random_state=0)
        threaded.fit(x, target, sample_weight=weight)
    assert seen[2] == {1} and seen[3] == {2} and after == {2}
    assert np.allclose(fitted.coef_, threaded.coef_, atol=1e-8) and np.allclose(fitted.intercept_,
                                                                               threaded.intercept_, atol=1e-8)


def test_fit_category_head_takes_one_weight_per_row_and_axis() -> None:
    """Weights [n, n_axes]: each axis fitted with its own column; a column of ones is the plain fit; a row at 0
    is left out of that axis (a category only such rows have is never predicted)."""
    from pipeline.model.category_head import fit_category_head, replay_axis_weights
    from pipeline.model.decision import axis_pole_indices

    poles = axis_pole_indices(CODEBOOK.code_ids, CODEBOOK)
    rng = np.random.default_rng(5)
    n, dim = 60, 6
    y = rng.integers(0, 2, size=(n, 6)).astype(float)
    x = rng.normal(size=(n, dim)) + y * 1.5
    flat = fit_category_head(x, y, np.ones(n), poles, c=1.0, seed=0)
    columns = fit_category_head(x, y, np.ones((n, 3)), poles, c=1.0, seed=0)
    np.testing.assert_allclose(columns[0], flat[0], atol=1e-8)
    # on axis 0, rows whose category is "both" weigh 0: that category is then absent from the fit
    first, second = poles[0]
    both = (y[:, first] == 1) & (y[:, second] == 1)
    weights = np.ones((n, 3))
    weights[both, 0] = 0.0
    weight, bias = fit_category_head(x, y, weights, poles, c=1.0, seed=0)
    assert bias[2] == -30.0 and not weight[2].any()  # category 2 of axis 0 = both
    np.testing.assert_allclose(weight[4:], flat[0][4:], atol=1e-8)  # the other axes as the plain fit

    matrix = replay_axis_weights(["field", "synthetic", "", "field+synthetic"],
                                 {"beleid_beheer": {"field": 0.0}, "intern_extern": {"synthetic": 2.0}},
                                 [a.id for a in CODEBOOK.axes])
    np.testing.assert_array_equal(matrix, [[1, 0, 1], [2, 1, 1], [1, 1, 1], [1, 1, 1]])


def test_stored_replay_carries_collections_and_reads_old_files_as_unrecorded(tmp_path) -> None:
    """A replay stored before collections were recorded loads with "" for each fragment (weighed 1)."""
    from pipeline.core.params import load_params
    from pipeline.model.adaptation import describe_replay, load_replay, save_replay

    x, y = np.ones((3, 4), dtype=np.float32), np.zeros((3, 6))
    save_replay(tmp_path, x, y, ["field", "synthetic", "field"])
    assert load_replay(tmp_path)[2] == ["field", "synthetic", "field"]  # type: ignore[index]
    save_replay(tmp_path, x, y)
    assert load_replay(tmp_path)[2] == ["", "", ""]  # type: ignore[index]
    with pytest.raises(ValueError):
        save_replay(tmp_path, x, y, ["field"])
    text = describe_replay(["field", "synthetic", "field"], load_params(DEFAULT_PARAMS).adapt)
    assert text == "3 replay fragments (field 2, synthetic 1; field weighs 0 on strategisch_operationeel)"
    assert describe_replay(["synthetic"], load_params(DEFAULT_PARAMS).adapt) == (
        "1 replay fragments (synthetic 1; adapt.replay_weights names field, which this replay does not hold)")


def test_sparse_features_fit_the_same_head_as_dense_ones(monkeypatch) -> None:
    """crossval's TF-IDF baseline fits its sparse matrix as it is (README item 37): the same head and the same
    probabilities as the dense fit, rows of zeros kept at zero, and no densified copy."""
    from scipy import sparse

    from pipeline.model.decision import axis_pole_indices

    poles = axis_pole_indices(CODEBOOK.code_ids, CODEBOOK)
    rng = np.random.default_rng(8)
    n, dim = 120, 400
    y = rng.integers(0, 2, size=(n, 6)).astype(float)
    y[:10, :2] = np.nan  # the first axis not coded on some rows
    dense = np.where(rng.random((n, dim)) < 0.03, rng.uniform(0.1, 2.0, (n, dim)), 0.0)
    dense[:, :6] += np.nan_to_num(y) * 1.5  # the codes leave a trace in the features
    dense[5] = 0.0  # a text with no known word
    features = sparse.csr_matrix(dense)
    assert sparse.issparse(unit_rows(features)) and not unit_rows(features)[5].count_nonzero()
    np.testing.assert_allclose(unit_rows(features).toarray(), unit_rows(dense), atol=1e-15)
    weights = rng.uniform(0.5, 2.0, n)
    from_dense = fit_category_head(dense, y, weights, poles, c=1.0, seed=0)
    import pipeline.model.category_head as category_head

    fitted_sparse = []

    def recording_fit(x, *args, **kwargs):
        fitted_sparse.append(sparse.issparse(x))
        return fit_logistic(x, *args, **kwargs)
    monkeypatch.setattr(category_head, "fit_logistic", recording_fit)
    from_sparse = fit_category_head(features, y, weights, poles, c=1.0, seed=0)
    assert fitted_sparse == [True, True, True]  # every axis's regression sees the sparse matrix
    np.testing.assert_allclose(from_sparse[0], from_dense[0], atol=1e-5)
    np.testing.assert_array_equal(from_sparse[1] == -30.0, from_dense[1] == -30.0)
    np.testing.assert_allclose(category_probabilities(features, *from_sparse),
                               category_probabilities(dense, *from_dense), atol=1e-6)
