"""Predict's batches: at most `predict.batch_size` fragments and, on a CPU, at most `predict.batch_tokens` padded
tokens (README item 38); the batching changes how fast fragments are scored, not their scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeline.core.codebook import load_codebook
from pipeline.core.errors import InputError
from pipeline.core.params import PredictParams, load_params
from pipeline.model.apply import head_axis_poles, load_scorer
from pipeline.model.classifier import load_model
from pipeline.model.scoring import length_batches, score_texts


@settings(max_examples=300, deadline=None)
@given(widths=st.lists(st.integers(1, 130), max_size=60).map(sorted), batch_size=st.integers(1, 20),
       batch_tokens=st.one_of(st.none(), st.integers(1, 600)))
@example(widths=[3, 3, 3, 3, 3], batch_size=2, batch_tokens=None)
@example(widths=[2, 50, 200], batch_size=8, batch_tokens=100)  # a piece wider than the budget: a batch alone
def test_length_batches_are_the_longest_runs_within_both_limits(widths: list[int], batch_size: int,
                                                                batch_tokens: int | None) -> None:
    batches = length_batches(widths, batch_size, batch_tokens)
    assert [p for batch in batches for p in batch] == list(range(len(widths)))  # every position once, in order
    for k, batch in enumerate(batches):
        assert batch and len(batch) <= batch_size
        padded = len(batch) * max(widths[p] for p in batch)
        assert batch_tokens is None or padded <= batch_tokens or len(batch) == 1
        if k + 1 < len(batches):  # greedy: the next position would have broken a limit
            grown = [*batch, batches[k + 1][0]]
            assert len(grown) > batch_size or (
                batch_tokens is not None and len(grown) * max(widths[p] for p in grown) > batch_tokens)
    if batch_tokens is None:
        assert [len(b) for b in batches] == [min(batch_size, len(widths) - s) for s in range(0, len(widths), batch_size)]


def test_length_batches_refuse_empty_limits() -> None:
    with pytest.raises(ValueError, match="batch_tokens >= 1"):
        length_batches([4, 5], 8, 0)
    with pytest.raises(ValueError, match="batch_size >= 1"):
        length_batches([4, 5], 0, None)


def test_a_token_budget_splits_the_batches_and_leaves_the_scores(tiny_model: Path) -> None:
    codebook = load_codebook()
    model, tokenizer, metadata = load_model(tiny_model, codebook)
    texts = ["Ja.", "Het budget is beperkt.", "Met de scholen werken we samen op lange termijn, euh, allez.",
             " ".join(["Het lokaal netwerk van zelforganisaties en het sociaal huis volgt het meerjarenplan op."] * 4),
             "Wij sturen bij.", "De integratiedienst doet het onthaal en de inburgering, dat is dagelijks werk."]
    shapes: list[tuple[int, ...]] = []
    hook = model.encoder.register_forward_pre_hook(
        lambda module, args, kwargs: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    kwargs = dict(text_prefix=metadata.text_prefix, max_length=metadata.max_length, batch_size=64,
                  axis_poles=head_axis_poles(metadata, codebook), show_progress=False)  # a poles head: None
    try:
        whole = score_texts(model, tokenizer, texts, **kwargs)
        assert len(shapes) == 1
        shapes.clear()
        budgeted = score_texts(model, tokenizer, texts, batch_tokens=48, **kwargs)
    finally:
        hook.remove()
    assert len(shapes) > 1 and sum(s[0] for s in shapes) == sum(whole.n_windows)  # every window once
    assert max(whole.n_windows) > 1  # the long text is windowed: pieces, not texts, are batched
    assert all(rows * width <= 48 or rows == 1 for rows, width in shapes)
    assert np.allclose(budgeted.probabilities, whole.probabilities, atol=1e-6)


def test_the_budget_is_a_cpu_setting(tiny_model: Path, tmp_path: Path) -> None:
    params = load_params().predict
    assert params.batch_tokens == 2048  # the shipped budget (configs/params.yaml)
    scorer = load_scorer(model_dir=tiny_model, codebook=load_codebook(), params=params, show_progress=False)
    assert torch.device("cpu") == next(scorer.model.parameters()).device
    assert (scorer.batch_size, scorer.batch_tokens) == (params.batch_size, 2048)
    assert PredictParams(batch_tokens=None).batch_tokens is None  # null in params.yaml: batch_size alone
    with pytest.raises(ValueError, match="or null for no budget"):
        PredictParams(batch_tokens=0)
    broken = tmp_path / "params.yaml"
    broken.write_text(Path("configs/params.yaml").read_text(encoding="utf-8").replace(
        "  batch_tokens: 2048\n", "  batch_tokens: 0\n"), encoding="utf-8")
    with pytest.raises(InputError, match="batch_tokens"):
        load_params(broken)
