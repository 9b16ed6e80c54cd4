"""How many replay fragments the adapted head should keep: `adapt.max_replay` at 500, 1000, 2000 (shipped) or
every one of the base model's training fragments (README item 27).

`adapt` fits its categories head on the team's coded fragments (weight `adapt.real_weight`) beside a seeded
sample of at most `adapt.max_replay` of the base model's training fragments (replay, so that nothing learned from
the synthetic and field corpora is lost). The replay is what most of the head is fitted on, so its size sets how
far the team's few dozen fragments can pull the head: fewer replay fragments, a head closer to the team's coding
(and to its noise); more, a head closer to the corpora's. This tool loads the quotes and the whole replay once,
then for each size takes the sample `capcode crossval` draws for that `adapt.max_replay` (the same seeded draw,
so the 2000 row is the shipped figure exactly) and fits the shipped head (`ShippedBench`: real_weight, C, the
per-axis replay weighting) on it:

1. ``loco``: leave one case out on the 47 quotes (seeds 1-3, crossval's replay draws), and ``loco_minus_shipped``,
   the paired difference to 2000 on the same quotes with crossval's paired bootstrap interval.
2. ``validation`` / ``test``: the synthetic and field splits (coder A, never fitted on), head fitted on all quotes
   + that replay.

Only the head changes with the size (the encoder adapt embeds with does not depend on the replay), so this bench
is what `dvc repro` would give with another `adapt.max_replay`.

Run: ``python -m pipeline.tools.replay_size_experiment -o reports/experiments/replay_size.json`` (about 2 minutes
on 2 cores after `make run`).
"""

from __future__ import annotations

import dataclasses
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.tools import QuotesSetup, main_on_prepared, study_quotes_data

SIZES: tuple[int | None, ...] = (500, 1000, 2000, None)  # None: every replay fragment
SHIPPED = 2000


def replay_subset(data: Any, size: int | None, seed: int) -> Any:
    """`data` (team rows, then every replay row in `replay_fragments` order) with the replay cut to the seeded
    sample `crossval.load_data` draws for `adapt.max_replay` = `size` (None or more than there are: all)."""
    n_replay = len(data.texts) - data.n_team
    if size is None or size >= n_replay:
        return data
    chosen = np.sort(np.random.default_rng(seed).choice(n_replay, size, replace=False))
    rows = np.concatenate([np.arange(data.n_team), data.n_team + chosen])
    return dataclasses.replace(data, texts=[data.texts[i] for i in rows], y=data.y[rows], tuned=data.tuned[rows],
                               frozen=data.frozen[rows], adapted=data.adapted[rows],
                               replay_collections=[data.replay_collections[i] for i in chosen])


def run(prepared: Path) -> dict[str, Any]:
    from pipeline.core.codebook import load_codebook
    from pipeline.core.config import REPO_ROOT
    from pipeline.core.params import load_params
    from pipeline.model.adaptation import finetuned_share
    from pipeline.model.classifier import read_metadata
    from pipeline.tools.encoder_interpolation_experiment import ShippedBench, entry_line, head_split_alphas

    params, codebook = load_params(), load_codebook()
    if params.adapt.max_replay != SHIPPED:
        print(f"replay size: adapt.max_replay is {params.adapt.max_replay}, not {SHIPPED}: the paired differences "
              f"are to {SHIPPED} all the same", file=sys.stderr)
    base = REPO_ROOT / "models" / "base"
    # every replay fragment, loaded (and embedded) once as crossval loads them
    every = types.SimpleNamespace(adapt=dataclasses.replace(params.adapt, max_replay=sys.maxsize),
                                  segment=params.segment, prepare=params.prepare, crossval=params.crossval)
    data = study_quotes_data(prepared, every, codebook, base)
    setup = QuotesSetup(prepared, params, codebook, base, read_metadata(base), data)
    n_replay = len(data.texts) - data.n_team
    benches = {size: ShippedBench(subset, {size: subset.adapted}, params, codebook)
               for size in SIZES for subset in [replay_subset(data, size, params.adapt.seed)]}
    print("replay size: embedding the validation and test splits", file=sys.stderr)
    splits = {split: setup.held_out(split, finetuned_share(params.adapt)) for split in ("validation", "test")}
    shipped = {seed: benches[SHIPPED].loco_labels(SHIPPED, seed) for seed in params.crossval.seeds}

    def on_split(size: int | None, split: str) -> dict[str, list[float]]:
        bench = benches[size]
        return head_split_alphas(*bench.head_weights(size, np.arange(len(bench.data.texts))), splits[split],
                                 bench.poles, codebook)

    def label(size: int | None) -> str:
        return f"all {n_replay}" if size is None else f"{size}" + (" (shipped)" if size == SHIPPED else "")

    out: dict[str, Any] = {"what": __doc__.splitlines()[0], "seeds": list(params.crossval.seeds),
                           "n_quotes": data.n_team, "n_replay_available": n_replay,
                           "axes": [axis.id for axis in codebook.axes], "sizes": {}}
    for size in SIZES:
        bench = benches[size]
        entry: dict[str, Any] = {
            "replay_rows": len(bench.data.texts) - bench.data.n_team,
            "loco": bench.loco(size),
            "loco_minus_shipped": None if size == SHIPPED else bench.loco_minus_labels(size, shipped),
            "validation": on_split(size, "validation"), "test": on_split(size, "test")}
        out["sizes"][label(size)] = entry
        print(f"replay size: {label(size)}: {entry_line(entry)}", file=sys.stderr)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    main_on_prepared(__doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    main()
