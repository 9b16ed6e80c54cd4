"""Four more tries at the quotes under the shipped head: other pooled representations, the codebook's definitions
as anchors, a quote read sentence by sentence to find "both", and a vote of the team's nearest quotes (round 11).

The shipped head reads one vector per fragment: the mean over tokens of the last layer of the interpolated
encoder, with e5's "query: " prefix. Four things the head may miss, each tried under the head `adapt` fits
(`ShippedBench`: adapt's C, `real_weight` and `replay_weights`):

1. ``pooling``: other representations of the same forward pass: the max over tokens, the first token (<s>),
   mean and max side by side; and e5's other prefix ("passage: "), alone and averaged with the shipped vector.
2. ``anchors``: the shipped vector with its cosine similarity to each code's definition (configs/codebook.yaml,
   embedded with "passage: ", as e5 pairs a query with passages) appended, scaled to weigh about as much as the
   vector itself: a zero-shot prior the 47 quotes might not find on their own.
3. ``sentences``: on beleid/beheer most of the gap to a person is the 9 quotes the researchers code "both",
   which the head never predicts (README item 11). Here a quote whose fragment-level category is one pole
   becomes "both" on that axis when one of its sentences, embedded on its own and read by the same head, has the
   other pole as its most probable category with a probability above `tau`. `tau` is chosen on the validation
   split (synthetic + field interviews, coder A, never fitted on; head fitted on all quotes + the replay, the
   best mean alpha over the axes and collections, no rule on a tie): the honest choice. Every `tau` is shown on
   the quotes as well.
4. ``neighbours``: the head's category probabilities blended with a vote of the `k` training-case quotes most
   similar to the held-out one (cosine of the shipped vectors, each vote weighed by exp(cosine / 0.05)): the
   replay outweighs the team's 31 quotes in the head's fit, and a vote of the team's own quotes keeps the
   team's reading of its closest examples. Every (weight, k) of the grid is shown; read off the quotes, the
   best would be optimistic.

Each is scored leave one case out on the 47 quotes (seeds 1-3, crossval's replay draws; with the paired
difference to the shipped vector) and, for 1 and 2, on the synthetic and field test splits (head fitted on all
quotes + replay). Nothing here was kept: see README item 24.

Run: ``python -m pipeline.tools.representation_experiment -o reports/experiments/representation.json`` (about
8 minutes on 2 cores).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.tools import load_quotes_setup, main_on_prepared

SHIPPED = "mean over tokens, query prefix (shipped)"
NEIGHBOUR_GRID = ((0.25, 5), (0.5, 5), (0.25, 10), (0.5, 10))  # (weight of the vote, k)
NEIGHBOUR_TEMPERATURE = 0.05
TAUS: tuple[float | None, ...] = (None, 0.0, 0.4, 0.5, 0.6, 0.7, 0.8)  # None: no sentence rule (shipped)
# a sentence ends at . ? or ! before a capital or an opening bracket or quote, or at an omission mark: "(..)",
# "(...)", "[...]"; pieces of fewer than 3 words stay with no sentence of their own
SENTENCE_BREAK = re.compile(r"(?<=[.?!])\s+(?=[A-Z\[(“\"'])|\s*\(\.\.\.?\)\s*|\s*\[\.\.\.\]\s*")


def sentences(text: str) -> list[str]:
    """The sentences of a fragment (`SENTENCE_BREAK`), each of at least 3 words; the whole text where none is."""
    parts = [part.strip() for part in SENTENCE_BREAK.split(text) if part and len(part.strip().split()) >= 3]
    return parts or [text]


def pooled(model: Any, tokenizer: Any, texts: Sequence[str], *, prefix: str, max_length: int,
           batch_size: int = 32) -> dict[str, np.ndarray]:
    """Per pooling ("mean", "max", "first"), [n, hidden] of the encoder's last layer over each text's tokens
    (fp32, the first `max_length` tokens: no fragment here is longer)."""
    import torch

    from pipeline.model.classifier import mean_pool, model_input_text

    order = np.argsort([len(t) for t in texts])
    out = {kind: np.zeros((len(texts), model.head.in_features), dtype=np.float32) for kind in ("mean", "max", "first")}
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            chosen = order[start:start + batch_size]
            batch = tokenizer([model_input_text(texts[i], prefix) for i in chosen], truncation=True,
                              max_length=max_length, padding=True, return_tensors="pt")
            states = model.encoder(input_ids=batch["input_ids"],
                                   attention_mask=batch["attention_mask"]).last_hidden_state.float()
            out["mean"][chosen] = mean_pool(states, batch["attention_mask"]).numpy()
            mask = batch["attention_mask"].unsqueeze(-1)
            out["max"][chosen] = states.masked_fill(mask == 0, -1e4).max(1).values.numpy()
            out["first"][chosen] = states[:, 0].numpy()
    return out


def with_anchors(vectors: np.ndarray, definitions: np.ndarray) -> np.ndarray:
    """`vectors` made unit length, with their cosine similarity to each definition appended, scaled so that the
    similarities together weigh about as much as the unit vector (the head makes every row unit length again)."""
    from pipeline.model.category_head import unit_rows

    similarities = unit_rows(vectors) @ unit_rows(definitions).T
    return np.hstack([unit_rows(vectors), similarities / np.sqrt(definitions.shape[0])])


def representations(query: dict[str, np.ndarray], passage: dict[str, np.ndarray],
                    definitions: np.ndarray) -> dict[str, np.ndarray]:
    """The feature sets compared, by name, from the pooled vectors of the same texts with either prefix."""
    return {
        SHIPPED: query["mean"],
        "max over tokens": query["max"],
        "first token (<s>)": query["first"],
        "mean and max side by side": np.hstack([query["mean"], query["max"]]),
        "mean, passage prefix": passage["mean"],
        "mean of the query and passage vectors": (query["mean"] + passage["mean"]) / 2,
        "shipped + similarity to the six definitions": with_anchors(query["mean"], definitions),
    }


def sentence_rule(fragment: np.ndarray, sentence: np.ndarray, owner: np.ndarray, poles: Sequence[tuple[int, int]],
                  n_codes: int, tau: float | None) -> np.ndarray:
    """0/1 labels [n, n_codes] of fragments with category probabilities `fragment` [n, 4 * axes]: the most probable
    category, except that a fragment whose category is one pole gets "both" where a sentence of it (rows of
    `sentence` whose `owner` is the fragment) has the other pole as its most probable category with a probability
    above `tau` (None: no sentence rule)."""
    from pipeline.model.decision import N_CATEGORIES, decide_categories

    labels = decide_categories(fragment, poles, n_codes)
    if tau is None:
        return labels
    whole = fragment.reshape(len(fragment), -1, N_CATEGORIES)
    parts = sentence.reshape(len(sentence), -1, N_CATEGORIES)
    for a, (i, j) in enumerate(poles):
        for k in range(len(fragment)):
            winner = int(whole[k, a].argmax())
            if winner not in (0, 1):  # already both, or neither
                continue
            other = 1 - winner
            mine = parts[owner == k, a]
            if any(int(p.argmax()) == other and p[other] > tau for p in mine):
                labels[k, i] = labels[k, j] = 1
    return labels


def neighbour_vote(train_x: np.ndarray, train_categories: np.ndarray, test_x: np.ndarray, *, k: int,
                   temperature: float = NEIGHBOUR_TEMPERATURE) -> np.ndarray:
    """[n_test, 4 * axes]: per test row, the one-hot categories `train_categories` [n_train, 4 * axes] of its `k`
    most cosine-similar training rows, each weighed by exp(cosine / temperature), normalised to sum 1 per axis
    (a training row with an uncoded axis, all zeros there, adds no vote on it)."""
    from pipeline.model.category_head import unit_rows
    from pipeline.model.decision import N_CATEGORIES

    similarity = unit_rows(np.asarray(test_x, dtype=np.float64)) @ unit_rows(np.asarray(train_x, dtype=np.float64)).T
    out = np.zeros((len(test_x), train_categories.shape[1]))
    for row in range(len(test_x)):
        nearest = np.argsort(-similarity[row])[:k]
        weights = np.exp((similarity[row, nearest] - similarity[row, nearest].max()) / temperature)
        out[row] = weights @ train_categories[nearest]
    blocks = out.reshape(len(out), -1, N_CATEGORIES)
    totals = blocks.sum(axis=2, keepdims=True)
    return np.divide(blocks, totals, out=np.full_like(blocks, 1.0 / N_CATEGORIES), where=totals > 0).reshape(out.shape)


def category_one_hot(y: np.ndarray, poles: Sequence[tuple[int, int]]) -> np.ndarray:
    """[n, 4 * axes] one-hot category per axis of the 0/1 coding `y` [n, codes] (zeros where an axis is uncoded)."""
    from pipeline.model.decision import N_CATEGORIES, axis_category

    out = np.zeros((len(y), N_CATEGORIES * len(poles)))
    for a, (i, j) in enumerate(poles):
        category = axis_category(y[:, i], y[:, j])
        coded = ~np.isnan(category)
        out[np.flatnonzero(coded), N_CATEGORIES * a + category[coded].astype(int)] = 1.0
    return out


def loco_with_rule(bench: Any, decide: Callable[[np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray]], np.ndarray]
                   ) -> dict[str, float]:
    """Leave one case out on the quotes, seeds as `bench` draws them: per held-out case, `decide(held, train,
    head)` gives the 0/1 labels of the `held` rows from the shipped head fitted on the `train` rows + the seed's
    replay; the mean alpha over seeds per axis."""
    from pipeline.tools.encoder_interpolation_experiment import mean_alpha

    reference = bench.data.team.labels
    per_seed = []
    for seed in bench.settings.seeds:
        labels = np.zeros(reference.shape, dtype=int)
        for case in bench.cases:
            held, train = np.flatnonzero(bench.groups == case), np.flatnonzero(bench.groups != case)
            labels[held] = decide(held, train, bench.fitted(SHIPPED, np.concatenate([train, bench.replay[seed]])))
        per_seed.append(mean_alpha(reference, labels, bench.codebook))
    return {axis.id: round(float(np.mean([s[a] for s in per_seed])), 4) for a, axis in enumerate(bench.codebook.axes)}


def run(prepared: Path) -> dict[str, Any]:
    from pipeline.core.config import REPO_ROOT
    from pipeline.model.adaptation import adaptation_embedder, finetuned_share
    from pipeline.model.backbone import resolve_backbone
    from pipeline.tools.category_head_checks import held_out_texts
    from pipeline.tools.encoder_interpolation_experiment import ShippedBench, held_out_line, mean_alpha, means_line

    setup = load_quotes_setup(prepared)
    params, codebook, metadata, data = setup.params, setup.codebook, setup.metadata, setup.data
    model, tokenizer = adaptation_embedder(resolve_backbone(metadata.backbone["spec"], cache_dir=REPO_ROOT / "models"),
                                           setup.model_dir, finetuned_share(params.adapt), len(codebook.code_ids))
    max_length = metadata.max_length

    def both_prefixes(texts: Sequence[str]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        return (pooled(model, tokenizer, texts, prefix=metadata.text_prefix, max_length=max_length),
                pooled(model, tokenizer, texts, prefix="passage: ", max_length=max_length))

    print("representation: pooling the replay, the quotes, the definitions and the test splits", file=sys.stderr)
    definitions = pooled(model, tokenizer, [code.definition for code in codebook.codes], prefix="passage: ",
                         max_length=max_length)["mean"]
    features = representations(*both_prefixes(data.texts), definitions)
    if not np.allclose(features[SHIPPED], data.adapted, atol=1e-4):
        raise RuntimeError("the shipped vector differs from crossval's embeddings: the comparison would be unfair")
    test = held_out_texts(prepared, "test", params.adapt.replay_coder, codebook)
    test_features = {name: representations(*both_prefixes(texts), definitions) for name, (texts, _) in test.items()}
    test_y = {name: y for name, (_, y) in test.items()}
    bench = ShippedBench(data, features, params, codebook)
    out: dict[str, Any] = {"what": __doc__.splitlines()[0], "seeds": list(params.crossval.seeds),
                           "n_quotes": data.n_team, "representations": {}}
    for name in features:
        loco = bench.loco(name)
        held_out = bench.held_out(name, {split: f[name] for split, f in test_features.items()}, test_y)
        out["representations"][name] = {"loco": loco, "held_out": held_out, "loco_minus_shipped":
                                        None if name == SHIPPED else bench.loco_minus(name, SHIPPED)}
        print(f"representation: {name}: loco {means_line(loco)}; {held_out_line(held_out)}", file=sys.stderr)

    # 3. sentence by sentence, on the shipped vector
    poles, n_codes = bench.poles, len(codebook.code_ids)
    team_sentences = [sentences(t) for t in data.texts[:data.n_team]]
    owner = np.repeat(np.arange(data.n_team), [len(s) for s in team_sentences])
    sentence_x = pooled(model, tokenizer, [s for parts in team_sentences for s in parts],
                        prefix=metadata.text_prefix, max_length=max_length)["mean"]
    validation = {}
    for name, (texts, y) in held_out_texts(prepared, "validation", params.adapt.replay_coder, codebook).items():
        parts = [sentences(t) for t in texts]
        validation[name] = (pooled(model, tokenizer, texts, prefix=metadata.text_prefix, max_length=max_length)["mean"],
                            pooled(model, tokenizer, [s for p in parts for s in p], prefix=metadata.text_prefix,
                                   max_length=max_length)["mean"],
                            np.repeat(np.arange(len(texts)), [len(p) for p in parts]), y)
    every_row = np.arange(len(data.texts))
    head = bench.fitted(SHIPPED, every_row)
    on_validation = {}
    for tau in TAUS:
        on_validation[str(tau)] = {name: mean_alpha(y, sentence_rule(head(x), head(sx), own, poles, n_codes, tau),
                                                    codebook).round(4).tolist()
                                   for name, (x, sx, own, y) in validation.items()}
    chosen = max(TAUS, key=lambda t: (float(np.nanmean(list(on_validation[str(t)].values()))), t is None))
    on_quotes = {}
    for tau in TAUS:
        def by_sentence(held: np.ndarray, train: np.ndarray, fitted: Callable[[np.ndarray], np.ndarray],
                        tau: float | None = tau) -> np.ndarray:
            mine = np.isin(owner, held)
            return sentence_rule(fitted(features[SHIPPED][held]), fitted(sentence_x[mine]),
                                 np.searchsorted(held, owner[mine]), poles, n_codes, tau)
        on_quotes[str(tau)] = loco_with_rule(bench, by_sentence)
        print(f"representation: sentences, tau {tau}: loco {on_quotes[str(tau)]}", file=sys.stderr)
    out["sentences"] = {"sentences_per_quote": np.bincount([len(s) for s in team_sentences]).tolist(),
                        "validation": on_validation, "tau_chosen_on_validation": chosen, "loco": on_quotes}

    # 4. the head blended with a vote of the training cases' nearest quotes
    from pipeline.model.decision import decide_categories

    shipped, one_hot = features[SHIPPED], category_one_hot(data.y, poles)
    out["neighbours"] = {}
    for weight, k in NEIGHBOUR_GRID:
        def blended(held: np.ndarray, train: np.ndarray, fitted: Callable[[np.ndarray], np.ndarray],
                    weight: float = weight, k: int = k) -> np.ndarray:
            vote = neighbour_vote(shipped[train], one_hot[train], shipped[held], k=k)
            return decide_categories((1 - weight) * fitted(shipped[held]) + weight * vote, poles, n_codes)
        key = f"vote weight {weight:g}, k {k}"
        out["neighbours"][key] = loco_with_rule(bench, blended)
        print(f"representation: neighbours, {key}: loco {out['neighbours'][key]}", file=sys.stderr)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    main_on_prepared(__doc__.splitlines()[0], run, argv)


if __name__ == "__main__":
    main()
