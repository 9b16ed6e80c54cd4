"""Scoring texts with a code classifier: length-sorted batches, windows for long texts, bf16 where `auto` picks it.

Shared by training (validation probabilities for threshold tuning) and pre-coding, so both see exactly the
same inputs. The model runs on whatever device its weights are on (CPU or GPU). Under a launcher
(`pipeline.model.distributed`) every process forms the same batches and scores every `world.size`-th one;
the probabilities are then summed across processes, so each text gets exactly the values that one process
computed for exactly the batch it would have had in a single-process run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from pipeline.core.progress import progress
from pipeline.model.classifier import CodeClassifier, model_input_text
from pipeline.model.decision import pole_probabilities, softmax_per_axis
from pipeline.model.device import autocast, model_device
from pipeline.model.distributed import SINGLE, World, sum_across


@dataclass
class Scores:
    probabilities: np.ndarray  # [n_texts, n_codes]
    n_windows: list[int]  # windows scored per text (1 = fitted the model window)
    truncated: list[bool]  # True when text beyond the window was ignored (long_fragments=truncate)
    # an `axis_categories` head: [n_texts, 4 * n_axes] category probabilities (the mean over a text's windows);
    # `probabilities` are then each pole's share of them (`decision.pole_probabilities`)
    categories: np.ndarray | None = None


def _windows(ids: list[int], body: int, stride: int) -> list[list[int]]:
    if len(ids) <= body:
        return [ids]
    starts = list(range(0, len(ids) - body + 1, stride))
    if starts[-1] + body < len(ids):
        starts.append(len(ids) - body)
    return [ids[s : s + body] for s in starts]


def special_ids(tokenizer) -> tuple[int, int]:
    """The ids that open and close a sequence (<s>/</s> for XLM-R vocabularies, [CLS]/[SEP] for BERT)."""
    first = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    last = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    if first is None or last is None:
        raise ValueError("the tokenizer has no start/end tokens (cls/bos and sep/eos)")
    return first, last


def score_texts(
    model: CodeClassifier,
    tokenizer,
    texts: list[str],
    *,
    text_prefix: str,
    max_length: int,
    batch_size: int,
    precision: str = "fp32",
    long_fragments: str = "window",
    window_stride: int = 96,
    show_progress: bool = True,
    world: World = SINGLE,
    axis_poles: list[tuple[int, int]] | None = None,
) -> Scores:
    """Probabilities per code for each text; texts longer than `max_length` tokens are windowed or truncated.

    `precision` is `fp32`, `bf16` or `fp16` (autocast on the model's device); with a `world` of several
    processes each scores its share of the batches and every process returns all probabilities.
    `axis_poles` (the pole columns per axis, `decision.axis_pole_indices`) marks an `axis_categories` head:
    its logits are read as four categories per axis (softmax), a long text's windows are averaged, and
    `Scores.categories` holds them."""
    if long_fragments not in ("window", "truncate"):
        raise ValueError(f"long_fragments must be window or truncate, found {long_fragments!r}")
    n_codes = model.head.out_features if axis_poles is None else 2 * len(axis_poles)
    if not texts:  # e.g. a transcript with interviewer turns only
        empty = np.zeros((0, model.head.out_features), dtype=np.float32)
        return Scores(np.zeros((0, n_codes), dtype=np.float32), [], [], None if axis_poles is None else empty)
    encoded = tokenizer([model_input_text(t, text_prefix) for t in texts], add_special_tokens=False,
                        truncation=False)["input_ids"]
    body = max_length - 2  # room for <s> and </s>
    pieces: list[tuple[int, list[int]]] = []
    n_windows, truncated = [], []
    for index, ids in enumerate(encoded):
        windows = _windows(ids, body, min(window_stride, body))
        if long_fragments == "truncate":
            truncated.append(len(windows) > 1)
            windows = windows[:1]
        else:
            truncated.append(False)
        n_windows.append(len(windows))
        pieces.extend((index, w) for w in windows)
    order = sorted(range(len(pieces)), key=lambda i: len(pieces[i][1]))
    piece_probs = np.zeros((len(pieces), model.head.out_features), dtype=np.float32)
    device = model_device(model)
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    mine = batches[world.rank :: world.size]  # all of them for one process
    first, last = special_ids(tokenizer)
    model.eval()
    with torch.inference_mode(), autocast(device, precision):
        for batch in progress(mine, desc="scoring", unit="batch", enabled=show_progress and world.is_main):
            rows = [[first, *pieces[i][1], last] for i in batch]
            width = max(len(r) for r in rows)
            input_ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for r, row in enumerate(rows):
                input_ids[r, : len(row)] = torch.tensor(row)
                mask[r, : len(row)] = 1
            logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device))["logits"]
            if axis_poles is None:
                piece_probs[batch] = torch.sigmoid(logits.float()).cpu().numpy()
            else:
                piece_probs[batch] = softmax_per_axis(logits.float().cpu().numpy())
    piece_probs = sum_across(world, piece_probs, device)
    combined = np.zeros((len(texts), model.head.out_features), dtype=np.float32)
    if axis_poles is None:  # a code applies to a long text where it applies to any of its windows
        for (index, _), probs in zip(pieces, piece_probs):
            combined[index] = np.maximum(combined[index], probs)
        return Scores(combined, n_windows, truncated)
    for (index, _), probs in zip(pieces, piece_probs):  # categories exclude each other: average the windows
        combined[index] += probs / n_windows[index]
    probabilities = pole_probabilities(combined, axis_poles, n_codes).astype(np.float32)
    return Scores(probabilities, n_windows, truncated, combined)
