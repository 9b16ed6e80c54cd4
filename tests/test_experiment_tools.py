"""The issue-10 experiment tools: question context pairing, the 4-category axis classifier, the bench input, and
the pieces of the training-length, interpolation and head-features experiments."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.codebook import load_codebook
from pipeline.core.documents import PreparedFragment
from pipeline.tools.axis_classifier_experiment import fit_predict_axes
from pipeline.tools.context_experiment import with_questions

CODEBOOK = load_codebook()
ZERO = {c: 0 for c in CODEBOOK.code_ids}


def single_pole_team(rng: np.random.Generator, n: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(groups, categories [n, axes], 0/1 labels [n, codes]) of `n` team fragments in three cases, each coded
    with only pole 1 or only pole 2 on every axis, drawn from `rng`: the coding the head bench tests fit on."""
    groups = [str(k % 3) for k in range(n)]
    categories = rng.integers(0, 2, size=(n, len(CODEBOOK.axes)))
    y = np.zeros((n, len(CODEBOOK.code_ids)))
    for a, axis in enumerate(CODEBOOK.axes):
        y[:, CODEBOOK.code_ids.index(axis.poles[0])] = categories[:, a] == 0
        y[:, CODEBOOK.code_ids.index(axis.poles[1])] = categories[:, a] == 1
    return groups, categories, y


def fragment(document: str, start: int, role: str, text: str, *, coded: bool = True) -> PreparedFragment:
    return PreparedFragment(id=f"{document}@{start}", document=document, speaker=None, role=role, start=start,
                            end=start + len(text), text=text, turn=0, timestamp=None,
                            collection="field", synthetic=True, split="train",
                            labels={"A": dict(ZERO)} if coded else {})


def test_each_answer_gets_the_last_question_before_it_in_its_own_document() -> None:
    rows = [fragment("b", 0, "respondent", "b answer before any question"),
            fragment("a", 50, "respondent", "second answer"),
            fragment("a", 0, "interviewer", "first question"),
            fragment("a", 20, "respondent", "first answer"),
            fragment("a", 40, "interviewer", "second question"),
            fragment("a", 70, "respondent", "not coded", coded=False)]
    paired = {r.text: q for r, q in with_questions(rows, "field", "A", CODEBOOK)}
    assert paired == {"first answer": "first question", "second answer": "second question",
                      "b answer before any question": ""}


def test_the_axis_classifier_learns_separable_categories_per_axis() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 8)) * 5
    category = np.repeat(np.arange(4), 20)
    x = centres[category] + rng.normal(size=(80, 8)) * 0.1
    pairs = np.stack([np.isin(category, (0, 2)), np.isin(category, (1, 2))], axis=1).astype(int)  # pole 1, pole 2
    y = np.zeros((80, len(CODEBOOK.code_ids)))
    for axis in CODEBOOK.axes:  # the same categories on every axis
        y[:, CODEBOOK.code_ids.index(axis.poles[0])] = pairs[:, 0]
        y[:, CODEBOOK.code_ids.index(axis.poles[1])] = pairs[:, 1]
    labels = fit_predict_axes(x, y, np.ones(80), x, CODEBOOK, seed=0)
    assert (labels == y).all()


def test_quote_copies_are_scorable_by_the_benchmark_and_refuse_a_missing_collection(tmp_path) -> None:
    import json

    from pipeline.core.errors import InputError
    from pipeline.tools.quotes_bench_input import quote_copies

    prepared = tmp_path / "fragments.jsonl"
    rows = [{"id": "q1@0-5", "text": "Ik denk", "codable": True, "collection": "study-quotes", "split": "gold"},
            {"id": "q1@6-9", "text": "ja", "codable": False, "collection": "study-quotes", "split": "gold"},
            {"id": "s1@0-5", "text": "Wij", "codable": True, "collection": "synthetic", "split": "train"}]
    prepared.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    copies = quote_copies(prepared, "study-quotes", 3)
    assert [c["id"] for c in copies] == ["q1@0-5#0", "q1@0-5#1", "q1@0-5#2"]
    assert {c["split"] for c in copies} == {"test"} and {c["text"] for c in copies} == {"Ik denk"}
    with pytest.raises(InputError, match="no codable fragments of collection 'field'"):
        quote_copies(prepared, "field", 2)


@pytest.mark.parametrize("setting, value", [("epochs", 7), ("seed", 1234), ("precision", "fp32"),  # length, seed, precision
                                            ("label_weights", {"strategisch_operationeel": {"field": 0.0}})])  # labels
def test_the_retraining_tools_change_only_their_train_setting_and_the_params_still_load(tmp_path, setting,
                                                                                          value) -> None:
    import yaml

    from pipeline.core.config import DEFAULT_PARAMS
    from pipeline.core.params import load_params
    from pipeline.tools import params_with_train

    written = params_with_train(DEFAULT_PARAMS, tmp_path / "params.yaml", **{setting: value})
    shipped, changed = yaml.safe_load(DEFAULT_PARAMS.read_text()), yaml.safe_load(written.read_text())
    assert changed["train"].pop(setting) == value and shipped["train"].pop(setting) != value
    assert changed == shipped
    assert getattr(load_params(written).train, setting) == value


def test_the_training_labels_tool_reuses_its_models_and_takes_the_shipped_base_for_the_shipped_seed(tmp_path) -> None:
    from pipeline.core.config import REPO_ROOT
    from pipeline.core.params import load_params
    from pipeline.model.classifier import METADATA_FILE
    from pipeline.tools.training_labels_experiment import MASKED_LABELS, base_model

    prepared = tmp_path / "fragments.jsonl"  # never read: nothing is trained here
    shipped = load_params().train.seed
    assert base_model(prepared, tmp_path, shipped, variant=None)[0] == REPO_ROOT / "models" / "base"
    (tmp_path / "base-masked-seed-7").mkdir()
    (tmp_path / "base-masked-seed-7" / METADATA_FILE).write_text("{}", encoding="utf-8")
    model_dir, params_path = base_model(prepared, tmp_path, 7, variant="masked")
    assert model_dir == tmp_path / "base-masked-seed-7"
    assert load_params(params_path).train.seed == 7 and load_params(params_path).train.label_weights == MASKED_LABELS


def test_an_experiment_work_dir_is_kept_when_named_and_removed_when_temporary(tmp_path) -> None:
    from pipeline.tools import in_work_dir

    named = tmp_path / "work" / "here"
    assert in_work_dir(named, "capcode-test-", lambda folder: folder) == named and named.is_dir()
    scratch = in_work_dir(None, "capcode-test-", lambda folder: (folder.is_dir(), folder))
    assert scratch[0] and scratch[1].name.startswith("capcode-test-") and not scratch[1].exists()


def test_used_categories_marks_each_axis_category_the_coding_uses() -> None:
    from pipeline.model.decision import axis_pole_indices
    from pipeline.tools.encoder_interpolation_experiment import used_categories

    poles = axis_pole_indices(CODEBOOK.code_ids, CODEBOOK)
    y = np.zeros((3, len(CODEBOOK.code_ids)))
    i, j = poles[0]
    y[0, i] = 1  # first axis: only pole 1 ...
    y[1, i] = y[1, j] = 1  # ... and both
    y[2, :] = np.nan  # not coded: no category at all
    k, m = poles[1]
    y[:2, m] = 1  # second axis: only pole 2 on both coded rows
    used = used_categories(y, poles).reshape(len(poles), 4)
    assert used[0].tolist() == [1, 0, 1, 0] and used[1].tolist() == [0, 1, 0, 0] and used[2].tolist() == [0, 0, 0, 1]


def test_the_last_of_every_layers_states_is_what_adapt_embeds(tiny_backbone) -> None:
    from pipeline.model.adaptation import embed, pretrained_embedder

    model, tokenizer = pretrained_embedder(tiny_backbone, len(CODEBOOK.code_ids))
    texts = ["Het beleid van de stad.", "Wij doen dat elke dag, samen met de partners en de diensten.", "Ja."]
    states = embed(model, tokenizer, texts, text_prefix="query: ", max_length=32, batch_size=2, all_layers=True)
    assert states.shape == (3, model.encoder.config.num_hidden_layers + 1, model.head.in_features)
    last = embed(model, tokenizer, texts, text_prefix="query: ", max_length=32, batch_size=2)
    assert last.shape == (3, model.head.in_features)
    np.testing.assert_allclose(states[:, -1], last, atol=1e-5)
    assert not np.allclose(states[:, 0], last, atol=1e-3)  # the layers differ: not the last one repeated


