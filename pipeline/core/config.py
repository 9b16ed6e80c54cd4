"""Loading YAML configuration: hyperparameters (`configs/params.yaml`) and transcript conventions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from pipeline.core.errors import InputError

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / "configs"
DEFAULT_PARAMS = CONFIG_DIR / "params.yaml"
DEFAULT_CODEBOOK = CONFIG_DIR / "codebook.yaml"
DEFAULT_TRANSCRIPTS = CONFIG_DIR / "transcripts.yaml"
DEFAULT_MODEL_DIR = REPO_ROOT / "models" / "default"
MODEL_METADATA_FILE = "capcode_model.json"  # what makes a folder a capcode model (pipeline.model.classifier)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, turning a missing or malformed file into a clear InputError."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except FileNotFoundError:
        raise InputError(path, "configuration file not found") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise InputError(path, f"not valid YAML: {err}".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise InputError(path, f"expected a YAML mapping at the top level, found {type(data).__name__}")
    return data


def locate_model_dir(path: str | Path | None) -> Path:
    """The model folder a command should load, checked before any slow import or loading.

    No `--model`: the checkout's `models/default`, like the configs, so capcode works from any folder. A
    relative `--model` that is not there from the current folder but is in the checkout (the README's
    `--model models/default`) is taken from the checkout, with a note on stderr. A missing or non-model
    folder is an InputError that says where capcode looked and what to do.
    """
    if path is None:
        if not (DEFAULT_MODEL_DIR / MODEL_METADATA_FILE).is_file():
            raise InputError(DEFAULT_MODEL_DIR, "no default model yet; make it with `make run` or `dvc repro` in "
                             f"{REPO_ROOT}, or pass --model DIR with a trained model")
        return DEFAULT_MODEL_DIR
    path = Path(path)
    if not path.exists() and not path.is_absolute() and (REPO_ROOT / path).is_dir():
        print(f"capcode: --model {path}: not in the current folder; using {REPO_ROOT / path} from the checkout",
              file=sys.stderr)
        path = REPO_ROOT / path
    if not path.exists():
        raise InputError(path, f"model directory not found (looked from {Path.cwd()}); check --model, or leave it out "
                         f"to use the default model {DEFAULT_MODEL_DIR}")
    if not path.is_dir():
        raise InputError(path, "is a file; --model expects a trained model directory")
    if not (path / MODEL_METADATA_FILE).is_file():
        raise InputError(path, f"not a capcode model directory (no {MODEL_METADATA_FILE}); point --model at a trained "
                         "model")
    return path
