"""Segment -> align -> label: a collection's fragments with every coder's labels.

The one implementation behind the `prepare` stage, `capcode agreement` and the corpus statistics: every
document is segmented (`segment.max_fragment_tokens`), every coder's spans are aligned onto the fragments
(`prepare.min_fragment_share`, `prepare.min_span_share`; `pipeline.corpus.align`), and each fragment gets a
label vector per coder who coded its document, over the axes that coder coded.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.core.codebook import Codebook
from pipeline.core.documents import Fragment, Labels
from pipeline.corpus.align import AlignmentReport, align_codings, label_vectors
from pipeline.corpus.collection import Collection
from pipeline.ingest.segmentation import segment_document


@dataclass
class LabelledCollection:
    """Every fragment of a collection in document order, its labels (coder -> code -> 0/1; {} when no coder
    coded the document) and the alignment report."""

    fragments: list[Fragment]
    labels: list[Labels]
    alignment: AlignmentReport


def label_collection(
    collection: Collection, codebook: Codebook, *, max_fragment_tokens: int, min_fragment_share: float,
    min_span_share: float,
) -> LabelledCollection:
    """Segment every document of ``collection``, align its codings and label every fragment."""
    fragments = [f for doc in collection.documents.values()
                 for f in segment_document(doc, max_fragment_tokens=max_fragment_tokens)]
    aligned, alignment = align_codings(fragments, collection.codings, min_fragment_share=min_fragment_share,
                                       min_span_share=min_span_share)
    coders_of = {doc_id: collection.coders_of(doc_id) for doc_id in collection.documents}
    labels = [label_vectors(aligned.get(f.id, {}), coders_of[f.document], codebook, collection.coder_axes)
              for f in fragments]
    return LabelledCollection(fragments, labels, alignment)