def test_quotes_needed_extrapolates_the_paired_interval_as_one_over_root_n(tmp_path) -> None:
    import json

    import pytest

    from pipeline.tools.quotes_needed import estimate, main

    crossval = {"default_minus": {"human_blind": {
        "beleid_beheer": {"mean": -0.1, "ci_mean": [-0.3, 0.1], "n": 47},
        "intern_extern": {"mean": 0.3, "ci_mean": [0.1, 0.5], "n": 47},
        "strategisch_operationeel": {"mean": None, "ci_mean": None, "n": 47}}}}
    result = estimate(crossval)["human_blind"]
    bb = result["beleid_beheer"]
    assert bb["half_width"] == pytest.approx(0.2) and not bb["resolved_now"]
    assert bb["quotes_for_observed_gap"] == 188 and bb["quotes_for_gap"] == {"0.05": 752, "0.1": 188}
    assert result["intern_extern"]["resolved_now"] and result["intern_extern"]["quotes_for_observed_gap"] == 21
    assert result["strategisch_operationeel"] is None

    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"systems": {}}), encoding="utf-8")
    out = tmp_path / "out.json"
    with pytest.raises(SystemExit) as stop:
        main([str(wrong), "-o", str(out)])
    assert stop.value.code == 2 and not out.exists()


def test_replay_mix_weighs_each_replay_row_by_its_collection(tmp_path) -> None:
    import json
    from dataclasses import replace
    from types import SimpleNamespace

    from pipeline.model.training_data import replay_fragments
    from pipeline.tools.replay_mix_experiment import MIXES, ReplayMixBench

    rows = [replace(fragment("s1", 0, "respondent", "clean synthetic answer"), collection="synthetic"),
            fragment("f1", 0, "respondent", "uh field answer"), fragment("f1", 40, "respondent", "shared text"),
            replace(fragment("s1", 40, "respondent", "shared text"), collection="synthetic")]
    prepared = tmp_path / "fragments.jsonl"
    prepared.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in rows), encoding="utf-8")
    replay = replay_fragments(prepared, coder="A", codebook=CODEBOOK, limit=10, seed=0)
    assert list(zip(replay.texts, replay.collections)) == [
        ("clean synthetic answer", "synthetic"), ("uh field answer", "field"), ("shared text", "field"),
        ("shared text", "synthetic")]

    team = SimpleNamespace(groups=["1", "2"])
    data = SimpleNamespace(team=team, n_team=2, texts=["q1", "q2", "r1", "r2", "r3"], y=np.zeros((5, 6)))
    params = SimpleNamespace(adapt=SimpleNamespace(real_weight=10.0, category_c=1.0, seed=0),
                             crossval=SimpleNamespace(seeds=[1], replay_fraction=1.0))
    bench = ReplayMixBench(data, np.zeros((5, 4)), ["field", "synthetic", "field"], params, CODEBOOK)
    every = np.arange(5)
    weights = {name: bench.row_weights(name, every).tolist() for name in MIXES}
    assert weights["field 1, synthetic 1 (shipped)"] == [10, 10, 1, 1, 1]
    assert weights["field only"] == [10, 10, 1, 0, 1]
    assert weights["field 0, synthetic 1"] == [10, 10, 0, 1, 0]
    assert weights["field 0.3, synthetic 1"] == [10, 10, 0.3, 1, 0.3]
    assert weights["field 3, synthetic 1"] == [10, 10, 3, 1, 3]


def test_head_bench_nested_chooses_inside_each_fold_what_the_training_cases_support() -> None:
    from types import SimpleNamespace

    from pipeline.tools.encoder_interpolation_experiment import HeadBench

    rng = np.random.default_rng(0)
    n = 36
    groups, categories, y = single_pole_team(rng, n)  # three cases of 12
    informative = np.hstack([np.eye(2)[categories[:, a]] * 3 for a in range(len(CODEBOOK.axes))])
    features = {"noise": rng.normal(size=(n, 6)), "signal": informative + rng.normal(size=(n, 6)) * 0.1}
    data = SimpleNamespace(team=SimpleNamespace(groups=groups, labels=y), n_team=n, texts=[""] * n, y=y)
    params = SimpleNamespace(adapt=SimpleNamespace(real_weight=1.0, category_c=1.0, seed=0),
                             crossval=SimpleNamespace(seeds=[1, 2], replay_fraction=1.0, n_boot=50, confidence=0.9))
    bench = HeadBench(data, features, params, CODEBOOK)
    ahead = bench.loco_minus("signal", "noise")
    assert all(s["mean"] > 0.5 and s["ci_mean"][0] > 0 for s in ahead.values())
    same = bench.loco_minus("noise", "noise")
    assert all(s["mean"] == 0 and s["ci_mean"] == [0, 0] for s in same.values())
    fits = {}
    for per_axis in (False, True):
        result = bench.nested(["noise", "signal"], per_axis=per_axis)
        fits[per_axis] = bench.fits
        assert len(result["chosen"]) == 6  # two seeds x three held-out cases
        picked = [c["key"] for c in result["chosen"]]
        if per_axis:
            assert all(set(p.values()) == {"signal"} for p in picked)
        else:
            assert set(picked) == {"signal"}
        assert all(s["mean"] > 0.9 for s in result["axes"].values())
    # the per-axis choice reuses every fit of the first (inner fits and the held-out fits loco already made)
    assert fits[True] == fits[False]


def test_domain_alignment_moves_each_replay_collection_onto_the_team_statistics() -> None:
    from pipeline.tools.domain_alignment_experiment import VARIANTS, align_replay

    rng = np.random.default_rng(0)
    team = rng.normal(loc=2.0, scale=0.5, size=(20, 4))
    synthetic = rng.normal(loc=-1.0, scale=3.0, size=(30, 4))
    field = rng.normal(loc=5.0, scale=0.1, size=(25, 4))
    x = np.concatenate([team, synthetic, field])
    is_team = np.arange(len(x)) < 20
    collections = np.array([""] * 20 + ["synthetic"] * 30 + ["field"] * 25, dtype=object)

    assert align_replay(x, is_team, collections, VARIANTS[0]) is x
    for variant in ("mean", "mean+scale"):
        out = align_replay(x, is_team, collections, variant)
        np.testing.assert_array_equal(out[:20], team)  # the team's rows never move
        for name in ("synthetic", "field"):
            rows = collections == name
            np.testing.assert_allclose(out[rows].mean(axis=0), team.mean(axis=0), atol=1e-12)
            if variant == "mean":  # the shape of the collection is kept
                np.testing.assert_allclose(out[rows] - out[rows].mean(axis=0), x[rows] - x[rows].mean(axis=0))
            else:
                np.testing.assert_allclose(out[rows].std(axis=0), team.std(axis=0), rtol=1e-9)
    np.testing.assert_array_equal(x[:20], team)  # the input is not changed in place


