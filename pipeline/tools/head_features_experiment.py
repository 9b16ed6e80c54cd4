"""Two more tries at beleid/beheer on the real quotes under the shipped head: other encoder layers, used categories.

The two: other layers of the encoder, and never predicting a category the team's coding does not use.

1. ``layers``: the categories head `adapt` fits, on mean-pooled states of other layers of the shipped
   (interpolated) encoder instead of its last layer: the mean of the last 2 or 4 layers, the second-to-last
   layer, the mean of all 12. Lower layers of a transformer often carry more surface and register information
   and transfer differently across a shift of the input. Scored like `pipeline.tools.encoder_interpolation_
   experiment`: leave one case out on the 47 quotes (seeds 1-3) and the synthetic and field test splits.
2. ``only_used_categories``: leave one case out with the shipped features, but a category the training cases'
   coding never uses on an axis is never predicted. The issue found the model saying "neither" on quotes the
   researchers all placed; in the bundled coding "neither" is used once (intern/extern, case 2) and never on the
   other axes. This rule asks whether a decision can exploit that (it is specific to selected quotes: a team
   coding whole interviews uses every category).

Run: ``python -m pipeline.tools.head_features_experiment -o reports/experiments/head_features.json`` (about
6 minutes on 2 cores).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.tools import load_quotes_setup, main_on_prepared

LAYER_VARIANTS = {
    "last layer (shipped)": lambda states: states[:, -1],
    "mean of the last 2 layers": lambda states: states[:, -2:].mean(axis=1),
    "mean of the last 4 layers": lambda states: states[:, -4:].mean(axis=1),
    "second-to-last layer": lambda states: states[:, -2],
    "mean of all 12 layers": lambda states: states[:, 1:].mean(axis=1),
}


def run(prepared: Path) -> dict[str, Any]:
    from pipeline.core.config import REPO_ROOT
    from pipeline.model.adaptation import adaptation_embedder, embed, finetuned_share
    from pipeline.model.backbone import resolve_backbone
    from pipeline.tools.category_head_checks import held_out_texts
    from pipeline.tools.encoder_interpolation_experiment import HeadBench, means_line

    setup = load_quotes_setup(prepared)
    params, codebook, base, metadata, data = setup.params, setup.codebook, setup.model_dir, setup.metadata, setup.data
    share = finetuned_share(params.adapt)
    model, tokenizer = adaptation_embedder(resolve_backbone(metadata.backbone["spec"], cache_dir=REPO_ROOT / "models"),
                                           base, share, len(codebook.code_ids))
    test = held_out_texts(prepared, "test", params.adapt.replay_coder, codebook)
    test_y = {name: y for name, (_, y) in test.items()}
    prefix, max_length = metadata.text_prefix, metadata.max_length
    print("head features: every layer's states of the replay, the quotes and the test splits", file=sys.stderr)
    states = embed(model, tokenizer, data.texts, text_prefix=prefix, max_length=max_length, all_layers=True)
    test_states = {name: embed(model, tokenizer, texts, text_prefix=prefix, max_length=max_length, all_layers=True)
                   for name, (texts, _) in test.items()}
    bench = HeadBench(data, {name: pick(states) for name, pick in LAYER_VARIANTS.items()}, params, codebook)

    out: dict[str, Any] = {
        "encoder": f"the shipped one: backbone moved {share:g} of the way to models/base's fine-tuned encoder",
        "last_layer_max_difference_to_adapt": float(np.abs(states[:, -1] - data.adapted).max()),
        "seeds": list(params.crossval.seeds), "n_quotes": data.n_team,
        "layers": {}, "only_used_categories": {}}
    for name, pick in LAYER_VARIANTS.items():
        out["layers"][name] = {"loco": bench.loco(name),
                               "held_out": bench.held_out(name, {n: pick(s) for n, s in test_states.items()}, test_y)}
        print(f"head features: {name}: loco {means_line(out['layers'][name]['loco'])}", file=sys.stderr)
    shipped = next(iter(LAYER_VARIANTS))
    out["only_used_categories"] = {"loco": bench.loco(shipped, only_used=True),
                                   "shipped_loco": out["layers"][shipped]["loco"]}
    print(f"head features: only used categories: loco {means_line(out['only_used_categories']['loco'])}",
          file=sys.stderr)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    main_on_prepared(__doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    main()
