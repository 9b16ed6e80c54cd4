"""What training promises besides a model: frozen word embeddings, early stopping that stops, labels left out
of the loss by `train.label_weights`, and the precision `auto` picks (CPU flags mocked)."""

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


# --------------------------------------------------------------------------- train.label_weights


def test_label_weight_matrix_weighs_a_collections_coding_of_an_axis():
    import numpy as np

    from pipeline.core.codebook import load_codebook
    from pipeline.model.training_data import label_weight_matrix

    codebook = load_codebook()
    assert label_weight_matrix(["field", "synthetic"], {}, codebook) is None
    assert label_weight_matrix(["synthetic"], {"strategisch_operationeel": {"field": 0.0}}, codebook) is None
    matrix = label_weight_matrix(["field", "synthetic", ""], {"strategisch_operationeel": {"field": 0.0},
                                                              "beleid_beheer": {"synthetic": 2.0}}, codebook)
    assert matrix is not None
    code = {c: i for i, c in enumerate(codebook.code_ids)}
    assert matrix[0, code["strategisch"]] == matrix[0, code["operationeel"]] == 0.0
    assert matrix[1, code["beleid"]] == matrix[1, code["beheer"]] == 2.0
    np.testing.assert_array_equal(matrix[2], np.ones(len(code)))  # collection not recorded: weighs 1
    assert matrix[0, code["intern"]] == matrix[1, code["strategisch"]] == 1.0


def test_loss_weights_leave_a_label_out_and_weigh_the_rest(tiny_backbone):
    """Weights of 1 give the plain loss; a label weighing 0 does not move the loss whatever its value."""
    from pipeline.core.params import TrainParams
    from pipeline.train import build_classifier

    torch.manual_seed(0)
    model, _ = build_classifier(tiny_backbone, 6, TrainParams(), torch.ones(4, 6))
    model.eval()
    ids, mask = torch.randint(5, 50, (3, 7)), torch.ones(3, 7, dtype=torch.long)
    labels = torch.tensor([[1., 0., 1., 0., 1., 0.], [0., 1., 0., 1., 0., 1.], [1., 1., 0., 0., 1., 1.]])
    plain = model(ids, mask, labels=labels)["loss"]
    assert torch.allclose(model(ids, mask, labels=labels, loss_weights=torch.ones(3, 6))["loss"], plain)
    weights = torch.ones(3, 6)
    weights[0, 4:] = 0.0  # the first fragment's strat./oper. coding left out
    flipped = labels.clone()
    flipped[0, 4:] = 1 - flipped[0, 4:]
    left_out = model(ids, mask, labels=labels, loss_weights=weights)["loss"]
    assert torch.allclose(model(ids, mask, labels=flipped, loss_weights=weights)["loss"], left_out)
    assert not torch.allclose(model(ids, mask, labels=flipped, loss_weights=torch.ones(3, 6))["loss"], plain)


def test_positive_weights_count_only_the_labels_the_loss_reads():
    from pipeline.model.classifier import positive_weights

    labels = torch.tensor([[1., 0.], [0., 1.], [0., 1.], [0., 1.]])
    counted = torch.tensor([[1., 1.], [1., 0.], [1., 0.], [1., 1.]])
    # code 0: 1 positive of 4 counted (ratio 3); code 1: 1 positive of the 2 counted (ratio 1)
    assert positive_weights(labels, scheme="linear", cap=10.0, counted=counted).tolist() == [3.0, 1.0]
    assert torch.equal(positive_weights(labels, scheme="linear", cap=10.0, counted=torch.ones(4, 2)),
                       positive_weights(labels, scheme="linear", cap=10.0))


def test_training_reads_label_weights(tiny_backbone, prepared_mini, tmp_path):
    """Every label of the collection weighing 0 (and no weight decay): the loss is 0, so two steps of training
    leave every weight where it was; the metadata records the setting."""
    from pipeline.train import train

    params = yaml.safe_load(_default_params_text())
    params["train"].update(epochs=1, batch_size=16, warmup_ratio=0.0, weight_decay=0.0, precision="fp32",
                           max_length=32, save_total_limit=1,
                           label_weights={axis: {"mini": 0.0} for axis in
                                          ("intern_extern", "beleid_beheer", "strategisch_operationeel")})
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump(params), encoding="utf-8")
    metadata = train(prepared=prepared_mini / "fragments.jsonl", model_dir=tmp_path / "model",
                     checkpoint_dir=tmp_path / "checkpoints", params_path=params_path, max_steps=2,
                     backbone=str(tiny_backbone))
    assert metadata is not None and metadata.params["label_weights"]["beleid_beheer"] == {"mini": 0.0}
    before, after = _weights(tiny_backbone), _weights(tmp_path / "model" / "encoder")
    assert all(torch.equal(before[name], after[name]) for name in before if name in after)