def test_the_selection_bench_weighs_each_key_by_its_spelled_out_replay_weighting() -> None:
    """The nested-selection tool's weightings are constants (its result must not move with params.yaml): round 7
    leaves the field replay out of beleid/beheer and strat./oper., round 8 out of strat./oper. only."""
    from types import SimpleNamespace

    from pipeline.tools.nested_selection_experiment import WEIGHTINGS, SelectionBench

    team = SimpleNamespace(groups=["1", "2"])
    data = SimpleNamespace(team=team, n_team=2, texts=["q1", "q2", "r1", "r2"], y=np.zeros((4, 6)),
                           replay_collections=["field", "synthetic"])
    params = SimpleNamespace(adapt=SimpleNamespace(real_weight=10.0, category_c=1.0, seed=0, replay_weights={}),
                             crossval=SimpleNamespace(seeds=[1], replay_fraction=1.0))
    keys = [(0.2, name) for name in WEIGHTINGS]
    bench = SelectionBench(data, {key: np.zeros((4, 3)) for key in keys}, params, CODEBOOK)
    every = np.arange(4)
    # rows: two team fragments, a field and a synthetic replay fragment; columns: the codebook's three axes
    expected = {"every replay fragment 1": [[10, 10, 10], [10, 10, 10], [1, 1, 1], [1, 1, 1]],
                "field out of strat./oper. (round 8)": [[10, 10, 10], [10, 10, 10], [1, 1, 0], [1, 1, 1]],
                "field out of beleid/beheer and strat./oper. (round 7)": [[10, 10, 10], [10, 10, 10], [1, 0, 0],
                                                                           [1, 1, 1]]}
    assert [axis.id for axis in CODEBOOK.axes] == ["intern_extern", "beleid_beheer", "strategisch_operationeel"]
    for key in keys:
        assert bench.row_weights(key, every).tolist() == expected[key[1]]


def test_team_finetune_targets_mask_uncoded_axes_and_the_loss_weighs_rows_per_axis() -> None:
    import torch

    from pipeline.model.decision import axis_pole_indices
    from pipeline.tools.team_finetune_experiment import axis_cross_entropy, category_targets

    poles = axis_pole_indices(CODEBOOK.code_ids, CODEBOOK)
    y = np.array([[1, 0, 1, 1, 0, 0],
                  [0, 1, 0, 1, np.nan, np.nan]], dtype=float)
    targets = category_targets(y, poles)
    assert targets.tolist() == [[0, 2, 3], [1, 1, -1]]
    logits = torch.zeros(2, 12)
    logits[0, 0] = 4.0  # row 0, first axis: confident and right
    weights = torch.ones(2, 3)
    uniform = float(np.log(4))
    # axis 3: only row 0 counts (row 1 is not coded there), so that axis's loss is row 0's alone
    loss = axis_cross_entropy(logits, torch.from_numpy(targets), weights)
    first = (float(torch.nn.functional.cross_entropy(logits[:1, :4], torch.tensor([0]))) + uniform) / 2
    assert abs(float(loss) - (first + uniform + uniform) / 3) < 1e-6
    # a row weighing 0 on an axis leaves it out of that axis's mean; an axis nobody weighs is left out
    weights[1, 0] = 0.0
    weights[:, 2] = 0.0
    loss = axis_cross_entropy(logits, torch.from_numpy(targets), weights)
    row0 = float(torch.nn.functional.cross_entropy(logits[:1, :4], torch.tensor([0])))
    assert abs(float(loss) - (row0 + uniform) / 2) < 1e-6


def test_the_training_seed_tool_summarises_each_axis_over_models() -> None:
    from pipeline.tools.training_seed_experiment import spread

    rows = [{"a": {"b": {"x": {"mean": 0.2}, "y": 0.5}}},
            {"a": {"b": {"x": {"mean": 0.4}, "y": None}}},
            {"a": {"b": {"x": {"mean": 0.6}, "y": 0.7}}}]
    assert spread(rows, ("a", "b")) == {"x": {"mean": 0.4, "min": 0.2, "max": 0.6},
                                        "y": {"mean": 0.6, "min": 0.5, "max": 0.7}}


def test_the_soup_of_models_holds_the_mean_of_their_weights_and_loads_as_a_model(tiny_model, tmp_path) -> None:
    import shutil

    from safetensors.torch import load_file, save_file

    from pipeline.core.codebook import load_codebook
    from pipeline.model.classifier import ENCODER_DIR, HEAD_FILE, load_model
    from pipeline.tools.training_seed_settings_experiment import average_models

    shifted = shutil.copytree(tiny_model, tmp_path / "shifted")
    for path in [*(shifted / ENCODER_DIR).glob("*.safetensors"), shifted / HEAD_FILE]:
        tensors = load_file(path)
        save_file({name: t + 2.0 if t.is_floating_point() else t for name, t in tensors.items()}, path)
    soup = average_models([tiny_model, shifted], tmp_path / "soup")
    for path in [*(tiny_model / ENCODER_DIR).glob("*.safetensors"), tiny_model / HEAD_FILE]:
        relative = path.relative_to(tiny_model)
        original, averaged = load_file(path), load_file(soup / relative)
        assert set(averaged) == set(original)
        for name, tensor in original.items():
            expected = tensor + 1.0 if tensor.is_floating_point() else tensor
            assert np.allclose(averaged[name].float().numpy(), expected.float().numpy(), atol=1e-5), name
    load_model(soup, load_codebook())  # a complete model directory


def test_the_seed_settings_tool_averages_each_grid_point_over_the_trained_models() -> None:
    from pipeline.tools.training_seed_settings_experiment import grid_over_models

    def result(i_e: float, s_o: float) -> dict:
        return {"grid": [{"share": 0.2, "weighting": "w", "loco": {"ie": {"mean": i_e}, "so": {"mean": s_o}}}]}

    rows = grid_over_models([result(0.5, 0.6), result(0.3, 0.7), result(0.4, 0.5)])
    assert rows == [{"share": 0.2, "weighting": "w", "mean_over_axes": 0.5,
                     "loco": {"ie": {"mean": 0.4, "min": 0.3, "max": 0.5},
                              "so": {"mean": 0.6, "min": 0.5, "max": 0.7}}}]


def test_a_quote_is_cut_into_sentences_at_stops_and_omission_marks() -> None:
    from pipeline.tools.representation_experiment import sentences

    text = "We hebben een plan gemaakt. Dat plan (..) werkt nog niet goed. Ja. En de dienst [...] doet het zelf"
    # "Dat plan" and "Ja." are under 3 words: no sentence of their own
    assert sentences(text) == ["We hebben een plan gemaakt.", "werkt nog niet goed.", "En de dienst", "doet het zelf"]
    assert sentences("Ja. Nee.") == ["Ja. Nee."]  # no piece of 3 words: the whole text


def test_the_sentence_rule_turns_one_pole_into_both_only_where_a_sentence_says_the_other() -> None:
    from pipeline.model.decision import axis_pole_indices
    from pipeline.tools.representation_experiment import sentence_rule

    poles = axis_pole_indices(CODEBOOK.code_ids, CODEBOOK)
    one_pole = [0.7, 0.2, 0.05, 0.05]  # only pole 1 on every axis
    fragment = np.array([one_pole * 3, one_pole * 3])
    other = [0.1, 0.8, 0.05, 0.05]  # only pole 2, probability 0.8
    sentence = np.array([one_pole * 3, other * 3, one_pole * 3])  # fragment 0: both kinds; fragment 1: its pole
    owner = np.array([0, 0, 1])
    plain = sentence_rule(fragment, sentence, owner, poles, 6, None)
    assert plain.tolist() == [[1, 0] * 3] * 2
    assert sentence_rule(fragment, sentence, owner, poles, 6, 0.5).tolist() == [[1, 1] * 3, [1, 0] * 3]
    assert sentence_rule(fragment, sentence, owner, poles, 6, 0.9).tolist() == plain.tolist()  # 0.8 not above 0.9


def test_definition_anchors_append_the_cosine_to_each_definition_at_the_vectors_weight() -> None:
    from pipeline.tools.representation_experiment import with_anchors

    vectors = np.array([[3.0, 0.0], [0.0, 2.0]])
    definitions = np.array([[1.0, 0.0], [0.0, 5.0], [1.0, 1.0], [1.0, -1.0]])
    out = with_anchors(vectors, definitions)
    assert out.shape == (2, 6)
    np.testing.assert_allclose(out[:, :2], [[1, 0], [0, 1]])
    np.testing.assert_allclose(out[0, 2:], np.array([1, 0, 2 ** -0.5, 2 ** -0.5]) / 2)
    assert np.linalg.norm(out[0, 2:]) <= 1.0


