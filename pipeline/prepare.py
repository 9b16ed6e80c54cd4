"""DVC stage `prepare`: collections -> fragments with per-coder labels and an interview-grouped split.

Reads corpus directories or `.qdpx` projects, segments every document, aligns each coder's spans onto the
fragments, and assigns whole interviews to train/validation/test (seeded). Collections marked
`use: evaluation` (the study's real quotes) go to the split `gold` and are never trained on.
"""

from __future__ import annotations

import random
import sys
from collections import Counter
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.documents import PreparedFragment
from pipeline.core.errors import InputError
from pipeline.core.io_utils import write_json, write_jsonl
from pipeline.core.params import load_params
from pipeline.corpus.collection import Collection
from pipeline.corpus.labelling import label_collection
from pipeline.corpus.loading import load_collection

SPLITS = ("train", "validation", "test")


def split_documents(
    document_ids: list[str], *, fractions: dict[str, float], seed: int, hold_out_first: AbstractSet[str] = frozenset()
) -> dict[str, str]:
    """Assign whole documents to train/validation/test, deterministic for a seed and a set of ids.

    Each split with a positive fraction gets at least one document when there are three or more.
    Documents in `hold_out_first` (interviews coded by several coders) fill the test split first, so that
    model-human agreement can be compared with human-human agreement on the same held-out fragments.
    """
    total = sum(fractions.get(s, 0.0) for s in SPLITS)
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"split fractions must add up to 1, found {fractions}")
    rng = random.Random(seed)
    preferred = sorted(d for d in document_ids if d in hold_out_first)
    others = sorted(d for d in document_ids if d not in hold_out_first)
    rng.shuffle(preferred)
    rng.shuffle(others)
    n = len(document_ids)
    n_val = round(n * fractions.get("validation", 0.0))
    n_test = round(n * fractions.get("test", 0.0))
    if n >= 3:
        n_val = max(n_val, 1 if fractions.get("validation", 0) > 0 else 0)
        n_test = max(n_test, 1 if fractions.get("test", 0) > 0 else 0)
    ordered = preferred[:n_test] + others + preferred[n_test:]
    test, rest = ordered[:n_test], ordered[n_test:]
    rest_order = sorted(rest)
    rng.shuffle(rest_order)
    assignment = {doc_id: "test" for doc_id in test}
    for index, doc_id in enumerate(rest_order):
        assignment[doc_id] = "validation" if index < n_val else "train"
    return assignment


def prepare_collection(
    collection: Collection, codebook: Codebook, *, max_fragment_tokens: int, min_fragment_share: float,
    min_span_share: float, fractions: dict[str, float], seed: int,
) -> tuple[list[PreparedFragment], dict[str, Any]]:
    """Fragments of one collection with labels and split, plus the collection's counts."""
    labelled = label_collection(collection, codebook, max_fragment_tokens=max_fragment_tokens,
                                min_fragment_share=min_fragment_share, min_span_share=min_span_share)
    if collection.use == "evaluation":
        splits = {doc_id: "gold" for doc_id in collection.documents}
    else:
        multi_coded = {d for d in collection.documents if len(collection.coders_of(d)) > 1}
        splits = split_documents(list(collection.documents), fractions=fractions, seed=seed,
                                 hold_out_first=multi_coded)
    records = [
        PreparedFragment.from_fragment(fragment, collection=collection.name, synthetic=collection.synthetic,
                                       split=splits[fragment.document], labels=labels)
        for fragment, labels in zip(labelled.fragments, labelled.labels)
    ]
    counts = {
        "source": collection.source,
        "synthetic": collection.synthetic,
        "use": collection.use,
        "n_documents": len(collection.documents),
        "n_fragments": len(records),
        "n_codable_fragments": sum(r.codable for r in records),
        "documents_per_split": dict(Counter(splits.values())),
        "codable_fragments_per_split": dict(Counter(r.split for r in records if r.codable)),
        "coders": collection.coders,
        "alignment": labelled.alignment.to_dict(),
        "unmapped_codes": collection.unmapped_codes,
    }
    return records, counts


def prepare(
    *, collections: list[Path], output_dir: Path, codebook_path: Path | None = None, params_path: Path | None = None,
) -> dict[str, Any]:
    """Run the prepare stage; write `fragments.jsonl`, `documents.jsonl` and `prepare_report.json`."""
    all_params = load_params(params_path)
    params, segment_params = all_params.prepare, all_params.segment
    codebook = load_codebook(codebook_path)
    all_records: list[PreparedFragment] = []
    documents: list[dict[str, Any]] = []
    report: dict[str, Any] = {"collections": {}}
    seen_documents: dict[str, str] = {}
    for path in collections:
        collection = load_collection(path, codebook)
        for doc_id in collection.documents:
            if doc_id in seen_documents:
                raise InputError(path, f"document id '{doc_id}' also occurs in {seen_documents[doc_id]}; ids must be unique")
            seen_documents[doc_id] = str(path)
        records, counts = prepare_collection(
            collection, codebook,
            max_fragment_tokens=int(segment_params.max_fragment_tokens),
            min_fragment_share=float(params.min_fragment_share),
            min_span_share=float(params.min_span_share),
            fractions=dict(params.split_fractions),
            seed=int(params.seed),
        )
        print(f"prepare: {path}: {counts['n_documents']} documents, {counts['n_fragments']} fragments, "
              f"{counts['alignment']['n_unaligned']} spans hit no fragment, "
              f"{sum(counts['unmapped_codes'].values())} codings of codes not in the codebook", file=sys.stderr)
        report["collections"][collection.name] = counts
        all_records.extend(records)
        for doc in collection.documents.values():
            documents.append({"id": doc.id, "collection": collection.name, "synthetic": collection.synthetic,
                              "source": doc.source, "text": doc.text, "metadata": doc.metadata})
    report["codebook"] = codebook.fingerprint()
    output_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(output_dir / "fragments.jsonl", (r.to_dict() for r in all_records))
    write_jsonl(output_dir / "documents.jsonl", documents)
    write_json(output_dir / "prepare_report.json", report)
    return report
