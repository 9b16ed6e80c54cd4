"""Does aligning the replay's embeddings with the team's real speech help the head (unsupervised domain alignment)?

`adapt` fits its categories head on the team's few coded real fragments (weighing `real_weight`) and on 2,000
replay fragments written for this project (`corpus/synthetic`, `corpus/field`). The replay is most of what
the head learns from (README learning curve: the head on the replay alone is already at the base model), but
its register differs from real speech, so its embeddings sit elsewhere in the encoder's space. A classic,
setting-free remedy moves each source collection onto the target's statistics before fitting: the mean
(mean alignment), or the mean and per-dimension spread (a diagonal CORAL; Sun, Feng and Saenko, "Return of
frustratingly easy domain adaptation", AAAI 2016). The target statistics here are the team's own coded
fragments (in leave one case out: the two training cases only), so nothing is read off held-out quotes and
there is nothing to tune; the predictor is unchanged (team-domain inputs are not moved).

Variants, all with the shipped head, encoder, C and real_weight, and round 7's per-axis replay weighting
(`encoder_interpolation_experiment.ROUND7_REPLAY_WEIGHTS`, the shipped one when this ran):
- ``none (shipped)``: no alignment;
- ``mean``: each replay collection's unit embeddings shifted so that its mean is the team's mean;
- ``mean+scale``: also scaled per dimension to the team's spread (diagonal CORAL; spreads floored at 1e-3).

Scored like the other head experiments (`encoder_interpolation_experiment.HeadBench`): ``loco`` (leave one case
out on the 47 quotes, seeds 1-3), ``loco_minus_shipped`` (paired bootstrap against no alignment), ``held_out``
(synthetic and field test splits, head fitted on all quotes + replay aligned to all quotes: what the shipped
model would predict there) and ``nested`` (the variant chosen inside each fold by the two training cases).

Run: ``python -m pipeline.tools.domain_alignment_experiment -o reports/experiments/domain_alignment.json``
(about 8 minutes on 2 cores).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.tools import load_quotes_setup, main_on_prepared
from pipeline.tools.encoder_interpolation_experiment import ReplayWeightedBench, held_out_line, means_line

VARIANTS = ("none (shipped)", "mean", "mean+scale")
MIN_SPREAD = 1e-3


def align_replay(x: np.ndarray, is_team: np.ndarray, collections: np.ndarray, variant: str) -> np.ndarray:
    """`x` (unit rows) with every replay collection's rows moved onto the team rows' mean (`mean`), and spread
    per dimension (`mean+scale`); team rows and the `none` variant unchanged."""
    if variant == VARIANTS[0]:
        return x
    out = x.copy()
    team = x[is_team]
    team_mean, team_spread = team.mean(axis=0), np.maximum(team.std(axis=0), MIN_SPREAD)
    for collection in sorted(set(collections[~is_team])):
        rows = (~is_team) & (collections == collection)
        block = x[rows]
        centred = block - block.mean(axis=0)
        if variant == "mean+scale":
            centred = centred / np.maximum(block.std(axis=0), MIN_SPREAD) * team_spread
        out[rows] = centred + team_mean
    return out


class AlignmentBench(ReplayWeightedBench):
    """The head with adapt's per-axis replay weighting, whose replay rows are aligned to the team rows of
    each fit before the head is fitted."""

    def __init__(self, data: Any, params: Any, codebook: Any) -> None:
        from pipeline.model.category_head import unit_rows

        unit = unit_rows(np.asarray(data.adapted, dtype=np.float64))
        super().__init__(data, {name: unit for name in VARIANTS}, params, codebook)
        self.collections = np.array([""] * data.n_team + list(data.replay_collections), dtype=object)

    def fit_features(self, key: Any, rows: np.ndarray) -> np.ndarray:
        return align_replay(self.features[key][rows], rows < self.data.n_team, self.collections[rows], key)


def run(prepared: Path) -> dict[str, Any]:
    from pipeline.model.adaptation import finetuned_share

    setup = load_quotes_setup(prepared)
    params, data = setup.params, setup.data
    print("domain alignment: embedding the test splits", file=sys.stderr)
    test = setup.held_out("test", finetuned_share(params.adapt))
    test_x = {name: x for name, (x, _) in test.items()}
    test_y = {name: y for name, (_, y) in test.items()}
    bench = AlignmentBench(data, params, setup.codebook)
    out: dict[str, Any] = {"what": __doc__.splitlines()[0], "seeds": list(params.crossval.seeds),
                           "n_quotes": data.n_team, "replay_weights": ReplayWeightedBench.replay_weights, "variants": {}}
    for name in VARIANTS:
        out["variants"][name] = {
            "loco": bench.loco(name), "held_out": bench.held_out(name, test_x, test_y),
            "loco_minus_shipped": bench.loco_minus(name, VARIANTS[0]) if name != VARIANTS[0] else None}
        print(f"domain alignment: {name}: loco {means_line(out['variants'][name]['loco'])}; held out "
              f"{held_out_line(out['variants'][name]['held_out'])}", file=sys.stderr)
    out["nested"] = bench.nested(list(VARIANTS))
    print(f"domain alignment: chosen inside each fold: {means_line(out['nested']['axes'])}", file=sys.stderr)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    main_on_prepared(__doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    main()
