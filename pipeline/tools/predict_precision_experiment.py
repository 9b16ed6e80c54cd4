"""Predict's numeric precision on this CPU: how fast each one scores and what it changes (README item 34).

`predict.precision: auto` scores with bf16 autocast where /proc/cpuinfo lists AMX-BF16, or AVX512-BF16 on a CPU
that is not Intel's, in fp32 elsewhere (`pipeline.model.precision.cpu_prefers_bf16`). Whether bf16 is the faster
of the two is a property of the CPU, which that rule only reads off its vendor and flags (round 15 found an
Intel AVX512-BF16 CPU without AMX where fp32 is 1.4x faster), so this tool measures it on the machine it runs
on, with the shipped model and the throughput target's input (the study's 47 quotes, 8 copies each, as
`quotes_bench_input` writes them):

- ``throughput``: per variant, fragments/s of `capcode predict`'s scoring and labelling (`Scorer.apply`), the
  median of ``--repeats`` runs after a warm-up, the variants taking turns within each repeat so that a busy
  shared machine slows them alike (each repeat starting with the next variant, after a whole warm-up pass of
  each). Variants: ``fp32``; ``bf16`` autocast (only where the CPU computes bf16
  natively: elsewhere it is emulated); ``int8`` and ``int8_per_channel``, the encoder's linear layers
  dynamically quantized to int8 (`torch.ao.quantization.quantize_dynamic`, weights with one scale per tensor
  or per output row; activations quantized per batch; the head and the decision rule unchanged), the usual
  CPU speed-up for BERT-sized encoders, tried here as a candidate for CPUs without fast bf16.
- ``changes``: per variant against fp32 on the 47 quotes: the largest and the mean change of a code's
  probability, the largest change of an axis's decision margin, and the quotes whose suggested codes change.
  (The quotes are the shipped model's own adaptation data, so these are changes, not quality figures; the
  quality figures under another `predict.precision` come from `capcode evaluate --params`, README item 34.)

Nothing is chosen here. Run after `make run`:
``python -m pipeline.tools.predict_precision_experiment -o reports/hardware/<cpu>/predict_precision.json``
(about 2 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import warnings
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.tools import seconds_taking_turns, write_result

VARIANTS = ("fp32", "bf16", "int8", "int8_per_channel")


def cpu_description(cpuinfo: str) -> dict[str, Any]:
    """The CPU's model name, and the vendor and flags `auto` reads, from the text of /proc/cpuinfo."""
    from pipeline.model.precision import cpuinfo_fields

    fields = cpuinfo_fields(cpuinfo)
    flags = set(fields.get("flags", "").split())
    return {"model_name": fields.get("model name") or platform.processor() or "unknown",
            "vendor": fields.get("vendor_id", ""), "avx512_bf16": "avx512_bf16" in flags, "amx_bf16": "amx_bf16" in flags}


def this_cpu_description() -> dict[str, Any]:
    """`cpu_description` of this machine's /proc/cpuinfo (model name from `platform` where there is none)."""
    cpuinfo = Path("/proc/cpuinfo")
    return cpu_description(cpuinfo.read_text() if cpuinfo.exists() else "")


def quantized_encoder(encoder: Any, *, per_channel: bool = False) -> Any:
    """A copy of `encoder` whose linear layers compute in int8 with dynamically quantized activations (weights
    quantized per tensor, torch's default, or `per_channel`: one scale per output row).

    `quantize_dynamic` swaps `nn.Linear` modules only; the inference encoder (`bert_encoder.BertEncoder`) keeps
    its weights in linear layers of its own, so those become `nn.Linear`s with the same weights first (built on
    the meta device: no weights drawn only to be replaced)."""
    import torch

    encoder = copy.deepcopy(encoder)
    for parent in list(encoder.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.Linear) or not _is_plain_linear(child):
                continue
            out_features, in_features = child.weight.shape
            linear = torch.nn.Linear(in_features, out_features, device="meta")
            linear.weight, linear.bias = child.weight, child.bias
            setattr(parent, name, linear)
    with warnings.catch_warnings():  # torch.ao.quantization announces its deprecation on every call
        warnings.simplefilter("ignore")
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        layers = {torch.nn.Linear: per_channel_dynamic_qconfig} if per_channel else {torch.nn.Linear}
        return quantize_dynamic(encoder, layers, dtype=torch.qint8, inplace=True)


def _is_plain_linear(module: Any) -> bool:
    """True for `bert_encoder`'s own linear layer (`_Linear`: `linear(x, weight, bias)`, nothing else)."""
    from pipeline.model.bert_encoder import _Linear

    return isinstance(module, _Linear)


