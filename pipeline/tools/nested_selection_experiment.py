"""The honest figure of the default's two settings that were read off the quotes, chosen together by a team's own coding.

Two of `adapt`'s shipped settings were chosen after looking at leave-one-case-out figures on the 47 quotes:
the share of the fine-tuned weights in the encoder (`adapt.interpolation`, README item 12) and the per-axis
replay weighting (`adapt.replay_weights`, item 16). Items 12 and 16 each give a nested estimate for one of
them with the other fixed at its shipped value, so each still leans on the other's look at the quotes. This
tool chooses both at once, inside each leave-one-case-out fold, from the two training cases alone (train on
one, score the other, both ways; `HeadBench.nested`), over the grid

- share 0, 0.1, 0.2 (shipped), 0.3;
- replay weighting (`adapt.replay_weights`, spelled out here so that the result does not move with
  configs/params.yaml): every replay fragment 1 on every axis (round 6); the field replay left out of
  strat./oper. (round 8, shipped); or out of beleid/beheer and strat./oper. (round 7);

and scores the choice on the held-out case: the estimate of what a team would get if it chose these settings
from its own coding, with no look at data it is scored on. Once with one choice for all axes, once per axis
(the head fits each axis on its own, so a per-axis choice is a real option). ``loco`` gives every grid point's
leave-one-case-out figure beside it (the optimistic figures a choice on the quotes would read).

Run: ``python -m pipeline.tools.nested_selection_experiment -o reports/experiments/nested_selection.json``
(about 15 minutes on 2 cores).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.tools import load_quotes_setup, main_on_prepared
from pipeline.tools.encoder_interpolation_experiment import ROUND7_REPLAY_WEIGHTS, HeadBench, means_line

SHARES = (0.0, 0.1, 0.2, 0.3)
# the earlier weighting wins a tie in the nested choice (on an axis two weightings leave alike, they fit alike)
WEIGHTINGS: dict[str, dict[str, dict[str, float]]] = {
    "every replay fragment 1": {},
    "field out of strat./oper. (round 8)": {"strategisch_operationeel": {"field": 0.0}},
    "field out of beleid/beheer and strat./oper. (round 7)": ROUND7_REPLAY_WEIGHTS,
}


class SelectionBench(HeadBench):
    """HeadBench over keys (share, weighting): the features of that share, the rows weighed by that weighting."""

    def row_weights(self, key: Any, rows: np.ndarray) -> np.ndarray:
        from pipeline.crossval import axis_row_weights

        _, weighting = key
        return axis_row_weights(self.data, rows, self.adapt, self.codebook, WEIGHTINGS[weighting])


def run(prepared: Path, *, model_dir: Path | None = None, nested: bool = True,
        label: str = "nested selection") -> dict[str, Any]:
    """The grid's leave-one-case-out figures and the nested choices on the base model in `model_dir` (default
    `models/base`); `nested` False leaves out the choices (the grid alone); `label` starts the progress lines."""
    from pipeline.crossval import encoder_embeddings
    from pipeline.model.adaptation import finetuned_share

    setup = load_quotes_setup(prepared, model_dir)
    params, codebook, metadata, data = setup.params, setup.codebook, setup.metadata, setup.data
    shipped_share = finetuned_share(params.adapt)
    embedded: dict[float, np.ndarray] = {0.0: data.frozen, shipped_share: data.adapted}
    for share in SHARES:
        if share not in embedded:
            print(f"{label}: embedding at share {share:g}", file=sys.stderr)
            embedded[share] = encoder_embeddings(metadata.backbone["spec"], data.texts, len(codebook.code_ids),
                                                 prefix=metadata.text_prefix, max_length=metadata.max_length,
                                                 model_dir=setup.model_dir, share=share)
    keys = [(share, weighting) for share in SHARES for weighting in WEIGHTINGS]
    bench = SelectionBench(data, {key: embedded[key[0]] for key in keys}, params, codebook)
    out: dict[str, Any] = {"what": __doc__.splitlines()[0], "seeds": list(params.crossval.seeds),
                           "n_quotes": data.n_team, "weightings": WEIGHTINGS, "grid": []}
    for key in keys:
        loco = bench.loco(key)
        out["grid"].append({"share": key[0], "weighting": key[1], "loco": loco})
        print(f"{label}: share {key[0]:g}, {key[1]}: loco {means_line(loco)}", file=sys.stderr)
    if not nested:
        return out
    for kind, per_axis in (("one_for_all_axes", False), ("per_axis", True)):
        found = bench.nested(keys, per_axis=per_axis)
        for choice in found["chosen"]:  # JSON keys: "share / weighting"
            key = choice["key"]
            choice["key"] = ({axis: f"{k[0]:g} / {k[1]}" for axis, k in key.items()} if isinstance(key, dict)
                             else f"{key[0]:g} / {key[1]}")
        out[f"nested_{kind}"] = found
        print(f"{label}: chosen inside each fold, {kind.replace('_', ' ')}: {means_line(found['axes'])}",
              file=sys.stderr)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    main_on_prepared(__doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    main()