def test_the_neighbour_vote_weighs_the_nearest_training_quotes_per_axis() -> None:
    from pipeline.model.decision import axis_pole_indices
    from pipeline.tools.representation_experiment import category_one_hot, neighbour_vote

    poles = axis_pole_indices(CODEBOOK.code_ids, CODEBOOK)
    y = np.array([[1, 0, 1, 0, 1, 0], [0, 1, 1, 1, 0, 0], [1, 1, 0, 0, np.nan, np.nan]])
    one_hot = category_one_hot(y, poles)
    assert one_hot.tolist() == [[1, 0, 0, 0] * 3, [0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1],
                                [0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0]]  # the third leaves strat./oper. uncoded
    train_x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.05]])
    vote = neighbour_vote(train_x, one_hot, np.array([[1.0, 0.0]]), k=2)
    # the two nearest are rows 0 and 2 (cosine 1 and 0.999), about equally weighed; row 1 is not among them
    np.testing.assert_allclose(vote[0, :4], [0.5, 0, 0.5, 0], atol=0.02)
    np.testing.assert_allclose(vote[0, 8:], [1, 0, 0, 0])  # row 2 has no vote on strat./oper.
    assert vote[0, 4:8].sum() == pytest.approx(1.0)
    alone = neighbour_vote(train_x, one_hot, np.array([[0.0, 1.0]]), k=1)
    assert alone[0].tolist() == one_hot[1].tolist()


@pytest.mark.parametrize("scaling", ["standardised", "whitened"])
def test_a_scaled_head_folds_into_one_layer_on_unit_rows_and_equals_the_fit_on_scaled_features(scaling) -> None:
    from pipeline.model.category_head import category_probabilities, fit_category_logits, unit_rows
    from pipeline.tools.head_scaling_experiment import fit_scaled_head, scaling_transform

    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)) * np.array([5.0, 1.0, 0.2, 0.2, 0.1, 3.0]) + 2.0
    y = np.zeros((120, 2))
    y[:, 0] = x[:, 2] > 2.0
    y[:, 1] = x[:, 3] > 2.1
    y[:5, 1] = np.nan  # an uncoded axis stays out of the fit
    poles = [(0, 1)]
    weights = np.ones(120)
    shift, matrix = scaling_transform(unit_rows(x), scaling)
    scaled = (unit_rows(x) - shift) @ matrix
    if scaling == "standardised":
        assert np.allclose(scaled.mean(axis=0), 0.0, atol=1e-9) and np.allclose(scaled.std(axis=0), 1.0)
    else:  # whitened: the shrunk covariance it was estimated from becomes the identity
        from sklearn.covariance import LedoitWolf

        covariance = LedoitWolf().fit(unit_rows(x)).covariance_
        assert np.allclose(matrix @ covariance @ matrix.T, np.eye(6), atol=1e-6)
        assert np.allclose(scaled.mean(axis=0), 0.0, atol=1e-9)
    folded = fit_scaled_head(x, y, weights, poles, scaling=scaling, c=1.0, seed=0)
    direct = fit_category_logits(scaled, y, weights, poles, c=1.0, seed=0)
    logits = scaled @ direct[0].T.astype(np.float64) + direct[1]
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    assert np.allclose(category_probabilities(x, *folded), expected, atol=1e-4)
    with pytest.raises(ValueError, match="unknown scaling"):
        scaling_transform(unit_rows(x), "centred")


def test_a_replay_subset_keeps_the_team_rows_and_cuts_every_replay_array_to_the_same_seeded_rows() -> None:
    from pipeline.crossval import Data
    from pipeline.tools.replay_size_experiment import replay_subset

    n_team, n_replay = 3, 12
    rows = np.arange(n_team + n_replay, dtype=float)[:, None]
    data = Data(team=None, texts=[f"row {i}" for i in range(n_team + n_replay)],  # type: ignore[arg-type]
                y=np.hstack([rows, -rows]), tuned=rows * 2, frozen=rows * 3, adapted=rows * 4, n_team=n_team,
                base_weight=np.zeros(1), base_bias=np.zeros(1), base_thresholds=np.zeros(1),
                replay_collections=[f"collection of row {n_team + i}" for i in range(n_replay)])
    cut = replay_subset(data, 5, seed=42)
    # crossval.load_data's draw for adapt.max_replay 5, adapt.seed 42, in replay order
    kept = n_team + np.sort(np.random.default_rng(42).choice(n_replay, 5, replace=False))
    expected = np.concatenate([np.arange(n_team), kept])
    assert cut.texts == [f"row {i}" for i in expected] and cut.n_team == n_team
    for name, factor in (("tuned", 2), ("frozen", 3), ("adapted", 4)):
        assert getattr(cut, name)[:, 0].tolist() == (expected * factor).tolist()
    assert cut.y[:, 0].tolist() == expected.tolist() and cut.y[:, 1].tolist() == (-expected).tolist()
    assert cut.replay_collections == [f"collection of row {i}" for i in kept]
    assert replay_subset(data, None, seed=42) is data and replay_subset(data, 12, seed=42) is data


def test_a_training_ensemble_decides_on_the_mean_probabilities_and_one_member_is_that_member() -> None:
    from types import SimpleNamespace

    from pipeline.model.decision import axis_pole_indices, decide_categories
    from pipeline.tools.encoder_interpolation_experiment import HeadBench
    from pipeline.tools.training_ensemble_experiment import averaged_labels, ensemble_loco_labels, ensemble_split_labels

    poles = axis_pole_indices(CODEBOOK.code_ids, CODEBOOK)
    n_codes, n_axes = len(CODEBOOK.code_ids), len(CODEBOOK.axes)
    # member A leans to "only pole 1" on every axis, member B is sure of "only pole 2": the mean follows B
    leaning = np.tile([0.5, 0.4, 0.05, 0.05], (1, n_axes))
    sure = np.tile([0.1, 0.9, 0.0, 0.0], (1, n_axes))
    assert (averaged_labels([leaning], poles, n_codes) == decide_categories(leaning, poles, n_codes)).all()
    together = averaged_labels([leaning, sure], poles, n_codes)
    assert (together == decide_categories(sure, poles, n_codes)).all()
    assert not (together == decide_categories(leaning, poles, n_codes)).all()

    rng = np.random.default_rng(1)
    n = 30
    groups = [str(k % 3) for k in range(n)]
    categories = rng.integers(0, 2, size=(n, n_axes))
    y = np.zeros((n, n_codes))
    for a, axis in enumerate(CODEBOOK.axes):
        y[:, CODEBOOK.code_ids.index(axis.poles[0])] = categories[:, a] == 0
        y[:, CODEBOOK.code_ids.index(axis.poles[1])] = categories[:, a] == 1
    informative = np.hstack([np.eye(2)[categories[:, a]] for a in range(n_axes)])
    features = {"weak": informative + rng.normal(size=(n, 6)), "noise": rng.normal(size=(n, 6))}
    data = SimpleNamespace(team=SimpleNamespace(groups=groups, labels=y), n_team=n, texts=[""] * n, y=y)
    params = SimpleNamespace(adapt=SimpleNamespace(real_weight=1.0, category_c=1.0, seed=0),
                             crossval=SimpleNamespace(seeds=[1, 2], replay_fraction=1.0, n_boot=50, confidence=0.9))
    bench = HeadBench(data, features, params, CODEBOOK)
    for seed in (1, 2):
        alone = bench.loco_labels("weak", seed)
        assert (ensemble_loco_labels([(bench, "weak")], seed) == alone).all()
        assert (ensemble_loco_labels([(bench, "weak"), (bench, "weak")], seed) == alone).all()
    # two different members: each held-out row decided on the mean of the two heads' probabilities
    train, held = np.flatnonzero(bench.groups != "0"), np.flatnonzero(bench.groups == "0")
    mixed = ensemble_loco_labels([(bench, "weak"), (bench, "noise")], 1)[held]
    expected = decide_categories((bench.fitted("weak", train)(features["weak"][held])
                                  + bench.fitted("noise", train)(features["noise"][held])) / 2, poles, n_codes)
    assert (mixed == expected).all()
    split = rng.normal(size=(7, 6))
    every = np.arange(n)
    assert (ensemble_split_labels([(bench, "weak", split)])
            == decide_categories(bench.fitted("weak", every)(split), poles, n_codes)).all()
    same = {seed: bench.loco_labels("weak", seed) for seed in (1, 2)}
    assert all(s["mean"] == 0 and s["ci_mean"] == [0, 0] for s in bench.labels_minus(same, same).values())


