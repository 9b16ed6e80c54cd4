"""Selecting and hashing the fragments a model learns from (prepared by the `prepare` stage)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.core.codebook import Codebook
from pipeline.core.documents import PreparedFragment, read_prepared
from pipeline.core.errors import InputError


@dataclass
class LabelledFragments:
    ids: list[str]
    texts: list[str]
    labels: list[list[int]]  # [n_fragments][n_codes], codebook order
    synthetic: bool
    documents: list[str]  # the interview of each fragment
    collections: list[str]  # the corpus collection of each fragment (`adapt.replay_weights` weighs by it)

    def __len__(self) -> int:
        return len(self.ids)


def labelled_split(
    records: Sequence[PreparedFragment], *, split: str, coder: str, code_ids: list[str], source: str | Path
) -> LabelledFragments:
    """Codable fragments of `split` coded by `coder` on every code, as parallel lists."""
    chosen = [r for r in records if r.split == split and r.codable
              and coder in r.labels and set(code_ids) <= set(r.labels[coder])]
    return LabelledFragments(
        ids=[r.id for r in chosen],
        texts=[r.text for r in chosen],
        labels=[[int(r.labels[coder][code]) for code in code_ids] for r in chosen],
        synthetic=any(r.synthetic for r in chosen),
        documents=[r.document for r in chosen],
        collections=[r.collection for r in chosen],
    )


def load_training_splits(
    prepared: Path, *, coder: str, code_ids: list[str]
) -> tuple[LabelledFragments, LabelledFragments]:
    """Train and validation fragments; refuses a prepared set without both."""
    records = read_prepared(prepared)
    train = labelled_split(records, split="train", coder=coder, code_ids=code_ids, source=prepared)
    validation = labelled_split(records, split="validation", coder=coder, code_ids=code_ids, source=prepared)
    if not len(train) or not len(validation):
        raise InputError(
            prepared,
            f"found {len(train)} train and {len(validation)} validation fragments coded by '{coder}'; "
            "both are needed: check train.label_coder in configs/params.yaml and the prepare stage's split",
        )
    return train, validation


def data_hash(*parts: LabelledFragments) -> str:
    """sha256 over ids, texts and labels: identifies the exact data a model was trained and tuned on."""
    digest = hashlib.sha256()
    for part in parts:
        for row in zip(part.ids, part.texts, part.labels):
            digest.update(json.dumps(row, ensure_ascii=False).encode())
    return digest.hexdigest()


def label_weight_matrix(collections: Sequence[str], weights: dict[str, dict[str, float]],
                        codebook: Codebook) -> np.ndarray | None:
    """[n_fragments, n_codes]: the weight of each fragment's coding of each code in the training loss,
    `train.label_weights[axis][collection]` for the code's axis (1 where not listed); None where every
    weight is 1, so the plain loss runs unchanged.

    Why: the training collections were coded by different hands, and where one collection's reading of an
    axis pulls away from the researchers' (the field corpus on strategisch/operationeel, README item 16) the
    base model can learn that axis from the others alone (README item 25)."""
    from pipeline.model.category_head import replay_axis_weights

    axis_ids = [axis.id for axis in codebook.axes]
    per_axis = replay_axis_weights(collections, weights, axis_ids)
    code_axes = [axis_ids.index(codebook.code(code).axis) for code in codebook.code_ids]
    matrix = per_axis[:, code_axes]
    return None if np.all(matrix == 1.0) else matrix


@dataclass(frozen=True)
class ReplayFragments:
    """The fragments `adapt` replays: texts, labels [n, n_codes] (codebook order) and each one's collection."""

    texts: list[str]
    labels: np.ndarray
    collections: list[str]

    def __len__(self) -> int:
        return len(self.texts)


def replay_fragments(prepared: Path | None, *, coder: str, codebook: Codebook, limit: int,
                     seed: int) -> ReplayFragments:
    """The base model's training fragments (split train) coded by `coder`, at most `limit`, seeded sample."""
    if prepared is None or limit == 0:
        return ReplayFragments([], np.zeros((0, len(codebook.code_ids))), [])
    rows = [r for r in read_prepared(prepared) if r.split == "train" and r.codable
            and set(codebook.code_ids) <= set(r.labels.get(coder, {}))]
    if not rows:
        raise InputError(prepared, f"no train-split fragments coded by '{coder}' to replay (adapt.replay_coder)")
    if len(rows) > limit:
        chosen = np.random.default_rng(seed).choice(len(rows), size=limit, replace=False)
        rows = [rows[i] for i in sorted(chosen)]
    labels = np.array([[r.labels[coder][c] for c in codebook.code_ids] for r in rows], dtype=float)
    return ReplayFragments([r.text for r in rows], labels, [r.collection for r in rows])
