"""What to code next: rank uncoded fragments (or interviews) by how much a human decision would teach the model.

Three ingredients, in this order:

- **Uncertainty, per axis.** How far the model's scores are from changing that axis's category (only pole 1,
  only pole 2, both, neither) under the model's own stored decision rule (`pipeline.model.decision`): the
  smallest move of one or two scores, in probability units, that crosses a threshold, swaps the poles where
  the rule keeps one pole only or forces one, or crosses the rule's evidence floor. A fragment on a boundary
  has distance 0; `uncertainty` maps the distance onto 1 (on a boundary) .. 0 (0.5 or more away).
- **Balance over the axes.** A shortlist of `shortlist_factor` x K candidates is filled round-robin from each
  axis's own most uncertain fragments, and the picks take turns between the axes (the axis with the fewest
  picks so far chooses next among the candidates it brought), so a batch is not all about the one axis the
  model doubts most.
- **Diversity.** Each pick is chosen by greedy k-center (Sener & Savarese 2018, the core-set approach): the
  candidate farthest (on the L2-normalised encoder embeddings) from everything already coded or picked, so
  one batch teaches about different kinds of speech. Near-duplicates (cosine similarity at or above
  `near_duplicate_cosine` to a coded or shortlisted fragment) never enter the shortlist. With nothing coded
  yet, the most uncertain candidate opens the batch.

The k-center step is `small_text.query_strategies.coresets.greedy_coreset` (small-text, MIT), called once per
pick: with the candidates first and the centers after them in one matrix, because it returns positions
within the unlabelled rows and reads them back as rows of that matrix (the same thing only when those come
first), and with the euclidean metric on normalised vectors (the same order as cosine distance; its cosine
branch takes arccos of similarities that rounding puts just above 1, which gives nan).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.core.codebook import Codebook
from pipeline.model.decision import (
    CATEGORIES,
    N_CATEGORIES,
    apply_decision,
    axis_category,
    axis_pole_indices,
    category_margins,
    pole_probabilities,
)

NUDGE = 1e-6  # past a boundary, not on it
CATEGORY_NAMES = ("only {0}", "only {1}", "both", "neither")


MOVES = ("first pole", "second pole", "both poles", "swap", "evidence")  # the candidate moves, in `_moves` order


@dataclass(frozen=True)
class AxisDoubt:
    """Per unit and axis: the distance to the nearest decision boundary, and what lies there (`reason`)."""

    distances: np.ndarray  # [n, n_axes], probability units, capped at 1
    moves: np.ndarray  # [n, n_axes] index into MOVES of the nearest boundary (-1: none changes the category)
    categories: np.ndarray  # [n, n_axes] the category now (0 only pole 1, 1 only pole 2, 2 both, 3 neither)
    probabilities: np.ndarray  # [n, n_codes]
    rule: dict[str, Any]
    code_ids: tuple[str, ...]
    axes: tuple[tuple[str, tuple[str, str]], ...]  # (axis id, poles)
    # an axis_categories model: [n, 4 * n_axes] category probabilities (`category_distances`); None otherwise
    category_probabilities: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.distances)

    def uncertainty(self) -> np.ndarray:
        """[n, n_axes]: 1 on a boundary, falling linearly to 0 at 0.5 or more from every boundary."""
        return uncertainty(self.distances)

    def reason(self, row: int, a: int) -> str:
        """One line: the nearest boundary of axis `a` for unit `row` and the category now."""
        axis_id, poles = self.axes[a]
        state = category_name(self.categories[row, a], poles)
        if self.category_probabilities is not None:
            block = self.category_probabilities[row].reshape(-1, N_CATEGORIES)[a]
            first, second = np.argsort(block)[::-1][:2]
            return (f"{category_name(first, poles)} {block[first]:.2f} vs {category_name(second, poles)} "
                    f"{block[second]:.2f} (now: {state})")
        move = int(self.moves[row, a])
        if move < 0:
            return f"far from every boundary (now: {state})"
        p = self.probabilities[row]
        i, j = self.code_ids.index(poles[0]), self.code_ids.index(poles[1])
        t_i, t_j = (float(self.rule["thresholds"][pole]) for pole in poles)
        if move in (0, 1):
            pole, k, t = (poles[0], i, t_i) if move == 0 else (poles[1], j, t_j)
            what = f"{pole} {p[k]:.2f} at threshold {t:.2f}"
        elif move == 2:
            what = f"{poles[0]} {p[i]:.2f} and {poles[1]} {p[j]:.2f} both near their thresholds ({t_i:.2f}, {t_j:.2f})"
        elif move == 3:
            what = f"{poles[0]} {p[i]:.2f} vs {poles[1]} {p[j]:.2f} (thresholds {t_i:.2f}, {t_j:.2f}): the rule " \
                   "keeps the pole further above its threshold"
        else:
            floor = float(self.rule["axes"][axis_id]["min_evidence"])
            what = f"evidence for the axis {max(p[i] / t_i, p[j] / t_j):.2f} of a threshold, where the rule " \
                   f"forces a pole from {floor:.2f}"
        return f"{what} (now: {state})"


def uncertainty(distances: np.ndarray) -> np.ndarray:
    return 1.0 - 2.0 * np.minimum(distances, 0.5)


def category_name(category: float, poles: Sequence[str]) -> str:
    return CATEGORY_NAMES[int(category)].format(*poles)


def category_distances(categories: np.ndarray, code_ids: Sequence[str], codebook: Codebook) -> AxisDoubt:
    """How far an axis_categories model is from changing each axis's category: the winning category and the
    runner-up moved towards each other until they swap, half their probability gap (capped at 1)."""
    poles = axis_pole_indices(code_ids, codebook)
    n = len(categories)
    blocks = categories.reshape(n, -1, N_CATEGORIES)
    distances = np.minimum(category_margins(categories) / 2.0, 1.0)
    probabilities = pole_probabilities(categories, poles, len(code_ids))
    return AxisDoubt(distances, np.full(distances.shape, -1), blocks.argmax(axis=2).astype(float), probabilities,
                     {"kind": CATEGORIES}, tuple(code_ids),
                     tuple((axis.id, (axis.poles[0], axis.poles[1])) for axis in codebook.axes), categories)


def decision_margins(probabilities: np.ndarray, categories: np.ndarray | None, rule: dict[str, Any] | None,
                     code_ids: Sequence[str], codebook: Codebook) -> np.ndarray:
    """[n, n_axes] each axis's decision margin, what `predict` writes and flags on: the distance to the nearest
    change of the axis's category, from `category_distances` for an axis_categories model (`categories` given;
    it has no rule) and `boundary_distances` under the model's `rule` otherwise (for plain thresholds, the
    distance of the axis's pole score nearest its threshold)."""
    if not len(probabilities):
        return np.zeros((0, len(codebook.axes)))
    if categories is not None:
        return category_distances(categories, code_ids, codebook).distances
    if rule is None:
        raise ValueError("decision_margins needs the model's decision rule where there are no category probabilities")
    return boundary_distances(probabilities, rule, code_ids, codebook).distances


