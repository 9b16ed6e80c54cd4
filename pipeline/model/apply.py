"""Applying a trained model to fragment records: labels, scores, review flags and the model's identity.

`apply_model` scores a list of records in one go (evaluate, agreement, export). `load_scorer` loads the model
once for `capcode predict`, which feeds it bounded chunks of a stream (`Scorer.apply`, one call per chunk),
on this process's device and, under a launcher, with the processes sharing each chunk's batches. Both end
in `label_records`, the one place where probabilities become labels and review flags.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.codebook import Codebook
from pipeline.core.numbers import cut_to
from pipeline.core.params import ComputeParams, PredictParams
from pipeline.model.classifier import AXIS_CATEGORIES, CodeClassifier, ModelMetadata, load_model
from pipeline.model.decision import apply_decision, axis_pole_indices, decide_categories, threshold_rule
from pipeline.model.device import select_device
from pipeline.model.distributed import SINGLE, World
from pipeline.model.precision import resolve_precision
from pipeline.model.scoring import Scores, score_texts
from pipeline.model.selection import decision_margins


def label_records(
    records: list[dict[str, Any]], chosen: list[int], scores: Scores, *, metadata: ModelMetadata,
    params: PredictParams, codebook: Codebook,
) -> tuple[list[dict[str, Any]], int]:
    """Labels, rounded scores, each axis's decision margin and review flags for the records at `chosen` (scored
    in that order); the other records come back uncoded. Returns the labelled records and how many were longer
    than the model window.

    The margin (`selection.decision_margins`) is how far the axis's decision stands from changing; a fragment is
    flagged where some axis's margin is below `predict.review_margin` (or, for a code that is no axis's pole,
    where its score lies within that of its threshold). Margins are written cut to 4 decimals, so the written
    value is below the review margin exactly where the fragment is flagged.
    """
    code_ids = metadata.code_ids
    thresholds = np.array([metadata.thresholds[c] for c in code_ids])
    review_margin = float(params.review_margin)
    poles = axis_pole_indices(code_ids, codebook)
    axis_ids = [axis.id for axis in codebook.axes]
    rule: dict[str, Any] | None = None  # an axis_categories model has none: per axis the most probable category
    if scores.categories is not None:
        decided = decide_categories(scores.categories, poles, len(code_ids)) if chosen \
            else np.zeros((0, len(code_ids)))
        in_doubt = np.zeros((len(chosen), len(code_ids)), dtype=bool)
    else:
        rule = metadata.decision or threshold_rule(code_ids, thresholds.tolist())  # an adapted model's axis rule
        decided = apply_decision(scores.probabilities, rule, code_ids, codebook) if chosen \
            else np.zeros((0, len(code_ids)))
        pole_columns = {k for pair in poles for k in pair}
        in_doubt = np.abs(scores.probabilities - thresholds) < review_margin if chosen \
            else np.zeros((0, len(code_ids)), dtype=bool)
        in_doubt[:, sorted(pole_columns)] = False  # the poles are in doubt by their axis's margin, below
    margins = decision_margins(scores.probabilities, scores.categories, rule, code_ids, codebook)
    axis_in_doubt = margins < review_margin
    for a, (i, j) in enumerate(poles):
        in_doubt[:, i] |= axis_in_doubt[:, a]
        in_doubt[:, j] |= axis_in_doubt[:, a]
    out = [dict(r, coded=False, labels={c: 0 for c in code_ids}, scores={c: None for c in code_ids},
                margins={a: None for a in axis_ids}, review=False, model=metadata.identity) for r in records]
    n_long = 0
    for row, index in enumerate(chosen):
        probabilities = scores.probabilities[row]
        out[index].update(
            coded=True,
            labels={c: int(v) for c, v in zip(code_ids, decided[row])},
            scores={c: round(float(p), 4) for c, p in zip(code_ids, probabilities)},
            margins={a: cut_to(float(m), 4) for a, m in zip(axis_ids, margins[row])},
            review=bool(in_doubt[row].any()),
        )
        if scores.categories is not None and in_doubt[row].any():  # the report names the axes in doubt
            out[index]["review_codes"] = [c for c, doubt in zip(code_ids, in_doubt[row]) if doubt]
        if scores.n_windows[row] > 1 or scores.truncated[row]:
            n_long += 1
            out[index]["long_fragment"] = "truncated" if scores.truncated[row] else f"{scores.n_windows[row]} windows"
    return out, n_long


def head_axis_poles(metadata: ModelMetadata, codebook: Codebook) -> list[tuple[int, int]] | None:
    """What `score_texts` needs to read a model's head: the pole columns per axis for an `axis_categories`
    head (its logits are four categories per axis), None for a `poles` head (one sigmoid per code)."""
    return axis_pole_indices(metadata.code_ids, codebook) if metadata.head == AXIS_CATEGORIES else None


@dataclass
class Scorer:
    """A loaded model on its device, applied chunk by chunk; counts what it did for the closing messages."""

    model: CodeClassifier
    tokenizer: Any
    metadata: ModelMetadata
    params: PredictParams
    precision: str
    batch_size: int
    world: World = SINGLE
    show_progress: bool = True
    codebook: Codebook | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"fragments": 0, "coded": 0, "review": 0, "long": 0})

    @property
    def axis_poles(self) -> list[tuple[int, int]] | None:
        """The pole columns per axis for an `axis_categories` head (`score_texts`), None for a `poles` head."""
        assert self.codebook is not None, "load_scorer sets the codebook"
        return head_axis_poles(self.metadata, self.codebook)

    def apply(self, records: list[dict[str, Any]], *, code_all_roles: bool = False) -> list[dict[str, Any]]:
        """Score and label one chunk of records (interviewer turns skipped unless `code_all_roles`)."""
        chosen = [i for i, r in enumerate(records) if code_all_roles or r.get("codable", True)]
        params = self.params
        scores = score_texts(
            self.model, self.tokenizer, [records[i]["text"] for i in chosen], text_prefix=self.metadata.text_prefix,
            max_length=self.metadata.max_length, batch_size=self.batch_size, precision=self.precision,
            long_fragments=params.long_fragments, window_stride=int(params.window_stride),
            show_progress=self.show_progress, world=self.world, axis_poles=self.axis_poles,
        )
        assert self.codebook is not None, "load_scorer sets the codebook"
        out, n_long = label_records(records, chosen, scores, metadata=self.metadata, params=params,
                                    codebook=self.codebook)
        self.counts["fragments"] += len(out)
        self.counts["coded"] += len(chosen)
        self.counts["review"] += sum(r["review"] for r in out)
        self.counts["long"] += n_long
        return out

    def report(self) -> None:
        """The closing messages on stderr (first process only): nothing to code, long fragments."""
        if not self.world.is_main:
            return
        if not self.counts["coded"]:
            print("predict: no respondent fragments to code (only interviewer or header text); use --all-roles to "
                  "code every turn", file=sys.stderr)
        if self.counts["long"]:
            how = "truncated to" if self.params.long_fragments == "truncate" else "scored in overlapping windows of"
            print(f"predict: {self.counts['long']} fragments longer than the model window were {how} "
                  f"{self.metadata.max_length} tokens", file=sys.stderr)


def load_scorer(
    *, model_dir: Path, codebook: Codebook, params: PredictParams, compute: ComputeParams | None = None,
    world: World = SINGLE, show_progress: bool = True,
) -> Scorer:
    """Load the model in `model_dir` onto this process's device (`compute.device`), with the batch size and
    autocast that device calls for."""
    compute = compute or ComputeParams()
    device = select_device(compute.device)
    model, tokenizer, metadata = load_model(model_dir, codebook)
    model.to(device)
    precision = resolve_precision(params.precision, str(device))
    batch_size = int(compute.predict_gpu_batch_size if device.type == "cuda" else params.batch_size)
    return Scorer(model, tokenizer, metadata, params, precision, batch_size, world, show_progress, codebook)


def apply_model(
    records: list[dict[str, Any]], *, model_dir: Path, codebook: Codebook, params: PredictParams,
    code_all_roles: bool = False,
) -> tuple[list[dict[str, Any]], ModelMetadata]:
    """Add labels, scores, review flags and model identity to each record (interviewer turns skipped
    unless `code_all_roles`)."""
    scorer = load_scorer(model_dir=model_dir, codebook=codebook, params=params)
    out = scorer.apply(records, code_all_roles=code_all_roles)
    scorer.report()
    return out, scorer.metadata
