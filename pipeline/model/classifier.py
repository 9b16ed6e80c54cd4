"""The code classifier: a pretrained encoder, mean pooling, and a head over the codebook.

Two heads: `poles` (what `capcode train` fits) scores each code independently (sigmoid per code, a decision
rule turns six scores into codes); `axis_categories` (what `capcode adapt` fits by default) scores, per axis,
its four categories (only pole 1, only pole 2, both, neither; softmax per axis) on length-normalised
embeddings, and the most probable category is the code (`pipeline.model.decision.decide_categories`).

The head owns its loss (binary cross-entropy per code, positive-class weights for rare codes), so the
transformers `Trainer` can train it as is. A saved model directory holds everything needed to use it and to
check that it fits: the encoder and tokenizer (`encoder/`), the head (`head.safetensors`) and
`capcode_model.json` with code ids, codebook fingerprint, thresholds, backbone identity and hash, training
data hash and the params it was trained with.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import regex
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from pipeline import __version__
from pipeline.core.codebook import Codebook
from pipeline.core.config import MODEL_METADATA_FILE
from pipeline.core.errors import InputError
from pipeline.ingest.turns import load_conventions

METADATA_FILE = MODEL_METADATA_FILE
HEAD_FILE = "head.safetensors"
ENCODER_DIR = "encoder"
FORMAT_VERSION = 1
POLES = "poles"  # one sigmoid score per code
AXIS_CATEGORIES = "axis_categories"  # per axis a softmax over its four categories


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average token states over real tokens. hidden: [batch, seq, dim], mask: [batch, seq] -> [batch, dim]."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


class CodeClassifier(nn.Module):
    """Encoder + mean pooling + linear head: `n_outputs` logits (one per code for a `poles` head, four per axis
    for an `axis_categories` head). `normalize`: the pooled embedding is scaled to unit length first (the
    categories head is fitted on unit-length embeddings)."""

    def __init__(self, encoder: nn.Module, n_outputs: int, *, dropout: float = 0.1,
                 pos_weight: torch.Tensor | None = None, normalize: bool = False) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.normalize = normalize
        config: Any = encoder.config  # a transformers PreTrainedModel's config
        self.head = nn.Linear(config.hidden_size, n_outputs)
        weight = pos_weight if pos_weight is not None else torch.ones(n_outputs)
        if weight.shape != (n_outputs,):
            raise ValueError(f"pos_weight must have shape ({n_outputs},), found {tuple(weight.shape)}")
        self.pos_weight: torch.Tensor
        self.register_buffer("pos_weight", weight.float(), persistent=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                labels: torch.Tensor | None = None, loss_weights: torch.Tensor | None = None,
                **_: Any) -> dict[str, torch.Tensor]:
        """Logits per code; with `labels` also the loss: binary cross-entropy per code and fragment, averaged,
        or with `loss_weights` ([batch, n_codes], `train.label_weights`) their weighted mean, a 0 weight
        leaving that fragment's code out."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pooled = mean_pool(hidden, attention_mask)
        if self.normalize:
            pooled = nn.functional.normalize(pooled.float(), dim=-1).to(pooled.dtype)
        logits = self.head(self.dropout(pooled))
        output = {"logits": logits}
        if labels is None:
            return output
        if loss_weights is None:
            output["loss"] = nn.functional.binary_cross_entropy_with_logits(
                logits.float(), labels.float(), pos_weight=self.pos_weight
            )
        else:
            per_label = nn.functional.binary_cross_entropy_with_logits(
                logits.float(), labels.float(), pos_weight=self.pos_weight, reduction="none")
            weights = loss_weights.float()
            output["loss"] = (per_label * weights).sum() / weights.sum().clamp(min=1e-12)
        return output


