"""How predict should batch on this CPU: a budget of padded tokens against a fixed batch size (README item 38).

`capcode predict` scores fragments sorted by length, in batches of at most `predict.batch_size` and, on a CPU,
at most `predict.batch_tokens` padded tokens (fragments x the longest of them). This tool times
`capcode predict`'s scoring and labelling (`Scorer.apply`) under several batchings, in the precision `auto`
resolves to, on two inputs:

- ``quotes``: the throughput target's input, the study's 47 quotes x 8 (as `quotes_bench_input` writes them);
- ``corpus``: `capcode bench`'s default input, the first 400 codable fragments outside the `gold` split of
  `data/prepared/fragments.jsonl` (written and field interviews).

Each figure is the median fragments/s of ``--repeats`` runs after a whole warm-up pass of every batching; the
batchings take turns within each repeat, each repeat starting with the next one, so that a busy shared
machine slows them alike; ``speedup_over_<first>`` is the median over repeats of the first batching's seconds
over each batching's seconds in the same repeat. ``changes`` compares each batching's labelled records with the first batching's on
the same input (`predict_precision_experiment.decision_changes`): a batch's shape changes the order of the
floating-point sums, not what is computed. Nothing is chosen here. Run after `make run`:
``python -m pipeline.tools.predict_batching_experiment -o reports/hardware/<cpu>/predict_batching.json``
(about 4 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipeline.tools import write_result

# (batch_size, batch_tokens): the shipped fixed batch before item 38 first, the reference of `changes`
BATCHINGS: tuple[tuple[int, int | None], ...] = ((64, None), (64, 1024), (64, 2048), (64, 4096), (16, None),
                                                 (32, None))


def batching_name(batching: tuple[int, int | None]) -> str:
    """``64`` for a fixed batch of 64, ``64/2048`` for at most 64 fragments and 2,048 padded tokens."""
    size, tokens = batching
    return str(size) if tokens is None else f"{size}/{tokens}"


def corpus_records(prepared: Path, limit: int) -> list[dict[str, Any]]:
    """The first `limit` codable fragments outside the `gold` split: what `capcode bench` scores by default."""
    from pipeline.core.io_utils import read_jsonl

    rows = [r for r in read_jsonl(prepared) if r.get("codable") and r.get("split") != "gold"]
    return rows[:limit]


def measure(model_dir: Path, prepared: Path, *, copies: int = 8, corpus_fragments: int = 400, repeats: int = 5,
            batchings: Sequence[tuple[int, int | None]] = BATCHINGS) -> dict[str, Any]:
    """Fragments/s of each batching on the quotes x `copies` and on `corpus_fragments` corpus fragments, and each
    batching's changes against the first one on both inputs."""
    import torch

    from pipeline.core.codebook import load_codebook
    from pipeline.core.params import load_params
    from pipeline.model.apply import load_scorer
    from pipeline.tools.predict_precision_experiment import decision_changes, this_cpu_description
    from pipeline.tools.quotes_bench_input import quote_copies

    if not batchings:
        raise ValueError("expected at least one batching")
    scorer = load_scorer(model_dir=model_dir, codebook=load_codebook(), params=load_params(None).predict,
                         show_progress=False)
    inputs = {"quotes": quote_copies(prepared, "study-quotes", copies),
              "corpus": corpus_records(prepared, corpus_fragments)}
    names = [batching_name(b) for b in batchings]
    scorers = {name: replace(scorer, batch_size=size, batch_tokens=tokens, counts=dict(scorer.counts))
               for name, (size, tokens) in zip(names, batchings)}
    result: dict[str, Any] = {}
    for input_name, records in inputs.items():
        labelled = {name: scorers[name].apply(records) for name in names}  # the warm-up pass, kept for `changes`
        seconds: dict[str, list[float]] = {name: [] for name in names}
        for repeat in range(repeats):
            for name in names[repeat % len(names):] + names[: repeat % len(names)]:
                start = time.perf_counter()
                scorers[name].apply(records)
                seconds[name].append(time.perf_counter() - start)
        result[input_name] = {
            "fragments": len(records),
            "fragments_per_s_median": {n: round(len(records) / statistics.median(seconds[n]), 1) for n in names},
            "fragments_per_s_each": {n: [round(len(records) / s, 1) for s in seconds[n]] for n in names},
            "speedup_over_" + names[0]: {n: round(statistics.median(a / b for a, b in zip(seconds[names[0]], seconds[n])), 3)
                                         for n in names[1:]},
            "changes_against_" + names[0]: {n: decision_changes(labelled[names[0]], labelled[n]) for n in names[1:]},
        }
    return {
        "what": "predict's batching on this CPU: fragments/s of Scorer.apply per batching (batch_size or "
                "batch_size/batch_tokens) and the changes against the first batching (README item 38)",
        "cpu": {**this_cpu_description(), "torch_threads": torch.get_num_threads()},
        "precision": scorer.precision, "model": str(model_dir), "repeats": repeats, **result,
    }


def parse_batchings(text: str) -> list[tuple[int, int | None]]:
    """``64,64/2048,16`` -> [(64, None), (64, 2048), (16, None)]."""
    batchings: list[tuple[int, int | None]] = []
    for item in text.split(","):
        size, _, tokens = item.strip().partition("/")
        batchings.append((int(size), int(tokens) if tokens else None))
    return batchings


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/default"))
    parser.add_argument("--prepared", type=Path, default=Path("data/prepared/fragments.jsonl"))
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--corpus-fragments", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batchings", type=parse_batchings, default=list(BATCHINGS),
                        help="comma-separated batch_size or batch_size/batch_tokens; the first is the reference")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    write_result(args.output, measure(args.model, args.prepared, copies=args.copies,
                                      corpus_fragments=args.corpus_fragments, repeats=args.repeats,
                                      batchings=args.batchings))


if __name__ == "__main__":
    main()
