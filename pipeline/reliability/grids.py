"""The report's overview tables as numbers: cell counts and shares per case, and how two codings compare.

The study (shared/seed, sections 5.1.2-5.3.2) describes each case with two grids, strategic and operational
capacity, each a 2 x 2 table of beleid/beheer (rows) by intern/extern (columns). Here a fragment counts in
grid ``g``, cell (``r``, ``c``) when it carries the three codes ``g``, ``r`` and ``c``; a fragment with both
poles of an axis counts in both cells. A cell's *share* is its count over the fragments in the grid (those
carrying ``g``), so it reads "of what this case said about strategic capacity, this share was internal
policy capacity".

Intervals are percentile bootstraps over fragments: the group's fragments are resampled with replacement
(as counts per fragment, vectorised: ``weights`` has shape (n_boot, n_fragments), drawn by
`bootstrap.resample_weights` as every agreement interval of capcode is) and every share is
recomputed from the resample, grid size included. Two codings of the same fragments (a human and the model,
or two humans) are resampled together (paired), so the interval of their difference reflects only the
fragments, not two independent draws.

Across cases: per axis, a coding places each case by its *balance*, the share of the first pole among the
fragments with a pole of that axis (n1 / (n1 + n2)); two codings rank the cases the same way when the
Spearman correlation of their balances is 1, and agree on a case's dominant pole when the same pole has the
larger count in both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.reliability.bootstrap import percentile_interval, resample_weights

GRID_AXIS = "strategisch_operationeel"
ROW_AXIS = "beleid_beheer"
COLUMN_AXIS = "intern_extern"


@dataclass(frozen=True)
class Layout:
    """The grids (poles of the grid axis) and their rows and columns (poles of the other two axes)."""

    grids: tuple[str, str]
    rows: tuple[str, str]
    columns: tuple[str, str]

    @property
    def cells(self) -> list[tuple[str, str, str]]:
        """(grid, row, column) in reading order: grid by grid, row by row."""
        return [(g, r, c) for g in self.grids for r in self.rows for c in self.columns]


def layout_from_poles(poles: Mapping[str, Sequence[str]]) -> Layout:
    """The layout from {axis id: (pole 1, pole 2)} of a codebook with the study's three axes."""
    return Layout(tuple(poles[GRID_AXIS]), tuple(poles[ROW_AXIS]), tuple(poles[COLUMN_AXIS]))  # type: ignore[arg-type]


