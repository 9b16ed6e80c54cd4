"""Loading YAML configuration: hyperparameters (`configs/params.yaml`) and transcript conventions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipeline.core.errors import InputError

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / "configs"
DEFAULT_PARAMS = CONFIG_DIR / "params.yaml"
DEFAULT_CODEBOOK = CONFIG_DIR / "codebook.yaml"
DEFAULT_TRANSCRIPTS = CONFIG_DIR / "transcripts.yaml"


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
