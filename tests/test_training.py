"""What training promises besides a model: frozen word embeddings, early stopping that stops, and the
precision `auto` picks (CPU flags mocked)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from pipeline.core.errors import InputError
from pipeline.model import precision as precision_module
from pipeline.model.precision import resolve_precision

WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"


def _weights(directory: Path) -> dict[str, torch.Tensor]:
    return {name.removeprefix("bert."): tensor for name, tensor in load_file(directory / "model.safetensors").items()}


# --------------------------------------------------------------------------- frozen word embeddings


@pytest.mark.parametrize("freeze", [True, False])
def test_only_the_word_embeddings_are_frozen(tiny_backbone, freeze):
    from pipeline.core.params import TrainParams
    from pipeline.train import build_classifier

    model, _ = build_classifier(tiny_backbone, 6, TrainParams(freeze_word_embeddings=freeze), torch.ones(4, 6))
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    assert frozen == ({f"encoder.{WORD_EMBEDDINGS}"} if freeze else set())
    assert any(name.startswith("head") for name, p in model.named_parameters() if p.requires_grad)
    assert any("position_embeddings" in name for name, p in model.named_parameters() if p.requires_grad)


def test_training_leaves_word_embeddings_and_moves_the_rest(tiny_backbone, tiny_model):
    """The session's tiny model (trained with the default freeze_word_embeddings: true) against its backbone."""
    before, after = _weights(tiny_backbone), _weights(tiny_model / "encoder")
    assert torch.equal(before[WORD_EMBEDDINGS], after[WORD_EMBEDDINGS])
    changed = [name for name in before if name in after and not torch.equal(before[name], after[name])]
    assert any("encoder.layer.0." in name for name in changed) and WORD_EMBEDDINGS not in changed


# --------------------------------------------------------------------------- early stopping


@pytest.mark.slow  # trains three epochs (about 35 s on the shared 2-core machine)
def test_early_stopping_stops(tiny_backbone, prepared_mini, tmp_path):
    """With a learning rate too small to change any prediction, validation macro-F1 never improves: training
    must stop after the first evaluation plus `early_stopping_patience` more, long before its 40 epochs."""
    from pipeline.core.codebook import load_codebook
    from pipeline.core.config import DEFAULT_PARAMS
    from pipeline.model.training_data import load_training_splits
    from pipeline.train import train

    params = yaml.safe_load(DEFAULT_PARAMS.read_text(encoding="utf-8"))
    params["train"].update(epochs=40, batch_size=16, learning_rate=1e-12, warmup_ratio=0.0, precision="fp32",
                           max_length=32, early_stopping_patience=2, save_total_limit=1)
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump(params), encoding="utf-8")
    prepared = prepared_mini / "fragments.jsonl"
    metadata = train(prepared=prepared, model_dir=tmp_path / "model", checkpoint_dir=tmp_path / "checkpoints",
                     live_dir=None, params_path=params_path, backbone=str(tiny_backbone))
    train_set, _ = load_training_splits(prepared, coder="A", code_ids=load_codebook().code_ids)
    steps_per_epoch = math.ceil(len(train_set) / 16)
    assert metadata.validation["steps"] == (1 + 2) * steps_per_epoch < 40 * steps_per_epoch


# --------------------------------------------------------------------------- precision `auto`


@pytest.fixture
def cpuinfo(monkeypatch):
    """Set what /proc/cpuinfo says (None: unreadable) for `cpu_has_native_bf16`, whose answer is cached."""

    def set_flags(flags: str | None) -> None:
        def read_text(self, *args, **kwargs):
            if str(self) != "/proc/cpuinfo":
                return original(self, *args, **kwargs)
            if flags is None:
                raise OSError("no /proc here")
            return f"processor\t: 0\nflags\t\t: {flags}\n"

        monkeypatch.setattr(Path, "read_text", read_text)
        precision_module.cpu_has_native_bf16.cache_clear()

    original = Path.read_text
    yield set_flags
    precision_module.cpu_has_native_bf16.cache_clear()


@pytest.mark.parametrize(("flags", "expected"), [
    ("fpu sse2 avx2 avx512f avx512_bf16", "bf16"),
    ("fpu sse2 avx2 amx_bf16 amx_tile", "bf16"),
    ("fpu sse2 avx2 avx512f avx512bw", "fp32"),  # AVX-512 without its bf16 extension emulates bf16: slow
    (None, "fp32"),
])
def test_auto_precision_follows_the_cpu_flags(cpuinfo, flags, expected):
    cpuinfo(flags)
    assert resolve_precision("auto") == expected
    assert resolve_precision("fp32") == "fp32" and resolve_precision("bf16") == "bf16"  # explicit choices stand


def test_auto_precision_on_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", device="cuda:0") == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", device="cuda") == "fp16"  # GPUs without bf16 autocast in fp16


def test_unknown_precision_is_bad_input():
    with pytest.raises(InputError, match="precision must be one of"):
        resolve_precision("fp16")
