"""A team's coded material as labelled fragment records: what `adapt` and `crossval` learn from.

Each record is a codable fragment (`Fragment.to_dict`) with `labels` (per coder, the codes of the axes that
coder coded) and `group` (the unit of cross-validation: a metadata field such as `case`, or the interview).
A `.qdpx` that went out with capcode's suggestions and came back reviewed is read as a reviewed project
(`pipeline.corpus.review`): only its reviewed interviews, the reviewer as the truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from pipeline.core.codebook import Codebook
from pipeline.core.errors import InputError
from pipeline.corpus.collection import Collection
from pipeline.corpus.labelling import label_collection
from pipeline.corpus.loading import load_collection
from pipeline.corpus.review import read_reviewed, review_summary, went_out_for_review
from pipeline.qdpx.importer import project_to_collection, read_project


def collection_records(collection: Collection, codebook: Codebook, *, where: str | Path, max_fragment_tokens: int,
                       min_fragment_share: float, min_span_share: float, group_by: str,
                       group_fallback: bool = False) -> list[dict[str, Any]]:
    """Codable fragments of a coded collection with per-coder labels and a cross-validation `group`.

    `group_fallback`: when no document has the `group_by` field (a QDA project without Cases), group by
    interview instead of refusing."""
    if group_fallback and not any(group_by in d.metadata for d in collection.documents.values()):
        group_by = "document"
    labelled = label_collection(collection, codebook, max_fragment_tokens=max_fragment_tokens,
                                min_fragment_share=min_fragment_share, min_span_share=min_span_share)
    records: list[dict[str, Any]] = []
    for fragment, labels in zip(labelled.fragments, labelled.labels):
        metadata = collection.documents[fragment.document].metadata
        if group_by != "document" and group_by not in metadata:
            raise InputError(where, f"document '{fragment.document}' has no metadata field '{group_by}' "
                                    f"(adapt.group_by); set adapt.group_by to a field it has, or to document")
        record = fragment.to_dict()
        record["group"] = str(metadata.get(group_by, fragment.document))
        record["labels"] = labels
        records.append(record)
    return records


def labelled_records(inputs: Sequence[Path], codebook: Codebook, *, max_fragment_tokens: int,
                     min_fragment_share: float, min_span_share: float, group_by: str) -> list[dict[str, Any]]:
    """Codable fragments of coded collections with per-coder labels and a cross-validation `group`."""
    return [record for path in inputs
            for record in collection_records(load_collection(path, codebook), codebook, where=path,
                                             max_fragment_tokens=max_fragment_tokens,
                                             min_fragment_share=min_fragment_share, min_span_share=min_span_share,
                                             group_by=group_by)]


def team_records(inputs: Sequence[Path], codebook: Codebook, *, coders: Sequence[str], max_fragment_tokens: int,
                 min_fragment_share: float, min_span_share: float,
                 group_by: str) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """`labelled_records` of the team's inputs, where a `.qdpx` that went out with capcode's suggestions is
    read as a reviewed project (`pipeline.corpus.review`): only its reviewed interviews, the reviewer
    (the one of `coders`) as the truth. Returns the records and, per reviewed input, what was reviewed and
    the accepted / rejected / added suggestions per code."""
    records: list[dict[str, Any]] = []
    reviews: dict[str, dict[str, Any]] = {}
    records_of = partial(collection_records, codebook=codebook, max_fragment_tokens=max_fragment_tokens,
                         min_fragment_share=min_fragment_share, min_span_share=min_span_share, group_by=group_by)
    for path in map(Path, inputs):
        project = read_project(path) if path.suffix.lower() == ".qdpx" else None
        if project is None or not went_out_for_review(project):
            collection = load_collection(path, codebook) if project is None else project_to_collection(project, codebook)
            records += records_of(collection, where=path)
            continue
        if len(coders) != 1:
            raise InputError(path, f"a reviewed project has one reviewer; give one --coder, not {len(coders)}")
        reviewed = read_reviewed(project, codebook, reviewer=coders[0])
        found = records_of(reviewed.collection, where=path, group_fallback=True)
        reviews[path.name] = review_summary(reviewed, found, codebook)
        records += found
    return records, reviews