def boundary_distances(probabilities: np.ndarray, rule: dict[str, Any], code_ids: Sequence[str],
                       codebook: Codebook) -> AxisDoubt:
    """How far each row of `probabilities` [n, n_codes] is from changing each axis's category under `rule`.

    Candidate moves per axis: each pole's score to just across its threshold (distance |p - t|); both scores
    moved towards each other until their margins (p - t) swap (distance half the margin gap: decides where
    the rule keeps one pole only, or forces one); and, where the rule forces a pole only with enough
    evidence, the scores across that floor. A move counts where it changes the category under the rule; the
    distance is the smallest such move (capped at 1).
    """
    p = np.asarray(probabilities, dtype=float)
    index = {c: k for k, c in enumerate(code_ids)}
    thresholds = np.array([rule["thresholds"][c] for c in code_ids], dtype=float)
    n, n_axes = len(p), len(codebook.axes)
    distances, moves, categories = np.ones((n, n_axes)), np.full((n, n_axes), -1), np.zeros((n, n_axes))
    base = apply_decision(p, rule, code_ids, codebook)
    for a, axis in enumerate(codebook.axes):
        i, j = index[axis.poles[0]], index[axis.poles[1]]
        now = axis_category(base[:, i].astype(float), base[:, j].astype(float))
        best = np.full(n, np.inf)
        for kind, (distance, moved) in enumerate(_moves(p, i, j, thresholds, rule.get("axes", {}).get(axis.id) or {})):
            if moved is None:
                continue
            labels = apply_decision(moved, rule, code_ids, codebook)
            changed = axis_category(labels[:, i].astype(float), labels[:, j].astype(float)) != now
            better = changed & (distance < best)
            best = np.where(better, distance, best)
            moves[better, a] = kind
        distances[:, a] = np.minimum(best, 1.0)
        categories[:, a] = now
    return AxisDoubt(distances, moves, categories, p, rule, tuple(code_ids),
                     tuple((axis.id, (axis.poles[0], axis.poles[1])) for axis in codebook.axes))