def test_sentence_rows_take_the_training_quotes_with_two_or_more_sentences_weighed_by_the_dose() -> None:
    from pipeline.tools.sentence_augmentation_experiment import sentence_rows

    owner = np.array([0, 1, 1, 1, 2, 2, 3])  # quote 0 and 3: one sentence each; 1: three; 2: two
    chosen, factor = sentence_rows(np.array([0, 1, 3]), owner, "share")
    assert chosen.tolist() == [1, 2, 3] and np.allclose(factor, 1 / 3)
    chosen, factor = sentence_rows(np.array([1, 2]), owner, "full")
    assert chosen.tolist() == [1, 2, 3, 4, 5] and factor.tolist() == [1] * 5
    assert sentence_rows(np.array([0, 3]), owner, "share")[0].tolist() == []
    with pytest.raises(ValueError, match="unknown dose"):
        sentence_rows(np.array([1]), owner, "half")


def test_sentences_that_repeat_their_quote_weigh_like_the_quote_counted_once_more() -> None:
    from types import SimpleNamespace

    from pipeline.model.category_head import category_probabilities, fit_category_head
    from pipeline.tools.encoder_interpolation_experiment import HeadBench
    from pipeline.tools.sentence_augmentation_experiment import KEY, augmented_head, augmented_loco_labels

    rng = np.random.default_rng(3)
    n = 24
    groups, categories, y = single_pole_team(rng, n)
    x = np.hstack([np.eye(2)[categories[:, a]] for a in range(len(CODEBOOK.axes))]) + rng.normal(size=(n, 6))
    data = SimpleNamespace(team=SimpleNamespace(groups=groups, labels=y), n_team=n, texts=[""] * n, y=y)
    params = SimpleNamespace(adapt=SimpleNamespace(real_weight=2.0, category_c=1.0, seed=0),
                             crossval=SimpleNamespace(seeds=[1], replay_fraction=1.0, n_boot=20, confidence=0.9))
    bench = HeadBench(data, {KEY: x}, params, CODEBOOK)
    every = np.arange(n)
    # without a dose: the shipped fit exactly
    assert all(np.array_equal(a, b) for a, b in zip(augmented_head(bench, every, x, every, None),
                                                    bench.head_weights(KEY, every), strict=True))
    assert (augmented_loco_labels(bench, x, every, None, 1) == bench.loco_labels(KEY, 1)).all()
    # quotes 0-5 have two sentences each, both the quote's own vector: "share" adds each quote once more
    owner = np.concatenate([np.repeat(np.arange(6), 2), np.arange(6, n)])
    sentence_x = x[owner]
    weights = np.full(n, 2.0)
    weights[:6] = 4.0
    expected = category_probabilities(x, *fit_category_head(x, y, weights, bench.poles, c=1.0, seed=0))
    got = category_probabilities(x, *augmented_head(bench, every, sentence_x, owner, "share"))
    assert np.allclose(got, expected, atol=1e-3)
    # "full": each of the two sentences weighs as the quote, so the quote counts three times
    weights[:6] = 6.0
    expected = category_probabilities(x, *fit_category_head(x, y, weights, bench.poles, c=1.0, seed=0))
    got = category_probabilities(x, *augmented_head(bench, every, sentence_x, owner, "full"))
    assert np.allclose(got, expected, atol=1e-3)


def test_importance_weights_keep_the_replay_mean_at_one_and_cut_the_largest() -> None:
    from pipeline.tools.replay_importance_experiment import effective_sample_size, importance_weights

    odds = np.array([0.01, 0.1, 0.5, 1.0, 2.0, 50.0, 1000.0])
    for power in (0.5, 1.0):
        weights = importance_weights(odds, power, clip=3.0)
        assert weights.mean() == pytest.approx(1.0)
        assert weights.max() <= 3.0 + 1e-9
        assert (np.diff(weights) >= -1e-12).all()  # more like real speech never weighs less
    assert np.allclose(importance_weights(odds, 0.0), 1.0)
    assert effective_sample_size(np.ones(40)) == pytest.approx(40.0)
    assert effective_sample_size(np.r_[np.zeros(39), 1.0]) == pytest.approx(1.0)


def test_the_density_ratio_favours_replay_that_sits_where_the_real_speech_is() -> None:
    from pipeline.tools.replay_importance_experiment import density_ratio

    rng = np.random.default_rng(0)
    real = rng.normal(size=(20, 5)) * 0.2 + np.array([3.0, 0, 0, 0, 0])
    near = rng.normal(size=(30, 5)) * 0.2 + np.array([3.0, 0, 0, 0, 0])
    far = rng.normal(size=(30, 5)) * 0.2 + np.array([0, 3.0, 0, 0, 0])
    odds = density_ratio(real, np.vstack([near, far]), seed=0)
    assert odds.shape == (60,)
    assert odds[:30].min() > odds[30:].max()


