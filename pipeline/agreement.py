"""`capcode agreement`: inter-rater agreement between coders (and the model) on coded material or a CSV.

Two kinds of input:

- **Coded material**: one `.qdpx` with several users, several corpus directories / `.qdpx` projects (one per
  coder, or any mix; documents with the same id must have the same text), or a corpus directory with span
  codings of several coders. Every document is segmented (`segment.max_fragment_tokens`) and every coder's
  spans are aligned onto the same fragments (`prepare.min_fragment_share`, `prepare.min_span_share`), as the
  prepare stage does. A coder rates a fragment only when the fragment is a codable (respondent) fragment of
  a document the coder coded, and only on the axes the coder coded (`coder_axes`); elsewhere the rating is
  missing, never "absent". With ``model_dir`` the model's predictions on the same fragments join as coder
  ``model``. A code name that the codebook does not know is an error here, not a count: agreement on a
  partly mapped coding would be silently wrong.
- **A ratings CSV** (header ``unit,coder,value``, `pipeline.reliability.coefficients.read_ratings_csv`) at ``level``
  nominal, ordinal, interval or ratio: the generic reliability calculator.

The result (what ``-o report.json`` holds; ``-o report.html`` renders it for a reader):

- CSV mode: exactly one *summary* object (below).
- Coded material: the top level is a summary for **all coders over all code decisions pooled** (a unit is
  one fragment x one code, value 1 = code given, 0 = not given), plus::

    mode: "coded", coders: [...], synthetic: bool, inputs: [...], unit: "...", data: {counts},
    categories: {"code": ["absent", "present"], "<axis id>": ["only <pole 1>", "only <pole 2>", "both",
                 "neither"]},
    per_code: {code id: summary}            # all coders, that code, units = fragments
    per_axis: {axis id: summary}            # all coders, nominal over the 4 axis categories
    pairs: {"<coder> vs <coder>": {coders: [a, b], <pooled summary keys>, per_code: {...}, per_axis: {...}}}

  Units with fewer than two ratings are dropped before the coefficients (they carry no agreement), so
  ``n_units`` counts fragments (or fragment x code decisions) rated by at least two of the coders at hand.

A *summary* is `pipeline.reliability.coefficients.agreement_summary`: ``n_units``, ``n_units_compared`` (units rated by
two or more coders, the ones the coefficients use), ``n_coders``, ``percent_agreement``,
``krippendorff_alpha``, ``cohen_kappa`` (null unless exactly two coders), ``scott_pi``, ``fleiss_kappa``,
``gwet_ac1``, ``brennan_prediger`` (a number, or null with a line in ``notes``), ``notes`` and ``ci95``
(coefficient -> [low, high] percentile bootstrap interval over units at ``agreement.confidence``, or null). The chance terms of Gwet's
AC1 and Brennan-Prediger use the codebook's categories (2 per code, 4 per axis), even when the data use
fewer; the other coefficients depend only on categories that occur. Bootstrap settings: params `agreement`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.documents import Document
from pipeline.core.errors import InputError
from pipeline.core.io_utils import atomic_writer, check_output_file, write_json
from pipeline.core.params import AgreementParams, PredictParams, load_params
from pipeline.corpus.collection import Collection
from pipeline.corpus.labelling import label_collection
from pipeline.corpus.loading import load_collection
from pipeline.reliability.coefficients import LEVELS, agreement_summary, read_ratings_csv
from pipeline.reliability.ratings import (
    CHANCE_NOTE,
    CODE_CATEGORIES,
    MODEL_CODER,
    agreement_block,
    axis_categories,
    overlapping_pairs,
    pair_key,
)

OUTPUT_SUFFIXES = (".json", ".html")
def agreement_report(
    records: Sequence[dict[str, Any]], coders: Sequence[str], codebook: Codebook, *, n_boot: int, seed: int,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """The coded-material report (module docstring) over fragment records with ``labels`` per coder."""
    labels = [r["labels"] for r in records]
    report = agreement_block(labels, coders, codebook, n_boot=n_boot, seed=seed, confidence=confidence)
    report["notes"] = [*report["notes"], CHANCE_NOTE]
    report["pairs"] = {}
    for first, second in overlapping_pairs(labels, coders):
        block = agreement_block(labels, [first, second], codebook, n_boot=n_boot, seed=seed, confidence=confidence)
        report["pairs"][pair_key(first, second)] = {"coders": [first, second], **block}
    return report


# --------------------------------------------------------------------------- coded material


@dataclass
class CodedMaterial:
    records: list[dict[str, Any]]  # codable fragments rated by at least one coder: id, text, ..., labels
    coders: list[str]
    synthetic: bool
    inputs: list[str]
    counts: dict[str, Any] = field(default_factory=dict)


def _merge(collections: list[Collection]) -> Collection:
    """One collection from several: documents by id (same text required), codings and coders united."""
    if len(collections) == 1:
        return collections[0]
    documents: dict[str, Document] = {}
    coders_of: dict[str, set[str]] = {}
    coder_axes: dict[str, list[str]] = {}
    seen: dict[tuple[str, str], str] = {}  # (document, coder) -> source, to refuse the same coding twice
    for collection in collections:
        for doc_id, document in collection.documents.items():
            if doc_id in documents and documents[doc_id].text != document.text:
                raise InputError(collection.source, f"document '{doc_id}' has another text than in "
                                 f"{documents[doc_id].source}; agreement needs the same transcript for every coder")
            documents.setdefault(doc_id, document)
            for coder in collection.coders_of(doc_id):
                if (doc_id, coder) in seen:
                    raise InputError(collection.source, f"coder '{coder}' coded document '{doc_id}' here and in "
                                     f"{seen[doc_id, coder]}; give each coder's coding of a document once")
                seen[doc_id, coder] = collection.source
                coders_of.setdefault(doc_id, set()).add(coder)
        for coder, axes in collection.coder_axes.items():
            if coder_axes.setdefault(coder, list(axes)) != list(axes):
                raise InputError(collection.source, f"coder_axes of '{coder}' differ between the inputs")
    merged_documents = {
        doc_id: replace(doc, metadata={**doc.metadata, "coders": sorted(coders_of.get(doc_id, ()))})
        for doc_id, doc in documents.items()
    }
    return Collection(
        name="+".join(c.name for c in collections),
        source=", ".join(c.source for c in collections),
        documents=merged_documents,
        codings=[coding for c in collections for coding in c.codings],
        synthetic=any(c.synthetic for c in collections),
        coder_axes=coder_axes,
    )


def _refuse_unmapped(collections: list[Collection], codebook: Codebook) -> None:
    for collection in collections:
        if collection.unmapped_codes:
            names = ", ".join(f"'{name}' ({n} codings)" for name, n in sorted(collection.unmapped_codes.items()))
            raise InputError(
                collection.source,
                f"codes not in the codebook: {names}; agreement needs every code mapped: add them as aliases "
                f"in {codebook.source} or remove them (known codes: {', '.join(codebook.code_ids)})",
            )


def load_coded_material(
    inputs: Sequence[Path], codebook: Codebook, *, max_fragment_tokens: int, min_fragment_share: float,
    min_span_share: float,
) -> CodedMaterial:
    """Load, merge, segment and align the inputs into fragment records with per-coder labels."""
    collections = [load_collection(path, codebook) for path in inputs]
    _refuse_unmapped(collections, codebook)
    collection = _merge(collections)
    labelled = label_collection(collection, codebook, max_fragment_tokens=max_fragment_tokens,
                                min_fragment_share=min_fragment_share, min_span_share=min_span_share)
    alignment = labelled.alignment
    records = [{**fragment.to_dict(), "labels": labels} for fragment, labels in zip(labelled.fragments, labelled.labels)
               if fragment.codable and labels]
    coders = sorted({coder for r in records for coder in r["labels"]})
    counts = {
        "n_documents": len(collection.documents),
        "n_fragments": len(labelled.fragments),
        "n_codable_fragments_coded": len(records),
        "fragments_per_coder": {c: sum(c in r["labels"] for r in records) for c in coders},
        "alignment": {k: v for k, v in alignment.to_dict().items() if k != "unaligned"},
    }
    return CodedMaterial(records, coders, collection.synthetic, [str(p) for p in inputs], counts)


def add_model_coder(material: CodedMaterial, *, model_dir: Path, codebook: Codebook, params: PredictParams) -> None:
    """Let the model code the same fragments, as coder ``model`` (every axis)."""
    from pipeline.model.apply import apply_model

    if MODEL_CODER in material.coders:
        raise InputError(", ".join(material.inputs), f"a human coder is called '{MODEL_CODER}'; rename that user "
                         "before comparing with --model")
    predicted, metadata = apply_model([{"id": r["id"], "text": r["text"], "codable": True} for r in material.records],
                                      model_dir=model_dir, codebook=codebook, params=params)
    for record, prediction in zip(material.records, predicted):
        record["labels"][MODEL_CODER] = dict(prediction["labels"])
    material.coders.append(MODEL_CODER)
    material.counts["fragments_per_coder"][MODEL_CODER] = len(material.records)
    seen = set(metadata.training_documents)
    material.counts["model"] = {"identity": metadata.identity, "directory": str(model_dir),
                                "trained_on_synthetic_data": metadata.synthetic_training_data,
                                "label_coder": metadata.label_coder,
                                "fragments_in_training_documents": sum(r["document"] in seen for r in material.records)}


def _training_overlap_notes(material: CodedMaterial) -> list[str]:
    """Say so when the model is compared on interviews it was trained or tuned on."""
    model = material.counts.get("model") or {}
    seen = model.get("fragments_in_training_documents", 0)
    if not seen:
        return []
    return [f"the model was trained (or had its thresholds tuned) on coder {model['label_coder']}'s coding of the "
            f"interviews behind {seen} of these {len(material.records)} fragments: its agreement there is not a "
            "held-out test; `capcode evaluate` reports it on held-out interviews only"]


def _check_comparable(material: CodedMaterial) -> None:
    where = ", ".join(material.inputs)
    if len(material.coders) < 2:
        found = f"only one coder ('{material.coders[0]}')" if material.coders else "no coded respondent fragments"
        raise InputError(where, f"{found}; agreement needs at least two coders (several users in a .qdpx, "
                         "several inputs, or --model)")
    if not overlapping_pairs([r["labels"] for r in material.records], material.coders):
        raise InputError(where, f"coders {', '.join(material.coders)} never coded the same fragment on the same "
                         "axis; agreement needs overlapping coding")


# --------------------------------------------------------------------------- the command


def _bootstrap_settings(params: AgreementParams, n_boot: int | None, seed: int | None) -> tuple[int, int]:
    return (int(params.n_boot) if n_boot is None else n_boot, int(params.seed) if seed is None else seed)


def csv_report(
    path: Path, *, level: str, categories: Sequence[str] | None, n_boot: int, seed: int, confidence: float = 0.95
) -> dict[str, Any]:
    """The summary object of a ``unit,coder,value`` ratings CSV."""
    ratings, _, _ = read_ratings_csv(path, level=level, categories=categories)
    return agreement_summary(ratings, level=level, categories=None if categories is None else
                             list(range(len(categories))), n_boot=n_boot, seed=seed,
                             confidence=confidence)


def agreement(
    *,
    inputs: Sequence[Path],
    output: Path,
    level: str | None = None,
    categories: Sequence[str] | None = None,
    model_dir: Path | None = None,
    params_path: Path | None = None,
    codebook_path: Path | None = None,
    n_boot: int | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """Compute agreement on ``inputs`` and write ``output`` (.json or .html); return the report.

    One ``.csv`` input is a ratings table (``level`` default nominal; ``categories`` optional, in order);
    anything else is coded material (``level`` must be nominal or unset).
    """
    check_output_file(output, OUTPUT_SUFFIXES)
    if level is not None and level not in LEVELS:
        raise InputError("--level", f"unknown level '{level}'; expected one of {', '.join(LEVELS)}")
    all_params = load_params(params_path)
    n_boot, seed = _bootstrap_settings(all_params.agreement, n_boot, seed)
    confidence = all_params.agreement.confidence
    csv_inputs = [p for p in inputs if p.suffix.lower() == ".csv"]
    if csv_inputs:
        if len(inputs) != 1:
            raise InputError(csv_inputs[0], "a ratings CSV is compared on its own; give exactly one .csv input")
        if model_dir is not None:
            raise InputError(csv_inputs[0], "--model needs coded transcripts (corpus directory or .qdpx), not a CSV")
        level = level or "nominal"
        if categories is not None and level not in ("nominal", "ordinal"):
            raise InputError("--categories", f"categories apply at nominal and ordinal level, not {level}")
        report = csv_report(csv_inputs[0], level=level, categories=categories, n_boot=n_boot, seed=seed,
                            confidence=confidence)
        page_info = {"mode": "csv", "inputs": [str(csv_inputs[0])], "level": level,
                     "bootstrap": {"n_boot": n_boot, "seed": seed, "confidence": confidence}}
    else:
        if level not in (None, "nominal"):
            raise InputError("--level", f"codes and axes are nominal; --level {level} applies to a ratings CSV only")
        if categories is not None:
            raise InputError("--categories", "categories come from the codebook for coded material")
        codebook = load_codebook(codebook_path)
        segment_params = all_params.segment
        prepare_params = all_params.prepare
        material = load_coded_material(
            inputs, codebook, max_fragment_tokens=int(segment_params.max_fragment_tokens),
            min_fragment_share=float(prepare_params.min_fragment_share),
            min_span_share=float(prepare_params.min_span_share),
        )
        if model_dir is not None:
            predict_params = all_params.predict
            add_model_coder(material, model_dir=model_dir, codebook=codebook, params=predict_params)
        _check_comparable(material)
        report = agreement_report(material.records, material.coders, codebook, n_boot=n_boot, seed=seed,
                                  confidence=confidence)
        report["notes"] = [*report["notes"], *_training_overlap_notes(material)]
        report = {
            "mode": "coded", "coders": material.coders, "synthetic": material.synthetic, "inputs": material.inputs,
            "unit": "one fragment x one code (1 = given, 0 = not given), all codes pooled",
            "data": material.counts,
            "bootstrap": {"n_boot": n_boot, "seed": seed, "confidence": confidence},
            "categories": {"code": list(CODE_CATEGORIES), **{a.id: axis_categories(a) for a in codebook.axes}},
            **report,
        }
        page_info = {}
    write_agreement(output, report, page_info)
    return report


def write_agreement(output: Path, report: dict[str, Any], page_info: dict[str, Any]) -> None:
    """Write the report as JSON or as the HTML page (atomically: no partial file on failure)."""
    if output.suffix.lower() == ".json":
        write_json(output, report)
        return
    from pipeline.report.html import agreement_page

    html = agreement_page(report, **page_info)
    with atomic_writer(output) as handle:
        handle.write(html)
