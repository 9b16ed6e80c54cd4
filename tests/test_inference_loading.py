"""Loading a model for scoring without transformers: the plain-torch BERT encoder and the tokenizer read
straight from tokenizer.json give exactly what transformers gives, and a fragments file starts scoring
without importing the heavy libraries."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from pipeline.core.codebook import load_codebook
from pipeline.model.bert_encoder import BertEncoder, load_bert_encoder
from pipeline.model.classifier import load_encoder, load_model, model_input_text
from pipeline.model.text_tokenizer import TextTokenizer, load_tokenizer
from tests.tiny_backbone import DUTCH_SENTENCES

TEXTS = [*DUTCH_SENTENCES, "", "  twee  spaties ", "Één café, naïef — “quotes” [CLS] [PAD] 😀 漢字\tTAB\nlijn",
         " ".join(DUTCH_SENTENCES * 3)]


def test_encoder_gives_bitwise_what_transformers_gives(tiny_model):
    """fp32 and bf16 autocast; a padded batch (mask), an unpadded one (no mask) and one text."""
    directory = tiny_model / "encoder"
    ours, reference = load_bert_encoder(directory), load_encoder(directory).eval()
    assert isinstance(ours, BertEncoder) and not isinstance(reference, BertEncoder)
    tokenizer = load_tokenizer(directory)
    batches = [TEXTS[:6], [TEXTS[1]] * 3, TEXTS[-1:]]
    for dtype in (None, torch.bfloat16):
        for texts in batches:
            batch = tokenizer(texts, truncation=True, max_length=64, padding=True, return_tensors="pt")
            with torch.inference_mode(), torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=bool(dtype)):
                a = ours(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
                b = reference(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            assert torch.equal(a, b), (dtype, len(texts))
    assert not torch.equal(*(ours(input_ids=torch.tensor([ids]), attention_mask=torch.tensor([[1] * len(ids)]))
                             .last_hidden_state[0, 0] for ids in ([2, 10, 3], [2, 11, 3])))  # inputs matter


def test_tokenizer_gives_what_transformers_gives(tiny_model):
    from transformers import AutoTokenizer

    directory = tiny_model / "encoder"
    ours, reference = load_tokenizer(directory), AutoTokenizer.from_pretrained(directory, local_files_only=True)
    assert isinstance(ours, TextTokenizer)
    for name in ("cls_token_id", "sep_token_id", "bos_token_id", "eos_token_id", "pad_token_id"):
        assert getattr(ours, name) == getattr(reference, name), name
    texts = [model_input_text(t, "query: ") for t in TEXTS]
    plain = dict(add_special_tokens=False, truncation=False)
    assert ours(texts, **plain)["input_ids"] == reference(texts, **plain)["input_ids"]
    padded = dict(truncation=True, max_length=12, padding=True, return_tensors="pt")
    a, b = ours(texts, **padded), reference(texts, **padded)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert a["input_ids"].shape[1] == 12 and a["attention_mask"].sum() < a["attention_mask"].numel()
    for text in texts:
        assert ours(text)["input_ids"] == reference(text)["input_ids"]


def test_other_encoders_and_tokenizers_go_through_transformers(tiny_model, tmp_path):
    copy = tmp_path / "encoder"
    shutil.copytree(tiny_model / "encoder", copy)
    config = json.loads((copy / "config.json").read_text(encoding="utf-8"))
    (copy / "config.json").write_text(json.dumps(dict(config, hidden_act="gelu_new")), encoding="utf-8")
    assert load_bert_encoder(copy) is None  # another activation: transformers computes it
    tokenizer_config = json.loads((copy / "tokenizer_config.json").read_text(encoding="utf-8"))
    (copy / "tokenizer_config.json").write_text(json.dumps(dict(tokenizer_config, tokenizer_class="BertTokenizerFast")),
                                                encoding="utf-8")
    assert not isinstance(load_tokenizer(copy), TextTokenizer)
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model, model_dir)
    (model_dir / "encoder" / "config.json").write_text(json.dumps(dict(config, hidden_act="gelu_new")),
                                                       encoding="utf-8")
    model, _, _ = load_model(model_dir, load_codebook())
    assert not isinstance(model.encoder, BertEncoder)


def test_fragment_input_imports_only_what_it_needs(tiny_model, tmp_path):
    """A fragments file needs no segmenter and no training stack: spaCy, transformers, datasets, sklearn and
    torch's compiler stay out of the process (each costs seconds of start-up)."""
    fragments = tmp_path / "fragments.jsonl"
    fragments.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(TEXTS)), encoding="utf-8")
    heavy = ["spacy", "transformers", "datasets", "sklearn", "torch._dynamo", "sympy"]
    code = ("import sys; from pathlib import Path; from pipeline.predict import predict; "
            f"predict(inputs=[Path({str(fragments)!r})], model_dir=Path({str(tiny_model)!r}), "
            f"output=Path({str(tmp_path / 'out.jsonl')!r})); print([m for m in {heavy!r} if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=dict(os.environ, CAPCODE_PROGRESS="0"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
    assert len((tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()) == len(TEXTS)


@pytest.mark.parametrize("command", [["--help"], ["predict", "--help"], ["bench", "--help"]])
def test_help_imports_no_model_stack(command):
    code = ("import sys; from pipeline.cli import app\n"
            f"try:\n    app({command!r})\nexcept SystemExit:\n    pass\n"
            "print([m for m in ('torch', 'transformers', 'spacy') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
