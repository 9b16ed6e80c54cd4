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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.tools import main_on_prepared, study_quotes_data
from pipeline.tools.encoder_interpolation_experiment import ReplayWeightedBench

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

    def aligned(self, key: str, rows: np.ndarray) -> np.ndarray:
        return align_replay(self.features[key][rows], rows < self.data.n_team, self.collections[rows], key)

    def fitted(self, key: Any, rows: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        from pipeline.model.category_head import category_probabilities, fit_category_head

        weight, bias = fit_category_head(self.aligned(key, rows), self.data.y[rows], self.row_weights(key, rows),
                                         self.poles, c=self.adapt.category_c, seed=self.adapt.seed)
        return lambda x: category_probabilities(x, weight, bias)

    def held_out(self, key: Any, test_x: dict[str, np.ndarray], test_y: dict[str, np.ndarray]) -> dict[str, Any]:
        from pipeline.tools.category_head_checks import score

        rows = np.arange(len(self.data.texts))
        return score(self.aligned(key, rows), self.data.y, self.row_weights(key, rows),
                     {name: (test_x[name], y) for name, y in test_y.items()}, self.codebook,
                     c=self.adapt.category_c, seed=self.adapt.seed)


def run(prepared: Path) -> dict[str, Any]:
    from pipeline.core.codebook import load_codebook
    from pipeline.core.config import REPO_ROOT
    from pipeline.core.params import load_params
    from pipeline.crossval import encoder_embeddings
    from pipeline.model.adaptation import finetuned_share
    from pipeline.model.classifier import read_metadata
    from pipeline.tools.category_head_checks import held_out_texts

    params = load_params()
    codebook = load_codebook()
    base = REPO_ROOT / "models" / "base"
    metadata = read_metadata(base)
    data = study_quotes_data(prepared, params, codebook, base)
    print("domain alignment: embedding the test splits", file=sys.stderr)
    share = finetuned_share(params.adapt)
    test = held_out_texts(prepared, "test", params.adapt.replay_coder, codebook)
    test_x = {name: encoder_embeddings(metadata.backbone["spec"], texts, len(codebook.code_ids),
                                       prefix=metadata.text_prefix, max_length=metadata.max_length, model_dir=base,
                                       share=share)
              for name, (texts, _) in test.items()}
    test_y = {name: y for name, (_, y) in test.items()}
    bench = AlignmentBench(data, params, codebook)
    out: dict[str, Any] = {"what": __doc__.splitlines()[0], "seeds": list(params.crossval.seeds),
                           "n_quotes": data.n_team, "replay_weights": ReplayWeightedBench.replay_weights, "variants": {}}
    for name in VARIANTS:
        out["variants"][name] = {
            "loco": bench.loco(name), "held_out": bench.held_out(name, test_x, test_y),
            "loco_minus_shipped": bench.loco_minus(name, VARIANTS[0]) if name != VARIANTS[0] else None}
        print(f"domain alignment: {name}: loco " + " ".join(
            f"{s['mean']:.3f}" for s in out["variants"][name]["loco"].values()) + "; held out " + " ".join(
            f"{split} " + "/".join("-" if v is None else f"{v:.2f}" for v in scores.values())
            for split, scores in out["variants"][name]["held_out"].items()), file=sys.stderr)
    out["nested"] = bench.nested(list(VARIANTS))
    print("domain alignment: chosen inside each fold: " + " ".join(
        f"{s['mean']:.3f}" for s in out["nested"]["axes"].values()), file=sys.stderr)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    main_on_prepared(__doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    main()
