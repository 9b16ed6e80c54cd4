"""A saved BERT encoder for inference, in plain torch: loaded straight from its `model.safetensors`.

Why not transformers' `BertModel`: importing it pulls in most of transformers and, through it, torch's
compiler and distributed-tensor packages (2.3-3 s on the development machine), which was most of what
`capcode predict` spends before it scores the first fragment. Pre-coding needs only the forward pass, so this
module computes exactly the forward pass `BertModel` computes in eval mode with its default (`sdpa`)
attention, operation for operation and in the same order (embeddings summed word + token type, then
position; the padding mask as the boolean [batch, 1, query, key] tensor transformers builds, none when
nothing is padded; `scaled_dot_product_attention` with the same scale; exact GELU), so the scores are bit for
bit the ones transformers gives (tested, in fp32 and under bf16 autocast). The weights are assigned, not
initialised first (no random weights drawn and thrown away), and nothing else is built.

Only what capcode's models use is supported: a BERT encoder (`model_type: bert`, absolute positions, GELU,
not a decoder) saved as one float32 `model.safetensors`. Anything else is loaded through transformers
(`pipeline.model.classifier.load_encoder`). Training always uses transformers' model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class BertShape:
    """The parts of a BERT `config.json` the forward pass needs."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    pad_token_id: int | None = None


def supported_shape(config: dict[str, Any]) -> BertShape | None:
    """The encoder's shape when this module computes what `BertModel` computes for `config`, else None."""
    if (config.get("model_type") != "bert" or config.get("hidden_act", "gelu") != "gelu"
            or config.get("position_embedding_type", "absolute") != "absolute" or config.get("is_decoder")
            or config.get("add_cross_attention") or config.get("chunk_size_feed_forward", 0)
            or config.get("attn_implementation", config.get("_attn_implementation")) not in (None, "sdpa")):
        return None
    try:
        shape = BertShape(**{name: config[name] for name in BertShape.__dataclass_fields__ if name in config})
    except TypeError:  # a required size is missing
        return None
    return shape if shape.hidden_size % shape.num_attention_heads == 0 else None


@dataclass
class EncoderOutput:
    """What the classifier reads from an encoder call (the name transformers uses)."""

    last_hidden_state: torch.Tensor


class _Weights:
    """The loaded tensors by name; each is taken once, so leftovers show a file this module does not cover."""

    def __init__(self, tensors: dict[str, torch.Tensor]) -> None:
        self.tensors = dict(tensors)

    def take(self, name: str) -> nn.Parameter:
        # assigned as they are, never initialised first (an nn.Linear would draw random weights)
        return nn.Parameter(self.tensors.pop(name), requires_grad=False)


class _Linear(nn.Module):
    def __init__(self, weights: _Weights, prefix: str) -> None:
        super().__init__()
        self.weight, self.bias = weights.take(prefix + "weight"), weights.take(prefix + "bias")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight, self.bias)


class _LayerNorm(nn.Module):
    def __init__(self, weights: _Weights, prefix: str, eps: float) -> None:
        super().__init__()
        self.weight, self.bias, self.eps = weights.take(prefix + "weight"), weights.take(prefix + "bias"), eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.layer_norm(x, (self.weight.shape[0],), self.weight, self.bias, self.eps)


class _Embeddings(nn.Module):
    def __init__(self, weights: _Weights, shape: BertShape) -> None:
        super().__init__()
        self.padding_idx = shape.pad_token_id
        self.word = weights.take("embeddings.word_embeddings.weight")
        self.position = weights.take("embeddings.position_embeddings.weight")
        self.token_type = weights.take("embeddings.token_type_embeddings.weight")
        self.norm = _LayerNorm(weights, "embeddings.LayerNorm.", shape.layer_norm_eps)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        batch, length = input_ids.shape
        positions = torch.arange(length, device=input_ids.device).unsqueeze(0)
        token_types = torch.zeros((batch, length), dtype=torch.long, device=input_ids.device)
        embed = nn.functional.embedding
        embeddings = embed(input_ids, self.word, self.padding_idx) + embed(token_types, self.token_type)
        embeddings = embeddings + embed(positions, self.position)
        return self.norm(embeddings)


