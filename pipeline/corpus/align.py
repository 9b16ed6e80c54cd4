"""Alignment: turn span codings into per-coder fragment labels by overlap (README, "Corpus format").

A fragment gets a code from a coder when the overlap with one of the coder's spans of that code covers at
least `min_fragment_share` of the fragment or `min_span_share` of the span. Spans that hit no fragment are
counted, never silently dropped.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field

from pipeline.core.codebook import Codebook
from pipeline.core.documents import Fragment, SpanCoding


@dataclass
class AlignmentReport:
    n_codings: int = 0
    n_aligned: int = 0
    unaligned: list[dict] = field(default_factory=list)  # spans that hit no fragment

    def to_dict(self) -> dict:
        return {"n_codings": self.n_codings, "n_aligned": self.n_aligned, "n_unaligned": len(self.unaligned),
                "unaligned": self.unaligned[:50]}


def overlap(a_start: int, a_end: int, b_start: int, b_end: int) -> int:
    return max(0, min(a_end, b_end) - max(a_start, b_start))


def align_codings(
    fragments: list[Fragment],
    codings: list[SpanCoding],
    *,
    min_fragment_share: float,
    min_span_share: float,
) -> tuple[dict[str, dict[str, set[str]]], AlignmentReport]:
    """Return {fragment id: {coder: set of codes}} and a report of what did not align.

    `fragments` may span several documents; codings of documents without fragments count as unaligned.
    """
    by_document: dict[str, list[Fragment]] = defaultdict(list)
    for fragment in fragments:
        by_document[fragment.document].append(fragment)
    starts: dict[str, list[int]] = {}
    for doc_id, doc_fragments in by_document.items():
        doc_fragments.sort(key=lambda f: f.start)
        starts[doc_id] = [f.start for f in doc_fragments]
    labels: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    report = AlignmentReport(n_codings=len(codings))
    for coding in codings:
        doc_fragments = by_document.get(coding.document, [])
        # fragments are sorted and disjoint: only those starting before the span's end can overlap it
        last = bisect.bisect_left(starts.get(coding.document, []), coding.end)
        hit = False
        for fragment in reversed(doc_fragments[:last]):
            if fragment.end <= coding.start:
                break
            shared = overlap(fragment.start, fragment.end, coding.start, coding.end)
            if shared == 0:
                continue
            if (shared / (fragment.end - fragment.start) >= min_fragment_share
                    or shared / (coding.end - coding.start) >= min_span_share):
                labels[fragment.id][coding.coder].add(coding.code)
                hit = True
        if hit:
            report.n_aligned += 1
        else:
            report.unaligned.append(coding.to_dict())
    return labels, report


def label_vectors(
    codes_by_coder: dict[str, set[str]], coders: list[str], codebook: Codebook, coder_axes: dict[str, list[str]]
) -> dict[str, dict[str, int]]:
    """{coder: {code: 0|1}} for the coders who coded the document, over the axes each coder coded."""
    vectors: dict[str, dict[str, int]] = {}
    for coder in coders:
        axes = coder_axes.get(coder) or [axis.id for axis in codebook.axes]
        codes = [c.id for c in codebook.codes if c.axis in axes]
        given = codes_by_coder.get(coder, set())
        vectors[coder] = {code: int(code in given) for code in codes}
    return vectors
