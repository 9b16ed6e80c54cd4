"""`capcode simulate` / DVC stage `simulate`: does coding what `capcode next` proposes teach the model faster?

For each corpus of the params section `simulate` (prepared fragments of one collection) and each seed, two
strategies code the pool batch by batch: `random` draws the batch, `next` takes what `capcode next` would hand
out (`pipeline.model.selection`: uncertainty under the model's decision rule, balance over the axes, k-center
diversity on the encoder's embeddings). An oracle answers with the collection's own coding; after each batch
the model in the loop is refitted as `capcode adapt` refits it with the head `adapt.head` names
(`pipeline.model.active_learning`; the default `axis_categories` head on the embeddings of the encoder adapt
builds from the backbone (`adapt.encoder`), the `poles` head on the base model's fine-tuned encoder), on embeddings computed once, and codes the held-out
fragments. Agreement is Krippendorff's alpha per
axis (four nominal categories), as in the crossval stage.

Designs: `split` (the pool is the interviews of some splits, agreement is measured on those of others) and
`leave_one_out` (each case held out in turn, the others are the pool; the held-out predictions of all cases
pooled at each round).

The figure the issue asks for: how many fragments `next` needs to reach the agreement random selection
reaches with the whole pool, and so how many it saves (per axis and corpus, mean and range over seeds).

Outputs (`output_dir`): `metrics.json` (the dvc metrics file: per corpus and axis the mean fragments saved,
needed by each strategy, and the whole-pool agreement), `simulation.json` (everything: curves per seed,
ranges) and `curve_<corpus>_<axis>.csv` (mean and range over seeds per strategy, the `dvc plots` data).
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.documents import PreparedFragment, read_prepared
from pipeline.core.errors import InputError
from pipeline.core.io_utils import atomic_directory, check_output_folder, read_jsonl
from pipeline.core.params import AdaptParams, SimulationCorpus, load_params
from pipeline.core.progress import progress
from pipeline.crossval import axis_alpha
from pipeline.model.active_learning import (
    STRATEGIES,
    CategoryLearner,
    Chooser,
    Learner,
    PolesLearner,
    Task,
    simulate_task,
)
from pipeline.model.adaptation import (
    TeamFragments,
    adaptation_embedder,
    builds_encoder,
    check_head_fits_model,
    check_replay_weights,
    embed,
    finetuned_share,
    head_settings,
    load_replay,
    pretrained_encoder_dir,
    team_fragments,
)
from pipeline.model.category_head import replay_axis_weights
from pipeline.model.classifier import AXIS_CATEGORIES, check_model_directory, load_model
from pipeline.model.training_data import labelled_split

STRATEGY_TEXT = {
    "random": "each batch drawn at random from the uncoded pool",
    "next": "each batch as `capcode next` ranks the uncoded pool under the current model (uncertainty per axis, "
            "balance over the axes, k-center diversity on the encoder embeddings)",
}


class EmbeddingCache:
    """Encoder embeddings by fragment id, each fragment encoded once.

    `pretrained_dir` None: the base model's fine-tuned encoder (the `poles` head's), whose stored replay
    embeddings are reused where they are the same fragments (its own train split); else the encoder `adapt`
    builds from the backbone in that directory, `share` of the way to the model's fine-tuned weights (the
    `axis_categories` head's, as `adapt.encoder: pretrained` or `interpolated` embeds)."""

    def __init__(self, model_dir: Path, fragments: Sequence[PreparedFragment], codebook: Codebook,
                 pretrained_dir: Path | None = None, share: float = 0.0) -> None:
        self.vectors: dict[str, np.ndarray] = {}
        if pretrained_dir is not None:
            self.metadata = check_model_directory(model_dir, codebook)
            self.model, self.tokenizer = adaptation_embedder(pretrained_dir, model_dir, share,
                                                             len(codebook.code_ids))
            return
        self.model, self.tokenizer, self.metadata = load_model(model_dir, codebook)
        stored = load_replay(model_dir)
        train = labelled_split(fragments, split="train", coder=self.metadata.label_coder,
                               code_ids=codebook.code_ids, source=model_dir)
        if stored is not None and len(stored[0]) == len(train) and np.array_equal(stored[1], np.array(train.labels)):
            self.vectors = dict(zip(train.ids, stored[0]))

    def __call__(self, ids: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        missing = [k for k, i in enumerate(ids) if i not in self.vectors]
        if missing:
            print(f"simulate: encoding {len(missing)} fragments ({len(ids) - len(missing)} encoded before)",
                  file=sys.stderr)
            new = embed(self.model, self.tokenizer, [texts[k] for k in missing],
                        text_prefix=self.metadata.text_prefix, max_length=self.metadata.max_length)
            self.vectors.update({ids[k]: vector for k, vector in zip(missing, new)})
        return np.array([self.vectors[i] for i in ids]).reshape(len(ids), -1)


def replay_for(cache: EmbeddingCache, model_dir: Path, fragments: Sequence[PreparedFragment], params: AdaptParams,
               codebook: Codebook) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    """The replay fragments the model in the loop keeps (embeddings, labels, collections): for the
    `axis_categories` head the train split of the prepared fragments as coded by `adapt.replay_coder`, encoded
    by the encoder adapt builds (what `capcode adapt --replay` replays); for the `poles` head the base model's
    stored replay embeddings."""
    if params.head != AXIS_CATEGORIES:
        return load_replay(model_dir)
    train = labelled_split(fragments, split="train", coder=params.replay_coder, code_ids=codebook.code_ids,
                           source=model_dir)
    if not len(train):
        return None
    return cache(train.ids, train.texts), np.array(train.labels, dtype=float), train.collections


def oracle_fragments(fragments: Sequence[PreparedFragment], documents: dict[str, dict[str, Any]],
                     corpus: SimulationCorpus, codebook: Codebook, source: Path) -> tuple[TeamFragments, list[str]]:
    """The collection's fragments coded by the oracle (per axis its first coder), with their splits."""
    chosen = [f for f in fragments if f.collection == corpus.collection]
    if not chosen:
        found = sorted({f.collection for f in fragments})
        raise InputError(source, f"no fragments of collection '{corpus.collection}' (simulate.corpora); found "
                         f"{', '.join(found)}")
    records = []
    for fragment in chosen:
        record = fragment.to_dict()
        if corpus.design == "leave_one_out":
            value = documents.get(fragment.document, {}).get(corpus.group_by)
            if value is None:
                raise InputError(source, f"document '{fragment.document}' has no metadata field '{corpus.group_by}' "
                                 "(simulate.corpora.*.group_by) in documents.jsonl")
            record["group"] = str(value)
        records.append(record)
    team = team_fragments(records, coders=corpus.coders, codebook=codebook, group_by="group")
    if not len(team):
        raise InputError(source, f"no fragments of '{corpus.collection}' coded by {', '.join(corpus.coders)}")
    split_of = {f.id: f.split for f in chosen}
    return team, [split_of[i] for i in team.ids]


def tasks_of(team: TeamFragments, splits: list[str], x: np.ndarray, corpus: SimulationCorpus,
             source: Path) -> list[tuple[Task, np.ndarray]]:
    """(task, the team rows it is scored on) per held-out unit of the design."""
    if corpus.design == "split":
        held = [np.flatnonzero([s in names for s in splits]) for names in (corpus.pool_splits, corpus.test_splits)]
        parts = [(held[0], held[1])]
    else:
        groups = np.array(team.groups)
        if len(set(team.groups)) < 2:
            raise InputError(source, f"leave-one-out over '{corpus.group_by}' needs two groups or more in "
                             f"'{corpus.collection}', found {len(set(team.groups))}")
        parts = [(np.flatnonzero(groups != g), np.flatnonzero(groups == g)) for g in sorted(set(team.groups))]
    tasks = []
    for pool, test in parts:
        if not len(pool) or not len(test):
            raise InputError(source, f"'{corpus.collection}': an empty pool or held-out set (pool splits "
                             f"{corpus.pool_splits}, test splits {corpus.test_splits})")
        tasks.append((Task(x[pool], team.labels[pool], [team.documents[i] for i in pool], x[test]), test))
    return tasks


def learner_for(corpus: SimulationCorpus, cache: EmbeddingCache,
                replay: tuple[np.ndarray, np.ndarray, list[str]] | None, params: AdaptParams, seed: int,
                codebook: Codebook) -> Learner:
    """The model in the loop, with the head `adapt.head` names: from the base model's head (the `poles`
    head) with a seeded replay sample (`base`; the `axis_categories` head weighs it by `adapt.replay_weights`,
    as adapt does), or from zero without replay (`empty`)."""
    n_codes = len(codebook.code_ids)
    dim = cache.model.head.in_features
    if corpus.start == "empty" or replay is None:
        collections: list[str] = []
        replay_x, replay_y = np.zeros((0, dim), dtype=np.float32), np.zeros((0, n_codes))
    else:
        replay_x, replay_y, collections = replay
        if len(replay_x) > params.max_replay:
            chosen = np.sort(np.random.default_rng([seed, 2]).choice(len(replay_x), params.max_replay, replace=False))
            replay_x, replay_y, collections = replay_x[chosen], replay_y[chosen], [collections[i] for i in chosen]
    if params.head == AXIS_CATEGORIES:
        weights = replay_axis_weights(collections, params.replay_weights, [axis.id for axis in codebook.axes])
        return CategoryLearner(replay_x, np.asarray(replay_y, dtype=float), params.real_weight, params.category_c,
                               seed, codebook, weights)
    settings = head_settings(AdaptParams(**{**asdict(params), "seed": seed}))
    if corpus.start == "empty":
        weight, bias, thresholds = np.zeros((n_codes, dim)), np.zeros(n_codes), [0.5] * n_codes
    else:
        weight = cache.model.head.weight.detach().numpy().copy()
        bias = cache.model.head.bias.detach().numpy().copy()
        thresholds = [float(cache.metadata.thresholds[c]) for c in codebook.code_ids]
    return PolesLearner(weight, bias, thresholds, replay_x, np.asarray(replay_y, dtype=float), settings,
                        params.decision, params.threshold_grid, params.min_evidence, codebook)


def run_curve(tasks: list[tuple[Task, np.ndarray]], reference: np.ndarray, learner: Learner, chooser: Chooser,
              corpus: SimulationCorpus, *, strategy: str, seed: int, codebook: Codebook) -> list[dict[str, Any]]:
    """[{n_coded, alpha: {axis: value}}] for one strategy and seed; the held-out units pooled per round."""
    per_task = [simulate_task(task, learner, chooser, strategy=strategy, batch_size=corpus.batch_size,  # type: ignore[arg-type]
                              max_coded=corpus.max_coded, seed=seed, start_empty=corpus.start == "empty")
                for task, _ in tasks]
    rounds = max(len(c) for c in per_task)
    curve = []
    for r in range(rounds):
        labels = np.zeros(reference.shape, dtype=int)
        coded = []
        for (_, test), points in zip(tasks, per_task):
            n_coded, predicted = points[min(r, len(points) - 1)]  # a smaller pool is done: its whole-pool point
            labels[test] = predicted
            coded.append(n_coded)
        alphas = axis_alpha(reference, labels, codebook, n_boot=0, confidence=0.95, seed=seed)
        curve.append({"n_coded": float(np.mean(coded)), "alpha": {a: s["alpha"] for a, s in alphas.items()}})
    return curve


def needed(curve: list[dict[str, Any]], axis: str, target: float, batch_size: int) -> float | None:
    """Fragments coded at the first point reaching `target`; None when the first is the whole-pool point after
    a gap (the rounds stopped at max_coded before reaching it)."""
    for k, point in enumerate(curve):
        value = point["alpha"][axis]
        if value is not None and value >= target - 1e-9:
            if k == len(curve) - 1 and k > 0 and point["n_coded"] - curve[k - 1]["n_coded"] > batch_size:
                return None
            return point["n_coded"]
    return None


def _spread(values: Sequence[float | None]) -> dict[str, Any]:
    known = [v for v in values if v is not None]
    if not known:
        return {"mean": None, "min": None, "max": None}
    return {"mean": round(float(np.mean(known)), 4), "min": round(float(np.min(known)), 4),
            "max": round(float(np.max(known)), 4)}


def summarise(curves: dict[str, list[list[dict[str, Any]]]], codebook: Codebook, batch_size: int) -> dict[str, Any]:
    """Savings per axis (over seeds) and the mean curves; `curves[strategy][seed index]`."""
    axes: dict[str, Any] = {}
    n_all = curves["random"][0][-1]["n_coded"]
    for axis in (a.id for a in codebook.axes):
        targets: list[float | None] = []
        next_needs: list[float | None] = []
        random_needs: list[float | None] = []
        saved: list[float | None] = []
        ahead: list[float | None] = []
        for random_curve, next_curve in zip(curves["random"], curves["next"]):
            target = random_curve[-1]["alpha"][axis]
            targets.append(target)
            n_next = None if target is None else needed(next_curve, axis, target, batch_size)
            n_random = None if target is None else needed(random_curve, axis, target, batch_size)
            next_needs.append(n_next)
            random_needs.append(n_random)
            saved.append(None if n_next is None else n_all - n_next)
            ahead.append(None if n_next is None or n_random is None else n_random - n_next)
        axes[axis] = {
            "alpha_whole_pool": _spread(targets),
            "next_needs": _spread(next_needs),
            "random_needs": _spread(random_needs),
            "saved": _spread(saved),
            "saved_against_random_first_reach": _spread(ahead),
            "reached_within_rounds": f"{sum(v is not None for v in next_needs)} of {len(next_needs)} seeds",
            "random_reached_within_rounds": f"{sum(v is not None for v in random_needs)} of {len(random_needs)} seeds",
            "next_needs_per_seed": [None if v is None else round(v, 2) for v in next_needs],
            "random_needs_per_seed": [None if v is None else round(v, 2) for v in random_needs],
            "saved_per_seed": [None if v is None else round(v, 2) for v in saved],
        }
    curve = []
    for k, point in enumerate(curves["random"][0]):
        row: dict[str, Any] = {"n_coded": round(point["n_coded"], 2)}
        for strategy in STRATEGIES:
            row[strategy] = {axis.id: _spread([c[k]["alpha"][axis.id] for c in curves[strategy]])
                             for axis in codebook.axes}
        curve.append(row)
    per_seed = {strategy: [[{"n_coded": round(point["n_coded"], 2),
                             "alpha": {a: None if v is None else round(v, 4) for a, v in point["alpha"].items()}}
                            for point in seed_curve] for seed_curve in curves[strategy]] for strategy in STRATEGIES}
    return {"n_whole_pool": round(n_all, 2), "axes": axes, "curve": curve, "curves_per_seed": per_seed}


def simulate(*, prepared: Path, model_dir: Path, output_dir: Path, params_path: Path | None = None,
             codebook_path: Path | None = None, backbone: str | None = None) -> dict[str, Any]:
    """Run the simulations of the params section `simulate` and write `output_dir` (module docstring)."""
    started = time.perf_counter()
    all_params = load_params(params_path)
    settings, adapt_params, choose = all_params.simulate, all_params.adapt, all_params.next
    codebook = load_codebook(codebook_path)
    check_output_folder(output_dir.parent)
    metadata = check_model_directory(model_dir, codebook)
    check_head_fits_model(adapt_params, metadata, model_dir)
    check_replay_weights(adapt_params, codebook, params_source=all_params.source)
    fragments = read_prepared(prepared)
    documents_path = prepared.parent / "documents.jsonl"
    documents = {str(d.get("id")): dict(d.get("metadata") or {}) for d in read_jsonl(documents_path)} \
        if documents_path.is_file() else {}
    teams = {name: oracle_fragments(fragments, documents, corpus, codebook, prepared)
             for name, corpus in settings.corpora.items()}
    pretrained_dir = pretrained_encoder_dir(metadata, backbone) if builds_encoder(adapt_params, metadata) else None
    cache = EmbeddingCache(model_dir, fragments, codebook, pretrained_dir, finetuned_share(adapt_params))
    replay = replay_for(cache, model_dir, fragments, adapt_params, codebook)
    chooser = Chooser(choose.shortlist_factor, choose.near_duplicate_cosine)
    output: dict[str, Any] = {"model": cache.metadata.identity, "seeds": list(settings.seeds),
                              "head": adapt_params.head,
                              "encoder": adapt_params.encoder if pretrained_dir is not None else "model",
                              "finetuned_share": finetuned_share(adapt_params) if pretrained_dir is not None else None,
                              "strategies": STRATEGY_TEXT, "corpora": {}}
    for name, corpus in settings.corpora.items():
        team, splits = teams[name]
        x = cache(team.ids, team.texts)
        tasks = tasks_of(team, splits, x, corpus, prepared)
        tested = np.concatenate([test for _, test in tasks])
        reference = np.full(team.labels.shape, np.nan)
        reference[tested] = team.labels[tested]
        jobs = [(seed, strategy) for seed in settings.seeds for strategy in STRATEGIES]
        curves: dict[str, list[list[dict[str, Any]]]] = {s: [] for s in STRATEGIES}
        for seed, strategy in progress(jobs, desc=f"simulate {name}", unit="run"):
            learner = learner_for(corpus, cache, replay, adapt_params, seed, codebook)
            curves[strategy].append(run_curve(tasks, reference, learner, chooser,
                                              corpus, strategy=strategy, seed=seed, codebook=codebook))
        summary = summarise(curves, codebook, corpus.batch_size)
        output["corpora"][name] = {
            "collection": corpus.collection, "design": corpus.design, "oracle": list(corpus.coders),
            "start": corpus.start, "batch_size": corpus.batch_size, "max_coded": corpus.max_coded,
            "held_out": corpus.test_splits if corpus.design == "split" else f"each {corpus.group_by} in turn",
            "n_fragments": len(team), "n_tasks": len(tasks), "n_test": int(len(tested)),
            **summary,
        }
        for axis, figures in summary["axes"].items():
            saved = figures["saved"]
            print(f"simulate: {name} {axis}: random's whole-pool alpha {_show(figures['alpha_whole_pool']['mean'])} "
                  f"of {summary['n_whole_pool']:.0f} fragments: next reaches it after "
                  f"{_show(figures['next_needs']['mean'], 0)} ({figures['reached_within_rounds']}), random after "
                  f"{_show(figures['random_needs']['mean'], 0)} ({figures['random_reached_within_rounds']}); next saves "
                  f"{_show(saved['mean'], 0)} (range {_show(saved['min'], 0)} to {_show(saved['max'], 0)})",
                  file=sys.stderr)
    output["params"] = {"simulate": asdict(settings), "next": asdict(choose), "adapt": asdict(adapt_params)}
    output["seconds"] = round(time.perf_counter() - started, 1)
    write_outputs(output_dir, output, codebook)
    return output


def _show(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


CURVE_COLUMNS = ("n_coded", "random", "next", "random_min", "random_max", "next_min", "next_max")


HEADLINE = ("saved", "next_needs", "random_needs", "alpha_whole_pool")


def headline_metrics(output: dict[str, Any]) -> dict[str, Any]:
    """The few figures `dvc metrics show` lists: per corpus and axis, the mean over seeds of the fragments
    saved by `next`, what each strategy needs, and the whole-pool agreement (the curves stay in simulation.json)."""
    return {name: {axis: {key: figures[key]["mean"] for key in HEADLINE}
                   for axis, figures in corpus["axes"].items()}
            for name, corpus in output["corpora"].items()}


def write_outputs(output_dir: Path, output: dict[str, Any], codebook: Codebook) -> None:
    with atomic_directory(output_dir) as staging:
        (staging / "simulation.json").write_text(json.dumps(output, indent=2, ensure_ascii=False) + "\n",
                                                 encoding="utf-8")
        (staging / "metrics.json").write_text(json.dumps(headline_metrics(output), indent=2) + "\n",
                                              encoding="utf-8")
        for name, corpus in output["corpora"].items():
            for axis in codebook.axes:  # one file per corpus and axis: one `dvc plots` plot each
                with (staging / f"curve_{name}_{axis.id}.csv").open("w", newline="", encoding="utf-8") as handle:
                    writer = csv.writer(handle)
                    writer.writerow(CURVE_COLUMNS)
                    for row in corpus["curve"]:
                        r, n = row["random"][axis.id], row["next"][axis.id]
                        writer.writerow([row["n_coded"], r["mean"], n["mean"], r["min"], r["max"], n["min"], n["max"]])
