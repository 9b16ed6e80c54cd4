"""Character-level agreement: which characters each coder coded with a code (the unit is the character).

Two views, both standard in the field:

- **QDA coding comparison** (NVivo's coding comparison, ATLAS.ti's and MAXQDA's text-based checks): every
  character of a source is one unit, each coder either coded it with the code or not. From the 2 x 2 table
  of two coders (both / only A / only B / neither) follow percent agreement and Cohen's kappa.
- **Krippendorff's unitizing alpha** (u-alpha; Krippendorff 1995, *On the reliability of unitizing
  continuous data*, and *Content Analysis*, 2nd ed. 2004, section 11.6): the coded spans of a code are
  *units* on a continuum, everything between them *gaps*. Observed disagreement sums, over every pair of
  coders and every pair of overlapping segments, the squared differences of their begins and ends (two
  units), or the squared length of a unit lying inside the other coder's gap; expected disagreement is what
  the same units would give placed anywhere on the continuum. Per code c, with L the length of the
  continuum, m coders, N_c units of c of lengths l:

      D_o(c) = 2 / (m (m - 1) L^2) * sum_pairs sum_{overlapping g, h} delta^2(g, h)
      D_e(c) = 2/L * sum_g [(N_c - 1)(2 l^3 - 3 l^2 + l) / 3 + l^2 sum_{gaps h, l_h >= l} (l_h - l + 1)]
               / (m L (m L - 1) - sum_g l (l - 1))
      alpha_u(c) = 1 - D_o(c) / D_e(c);  over several codes 1 - mean D_o / mean D_e.

Several sources form one continuum of their total length; a unit never crosses a source boundary, and gaps
end at source boundaries (a unit cannot be placed across two sources).

Spans are ``(start, end)`` pairs, end exclusive, in code points. One coder's spans of one code must not
overlap (`merge_spans` unites them; the loaders refuse overlaps in corpus files).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Span = tuple[int, int]


def merge_spans(spans: Sequence[Span]) -> list[Span]:
    """Sorted, disjoint spans covering exactly the characters of ``spans`` (touching spans join)."""
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def covered(spans: Sequence[Span]) -> int:
    """Number of characters in disjoint ``spans``."""
    return sum(end - start for start, end in spans)


def intersection(first: Sequence[Span], second: Sequence[Span]) -> int:
    """Characters in both of two sorted disjoint span lists."""
    i = j = shared = 0
    while i < len(first) and j < len(second):
        shared += max(0, min(first[i][1], second[j][1]) - max(first[i][0], second[j][0]))
        if first[i][1] < second[j][1]:
            i += 1
        else:
            j += 1
    return shared


# --------------------------------------------------------------------------- 2 x 2 tables of two coders


@dataclass(frozen=True)
class CharacterTable:
    """Characters coded by both coders, only the first, only the second, neither."""

    both: int
    only_first: int
    only_second: int
    neither: int

    @property
    def n(self) -> int:
        return self.both + self.only_first + self.only_second + self.neither

    def __add__(self, other: CharacterTable) -> CharacterTable:
        return CharacterTable(self.both + other.both, self.only_first + other.only_first,
                              self.only_second + other.only_second, self.neither + other.neither)

    def percent_agreement(self) -> float | None:
        return None if self.n == 0 else (self.both + self.neither) / self.n

    def cohen_kappa(self) -> float | None:
        """Cohen's kappa of the table; None when undefined (no characters, or one answer everywhere)."""
        n = self.n
        if n == 0:
            return None
        first, second = (self.both + self.only_first) / n, (self.both + self.only_second) / n
        expected = first * second + (1 - first) * (1 - second)
        if expected >= 1.0:
            return None
        return ((self.both + self.neither) / n - expected) / (1 - expected)


def character_table(first: Sequence[Span], second: Sequence[Span], length: int) -> CharacterTable:
    """The 2 x 2 table of two coders' disjoint spans on a source of ``length`` characters."""
    both = intersection(first, second)
    a, b = covered(first), covered(second)
    return CharacterTable(both, a - both, b - both, length - a - b + both)


# --------------------------------------------------------------------------- Krippendorff's u-alpha


