"""Should the head's replay be fragments the encoder never trained on (the validation split) instead of its training split?

`adapt` fits its categories head on the team's coded fragments and on replay: up to 2,000 of the base model's
**training** fragments. On the fine-tuned encoder (and, a fifth of the way, on the shipped interpolated one)
those fragments are ones the encoder was trained to separate by their codes, so their embeddings are more
separable than any new text's: the head learns boundaries from features that are better than what it will
see (the stacking leak; the remedy is out-of-fold features). The base model's **validation** split (synthetic
and field interviews used only to stop training and tune thresholds, never for a gradient) is text the
encoder never fitted, like the team's real speech and like the test splits. This tool fits the shipped head
(categories, C, `real_weight`; round 7's per-axis replay weighting, `ROUND7_REPLAY_WEIGHTS`, shipped when
this ran) with three replays, on the encoder at three
shares of the fine-tuned weights (0.2 is shipped; the leak should grow with the share):

- ``train (shipped)``: the 2,000 training-split fragments `adapt` replays;
- ``validation``: every validation-split fragment coded by the replay coder (about a quarter as many);
- ``train + validation``: both.

Scored like the other head experiments (`encoder_interpolation_experiment.HeadBench`): ``loco`` on the 47
quotes (seeds 1-3, each seed drawing `crossval.replay_fraction` of the replay), ``loco_minus_shipped``
(paired bootstrap against train replay at share 0.2), and ``held_out``: the synthetic and field **test**
splits, which neither the encoder nor any replay contains, the head fitted on all quotes + the replay.

Run: ``python -m pipeline.tools.replay_split_experiment -o reports/experiments/replay_split.json`` (about
15 minutes on 2 cores).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from pipeline.tools import load_quotes_setup, main_on_prepared
from pipeline.tools.encoder_interpolation_experiment import ReplayWeightedBench, held_out_line, means_line

SHARES = (0.2, 0.5, 1.0)
SHIPPED = (0.2, "train (shipped)")


def with_replay(data: Any, texts: Sequence[str], y: np.ndarray, collections: Sequence[str]) -> SimpleNamespace:
    """The fields of crossval's `Data` a head bench reads, with the team of `data` and the given replay."""
    return SimpleNamespace(team=data.team, n_team=data.n_team, texts=list(data.team.texts) + list(texts),
                           y=np.vstack([data.team.labels, y]), replay_collections=list(collections))


def run(prepared: Path) -> dict[str, Any]:
    from pipeline.crossval import encoder_embeddings
    from pipeline.tools.category_head_checks import held_out_texts

    setup = load_quotes_setup(prepared)
    params, codebook, metadata, data = setup.params, setup.codebook, setup.metadata, setup.data
    n_team, coder = data.n_team, params.adapt.replay_coder
    train_texts = data.texts[n_team:]
    train_y, train_collections = data.y[n_team:], list(data.replay_collections)
    validation = held_out_texts(prepared, "validation", coder, codebook)
    val_texts = [t for texts, _ in validation.values() for t in texts]
    val_y = np.vstack([y for _, y in validation.values()])
    val_collections = [name for name, (texts, _) in validation.items() for _ in texts]
    test = held_out_texts(prepared, "test", coder, codebook)
    test_texts = [t for texts, _ in test.values() for t in texts]
    every = list(data.team.texts) + list(train_texts) + val_texts + test_texts
    print(f"replay split: {len(train_texts)} train / {len(val_texts)} validation replay fragments, "
          f"{len(test_texts)} test fragments; embedding at shares {list(SHARES)}", file=sys.stderr)
    embedded = {share: encoder_embeddings(metadata.backbone["spec"], every, len(codebook.code_ids),
                                          prefix=metadata.text_prefix, max_length=metadata.max_length,
                                          model_dir=setup.model_dir, share=share)
                for share in SHARES}
    team_rows = np.arange(n_team)
    train_rows = n_team + np.arange(len(train_texts))
    val_rows = n_team + len(train_texts) + np.arange(len(val_texts))
    start = n_team + len(train_texts) + len(val_texts)
    test_rows, test_y = {}, {}
    for name, (texts, y) in test.items():
        test_rows[name], test_y[name] = start + np.arange(len(texts)), y
        start += len(texts)
    replays = {
        "train (shipped)": (train_rows, with_replay(data, train_texts, train_y, train_collections)),
        "validation": (val_rows, with_replay(data, val_texts, val_y, val_collections)),
        "train + validation": (np.concatenate([train_rows, val_rows]),
                               with_replay(data, list(train_texts) + val_texts, np.vstack([train_y, val_y]),
                                           train_collections + val_collections)),
    }
    benches = {name: ReplayWeightedBench(replay_data, {share: embedded[share][np.concatenate([team_rows, rows])]
                                                       for share in SHARES}, params, codebook)
               for name, (rows, replay_data) in replays.items()}
    shipped_labels = {seed: benches[SHIPPED[1]].loco_labels(SHIPPED[0], seed) for seed in params.crossval.seeds}
    out: dict[str, Any] = {"what": __doc__.splitlines()[0], "seeds": list(params.crossval.seeds),
                           "n_quotes": n_team, "replay_sizes": {name: len(rows) for name, (rows, _) in replays.items()},
                           "replay_weights": ReplayWeightedBench.replay_weights, "results": []}
    for share in SHARES:
        test_x = {name: embedded[share][rows] for name, rows in test_rows.items()}
        for name, bench in benches.items():
            result: dict[str, Any] = {"share": share, "replay": name, "loco": bench.loco(share),
                                      "held_out": bench.held_out(share, test_x, test_y)}
            if (share, name) != SHIPPED:
                result["loco_minus_shipped"] = bench.loco_minus_labels(share, shipped_labels)
            out["results"].append(result)
            print(f"replay split: share {share:g}, {name}: loco {means_line(result['loco'])}; held out "
                  f"{held_out_line(result['held_out'])}", file=sys.stderr)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    main_on_prepared(__doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    main()