def _moves(p: np.ndarray, i: int, j: int, thresholds: np.ndarray, settings: dict[str, Any]):
    """(distance [n], moved probabilities [n, codes] or None) for each move of MOVES, on one axis."""
    t_i, t_j = thresholds[i], thresholds[j]
    for k, t in ((i, t_i), (j, t_j)):
        moved = p.copy()
        moved[:, k] = np.where(p[:, k] >= t, t - NUDGE, t)
        yield np.abs(p[:, k] - t), moved
    moved = p.copy()  # the corner: both across (where one alone changes nothing, e.g. under "at least one pole")
    moved[:, i] = np.where(p[:, i] >= t_i, t_i - NUDGE, t_i)
    moved[:, j] = np.where(p[:, j] >= t_j, t_j - NUDGE, t_j)
    yield np.maximum(np.abs(p[:, i] - t_i), np.abs(p[:, j] - t_j)), moved
    gap = ((p[:, i] - t_i) - (p[:, j] - t_j)) / 2.0
    moved = p.copy()
    step = gap + np.sign(gap) * NUDGE
    moved[:, i] = np.clip(p[:, i] - step, 0.0, 1.0)
    moved[:, j] = np.clip(p[:, j] + step, 0.0, 1.0)
    yield np.abs(gap), moved
    floor = float(settings.get("min_evidence", 0.0))
    if not (settings.get("at_least_one") and floor > 0):
        yield np.full(len(p), np.inf), None
        return
    ratio_i, ratio_j = p[:, i] / t_i, p[:, j] / t_j
    above = np.maximum(ratio_i, ratio_j) >= floor
    # at or above the floor both poles must drop below it; below it the pole nearest it must reach it
    raise_i = (floor * t_i - p[:, i]) <= (floor * t_j - p[:, j])
    moved = p.copy()
    moved[:, i] = np.where(above, np.minimum(p[:, i], floor * t_i - NUDGE), np.where(raise_i, floor * t_i, p[:, i]))
    moved[:, j] = np.where(above, np.minimum(p[:, j], floor * t_j - NUDGE), np.where(raise_i, p[:, j], floor * t_j))
    distance = np.where(above, np.maximum(p[:, i] - floor * t_i, p[:, j] - floor * t_j),
                        np.minimum(floor * t_i - p[:, i], floor * t_j - p[:, j]))
    yield np.abs(distance), moved


@dataclass(frozen=True)
class Batch:
    """The chosen units, in the order k-center picked them."""

    chosen: list[int]  # indices into the candidates
    axis: list[str]  # the axis whose shortlist brought each pick in
    spread: list[float]  # cosine distance of each pick to the nearest coded unit or earlier pick (nan: none)


def normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def shortlist(distances: np.ndarray, embeddings: np.ndarray, size: int, *, coded: np.ndarray,
              near_duplicate_cosine: float, axis_ids: Sequence[str], at_least: int = 0) -> tuple[list[int], list[str]]:
    """Up to `size` candidates, taken in turn from each axis's nearest-to-boundary order (ties: input order),
    skipping near-duplicates of coded units and of candidates already taken, unless fewer than `at_least`
    would be left (then the skipped ones fill up, nearest first). `embeddings` and `coded` are L2-normalised.
    Returns (indices, the axis that brought each in)."""
    orders = [list(np.argsort(distances[:, a], kind="stable")) for a in range(distances.shape[1])]
    cursor = [0] * len(orders)
    taken: list[int] = []
    brought: list[str] = []
    seen: set[int] = set()
    skipped: list[tuple[int, str]] = []
    while len(taken) < size and any(c < len(o) for c, o in zip(cursor, orders)):
        for a, order in enumerate(orders):
            while cursor[a] < len(order) and len(taken) < size:
                candidate = int(order[cursor[a]])
                cursor[a] += 1
                if candidate in seen:
                    continue
                seen.add(candidate)
                vector = embeddings[candidate]
                if (len(coded) and float(np.max(coded @ vector)) >= near_duplicate_cosine) or \
                        (taken and float(np.max(embeddings[taken] @ vector)) >= near_duplicate_cosine):
                    skipped.append((candidate, axis_ids[a]))
                    continue
                taken.append(candidate)
                brought.append(axis_ids[a])
                break
    for candidate, axis in skipped[:max(0, at_least - len(taken))]:
        taken.append(candidate)
        brought.append(axis)
    return taken, brought