def test_label_weights_on_an_unknown_axis_are_bad_input(prepared_mini, tmp_path):
    from pipeline.train import train

    params = yaml.safe_load(_default_params_text())
    params["train"]["label_weights"] = {"strategic": {"mini": 0.0}}
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump(params), encoding="utf-8")
    with pytest.raises(InputError, match="train.label_weights: unknown axis 'strategic'"):
        train(prepared=prepared_mini / "fragments.jsonl", model_dir=tmp_path / "model",
              checkpoint_dir=tmp_path / "checkpoints", params_path=params_path, max_steps=1)


def _default_params_text() -> str:
    from pipeline.core.config import DEFAULT_PARAMS

    return DEFAULT_PARAMS.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- precision `auto`


@pytest.fixture
def cpuinfo(monkeypatch):
    """Set what /proc/cpuinfo says (None: unreadable) for `cpu_features`, whose answer is cached."""

    def set_cpu(flags: str | None, vendor: str = "AuthenticAMD") -> None:
        def read_text(self, *args, **kwargs):
            if str(self) != "/proc/cpuinfo":
                return original(self, *args, **kwargs)
            if flags is None:
                raise OSError("no /proc here")
            processor = f"vendor_id\t: {vendor}\ncpu family\t: 6\nflags\t\t: {flags}\nbugs\t\t: spectre_v1\n"
            return "".join(f"processor\t: {n}\n{processor}\n" for n in range(2))

        monkeypatch.setattr(Path, "read_text", read_text)
        precision_module.cpu_features.cache_clear()

    original = Path.read_text
    yield set_cpu
    precision_module.cpu_features.cache_clear()


@pytest.mark.parametrize(("vendor", "flags", "expected"), [
    ("AuthenticAMD", "fpu sse2 avx2 avx512f avx512_bf16", "bf16"),  # AMD EPYC: bf16 2.0x faster (item 34)
    ("GenuineIntel", "fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile", "bf16"),  # AMX tiles
    ("GenuineIntel", "fpu sse2 avx2 avx512f avx512_bf16 avx512_fp16", "fp32"),  # AMX hidden: fp32 1.4-1.5x faster
    ("GenuineIntel", "fpu sse2 avx2 avx512f avx512bw", "fp32"),  # AVX-512 without bf16 emulates bf16: slow
    ("AuthenticAMD", "fpu sse2 avx2", "fp32"),
    ("", "fpu avx512f avx512_bf16", "bf16"),  # no vendor line: only Intel without AMX was measured slower
    ("", None, "fp32"),
])
def test_auto_precision_follows_the_cpu(cpuinfo, vendor, flags, expected):
    cpuinfo(flags, vendor)
    assert resolve_precision("auto") == expected
    assert resolve_precision("fp32") == "fp32" and resolve_precision("bf16") == "bf16"  # explicit choices stand
    assert precision_module.cpu_has_native_bf16() == ("bf16" in (flags or ""))  # the tool's "can it run bf16"


def test_cpu_features_read_the_vendor_and_the_flags_line_not_other_lines(cpuinfo):
    cpuinfo("fpu avx512_bf16", "GenuineIntel")
    assert precision_module.cpu_features() == precision_module.CpuFeatures("GenuineIntel",
                                                                           frozenset({"fpu", "avx512_bf16"}))
    assert "spectre_v1" not in precision_module.cpu_features().flags  # `bugs`, not a flag


def test_auto_precision_on_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", device="cuda:0") == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", device="cuda") == "fp16"  # GPUs without bf16 autocast in fp16


def test_unknown_precision_is_bad_input():
    with pytest.raises(InputError, match="precision must be one of"):
        resolve_precision("fp16")