def positive_weights(label_matrix: torch.Tensor, *, scheme: str, cap: float,
                     counted: torch.Tensor | None = None) -> torch.Tensor:
    """Per-code positive weights from a [n_examples, n_codes] 0/1 matrix: none, sqrt or linear neg/pos;
    `counted` (0/1, the same shape): only the labels it marks count (a label left out of the loss does not)."""
    if scheme not in ("none", "sqrt", "linear"):
        raise InputError("configs/params.yaml", f"train.pos_weight must be none, sqrt or linear, found {scheme!r}")
    mask = torch.ones_like(label_matrix) if counted is None else counted.float()
    positives = (label_matrix * mask).sum(dim=0).clamp(min=1.0)
    ratio = (mask.sum(dim=0) - positives).clamp(min=0.0) / positives
    if scheme == "none":
        return torch.ones(label_matrix.shape[1])
    weight = ratio.sqrt() if scheme == "sqrt" else ratio
    return weight.clamp(min=1.0, max=cap)


@dataclass
class ModelMetadata:
    code_ids: list[str]
    codebook_fingerprint: str
    thresholds: dict[str, float]
    backbone: dict[str, Any]
    training_data_sha256: str
    params: dict[str, Any]
    max_length: int
    text_prefix: str
    label_coder: str
    synthetic_training_data: bool
    name: str = "capcode"
    capcode_version: str = __version__
    format_version: int = FORMAT_VERSION
    created: str = ""
    validation: dict[str, Any] = field(default_factory=dict)
    # interviews whose coding the model was trained or tuned on: agreement on them is no held-out test
    training_documents: list[str] = field(default_factory=list)
    # a decision rule other than the plain thresholds (pipeline.model.decision); None = thresholds
    decision: dict[str, Any] | None = None
    # what `capcode adapt` adapted the model on (inputs, coders, documents, data hash, base model); {} = not adapted
    adapted: dict[str, Any] = field(default_factory=dict)
    # the numeric precision the model was trained with (bf16 autocast or fp32), for comparing runs across CPUs
    precision: str = ""
    # `poles` (six sigmoid scores + decision rule) or `axis_categories` (per axis, four categories; argmax)
    head: str = POLES
    # what encoder/ holds: `fine-tuned` (by `capcode train`) or `pretrained` (the backbone as converted)
    encoder: str = "fine-tuned"

    @property
    def identity(self) -> str:
        """Short model identity for outputs: name, capcode version and a hash of the training data."""
        return f"{self.name}-{self.capcode_version}-{self.training_data_sha256[:8]}"


def model_input_text(text: str, prefix: str) -> str:
    """Text the model sees: timestamps removed and whitespace collapsed (offsets stay on the original)."""
    cleaned = load_conventions().timestamp.sub(" ", text)
    return prefix + regex.sub(r"\s+", " ", cleaned).strip()


def save_model(directory: Path, model: CodeClassifier, tokenizer: Any, metadata: ModelMetadata) -> None:
    """Write a complete model directory (the caller makes it atomic by writing to a temporary directory)."""
    directory.mkdir(parents=True, exist_ok=True)
    encoder: Any = model.encoder  # a transformers PreTrainedModel
    encoder.save_pretrained(directory / ENCODER_DIR)
    tokenizer.save_pretrained(directory / ENCODER_DIR)
    save_file({"weight": model.head.weight.detach().contiguous().float(),
               "bias": model.head.bias.detach().contiguous().float()}, directory / HEAD_FILE)
    (directory / METADATA_FILE).write_text(json.dumps(asdict(metadata), indent=2, ensure_ascii=False) + "\n")