def select_batch(embeddings: np.ndarray, doubt: AxisDoubt | InterviewDoubt, k: int, *, coded: np.ndarray | None = None,
                 shortlist_factor: float, near_duplicate_cosine: float, axis_ids: Sequence[str]) -> Batch:
    """Pick `k` of the candidates (rows of `embeddings` [n, dim] and `doubt`): an axis-balanced shortlist of
    the most uncertain, then greedy k-center on the encoder embeddings from the `coded` ones [m, dim]."""
    from small_text.query_strategies.coresets import greedy_coreset

    x = normalise(embeddings)
    centers = normalise(coded) if coded is not None and len(coded) else np.zeros((0, x.shape[1]))
    size = min(len(x), max(k, math.ceil(shortlist_factor * k)))
    pool, brought = shortlist(doubt.distances, x, size, coded=centers, near_duplicate_cosine=near_duplicate_cosine,
                              axis_ids=axis_ids, at_least=k)
    k = min(k, len(pool))
    if k == 0:
        return Batch([], [], [])
    picked: list[int] = []
    if not len(centers):  # cold start: the most uncertain candidate opens the batch
        picked.append(int(np.argmin(doubt.distances[pool].min(axis=1))))
    counts = {axis: 0 for axis in axis_ids}
    for r in picked:
        counts[brought[r]] += 1
    while len(picked) < k:
        # the axis with the fewest picks so far (that still has candidates) chooses, by k-center, among its own
        left = [r for r in range(len(pool)) if r not in picked]
        axis = min((a for a in axis_ids if any(brought[r] == a for r in left)), key=lambda a: counts[a])
        group = [r for r in left if brought[r] == axis]
        matrix = np.vstack([x[[pool[r] for r in group]], centers, x[[pool[r] for r in picked]]])
        (position,) = greedy_coreset(matrix, np.arange(len(group)), np.arange(len(group), len(matrix)), 1,
                                     distance_metric="euclidean", normalized=True)
        picked.append(group[int(position)])
        counts[axis] += 1
    chosen = [pool[r] for r in picked]
    spread: list[float] = []
    known = normalise(coded) if coded is not None and len(coded) else np.zeros((0, x.shape[1]))
    for n, index in enumerate(chosen):
        before = np.vstack([known, x[chosen[:n]]])
        spread.append(float(1.0 - np.max(before @ x[index])) if len(before) else float("nan"))
    return Batch(chosen, [brought[r] for r in picked], spread)


@dataclass(frozen=True)
class InterviewDoubt:
    """Per interview: its fragments' mean uncertainty per axis, as a distance (0.5 x (1 - mean)) so that the
    same selection applies, and how many of its fragments lie near a boundary."""

    names: list[str]
    distances: np.ndarray  # [n_interviews, n_axes]
    rows: dict[str, list[int]]  # interview -> its fragments' rows in the fragment-level doubt
    near: np.ndarray  # [n_interviews, n_axes] fragments within NEAR of a boundary

    def uncertainty(self) -> np.ndarray:
        return uncertainty(self.distances)

    def reason(self, row: int, a: int) -> str:
        mean = float(self.uncertainty()[row, a])
        return (f"mean uncertainty {mean:.2f} over {len(self.rows[self.names[row]])} fragments, "
                f"{int(self.near[row, a])} of them within {NEAR:.2f} of a boundary")


NEAR = 0.1


def interview_doubt(doubt: AxisDoubt, documents: Sequence[str]) -> InterviewDoubt:
    """Fragment-level `doubt` (rows in the order of `documents`) summed up per interview."""
    names = list(dict.fromkeys(documents))
    rows: dict[str, list[int]] = {name: [] for name in names}
    for k, document in enumerate(documents):
        rows[document].append(k)
    u = doubt.uncertainty()
    distances = np.array([0.5 * (1.0 - u[rows[name]].mean(axis=0)) for name in names]).reshape(len(names), -1)
    near = np.array([(doubt.distances[rows[name]] < NEAR).sum(axis=0) for name in names]).reshape(len(names), -1)
    return InterviewDoubt(names, distances, rows, near)
