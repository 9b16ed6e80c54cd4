"""Applying a trained model to fragment records: labels, scores, review flags and the model's identity."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.codebook import Codebook
from pipeline.core.params import PredictParams
from pipeline.model.classifier import ModelMetadata, load_model
from pipeline.model.decision import apply_decision, threshold_rule
from pipeline.model.precision import resolve_precision
from pipeline.model.scoring import score_texts


def apply_model(
    records: list[dict[str, Any]], *, model_dir: Path, codebook: Codebook, params: PredictParams,
    code_all_roles: bool = False,
) -> tuple[list[dict[str, Any]], ModelMetadata]:
    """Add labels, scores, review flags and model identity to each record (interviewer turns skipped
    unless `code_all_roles`)."""
    model, tokenizer, metadata = load_model(model_dir, codebook)
    code_ids = metadata.code_ids
    chosen = [i for i, r in enumerate(records) if code_all_roles or r.get("codable", True)]
    if not chosen:
        print("predict: no respondent fragments to code (only interviewer or header text); use --all-roles to "
              "code every turn", file=sys.stderr)
    precision = resolve_precision(params.precision)
    scores = score_texts(
        model, tokenizer, [records[i]["text"] for i in chosen], text_prefix=metadata.text_prefix,
        max_length=metadata.max_length, batch_size=int(params.batch_size), precision=precision,
        long_fragments=params.long_fragments, window_stride=int(params.window_stride),
    )
    thresholds = np.array([metadata.thresholds[c] for c in code_ids])
    rule = metadata.decision or threshold_rule(code_ids, thresholds)
    decided = apply_decision(scores.probabilities, rule, code_ids, codebook) if chosen else np.zeros((0, len(code_ids)))
    margin = float(params.review_margin)
    out = [dict(r, coded=False, labels={c: 0 for c in code_ids}, scores={c: None for c in code_ids}, review=False,
                model=metadata.identity) for r in records]
    n_long = 0
    for row, index in enumerate(chosen):
        probabilities = scores.probabilities[row]
        out[index].update(
            coded=True,
            labels={c: int(v) for c, v in zip(code_ids, decided[row])},
            scores={c: round(float(p), 4) for c, p in zip(code_ids, probabilities)},
            review=bool(np.any(np.abs(probabilities - thresholds) < margin)),
        )
        if scores.n_windows[row] > 1 or scores.truncated[row]:
            n_long += 1
            out[index]["long_fragment"] = "truncated" if scores.truncated[row] else f"{scores.n_windows[row]} windows"
    if n_long:
        how = "truncated to" if params.long_fragments == "truncate" else "scored in overlapping windows of"
        print(f"predict: {n_long} fragments longer than the model window were {how} {metadata.max_length} tokens",
              file=sys.stderr)
    return out, metadata