def cell_matrices(labels: Sequence[Mapping[str, int]], layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """Per fragment, membership of every cell and every grid.

    labels: n fragments' {code: 0|1}. Returns (cells [n, 8] of 0/1 in `layout.cells` order, grids [n, 2]).
    """
    cells = np.array([[int(bool(lab.get(g)) and bool(lab.get(r)) and bool(lab.get(c))) for g, r, c in layout.cells]
                      for lab in labels], dtype=float).reshape(len(labels), len(layout.cells))
    grids = np.array([[int(bool(lab.get(g))) for g in layout.grids] for lab in labels],
                     dtype=float).reshape(len(labels), len(layout.grids))
    return cells, grids


def _grid_of_cell(layout: Layout) -> np.ndarray:
    per_grid = len(layout.rows) * len(layout.columns)
    return np.repeat(np.arange(len(layout.grids)), per_grid)


def _shares(cells: np.ndarray, grids: np.ndarray, layout: Layout) -> np.ndarray:
    """cells [..., 8] and grids [..., 2] counts -> shares [..., 8], NaN where the grid is empty."""
    denominators = grids[..., _grid_of_cell(layout)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominators > 0, cells / np.where(denominators > 0, denominators, 1), np.nan)


def bootstrap_weights(n_units: int, *, n_boot: int, seed: int) -> np.ndarray:
    """Resampling weights of shape (n_boot, n_units): how often each resample draws each unit, the resamples
    `bootstrap.resample_weights` draws for the same number of units and seed (one way of resampling for every
    interval capcode reports), as one matrix."""
    if n_units == 0 or n_boot == 0:
        return np.zeros((n_boot, n_units))
    return np.vstack(list(resample_weights(n_units, n_boot, seed)))


def _interval(samples: np.ndarray, confidence: float) -> tuple[list[float | None], list[float | None]]:
    """Per column of samples [n_boot, k], the percentile interval over the defined (non-NaN) values
    (`bootstrap.percentile_interval`); None when fewer than half of the resamples define the value."""
    intervals = [percentile_interval(column, confidence, 0.5) for column in samples.T]
    return ([None if i is None else i[0] for i in intervals], [None if i is None else i[1] for i in intervals])


@dataclass(frozen=True)
class CellFigures:
    grid: str
    row: str
    column: str
    n: int
    n_grid: int
    share: float | None
    low: float | None
    high: float | None


def grid_figures(
    labels: Sequence[Mapping[str, int]], layout: Layout, *, n_boot: int, seed: int, confidence: float
) -> list[CellFigures]:
    """Count, share and bootstrap interval of every cell for one coding of one group's fragments."""
    cells, grids = cell_matrices(labels, layout)
    counts, grid_counts = cells.sum(axis=0), grids.sum(axis=0)
    shares = _shares(counts, grid_counts, layout)
    lows: list[float | None] = [None] * len(layout.cells)
    highs: list[float | None] = [None] * len(layout.cells)
    if n_boot > 0 and len(labels):
        weights = bootstrap_weights(len(labels), n_boot=n_boot, seed=seed)
        lows, highs = _interval(_shares(weights @ cells, weights @ grids, layout), confidence)
    grid_index = _grid_of_cell(layout)
    return [
        CellFigures(g, r, c, int(counts[k]), int(grid_counts[grid_index[k]]),
                    None if np.isnan(shares[k]) else float(shares[k]), lows[k], highs[k])
        for k, (g, r, c) in enumerate(layout.cells)
    ]


@dataclass(frozen=True)
class CellDifference:
    grid: str
    row: str
    column: str
    share_a: float | None
    share_b: float | None
    difference: float | None  # share_b - share_a
    low: float | None
    high: float | None


def paired_differences(
    labels_a: Sequence[Mapping[str, int]], labels_b: Sequence[Mapping[str, int]], layout: Layout, *,
    n_boot: int, seed: int, confidence: float,
) -> list[CellDifference]:
    """Per cell, share under coding b minus share under coding a on the same fragments (same order), with a
    paired bootstrap interval."""
    if len(labels_a) != len(labels_b):
        raise ValueError("paired codings need the same fragments in the same order")
    cells_a, grids_a = cell_matrices(labels_a, layout)
    cells_b, grids_b = cell_matrices(labels_b, layout)
    share_a = _shares(cells_a.sum(0), grids_a.sum(0), layout)
    share_b = _shares(cells_b.sum(0), grids_b.sum(0), layout)
    lows: list[float | None] = [None] * len(layout.cells)
    highs: list[float | None] = [None] * len(layout.cells)
    if n_boot > 0 and len(labels_a):
        weights = bootstrap_weights(len(labels_a), n_boot=n_boot, seed=seed)
        diff = _shares(weights @ cells_b, weights @ grids_b, layout) - _shares(weights @ cells_a, weights @ grids_a, layout)
        lows, highs = _interval(diff, confidence)

    def value(x: float) -> float | None:
        return None if np.isnan(x) else float(x)

    return [
        CellDifference(g, r, c, value(share_a[k]), value(share_b[k]), value(share_b[k] - share_a[k]), lows[k], highs[k])
        for k, (g, r, c) in enumerate(layout.cells)
    ]


# --------------------------------------------------------------------------- across cases


def pole_counts(labels: Sequence[Mapping[str, int]], poles: Sequence[str]) -> tuple[int, int]:
    """How many fragments carry each pole of an axis (a fragment with both counts for both)."""
    return (sum(int(bool(lab.get(poles[0]))) for lab in labels), sum(int(bool(lab.get(poles[1]))) for lab in labels))


def balance(n_first: int, n_second: int) -> float | None:
    """Share of the first pole among the pole codings of an axis; None when neither pole occurs."""
    total = n_first + n_second
    return None if total == 0 else n_first / total


def dominant_pole(n_first: int, n_second: int, poles: Sequence[str]) -> str | None:
    """The pole with the larger count, 'tie' when equal and non-zero, None when neither occurs."""
    if n_first == n_second:
        return None if n_first == 0 else "tie"
    return poles[0] if n_first > n_second else poles[1]


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties averaged."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation (Pearson correlation of the tie-averaged ranks); None with fewer than
    two cases or when either coding puts every case at the same rank."""
    if len(x) != len(y):
        raise ValueError("spearman needs two sequences of the same length")
    if len(x) < 2:
        return None
    rx, ry = _ranks(np.asarray(x, dtype=float)), _ranks(np.asarray(y, dtype=float))
    if np.all(rx == rx[0]) or np.all(ry == ry[0]):
        return None
    return float(np.corrcoef(rx, ry)[0, 1])