def test_the_importance_bench_reweighs_only_replay_rows_from_its_pool_of_real_speech() -> None:
    from types import SimpleNamespace

    from pipeline.tools.replay_importance_experiment import SHIPPED, ImportanceBench

    rng = np.random.default_rng(1)
    n_team, n_replay = 12, 40
    x = rng.normal(size=(n_team + n_replay, 4))
    x[:6, 0] += 4.0  # case "a" sits far along the first direction, case "b" does not
    x[n_team:n_team + 20, 0] += 4.0  # half the replay sits with case "a"
    groups = ["a"] * 6 + ["b"] * 6
    data = SimpleNamespace(team=SimpleNamespace(groups=groups, labels=np.zeros((n_team, 6))), n_team=n_team,
                           texts=[""] * (n_team + n_replay), y=np.zeros((n_team + n_replay, 6)),
                           replay_collections=["field", "synthetic"] * (n_replay // 2))
    params = SimpleNamespace(adapt=SimpleNamespace(real_weight=10.0, category_c=1.0, seed=0,
                                                   replay_weights={"strategisch_operationeel": {"field": 0.0}}),
                             crossval=SimpleNamespace(seeds=[1], replay_fraction=1.0))
    keys = [SHIPPED, ("transductive", 1.0), ("inductive", 1.0)]
    bench = ImportanceBench(data, {key: x for key in keys}, params, CODEBOOK)
    # a fit on case "a" + half the replay, a seed's sample: the replay rows are a subset, not every one
    sample = np.sort(np.random.default_rng(2).choice(np.arange(n_team, n_team + n_replay), 20, replace=False))
    case_a = np.r_[np.arange(6), sample]
    shipped = bench.row_weights(SHIPPED, case_a)
    assert shipped[6:, 2][np.array(data.replay_collections)[sample - n_team] == "field"].max() == 0
    for key in keys[1:]:
        weights = bench.row_weights(key, case_a)
        assert (weights[:6] == 10.0).all()  # team rows as adapt weighs them
        assert (weights[6:][shipped[6:] == 0] == 0).all()  # the field replay stays out of strat./oper.
        for a in range(len(CODEBOOK.axes)):  # on every axis the replay weighs in all what it weighs shipped
            assert weights[6:, a].sum() == pytest.approx(shipped[6:, a].sum())
            assert not np.allclose(weights[6:, a], shipped[6:, a])
    # the inductive pool is case "a" alone: the replay that sits with it weighs more than the rest
    inductive = bench.row_weights(("inductive", 1.0), case_a)[6:, 0]
    near = sample < n_team + 20
    assert inductive[near].mean() > 2 * inductive[~near].mean()
    # the transductive pool is both cases whatever the fit's team rows are
    case_b = np.r_[np.arange(6, 12), sample]
    assert np.allclose(bench.row_weights(("transductive", 1.0), case_b)[6:],
                       bench.row_weights(("transductive", 1.0), case_a)[6:])
    assert not np.allclose(bench.row_weights(("inductive", 1.0), case_b)[6:], bench.row_weights(("inductive", 1.0),
                                                                                                 case_a)[6:])


def test_pseudo_labels_take_the_most_probable_category_and_mask_an_unsure_axis() -> None:
    from pipeline.model.decision import axis_pole_indices, decide_categories
    from pipeline.tools.self_training_experiment import pseudo_labels

    poles = axis_pole_indices(CODEBOOK.code_ids, CODEBOOK)
    probabilities = np.array([[0.9, 0.05, 0.03, 0.02, 0.3, 0.3, 0.2, 0.2, 0.1, 0.1, 0.6, 0.2]])
    labels = pseudo_labels(probabilities, poles, len(CODEBOOK.code_ids), threshold=0.5)
    decided = decide_categories(probabilities, poles, len(CODEBOOK.code_ids))
    (i0, j0), (i1, j1), (i2, j2) = poles
    assert labels[0, i0] == 1 and labels[0, j0] == 0  # only pole 1 at 0.9
    assert np.isnan(labels[0, i1]) and np.isnan(labels[0, j1])  # 0.3 is below the threshold: masked
    assert labels[0, i2] == 1 and labels[0, j2] == 1  # "both" at 0.6
    assert np.array_equal(pseudo_labels(probabilities, poles, len(CODEBOOK.code_ids), threshold=0.0), decided)


def test_self_training_with_no_pseudo_weight_is_the_plain_fit_and_never_reads_the_held_out_codes() -> None:
    from types import SimpleNamespace

    from pipeline.model.category_head import category_probabilities, fit_category_head
    from pipeline.model.decision import axis_pole_indices, decide_categories
    from pipeline.tools.encoder_interpolation_experiment import HeadBench
    from pipeline.tools.self_training_experiment import SHIPPED, SelfTrainingBench, self_trained_probabilities

    rng = np.random.default_rng(4)
    n = 30
    groups, categories, y = single_pole_team(rng, n)
    x = np.hstack([np.eye(2)[categories[:, a]] for a in range(len(CODEBOOK.axes))]) + rng.normal(size=(n, 6))
    poles = axis_pole_indices(CODEBOOK.code_ids, CODEBOOK)
    coded, uncoded = np.arange(20), np.arange(20, n)
    weights = np.ones((20, len(poles)))
    plain = category_probabilities(x[uncoded], *fit_category_head(x[coded], y[coded], weights, poles, c=1.0, seed=0))
    for threshold, weight in ((0.0, 0.0), (1.01, 5.0)):  # pseudo rows weigh nothing / none is sure enough
        got = self_trained_probabilities(x[coded], y[coded], weights, x[uncoded], poles, threshold=threshold,
                                         weight=weight, c=1.0, seed=0)
        assert np.allclose(got, plain, atol=1e-6)
    # a weighed pseudo-labelled round moves the probabilities towards the head's own decisions
    moved = self_trained_probabilities(x[coded], y[coded], weights, x[uncoded], poles, threshold=0.0, weight=5.0,
                                       c=1.0, seed=0)
    assert not np.allclose(moved, plain, atol=1e-3)
    # the bench: the 30 rows as three cases of team fragments, beside 24 replay rows (half of them a seed's sample)
    _, replay_categories, replay_y = single_pole_team(rng, 24)
    replay_x = np.hstack([np.eye(2)[replay_categories[:, a]] for a in range(len(CODEBOOK.axes))]) \
        + rng.normal(size=(24, 6))
    every_x, every_y = np.vstack([x, replay_x]), np.vstack([y, replay_y])
    data = SimpleNamespace(team=SimpleNamespace(groups=groups, labels=y), n_team=n, texts=[""] * len(every_x),
                           y=every_y, replay_collections=["synthetic"] * 24)
    params = SimpleNamespace(adapt=SimpleNamespace(real_weight=3.0, category_c=1.0, seed=0, replay_weights={}),
                             crossval=SimpleNamespace(seeds=[1], replay_fraction=0.5, n_boot=20, confidence=0.9))
    keys = [SHIPPED, (0.0, 0.0), (0.0, 5.0)]
    bench = SelfTrainingBench(data, {key: every_x for key in keys}, params, CODEBOOK)
    reference = HeadBench(data, {SHIPPED: every_x}, params, CODEBOOK)
    assert (bench.loco_labels(SHIPPED, 1) == reference.loco_labels(SHIPPED, 1)).all()
    assert (bench.loco_labels((0.0, 0.0), 1) == reference.loco_labels(SHIPPED, 1)).all()
    # a held-out case is labelled by the head fitted on the other cases + the seed's replay, self-trained on it
    held, train = np.flatnonzero(np.array(groups) == "0"), np.flatnonzero(np.array(groups) != "0")
    rows = np.concatenate([train, bench.replay[1]])
    expected = decide_categories(self_trained_probabilities(
        every_x[rows], every_y[rows], bench.row_weights((0.0, 5.0), rows), every_x[held], poles, threshold=0.0,
        weight=5.0, c=1.0, seed=0), poles, len(CODEBOOK.code_ids))
    got = bench.held_out_labels((0.0, 5.0), train, held, 1)
    assert (got == expected).all()
    # and its own codes are never read: scrambled, the same labels come out
    scrambled_y = every_y.copy()
    scrambled_y[held] = 1 - scrambled_y[held]
    scrambled = SelfTrainingBench(SimpleNamespace(**{**vars(data), "y": scrambled_y}), {key: every_x for key in keys},
                                  params, CODEBOOK)
    assert (scrambled.held_out_labels((0.0, 5.0), train, held, 1) == got).all()


def test_the_surest_share_takes_the_largest_gaps_and_the_earlier_row_on_a_tie() -> None:
    from pipeline.tools.confidence_experiment import surest

    margins = np.array([0.1, 0.9, 0.5, 0.5, 0.0])
    assert surest(margins, 0.5).tolist() == [1, 2, 3]  # ceil(2.5) = 3 rows
    assert surest(margins, 0.4).tolist() == [1, 2]  # the tie at 0.5: the earlier row
    assert surest(margins, 1.0).tolist() == [0, 1, 2, 3, 4]


def test_confidence_figures_count_flags_score_each_share_per_axis_and_pair_the_model_with_the_humans() -> None:
    from pipeline.model.decision import axis_pole_indices
    from pipeline.tools.confidence_experiment import same_category, seed_figures

    poles = axis_pole_indices(CODEBOOK.code_ids, CODEBOOK)
    rng = np.random.default_rng(5)
    _, categories, reference = single_pole_team(rng, 40)
    labels = reference.copy()
    wrong = {0: np.arange(0, 40, 4), 1: np.arange(1, 40, 4), 2: np.arange(0, 40, 2)}  # other rows per axis
    for a, (i, j) in enumerate(poles):  # those rows are put on the axis's other pole
        labels[np.ix_(wrong[a], [i, j])] = labels[np.ix_(wrong[a], [j, i])]
    right = same_category(reference, labels, poles)
    for a in range(3):
        assert (~right[wrong[a], a]).all() and right[:, a].sum() == 40 - len(wrong[a])
    # each axis unsure exactly where it is wrong: its own column of margins
    margins = np.stack([np.where(np.isin(np.arange(40), wrong[a]), 0.05, 0.6) for a in range(3)], axis=1)
    humans = {"h1": reference.copy(), "h2": labels.copy()}
    figures = seed_figures(reference, labels, margins, humans, poles, CODEBOOK, 0.1, n_boot=50, confidence=0.9, seed=0)
    for a, axis in enumerate(CODEBOOK.axes):
        flag = figures[axis.id]["flag"]
        assert flag["n_flagged"] == len(wrong[a])
        assert flag["right_when_flagged"] == 0.0 and flag["right_when_not_flagged"] == 1.0
        half = figures[axis.id]["coverage"]["0.5"]
        assert half["n"] == 20
        # the surest half holds only right rows on the two axes wrong on a quarter; on the axis wrong on half the
        # rows it is exactly the right ones as well
        assert half["model"] == 1.0 and half["humans"]["h1"] == 1.0 and half["model_minus_human_mean"] == 0.0
        assert half["margin_cut"] == 0.6  # the smallest margin in the surest half
        everything = figures[axis.id]["coverage"]["1"]
        assert everything["n"] == 40 and everything["model"] < 1.0 and everything["margin_cut"] == 0.05
        assert everything["model_minus_human_mean"] == pytest.approx(
            everything["model"] - np.mean([everything["humans"]["h1"], everything["humans"]["h2"]]), abs=1e-3)
    # with the margins of axis 0 read for axis 2, the surest half of axis 2 would hold wrong rows
    swapped = seed_figures(reference, labels, margins[:, [0, 1, 0]], humans, poles, CODEBOOK, 0.1, n_boot=0,
                           confidence=0.9, seed=0)
    assert swapped["strategisch_operationeel"]["coverage"]["0.5"]["model"] < 1.0


def test_confidence_summaries_take_mean_min_max_over_seeds_skip_missing_values_and_average_interval_bounds() -> None:
    from pipeline.tools.confidence_experiment import summarise

    seeds = [{"axis": {"n": 8, "right": 0.5, "ci": [-0.2, 0.4]}},
             {"axis": {"n": 6, "right": None, "ci": None}},
             {"axis": {"n": 10, "right": 0.7, "ci": [0.0, 0.6]}}]
    out = summarise(seeds)["axis"]
    assert out["n"] == {"mean": 8.0, "min": 6.0, "max": 10.0}
    assert out["right"] == {"mean": 0.6, "min": 0.5, "max": 0.7}
    assert out["ci"] == {"mean": [-0.1, 0.5]}
    assert summarise([{"x": None}, {"x": None}])["x"] == {"mean": None}


def test_confidence_reads_the_humans_by_id_and_the_held_out_probabilities_never_see_their_codes(tmp_path) -> None:
    from types import SimpleNamespace

    from pipeline.crossval import human_labels
    from pipeline.tools.confidence_experiment import KEY, loco_probabilities
    from pipeline.tools.encoder_interpolation_experiment import HeadBench

    records = [{"id": f"q{k}", "text": "", "document": f"d{k}", "group": str(k % 3),
                "labels": {"h": {"intern": k % 2, "extern": 1 - k % 2}}} for k in range(6)]
    ids = ["q5", "q0", "q3", "q1", "q4", "q2"]  # another order than the records'
    found = human_labels(records, ids, "h", CODEBOOK, tmp_path)
    intern, extern = CODEBOOK.code_ids.index("intern"), CODEBOOK.code_ids.index("extern")
    assert found[:, intern].tolist() == [1, 0, 1, 1, 0, 0]
    assert found[:, extern].tolist() == [0, 1, 0, 0, 1, 1]
    assert np.sum(np.delete(found, [intern, extern], axis=1)) == 0  # axes h did not code read 0, as crossval does

    rng = np.random.default_rng(6)
    n = 30
    groups, categories, y = single_pole_team(rng, n)
    x = np.hstack([np.eye(2)[categories[:, a]] for a in range(len(CODEBOOK.axes))]) + rng.normal(size=(n, 6))
    params = SimpleNamespace(adapt=SimpleNamespace(real_weight=1.0, category_c=1.0, seed=0),
                             crossval=SimpleNamespace(seeds=[1], replay_fraction=1.0))

    def bench(codes: np.ndarray) -> HeadBench:
        data = SimpleNamespace(team=SimpleNamespace(groups=groups, labels=codes), n_team=n, texts=[""] * n, y=codes)
        return HeadBench(data, {KEY: x}, params, CODEBOOK)

    labels, probabilities = loco_probabilities(bench(y), 1)
    assert (labels == bench(y).loco_labels(KEY, 1)).all()
    assert np.allclose(probabilities.reshape(n, 3, 4).sum(axis=2), 1.0)
    held = np.flatnonzero(np.array(groups) == "0")
    scrambled = y.copy()
    scrambled[held] = 1 - scrambled[held]
    _, again = loco_probabilities(bench(scrambled), 1)
    assert np.allclose(again[held], probabilities[held])
    assert not np.allclose(again, probabilities)  # the other cases' codes do move their held-out neighbours


def test_double_coded_fragments_pair_the_two_coders_by_fragment_id_and_leave_out_the_singly_coded(tmp_path) -> None:
    import json

    from pipeline.tools.confidence_experiment import double_coded

    def record(document: str, start: int, labels: dict[str, dict[str, int]], split: str = "test") -> dict:
        return {**fragment(document, start, "respondent", f"tekst {document} {start}").to_dict(), "split": split,
                "labels": labels}

    a_only = {c: int(c == "intern") for c in CODEBOOK.code_ids}
    b_view = {c: int(c == "extern") for c in CODEBOOK.code_ids}
    rows = [record("d1", 0, {"A": a_only, "B": b_view}),
            record("d1", 20, {"A": a_only}),  # B did not code it: left out
            record("d2", 0, {"B": b_view, "A": {**a_only, "beleid": 1}}),
            record("d3", 0, {"A": a_only, "B": b_view}, split="train")]  # another split
    prepared = tmp_path / "fragments.jsonl"
    prepared.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    found = double_coded(prepared, "test", "A", "B", CODEBOOK)
    texts, first, second = found["field"]
    assert texts == ["tekst d1 0", "tekst d2 0"]
    beleid, intern, extern = (CODEBOOK.code_ids.index(c) for c in ("beleid", "intern", "extern"))
    assert first[:, intern].tolist() == [1, 1] and first[:, beleid].tolist() == [0, 1]
    assert second[:, extern].tolist() == [1, 1] and second[:, intern].tolist() == [0, 0]


def test_the_precision_tool_quantizes_every_linear_layer_of_a_copy_and_leaves_the_encoder_as_it_was(tiny_model) -> None:
    import torch

    from pipeline.model.bert_encoder import _Linear
    from pipeline.model.classifier import load_model
    from pipeline.tools.predict_precision_experiment import quantized_encoder

    model, _, _ = load_model(tiny_model, load_codebook())
    original = dict(model.encoder.named_modules())
    linear = [name for name, m in original.items() if isinstance(m, (_Linear, torch.nn.Linear))]
    assert linear, "the tiny model's encoder has linear layers"
    for per_channel in (False, True):
        quantized = quantized_encoder(model.encoder, per_channel=per_channel)
        swapped = [name for name, m in quantized.named_modules()
                   if type(m).__name__ == "Linear" and "quantized" in type(m).__module__]
        assert swapped == linear
        for name in linear:  # the model's own weights, to int8 precision, with the scales asked for
            weight = dict(quantized.named_modules())[name].weight()
            assert weight.qscheme() == (torch.per_channel_affine if per_channel else torch.per_tensor_affine)
            expected = original[name].weight
            assert torch.allclose(weight.dequantize(), expected, atol=float(expected.abs().max()) / 100)
    assert [name for name, m in model.encoder.named_modules() if isinstance(m, (_Linear, torch.nn.Linear))] == linear


def test_decision_changes_count_the_fragments_whose_labels_move_and_the_largest_score_and_margin_changes() -> None:
    from pipeline.tools.predict_precision_experiment import decision_changes

    def record(rid: str, labels: dict, scores: dict, margins: dict) -> dict:
        return {"id": rid, "labels": labels, "scores": scores, "margins": margins}

    reference = [record("a", {"intern": 1}, {"intern": 0.7}, {"intern_extern": 0.2}),
                 record("b", {"intern": 0}, {"intern": 0.2}, {"intern_extern": 0.3}),
                 record("c", {"intern": 0}, {"intern": None}, {"intern_extern": None})]  # an uncoded fragment
    other = [record("a", {"intern": 1}, {"intern": 0.65}, {"intern_extern": 0.15}),
             record("b", {"intern": 1}, {"intern": 0.6}, {"intern_extern": 0.1}),
             record("c", {"intern": 0}, {"intern": None}, {"intern_extern": None})]
    changes = decision_changes(reference, other)
    assert changes["ids_with_other_labels"] == ["b"] and changes["fragments_with_other_labels"] == 1
    assert changes["max_score_change"] == pytest.approx(0.4) and changes["mean_score_change"] == pytest.approx(0.225)
    assert changes["max_margin_change"] == pytest.approx(0.2)
    assert decision_changes(reference, reference)["max_score_change"] == 0
    with pytest.raises(ValueError, match="same records"):
        decision_changes(reference, other[::-1])


def test_the_precision_tool_times_every_variant_and_compares_each_with_fp32(tiny_model, tmp_path,
                                                                           monkeypatch) -> None:
    import copy
    import json

    import torch

    from pipeline.model.precision import cpu_has_native_bf16
    from pipeline.tools import predict_precision_experiment as tool

    def halved(encoder, *, per_channel=False):  # a stand-in "quantization" whose effect the tiny model shows
        encoder = copy.deepcopy(encoder)
        with torch.no_grad():
            for parameter in encoder.parameters():
                parameter.mul_(0.5)
        return encoder

    monkeypatch.setattr(tool, "quantized_encoder", halved)

    prepared = tmp_path / "fragments.jsonl"
    rows = [{"id": f"q{k}@0-9", "text": text, "codable": True, "collection": "study-quotes", "split": "gold"}
            for k, text in enumerate(["Wij sturen het beleid bij.", "De dienst doet het onthaal.",
                                      "Euh, het lokaal netwerk met de partners, allez, dat volgen we op."])]
    prepared.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = tool.measure(tiny_model, prepared, copies=2, repeats=2)
    expected = ["fp32", "bf16", "int8", "int8_per_channel"] if cpu_has_native_bf16() else \
        ["fp32", "int8", "int8_per_channel"]
    assert list(result["throughput"]) == expected
    assert all(t["fragments"] == 6 and len(t["fragments_per_s_each"]) == 2 for t in result["throughput"].values())
    assert list(result["changes_against_fp32"]) == expected[1:]
    assert all(c["fragments"] == 3 for c in result["changes_against_fp32"].values())
    # the int8 variants score with their own encoder, against the fp32 scorer's (not fp32 against itself)
    assert result["changes_against_fp32"]["int8"]["max_score_change"] > 0.001
    assert result["auto_resolves_to"] in ("bf16", "fp32") and "model_name" in result["cpu"]
    assert tool.cpu_description("vendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx512_bf16\n") == {
        "model_name": "AMD EPYC", "vendor": "AuthenticAMD", "avx512_bf16": True, "amx_bf16": False}
    with pytest.raises(ValueError, match="variants must be fp32"):
        tool.measure(tiny_model, prepared, variants=("bf16", "int8"))


def test_the_threads_bench_times_both_fits_each_repeat_and_finds_the_same_solution(monkeypatch) -> None:
    """README item 36's measurement: one timing per variant and repeat, medians and ratio from them, and the two
    fits agree (the threads only split the matrix products)."""
    from pipeline.tools import logistic_threads_bench as bench

    monkeypatch.setitem(bench.SIZES, "embedding", (300, 32))
    features, target, weight = bench.bench_matrix("embedding", 0)
    assert features.shape == (300, 32) and np.allclose(np.linalg.norm(features, axis=1), 1.0)
    assert set(np.unique(target)) <= {0, 1, 2, 3} and weight.min() >= 0.5 and weight.max() <= 2.0
    figures = bench.bench_size("embedding", 3)
    assert len(figures["one_thread_seconds"]) == len(figures["threaded_seconds"]) == 3
    assert figures["one_thread_median"] == sorted(figures["one_thread_seconds"])[1]
    assert figures["speedup"] == pytest.approx(figures["threaded_median"] / figures["one_thread_median"])
    assert figures["max_coefficient_difference"] < 1e-8


def test_bootstrap_bench_times_both_forms_and_compares_their_intervals(monkeypatch: pytest.MonkeyPatch) -> None:
    """README item 37's measurement: one timing per form and repeat, medians and ratio from them, and the
    weighted form gives the intervals of the old per-resample loop (the same resamples)."""
    from pipeline.tools import bootstrap_bench as bench

    ratings = bench.bench_ratings(400)
    assert ratings.shape == (2, 400) and 0.02 < np.isnan(ratings).mean() < 0.08
    both = ~np.isnan(ratings).any(axis=0)
    assert 0.6 < (ratings[0, both] == ratings[1, both]).mean() < 0.85
    monkeypatch.setattr(bench, "N_BOOT", 40)
    for name, level in (("summary_5000", "nominal"), ("summary_interval", "interval")):
        monkeypatch.setitem(bench.SHAPES, name, (60, 12, level, bench.weighted_summary, bench.old_summary))
        figures = bench.bench_shape(name, 3)
        assert len(figures["weighted_seconds"]) == len(figures["old_seconds"]) == 3
        assert figures["old_median"] == sorted(figures["old_seconds"])[1]
        assert figures["speedup"] == pytest.approx(figures["old_median"] / figures["weighted_median"])
        assert len(figures["coefficients"]) == 7 and figures["max_interval_difference"] < 1e-12
    assert bench.old_alpha(ratings, "nominal", [])["krippendorff_alpha"] == pytest.approx(
        bench.weighted_alpha(ratings, "nominal", [])["krippendorff_alpha"])
    assert bench._largest_difference({"a": [0.1, 0.2]}, {"a": None}) == float("inf")
    assert bench._largest_difference({"a": [0.1, 0.2]}, {"a": [0.1, 0.25]}) == pytest.approx(0.05)


def test_the_batching_tool_times_each_batch_size_on_both_inputs_in_predicts_chunks(tiny_model, tmp_path,
                                                                                   monkeypatch) -> None:
    """Every batch size is timed on both inputs and compared with the first; the records go to `Scorer.apply` in
    chunks of `compute.predict_chunk_size`, as `capcode predict` reads them."""
    import json

    from pipeline.core.config import DEFAULT_PARAMS
    from pipeline.model.apply import Scorer
    from pipeline.tools import predict_batching_experiment as tool

    prepared = tmp_path / "fragments.jsonl"
    quotes = [{"id": f"q{k}@0-9", "text": text, "codable": True, "collection": "study-quotes", "split": "gold"}
              for k, text in enumerate(["Wij sturen het beleid bij.", "De dienst doet het onthaal.",
                                        "Euh, het lokaal netwerk met de partners, allez, dat volgen we op."])]
    corpus = [{"id": f"c{k}@0-9", "text": f"Fragment {k}: het budget van de integratiedienst." * (k + 1),
               "codable": k != 1, "collection": "synthetic", "split": "test"} for k in range(5)]
    prepared.write_text("".join(json.dumps(r) + "\n" for r in quotes + corpus), encoding="utf-8")
    applied: list[tuple[int, int]] = []
    apply = Scorer.apply
    monkeypatch.setattr(Scorer, "apply", lambda self, records, **kw: applied.append((self.batch_size, len(records)))
                        or apply(self, records, **kw))
    chunked = tmp_path / "params.yaml"
    chunked.write_text(DEFAULT_PARAMS.read_text(encoding="utf-8").replace("  predict_chunk_size: 256\n",
                                                                          "  predict_chunk_size: 4\n"), encoding="utf-8")
    result = tool.measure(tiny_model, prepared, copies=2, corpus_fragments=3, repeats=2, batch_sizes=[64, 2],
                          params_path=chunked)
    assert result["chunk"] == 4
    assert result["quotes"]["fragments"] == 6 and result["corpus"]["fragments"] == 3  # c1 is not codable
    assert sorted(set(applied)) == [(2, 2), (2, 3), (2, 4), (64, 2), (64, 3), (64, 4)]  # quotes 4 + 2, corpus 3
    for name in ("quotes", "corpus"):
        part = result[name]
        assert list(part["fragments_per_s_median"]) == ["64", "2"]
        assert all(len(each) == 2 for each in part["fragments_per_s_each"].values())
        assert list(part["speedup_over_64"]) == ["2"]
        assert all(c["fragments_with_other_labels"] == 0 and c["max_score_change"] <= 0.0001
                   for c in part["changes_against_64"].values())
    with pytest.raises(ValueError, match="batch sizes >= 1"):
        tool.measure(tiny_model, prepared, batch_sizes=[])
