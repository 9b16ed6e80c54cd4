"""Fine-tuning the encoder itself on the team's own coded quotes (end to end), instead of only refitting the head.

Every head `adapt` has tried so far is fitted on frozen embeddings: of the pretrained backbone, the fine-tuned
encoder or the two interpolated. Item 11 found that on beleid/beheer the embeddings do not separate the
"both" quotes at all, so no head or rule on them can; the remaining route is to let the team's real speech
move the encoder. This tool measures that, leave one case out on the 47 bundled quotes exactly as `capcode
crossval` draws it (seeds 1-3, the seed's replay sample, the shipped `adapt.replay_weights`):

1. ``shipped``: the shipped categories head on the shipped encoder (interpolated `adapt.interpolation`), fitted
   on the two training cases + replay: the default's leave-one-case-out figure, recomputed here as a check.
2. per fine-tuning setting: start from that encoder and that head (a linear layer on unit-length mean-pooled
   states, initialised with the fitted head's weights), then train encoder and head together for `steps`
   steps of AdamW on a per-axis four-way cross-entropy (an uncoded axis masked, a replay fragment weighing its
   `replay_weights` on each axis). Each batch mixes `team` of the training cases' quotes (cycled in a seeded
   shuffle) with `replay` replay fragments of the seed's sample, so the real speech is a fixed share of every
   step and the replay keeps the head from forgetting the corpora. Word embeddings stay frozen (as in `capcode
   train`), dropout 0.1. The held-out case is then scored by
   - ``head``: the fine-tuned model as it is (its own head), and
   - ``refit``: the shipped head fitted again, as adapt fits it, on the fine-tuned encoder's embeddings of the
     same training rows (costs one more embedding pass per fold).

The settings are fixed before looking (one small-step and one larger-step setting from the few-shot
fine-tuning literature: learning rate 2e-5 / 5e-5, about 8 / 16 passes over the training quotes); none is
chosen on the quotes. `paired` gives each variant minus the shipped head on the same quotes (crossval's
paired bootstrap per seed).

Run: ``python -m pipeline.tools.team_finetune_experiment -o reports/experiments/team_finetune.json`` (about
25 minutes on 2 cores: 9 folds x 2 settings, each a fine-tuning run and an embedding pass of ~1,650 texts).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.tools import load_quotes_setup, main_on_prepared
from pipeline.tools.encoder_interpolation_experiment import ShippedBench, mean_alpha, means_line, summary


@dataclass(frozen=True)
class FinetuneSetting:
    """One end-to-end fine-tuning run: steps of AdamW, learning rates, and the batch's mix of team and replay."""

    name: str
    steps: int
    learning_rate: float
    head_learning_rate: float
    team: int
    replay: int
    dropout: float = 0.1
    weight_decay: float = 0.01


SETTINGS = (
    FinetuneSetting("lr 2e-5, 32 steps", steps=32, learning_rate=2e-5, head_learning_rate=1e-4, team=8, replay=8),
    FinetuneSetting("lr 5e-5, 64 steps", steps=64, learning_rate=5e-5, head_learning_rate=2e-4, team=8, replay=8),
)


def category_targets(y: np.ndarray, poles: Sequence[tuple[int, int]]) -> np.ndarray:
    """[n, n_axes] category 0..3 per axis of a 0/1 coding (nan columns -> -1: not coded, masked in the loss)."""
    from pipeline.model.decision import axis_category

    out = np.stack([axis_category(y[:, i], y[:, j]) for i, j in poles], axis=1)
    return np.where(np.isnan(out), -1, out).astype(np.int64)


def axis_cross_entropy(logits: Any, targets: Any, weights: Any) -> Any:
    """Per-axis four-way cross-entropy of logits [b, 4 * n_axes] against targets [b, n_axes] (-1 = masked),
    each row weighing `weights` [b, n_axes] on each axis; the mean over axes of each axis's weighted mean."""
    import torch

    blocks = logits.float().reshape(len(logits), -1, 4)
    losses = []
    for a in range(blocks.shape[1]):
        weight = weights[:, a] * (targets[:, a] >= 0)
        if float(weight.sum()) == 0:
            continue
        each = torch.nn.functional.cross_entropy(blocks[:, a], targets[:, a].clamp(min=0), reduction="none")
        losses.append((each * weight).sum() / weight.sum())
    return torch.stack(losses).mean()