def _segments(units: Sequence[Span], begin: int, end: int) -> list[tuple[int, int, bool]]:
    """The continuum [begin, end) cut into (start, end, is_unit): units and the gaps between them."""
    segments, position = [], begin
    for start, stop in units:
        if start > position:
            segments.append((position, start, False))
        segments.append((start, stop, True))
        position = stop
    if position < end:
        segments.append((position, end, False))
    return segments


def _delta(g: tuple[int, int, bool], h: tuple[int, int, bool]) -> int:
    """Krippendorff's squared distance of two overlapping segments of two coders."""
    (gb, ge, g_unit), (hb, he, h_unit) = g, h
    if g_unit and h_unit:
        return (gb - hb) ** 2 + (ge - he) ** 2
    if g_unit and hb <= gb and ge <= he:  # a unit inside the other coder's gap
        return (ge - gb) ** 2
    if h_unit and gb <= hb and he <= ge:
        return (he - hb) ** 2
    return 0


def _observed(first: list[tuple[int, int, bool]], second: list[tuple[int, int, bool]]) -> int:
    """Sum of delta^2 over every overlapping pair of segments of two coders on one continuum."""
    total = i = j = 0
    while i < len(first) and j < len(second):
        if min(first[i][1], second[j][1]) > max(first[i][0], second[j][0]):
            total += _delta(first[i], second[j])
        if first[i][1] <= second[j][1]:
            i += 1
        else:
            j += 1
    return total


@dataclass(frozen=True)
class UnitizingTerms:
    """Observed and expected disagreement of one code (alpha_u = 1 - observed / expected)."""

    observed: float
    expected: float

    @property
    def alpha(self) -> float | None:
        return None if self.expected <= 0 else 1.0 - self.observed / self.expected


def unitizing_terms(sources: Sequence[tuple[int, Mapping[str, Sequence[Span]]]]) -> UnitizingTerms | None:
    """D_o and D_e of one code over ``sources``: (length, {coder: disjoint sorted spans}) each.

    Every coder listed in a source unitized all of it (no spans = coded nothing there). The same coders must
    be listed for every source. Returns None when there is nothing to compare (fewer than two coders, an
    empty continuum, or no unit at all).
    """
    if not sources:
        return None
    coders = sorted(sources[0][1])
    if any(sorted(units) != coders for _, units in sources):
        raise ValueError("every source needs the same coders for u-alpha")
    m, total = len(coders), sum(length for length, _ in sources)
    if m < 2 or total == 0:
        return None
    observed = 0
    lengths: list[int] = []
    gaps: list[int] = []
    for length, units in sources:
        segments = {c: _segments(units[c], 0, length) for c in coders}
        for a, b in itertools.combinations(coders, 2):
            observed += _observed(segments[a], segments[b])
        for c in coders:
            for start, stop, is_unit in segments[c]:
                (lengths if is_unit else gaps).append(stop - start)
    if not lengths:
        return None
    n_c = len(lengths)
    gaps.sort()
    suffix = list(itertools.accumulate(reversed(gaps), initial=0))[::-1]  # suffix[k] = sum(gaps[k:])
    expected = 0.0
    for length in lengths:
        k = bisect.bisect_left(gaps, length)  # gaps[k:] are the gaps a unit of this length fits in
        within = suffix[k] - (length - 1) * (len(gaps) - k)  # sum over those gaps of (l_h - l + 1)
        expected += (n_c - 1) * (2 * length**3 - 3 * length**2 + length) / 3 + length**2 * within
    expected *= 2 / total
    expected /= m * total * (m * total - 1) - sum(length * (length - 1) for length in lengths)
    return UnitizingTerms(2 * observed / (m * (m - 1) * total**2), expected)


def unitizing_alpha(per_code: Sequence[UnitizingTerms | None]) -> float | None:
    """u-alpha over several codes: 1 - mean D_o / mean D_e of the codes that have terms (Krippendorff 2004)."""
    terms = [t for t in per_code if t is not None]
    if not terms:
        return None
    expected = sum(t.expected for t in terms)
    return None if expected <= 0 else 1.0 - sum(t.observed for t in terms) / expected
