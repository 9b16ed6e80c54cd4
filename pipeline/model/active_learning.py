"""Simulated coding rounds: a model in the loop, an oracle that codes what it is asked, a strategy that asks.

Each round the strategy picks a batch of the pool (`random`, or `next`: the ranking of `capcode next`,
`pipeline.model.selection`), the oracle's labels for it are added, and the model is refitted the way `capcode
adapt` refits it, on embeddings computed once: `CategoryLearner` fits the `axis_categories` head (per axis a
4-way logistic regression, `pipeline.model.category_head`; the default of `adapt`), `PolesLearner` the
`poles` head (`pipeline.model.adaptation.adapt_head`: six scores with the team's decision rule). After every
round the held-out fragments are coded, so a curve of agreement against fragments coded comes out (the caller
scores it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from pipeline.core.codebook import Codebook
from pipeline.model.adaptation import HeadSettings, TeamFragments, adapt_head, head_probabilities
from pipeline.model.category_head import category_probabilities, fit_team_and_replay
from pipeline.model.decision import apply_decision, axis_pole_indices, decide_categories, threshold_rule
from pipeline.model.selection import AxisDoubt, boundary_distances, category_distances, select_batch

Strategy = Literal["random", "next"]
STRATEGIES: tuple[Strategy, ...] = ("random", "next")


@dataclass(frozen=True)
class Task:
    """A pool the oracle codes on request (embeddings, labels with nan where an axis is not coded, and the
    interview of each fragment) and the held-out fragments agreement is measured on."""

    pool_x: np.ndarray  # [n_pool, dim]
    pool_y: np.ndarray  # [n_pool, n_codes]
    pool_documents: list[str]
    test_x: np.ndarray  # [n_test, dim]

    @property
    def n_pool(self) -> int:
        return len(self.pool_x)


class Fitted(Protocol):
    """The model in the loop after a round: codes fragments, and says how near each is to another code."""

    def labels(self, x: np.ndarray, codebook: Codebook) -> np.ndarray:
        """0/1 codes [n, n_codes] of embeddings x."""
        ...

    def doubt(self, x: np.ndarray, codebook: Codebook) -> AxisDoubt:
        """How far each row of x is from changing each axis's category (what `capcode next` ranks by)."""
        ...


class Learner(Protocol):
    """How the model in the loop learns from the fragments the oracle coded so far."""

    @property
    def codebook(self) -> Codebook:
        ...

    def fit(self, task: Task, coded: Sequence[int]) -> Fitted:
        ...


@dataclass(frozen=True)
class FittedPoles:
    weight: np.ndarray
    bias: np.ndarray
    rule: dict[str, Any]

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        return head_probabilities(x, self.weight, self.bias)

    def labels(self, x: np.ndarray, codebook: Codebook) -> np.ndarray:
        return apply_decision(self.probabilities(x), self.rule, codebook.code_ids, codebook)

    def doubt(self, x: np.ndarray, codebook: Codebook) -> AxisDoubt:
        return boundary_distances(self.probabilities(x), self.rule, codebook.code_ids, codebook)


@dataclass(frozen=True)
class PolesLearner:
    """The `poles` head: `adapt_head` from a start head (the base model's, or zeros), with replay, and the
    decision rule `decision` tuned on the coded fragments."""

    start_weight: np.ndarray  # [n_codes, dim]
    start_bias: np.ndarray
    start_thresholds: list[float]
    replay_x: np.ndarray
    replay_y: np.ndarray
    settings: HeadSettings
    decision: str
    grid: Sequence[float]
    min_evidence: float
    codebook: Codebook

    def fit(self, task: Task, coded: Sequence[int]) -> FittedPoles:
        """The model after the oracle coded `coded` (nothing coded: the start head and thresholds)."""
        code_ids = self.codebook.code_ids
        if not len(coded):
            return FittedPoles(self.start_weight, self.start_bias, threshold_rule(code_ids, self.start_thresholds))
        rows = sorted(coded)  # the same fragments give the same head whatever order they were coded in
        documents = [task.pool_documents[r] for r in rows]
        team = TeamFragments([str(r) for r in rows], [""] * len(rows), task.pool_y[rows], documents, documents)
        weight, bias, rule = adapt_head(
            task.pool_x[rows], team, self.replay_x, self.replay_y, base_weight=self.start_weight,
            base_bias=self.start_bias, settings=self.settings, code_ids=code_ids, codebook=self.codebook,
            decision=self.decision, grid=self.grid, base_thresholds=self.start_thresholds,
            min_evidence=self.min_evidence)
        return FittedPoles(weight, bias, rule)


