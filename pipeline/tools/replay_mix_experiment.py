"""Which replay helps the real quotes: the field-register corpus, the clean synthetic one, or both (as shipped)?

`adapt` keeps the base model's training fragments as replay beside the team's coding, every replay fragment
weighing 1. Those come from two bundled collections (README "Corpus"): `corpus/synthetic`, written in a clean
register, and `corpus/field`, written to sound like real Flemish interviews (hesitant, long, local terms;
issue 10 item 4). This tool fits the shipped head (the `axis_categories` head on the shipped interpolated
encoder, adapt's C and `real_weight`) with the field replay weighed 0, 0.1, 0.3, 1 (shipped) or 3 against
synthetic replay at 1, and with the field replay alone, and scores each like `encoder_interpolation_experiment`:

1. ``loco``: leave one case out on the 47 quotes (seeds 1-3, crossval's replay draws). Looking at these to
   choose a weighting makes its figure optimistic. ``loco_minus_shipped``: its difference to the shipped
   weighting on the same quotes, with crossval's paired bootstrap interval.
2. ``held_out``: the synthetic and field test splits (head fitted on all quotes + replay).
3. ``nested``: the weighting chosen inside each fold by the two training cases alone (`HeadBench.nested`),
   one for all axes and one per axis: the honest estimate of a team choosing its replay from its own coding.

Run: ``python -m pipeline.tools.replay_mix_experiment -o reports/experiments/replay_mix.json`` (about 10
minutes on 2 cores).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.model.category_head import replay_axis_weights
from pipeline.tools import load_quotes_setup, main_on_prepared
from pipeline.tools.encoder_interpolation_experiment import HeadBench, means_line

# replay weight per collection; the team's fragments keep adapt.real_weight
MIXES: dict[str, dict[str, float]] = {
    **{f"field {w:g}, synthetic 1": {"synthetic": 1.0, "field": w} for w in (0.0, 0.1, 0.3)},
    "field 1, synthetic 1 (shipped)": {"synthetic": 1.0, "field": 1.0},
    "field 3, synthetic 1": {"synthetic": 1.0, "field": 3.0},
    "field only": {"synthetic": 0.0, "field": 1.0},
}


class ReplayMixBench(HeadBench):
    """HeadBench whose replay rows weigh by their collection, one weighting per key."""

    def __init__(self, data: Any, features: np.ndarray, collections: Sequence[str], params: Any,
                 codebook: Any) -> None:
        super().__init__(data, {name: features for name in MIXES}, params, codebook)
        # adapt's own weighting (`category_head.replay_axis_weights`), one mix for every axis; a collection not
        # in the mix (or none recorded) weighs 1
        self.scale = {name: np.concatenate([np.ones(data.n_team),
                                            replay_axis_weights(collections, {"every": mix}, ["every"])[:, 0]])
                      for name, mix in MIXES.items()}

    def row_weights(self, key: Any, rows: np.ndarray) -> np.ndarray:
        return super().row_weights(key, rows) * self.scale[key][rows]


def run(prepared: Path) -> dict[str, Any]:
    from pipeline.model.adaptation import finetuned_share

    setup = load_quotes_setup(prepared)
    params, codebook, data = setup.params, setup.codebook, setup.data
    collections = data.replay_collections  # crossval.replay_collections, filled by load_data
    counts = {name: collections.count(name) for name in sorted(set(collections))}
    print(f"replay mix: replay fragments per collection {counts}; embedding the test splits", file=sys.stderr)
    test = setup.held_out("test", finetuned_share(params.adapt))
    test_x = {name: x for name, (x, _) in test.items()}
    test_y = {name: y for name, (_, y) in test.items()}
    bench = ReplayMixBench(data, data.adapted, collections, params, codebook)
    out: dict[str, Any] = {"what": __doc__.splitlines()[0], "replay_per_collection": counts,
                           "seeds": list(params.crossval.seeds), "n_quotes": data.n_team, "mixes": {}}
    shipped = next(name for name in MIXES if "(shipped)" in name)
    for name, mix in MIXES.items():
        out["mixes"][name] = {"weights": mix, "loco": bench.loco(name), "held_out": bench.held_out(name, test_x, test_y),
                              "loco_minus_shipped": bench.loco_minus(name, shipped) if name != shipped else None}
        print(f"replay mix: {name}: loco {means_line(out['mixes'][name]['loco'])}", file=sys.stderr)
    for kind, per_axis in (("one_for_all_axes", False), ("per_axis", True)):
        out[f"nested_{kind}"] = bench.nested(list(MIXES), per_axis=per_axis)
        print(f"replay mix: chosen inside each fold, {kind.replace('_', ' ')}: "
              f"{means_line(out[f'nested_{kind}']['axes'])}", file=sys.stderr)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    main_on_prepared(__doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    main()
