"""Segment -> align -> label: a collection's units (fragments or paragraphs) with every coder's labels.

The one implementation behind the `prepare` stage, `capcode agreement` and the corpus statistics: every
document is cut into units (spaCy fragments within `segment.max_fragment_tokens`, or the source's
paragraphs), every coder's spans are aligned onto the units (`prepare.min_fragment_share`,
`prepare.min_span_share`; `pipeline.corpus.align`), and each unit gets a label vector per coder who coded
its document: over the axes that coder coded for capcode's codebook, or over a project's own ``codes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.core.codebook import Codebook
from pipeline.core.documents import Fragment, Labels
from pipeline.corpus.align import AlignmentReport, align_codings, label_vectors
from pipeline.corpus.collection import Collection

UNITS = ("fragment", "paragraph")


@dataclass
class LabelledCollection:
    """Every unit of a collection in document order, its labels (coder -> code -> 0/1; {} when no coder
    coded the document) and the alignment report."""

    fragments: list[Fragment]
    labels: list[Labels]
    alignment: AlignmentReport


def label_collection(
    collection: Collection, codebook: Codebook | None, *, max_fragment_tokens: int, min_fragment_share: float,
    min_span_share: float, unit: str = "fragment", codes: Sequence[str] = (),
) -> LabelledCollection:
    """Cut every document of ``collection`` into units, align its codings and label every unit.

    With ``codebook`` the labels are capcode's codes per `label_vectors`; without, the project's own ``codes``.
    """
    if unit == "paragraph":
        from pipeline.ingest.paragraphs import paragraphs

        units = [p for doc in collection.documents.values() for p in paragraphs(doc)]
    elif unit == "fragment":
        from pipeline.ingest.segmentation import segment_document

        units = [f for doc in collection.documents.values()
                 for f in segment_document(doc, max_fragment_tokens=max_fragment_tokens)]
    else:
        raise ValueError(f"unit must be one of {UNITS}, not {unit!r}")
    aligned, alignment = align_codings(units, collection.codings, min_fragment_share=min_fragment_share,
                                       min_span_share=min_span_share)
    coders_of = {doc_id: collection.coders_of(doc_id) for doc_id in collection.documents}
    labels: list[Labels] = []
    for fragment in units:
        given, coders = aligned.get(fragment.id, {}), coders_of[fragment.document]
        if codebook is not None:
            labels.append(label_vectors(given, coders, codebook, collection.coder_axes))
        else:
            labels.append({c: {code: int(code in given.get(c, set())) for code in codes} for c in coders})
    return LabelledCollection(units, labels, alignment)