@dataclass(frozen=True)
class FittedCategories:
    weight: np.ndarray  # [4 * n_axes, dim]
    bias: np.ndarray

    def categories(self, x: np.ndarray) -> np.ndarray:
        return category_probabilities(x, self.weight, self.bias)

    def labels(self, x: np.ndarray, codebook: Codebook) -> np.ndarray:
        poles = axis_pole_indices(codebook.code_ids, codebook)
        return decide_categories(self.categories(x), poles, len(codebook.code_ids))

    def doubt(self, x: np.ndarray, codebook: Codebook) -> AxisDoubt:
        return category_distances(self.categories(x), codebook.code_ids, codebook)


@dataclass(frozen=True)
class CategoryLearner:
    """The `axis_categories` head as `capcode adapt` fits it: per axis a 4-way logistic regression on the coded
    fragments (weighing `real_weight` each) and the replay fragments (per axis `replay_weights` [n_replay,
    n_axes], None: 1 each); nothing coded and no replay: every axis "neither" (a head with no data)."""

    replay_x: np.ndarray
    replay_y: np.ndarray
    real_weight: float
    c: float
    seed: int
    codebook: Codebook
    replay_weights: np.ndarray | None = None

    def fit(self, task: Task, coded: Sequence[int]) -> FittedCategories:
        rows = sorted(coded)
        poles = axis_pole_indices(self.codebook.code_ids, self.codebook)
        weight, bias = fit_team_and_replay(task.pool_x[rows], task.pool_y[rows], self.replay_x, self.replay_y, poles,
                                           real_weight=self.real_weight, c=self.c, seed=self.seed,
                                           replay_weights=self.replay_weights)
        return FittedCategories(weight, bias)


@dataclass(frozen=True)
class Chooser:
    """`capcode next`'s settings (params section `next`)."""

    shortlist_factor: float
    near_duplicate_cosine: float


def next_batch(task: Task, model: Fitted, coded: Sequence[int], k: int, chooser: Chooser,
               codebook: Codebook) -> list[int]:
    """The `k` pool rows `capcode next` would hand out now (rows not in `coded`)."""
    rest = np.setdiff1d(np.arange(task.n_pool), np.asarray(coded, dtype=int))
    doubt = model.doubt(task.pool_x[rest], codebook)
    batch = select_batch(task.pool_x[rest], doubt, k, coded=task.pool_x[list(coded)] if len(coded) else None,
                         shortlist_factor=chooser.shortlist_factor,
                         near_duplicate_cosine=chooser.near_duplicate_cosine, axis_ids=[a.id for a in codebook.axes])
    return [int(rest[i]) for i in batch.chosen]


def simulate_task(task: Task, learner: Learner, chooser: Chooser, *, strategy: Strategy, batch_size: int,
                  max_coded: int, seed: int, start_empty: bool) -> list[tuple[int, np.ndarray]]:
    """(fragments coded, 0/1 labels [n_test, n_codes] of the held-out fragments) after each round.

    With `start_empty` there is no model before the first batch, so the first batch is drawn at random (the
    same draw for every strategy with this seed); otherwise the curve starts at 0 with the start model.
    Rounds stop at `max_coded` fragments (0 = the whole pool); the whole pool is always the last point.
    """
    codebook = learner.codebook
    limit = task.n_pool if max_coded == 0 else min(max_coded, task.n_pool)
    draws = np.random.default_rng([seed, 1])
    coded: list[int] = []
    if start_empty:
        first = np.random.default_rng([seed, 0]).choice(task.n_pool, min(batch_size, task.n_pool), replace=False)
        coded = sorted(int(i) for i in first)
    model = learner.fit(task, coded)
    curve = [(len(coded), _labels(model, task, codebook))]
    while len(coded) < limit:
        k = min(batch_size, limit - len(coded))
        if strategy == "random":
            rest = np.setdiff1d(np.arange(task.n_pool), coded)
            picks = [int(i) for i in draws.choice(rest, k, replace=False)]
        else:
            picks = next_batch(task, model, coded, k, chooser, codebook)
        if not picks:
            break
        coded += picks
        model = learner.fit(task, coded)
        curve.append((len(coded), _labels(model, task, codebook)))
    if limit < task.n_pool:
        everything = list(range(task.n_pool))
        curve.append((task.n_pool, _labels(learner.fit(task, everything), task, codebook)))
    return curve


def _labels(model: Fitted, task: Task, codebook: Codebook) -> np.ndarray:
    return model.labels(task.test_x, codebook)