def finetune(setup: Any, bench: ShippedBench, share: float, setting: FinetuneSetting, team_rows: np.ndarray,
             replay_rows: np.ndarray, head: tuple[np.ndarray, np.ndarray], seed: int) -> tuple[Any, Any]:
    """(model, tokenizer): the shipped encoder + `head`, trained end to end on `team_rows` and `replay_rows`."""
    import torch

    from pipeline.crossval import axis_row_weights
    from pipeline.model.adaptation import adaptation_embedder, pretrained_encoder_dir
    from pipeline.model.classifier import CodeClassifier, model_input_text

    data, params = setup.data, setup.params
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    embedder, tokenizer = adaptation_embedder(pretrained_encoder_dir(setup.metadata, None), setup.model_dir, share,
                                              len(setup.codebook.code_ids))
    encoder: Any = embedder.encoder  # a transformers BertModel (trainable), typed as a Module attribute
    encoder.get_input_embeddings().weight.requires_grad_(False)
    model = CodeClassifier(encoder, head[0].shape[0], dropout=setting.dropout, normalize=True)
    with torch.no_grad():
        model.head.weight.copy_(torch.from_numpy(head[0]))
        model.head.bias.copy_(torch.from_numpy(head[1]))
    targets = category_targets(data.y, bench.poles)
    weights = axis_row_weights(data, np.arange(len(data.texts)), params.adapt, setup.codebook)
    weights = np.where(np.arange(len(data.texts))[:, None] < data.n_team, 1.0, weights)  # mix sets the team share
    encoder_params = [p for p in encoder.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW([{"params": encoder_params, "lr": setting.learning_rate},
                                   {"params": model.head.parameters(), "lr": setting.head_learning_rate}],
                                  weight_decay=setting.weight_decay)
    warmup = max(1, setting.steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: min((step + 1) / warmup, max(0.0, (setting.steps - step) / (setting.steps - warmup))))
    order: list[int] = []
    model.train()
    for _ in range(setting.steps):
        if len(order) < setting.team:
            order += rng.permutation(team_rows).tolist()
        rows = np.array(order[:setting.team] + rng.choice(replay_rows, setting.replay, replace=False).tolist())
        del order[:setting.team]
        batch = tokenizer([model_input_text(data.texts[i], setup.metadata.text_prefix) for i in rows],
                          truncation=True, max_length=setup.metadata.max_length, padding=True, return_tensors="pt")
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])["logits"]
        loss = axis_cross_entropy(logits, torch.from_numpy(targets[rows]), torch.from_numpy(weights[rows]).float())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
    model.eval()
    return model, tokenizer


def run(prepared: Path, settings: Sequence[FinetuneSetting] = SETTINGS, seeds: Sequence[int] | None = None) -> dict[str, Any]:
    """The measurements above for `settings` (default `SETTINGS`) over `seeds` (default crossval's)."""
    import torch

    from pipeline.crossval import paired_difference, summarise_seeds
    from pipeline.model.adaptation import embed, finetuned_share
    from pipeline.model.category_head import category_probabilities
    from pipeline.model.decision import decide_categories, softmax_per_axis

    setup = load_quotes_setup(prepared)
    params, codebook, data = setup.params, setup.codebook, setup.data
    share = finetuned_share(params.adapt)
    bench = ShippedBench(data, {"shipped": data.adapted}, params, codebook)
    seeds = list(seeds or params.crossval.seeds)
    reference, groups, n_codes = data.team.labels, bench.groups, len(codebook.code_ids)
    variants = ["shipped"] + [f"{s.name}: {how}" for s in settings for how in ("head", "refit")]
    labels = {v: {seed: np.zeros(reference.shape, dtype=int) for seed in seeds} for v in variants}
    seconds: list[float] = []
    for seed in seeds:
        for case in bench.cases:
            held, train = np.flatnonzero(groups == case), np.flatnonzero(groups != case)
            rows = np.concatenate([train, bench.replay[seed]])
            head = bench.head_weights("shipped", rows)
            labels["shipped"][seed][held] = decide_categories(category_probabilities(data.adapted[held], *head),
                                                              bench.poles, n_codes)
            for setting in settings:
                started = time.perf_counter()
                model, tokenizer = finetune(setup, bench, share, setting, train, bench.replay[seed], head, seed)
                embedded = embed(model, tokenizer, [data.texts[i] for i in np.concatenate([rows, held])],
                                 text_prefix=setup.metadata.text_prefix, max_length=setup.metadata.max_length)
                own = softmax_per_axis(model.head(torch.nn.functional.normalize(
                    torch.from_numpy(embedded[len(rows):]), dim=-1)).detach().numpy())
                labels[f"{setting.name}: head"][seed][held] = decide_categories(own, bench.poles, n_codes)
                refit = bench.head_weights("shipped", rows, features=embedded[:len(rows)])
                labels[f"{setting.name}: refit"][seed][held] = decide_categories(
                    category_probabilities(embedded[len(rows):], *refit), bench.poles, n_codes)
                seconds.append(time.perf_counter() - started)
                print(f"team_finetune: seed {seed}, held-out case {case}, {setting.name}: {seconds[-1]:.0f} s",
                      file=sys.stderr)
    out: dict[str, Any] = {
        "what": "leave one case out on the study quotes: the shipped head, and the shipped encoder + head "
                "fine-tuned end to end on the training cases' quotes + replay",
        "share": share, "seeds": seeds, "n_quotes": data.n_team, "n_replay_per_seed": len(bench.replay[seeds[0]]),
        "settings": [asdict(s) for s in settings],
        "seconds_per_fold_and_setting": {"median": round(float(np.median(seconds)), 1),
                                         "max": round(float(np.max(seconds)), 1)},
        "loco": {}, "paired_minus_shipped": {}}
    for variant in variants:
        per_seed = np.array([mean_alpha(reference, labels[variant][seed], codebook) for seed in seeds])
        out["loco"][variant] = summary(per_seed, codebook)
        print(f"team_finetune: {variant}: {means_line(out['loco'][variant])}", file=sys.stderr)
        if variant != "shipped":
            out["paired_minus_shipped"][variant] = summarise_seeds([
                paired_difference(reference, labels[variant][seed], labels["shipped"][seed], codebook,
                                  n_boot=params.crossval.n_boot, confidence=params.crossval.confidence, seed=seed)
                for seed in seeds])
    return out


def main(argv: Sequence[str] | None = None) -> None:
    main_on_prepared(__doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    main()
