"""How large predict's batches should be on this CPU: fragments/s per `predict.batch_size` (README item 38).

`capcode predict` scores fragments sorted by length in batches of `predict.batch_size` on a CPU (the longest
fragment of a batch sets its width). This tool times `capcode predict`'s scoring and labelling
(`Scorer.apply`, on chunks of `compute.predict_chunk_size` records as `capcode predict` reads them) at several
batch sizes, in the precision `auto` resolves to, on two inputs:

- ``quotes``: the throughput target's input, the study's 47 quotes x 8 (as `quotes_bench_input` writes them);
- ``corpus``: `capcode bench`'s default input, the first 400 codable fragments outside the `gold` split of
  `data/prepared/fragments.jsonl` (written and field interviews).

Each figure is the median fragments/s of ``--repeats`` runs after a whole warm-up pass of every batch size; the
sizes take turns within each repeat, each repeat starting with the next one, so that a busy shared machine slows
them alike; ``speedup_over_<first>`` is the median over repeats of the first size's seconds over each size's
seconds in the same repeat. ``changes`` compares each size's labelled records with the first size's on the same
input (`predict_precision_experiment.decision_changes`): a batch's shape changes the order of the floating-point
sums, not what is computed. Nothing is chosen here. Run after `make run`:
``python -m pipeline.tools.predict_batching_experiment -o reports/hardware/<cpu>/predict_batching.json``
(about 8 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from pipeline.tools import seconds_taking_turns, write_result

BATCH_SIZES: tuple[int, ...] = (64, 32, 16, 48, 128)  # the first is the reference of `changes`: 64 until item 38


def corpus_records(prepared: Path, limit: int) -> list[dict[str, Any]]:
    """The first `limit` codable fragments outside the `gold` split: what `capcode bench` scores by default
    (`bench._codable_texts`), as the records `Scorer.apply` takes, read as `quote_copies` reads the quotes."""
    from pipeline.core.io_utils import read_jsonl

    rows = [r for r in read_jsonl(prepared) if r.get("codable") and r.get("split") != "gold"]
    return rows[:limit]


def measure(model_dir: Path, prepared: Path, *, copies: int = 8, corpus_fragments: int = 400, repeats: int = 5,
            batch_sizes: Sequence[int] = BATCH_SIZES, params_path: Path | None = None) -> dict[str, Any]:
    """Fragments/s of each batch size on the quotes x `copies` and on `corpus_fragments` corpus fragments, and
    each size's changes against the first one on both inputs (predict's other settings from `params_path`, by
    default the shipped params)."""
    import torch

    from pipeline.core.codebook import load_codebook
    from pipeline.core.params import load_params
    from pipeline.model.apply import load_scorer
    from pipeline.tools.predict_precision_experiment import decision_changes, this_cpu_description
    from pipeline.tools.quotes_bench_input import quote_copies

    if not batch_sizes or min(batch_sizes) < 1:
        raise ValueError(f"expected one or more batch sizes >= 1, found {list(batch_sizes)}")
    params = load_params(params_path)
    scorer = load_scorer(model_dir=model_dir, codebook=load_codebook(), params=params.predict, show_progress=False)
    chunk = int(params.compute.predict_chunk_size)
    inputs = {"quotes": quote_copies(prepared, "study-quotes", copies),
              "corpus": corpus_records(prepared, corpus_fragments)}
    names = [str(size) for size in batch_sizes]
    scorers = {name: replace(scorer, batch_size=size, counts=dict(scorer.counts))
               for name, size in zip(names, batch_sizes)}

    def predict(name: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:  # as `capcode predict` chunks
        return [r for start in range(0, len(records), chunk) for r in scorers[name].apply(records[start:start + chunk])]

    result: dict[str, Any] = {}
    for input_name, records in inputs.items():
        labelled = {name: predict(name, records) for name in names}  # the warm-up pass, kept for `changes`
        seconds = seconds_taking_turns({name: partial(predict, name, records) for name in names}, repeats)
        first = names[0]
        result[input_name] = {
            "fragments": len(records),
            "fragments_per_s_median": {n: round(len(records) / statistics.median(seconds[n]), 1) for n in names},
            "fragments_per_s_each": {n: [round(len(records) / s, 1) for s in seconds[n]] for n in names},
            "speedup_over_" + first: {n: round(statistics.median(a / b for a, b in zip(seconds[first], seconds[n])), 3)
                                      for n in names[1:]},
            "changes_against_" + first: {n: decision_changes(labelled[first], labelled[n]) for n in names[1:]},
        }
    return {
        "what": "predict's batch size on this CPU: fragments/s of Scorer.apply (chunks of compute.predict_chunk_size) "
                "per predict.batch_size, and the changes against the first size (README item 38)",
        "cpu": {**this_cpu_description(), "torch_threads": torch.get_num_threads()},
        "precision": scorer.precision, "model": str(model_dir), "chunk": chunk, "repeats": repeats, **result,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/default"))
    parser.add_argument("--prepared", type=Path, default=Path("data/prepared/fragments.jsonl"))
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--corpus-fragments", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--params", type=Path, default=None, help="params file (default: configs/params.yaml)")
    parser.add_argument("--batch-sizes", type=lambda text: [int(v) for v in text.split(",")], default=list(BATCH_SIZES),
                        help="comma-separated batch sizes; the first is the reference")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    write_result(args.output, measure(args.model, args.prepared, copies=args.copies,
                                      corpus_fragments=args.corpus_fragments, repeats=args.repeats,
                                      batch_sizes=args.batch_sizes, params_path=args.params))


if __name__ == "__main__":
    main()