def read_metadata(directory: Path) -> ModelMetadata:
    path = directory / METADATA_FILE
    if not directory.is_dir():
        raise InputError(directory, "model directory not found; train one with `capcode train` or `dvc repro`")
    if not path.is_file():
        raise InputError(directory, f"not a capcode model directory (no {METADATA_FILE}); point --model at a trained model")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        metadata = ModelMetadata(**raw)
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as err:
        raise InputError(path, f"damaged model metadata: {err}") from None
    if metadata.format_version != FORMAT_VERSION:
        raise InputError(path, f"model format {metadata.format_version}, this capcode reads {FORMAT_VERSION}; retrain")
    if metadata.head not in (POLES, AXIS_CATEGORIES):
        raise InputError(path, f"unknown head '{metadata.head}': expected {POLES} or {AXIS_CATEGORIES}; the model "
                               "comes from a newer capcode")
    return metadata


def check_codebook(metadata: ModelMetadata, codebook: Codebook, directory: Path) -> None:
    """A model trained on another codebook cannot score this one's codes: refuse it clearly."""
    if metadata.code_ids != codebook.code_ids or metadata.codebook_fingerprint != codebook.fingerprint():
        raise InputError(
            directory,
            f"model was trained on another codebook (codes {metadata.code_ids}, fingerprint "
            f"{metadata.codebook_fingerprint[:8]}); this codebook has {codebook.code_ids} "
            f"({codebook.fingerprint()[:8]}); retrain the model or use its codebook",
        )


def head_outputs(metadata: ModelMetadata, codebook: Codebook) -> int:
    """How many logits the model's head has: one per code, or four per axis."""
    if metadata.head == POLES:
        return len(metadata.code_ids)
    from pipeline.model.decision import N_CATEGORIES

    return N_CATEGORIES * len(codebook.axes)


def load_encoder(directory: Path):
    """Load an encoder from a Hugging Face directory (BERT without its unused pooler: we mean-pool)."""
    from transformers import AutoModel

    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    extra = {"add_pooling_layer": False} if config.get("model_type") in ("bert", "xlm-roberta", "roberta") else {}
    return AutoModel.from_pretrained(directory, local_files_only=True, **extra)


def check_model_directory(directory: Path, codebook: Codebook) -> ModelMetadata:
    """The metadata of a complete model directory that belongs to `codebook`, without loading the weights
    (what `adapt` and `simulate` need of a model whose encoder they replace by the pretrained one)."""
    metadata = read_metadata(directory)
    check_codebook(metadata, codebook, directory)
    if not (directory / ENCODER_DIR / "config.json").is_file() or not (directory / HEAD_FILE).is_file():
        raise InputError(directory, f"incomplete model directory: needs {ENCODER_DIR}/config.json and {HEAD_FILE}")
    return metadata


def load_model(directory: str | Path, codebook: Codebook) -> tuple[CodeClassifier, Any, ModelMetadata]:
    """Load a saved model for inference, checking it belongs to `codebook`.

    A BERT encoder and a generic fast tokenizer (what `capcode train` saves) are loaded without transformers
    (`pipeline.model.bert_encoder`, `pipeline.model.text_tokenizer`: same scores, seconds less start-up);
    anything else through transformers."""
    from pipeline.model.bert_encoder import load_bert_encoder
    from pipeline.model.text_tokenizer import load_tokenizer

    directory = Path(directory)
    metadata = check_model_directory(directory, codebook)
    encoder_dir = directory / ENCODER_DIR
    try:
        encoder = load_bert_encoder(encoder_dir) or load_encoder(encoder_dir)
        tokenizer = load_tokenizer(encoder_dir)
        head = load_file(directory / HEAD_FILE)
    except (OSError, ValueError) as err:
        raise InputError(directory, f"cannot load the model: {str(err).splitlines()[0]}") from None
    model = CodeClassifier(encoder, head_outputs(metadata, codebook), dropout=0.0,
                           normalize=metadata.head == AXIS_CATEGORIES)
    if head["weight"].shape != model.head.weight.shape:
        raise InputError(directory, f"head shape {tuple(head['weight'].shape)} does not fit the encoder "
                                    f"({tuple(model.head.weight.shape)}); the model directory is inconsistent")
    model.head.load_state_dict(head)
    model.eval()
    return model, tokenizer, metadata