class _Layer(nn.Module):
    """Self-attention with residual and LayerNorm, then the GELU feed-forward with residual and LayerNorm."""

    def __init__(self, weights: _Weights, prefix: str, shape: BertShape) -> None:
        super().__init__()
        self.head_size = shape.hidden_size // shape.num_attention_heads
        self.scaling = self.head_size ** -0.5
        self.query = _Linear(weights, prefix + "attention.self.query.")
        self.key = _Linear(weights, prefix + "attention.self.key.")
        self.value = _Linear(weights, prefix + "attention.self.value.")
        self.attention_out = _Linear(weights, prefix + "attention.output.dense.")
        self.attention_norm = _LayerNorm(weights, prefix + "attention.output.LayerNorm.", shape.layer_norm_eps)
        self.intermediate = _Linear(weights, prefix + "intermediate.dense.")
        self.out = _Linear(weights, prefix + "output.dense.")
        self.out_norm = _LayerNorm(weights, prefix + "output.LayerNorm.", shape.layer_norm_eps)

    def attend(self, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        batch, length = hidden.shape[:2]
        split = (batch, length, -1, self.head_size)
        query = self.query(hidden).view(*split).transpose(1, 2)
        key = self.key(hidden).view(*split).transpose(1, 2)
        value = self.value(hidden).view(*split).transpose(1, 2)
        out = nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=0.0,
                                                         scale=self.scaling, is_causal=False)
        out = out.reshape(out.shape[0], -1, length, self.head_size).transpose(1, 2).contiguous()
        return out.reshape(batch, length, -1).contiguous()

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        attended = self.attention_norm(self.attention_out(self.attend(hidden, mask)) + hidden)
        return self.out_norm(self.out(nn.functional.gelu(self.intermediate(attended))) + attended)


def attention_mask_4d(attention_mask: torch.Tensor | None, length: int) -> torch.Tensor | None:
    """transformers' sdpa padding mask: None when nothing is padded, else bool [batch, 1, query, key]."""
    if attention_mask is None:
        return None
    padding = attention_mask.to(dtype=torch.bool)
    if bool(padding.all()):
        return None
    queries = torch.arange(length, device=padding.device) >= 0
    return queries[None, None, :, None] & padding[:, None, None, :]


class BertEncoder(nn.Module):
    """BERT without pooler, for inference: `encoder(input_ids=..., attention_mask=...).last_hidden_state`."""

    def __init__(self, shape: BertShape, weights: _Weights) -> None:
        super().__init__()
        self.config = shape  # `config.hidden_size`, as the classifier reads it from any encoder
        self.embeddings = _Embeddings(weights, shape)
        self.layers = nn.ModuleList(_Layer(weights, f"encoder.layer.{i}.", shape)
                                    for i in range(shape.num_hidden_layers))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> EncoderOutput:
        hidden = self.embeddings(input_ids)
        mask = attention_mask_4d(attention_mask, input_ids.shape[1])
        for layer in self.layers:
            hidden = layer(hidden, mask)
        return EncoderOutput(hidden)


def load_bert_encoder(directory: Path) -> BertEncoder | None:
    """The encoder saved in `directory`, or None when this module does not cover it (see the docstring)."""
    from safetensors import SafetensorError, safe_open

    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    shape = supported_shape(config)
    path = directory / WEIGHTS_FILE
    if shape is None or not path.is_file():
        return None
    try:  # the tensors share the file's memory map: pages are read as the forward pass first touches them
        with safe_open(str(path), framework="pt") as handle:
            state = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118 - not a mapping
    except SafetensorError as err:
        raise ValueError(f"{path.name}: {err}") from None
    if any(t.dtype != torch.float32 for t in state.values()):
        return None
    weights = _Weights(state)
    try:
        encoder = BertEncoder(shape, weights)
    except KeyError:  # another architecture's names
        return None
    if weights.tensors:  # e.g. a pooler: let transformers load it
        return None
    return encoder.eval()