def decision_changes(reference: list[dict[str, Any]], other: list[dict[str, Any]]) -> dict[str, Any]:
    """How far the labelled records `other` stand from `reference` (the same records, in order): the largest and
    mean absolute change of a code's score, the largest change of an axis's margin, and the ids whose labels
    differ."""
    if [r["id"] for r in reference] != [r["id"] for r in other]:
        raise ValueError("decision_changes compares the same records in the same order")
    score_deltas = [abs(a["scores"][c] - b["scores"][c]) for a, b in zip(reference, other) for c in a["scores"]
                    if a["scores"][c] is not None]
    margin_deltas = [abs(a["margins"][x] - b["margins"][x]) for a, b in zip(reference, other) for x in a["margins"]
                     if a["margins"][x] is not None]
    changed = [a["id"] for a, b in zip(reference, other) if a["labels"] != b["labels"]]
    return {
        "max_score_change": round(max(score_deltas, default=0.0), 4),
        "mean_score_change": round(float(np.mean(score_deltas)) if score_deltas else 0.0, 5),
        "max_margin_change": round(max(margin_deltas, default=0.0), 4),
        "fragments": len(reference),
        "fragments_with_other_labels": len(changed),
        "ids_with_other_labels": changed,
    }


def measure(model_dir: Path, prepared: Path, *, copies: int = 8, repeats: int = 3,
            variants: Sequence[str] = VARIANTS) -> dict[str, Any]:
    """Throughput of each variant on the quotes x `copies`, and its changes against fp32 on the quotes once.
    `variants` must hold fp32 (the reference); bf16 is left out where the CPU emulates it."""
    import torch

    from pipeline.core.codebook import load_codebook
    from pipeline.core.params import load_params
    from pipeline.model.apply import load_scorer
    from pipeline.model.precision import cpu_has_native_bf16, resolve_precision
    from pipeline.tools.quotes_bench_input import quote_copies

    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or "fp32" not in variants:
        raise ValueError(f"variants must be fp32 and any of {', '.join(VARIANTS[1:])}, found {list(variants)}")
    params = load_params(None).predict
    quotes = quote_copies(prepared, "study-quotes", 1)
    timed = quote_copies(prepared, "study-quotes", copies)
    scorer = load_scorer(model_dir=model_dir, codebook=load_codebook(), params=params, show_progress=False)
    fp32_encoder = scorer.model.encoder
    chosen = [v for v in variants if v != "bf16" or cpu_has_native_bf16()]
    scorers = {v: replace(scorer, precision="bf16" if v == "bf16" else "fp32", counts=dict(scorer.counts))
               for v in chosen}
    for v in ("int8", "int8_per_channel"):  # each its own model object: the others keep the fp32 encoder
        if v in scorers:
            encoder = quantized_encoder(fp32_encoder, per_channel=v == "int8_per_channel")
            scorers[v] = replace(scorers[v], model=replace_encoder(scorer.model, encoder))
    for v in chosen:  # warm-up: a whole pass, so that kernels are chosen for every batch shape before timing
        scorers[v].apply(timed)
    seconds = seconds_taking_turns({v: partial(scorers[v].apply, timed) for v in chosen}, repeats)
    labelled = {v: scorers[v].apply(quotes) for v in chosen}
    return {
        "what": "predict's precision on this CPU: fragments/s on the 47 study quotes x 8 and the changes against "
                "fp32 on the 47 quotes (README item 34)",
        "cpu": {**this_cpu_description(), "torch_threads": torch.get_num_threads()},
        "auto_resolves_to": resolve_precision("auto"),
        "model": str(model_dir),
        "throughput": {v: {"fragments": len(timed), "repeats": repeats,
                           "fragments_per_s_median": round(len(timed) / statistics.median(seconds[v]), 1),
                           "fragments_per_s_each": [round(len(timed) / s, 1) for s in seconds[v]]}
                       for v in chosen},
        "changes_against_fp32": {v: decision_changes(labelled["fp32"], labelled[v]) for v in chosen if v != "fp32"},
    }


def replace_encoder(model: Any, encoder: Any) -> Any:
    """A shallow copy of the classifier `model` with `encoder` in place of its own (the head shared)."""
    other = copy.copy(model)
    other._modules = dict(model._modules, encoder=encoder)  # nn.Module keeps its children in `_modules`
    return other


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/default"))
    parser.add_argument("--prepared", type=Path, default=Path("data/prepared/fragments.jsonl"))
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    write_result(args.output, measure(args.model, args.prepared, copies=args.copies, repeats=args.repeats))


if __name__ == "__main__":
    main()
