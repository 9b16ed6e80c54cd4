"""`capcode agreement`: inter-rater agreement between coders (and the model) on coded material or a ratings table.

Two kinds of input:

- **Coded material**: one `.qdpx` with several users, several corpus directories / `.qdpx` projects (one per
  coder, or any mix; documents with the same id must have the same text), or a corpus directory with span
  codings of several coders.

  *Which codes.* When every coding maps onto capcode's codebook (names, labels, aliases, or through an
  ancestor code), agreement is on the six capacity codes and their axes, as before. Otherwise it is on the
  project's **own codes** (`pipeline.corpus.own_codes`): every code, or those chosen with ``codes`` (names or
  folders), rolled up to ``depth``. ``codes=["capcode"]`` insists on capcode's six (unmapped names are then
  an error). A code that only one coder used is reported like any other (its coefficients are low or
  undefined, and ``scheme.codings_per_code`` shows who used it).

  *Which units* (``unit``), said in the report's ``unit``:
  - ``fragment`` (default): capcode's segmentation (`segment.max_fragment_tokens`); every coder's spans are
    aligned onto the fragments (`prepare.min_fragment_share`, `prepare.min_span_share`). With capcode's
    codebook only respondent fragments count (as in training); with a project's own codes every fragment.
  - ``paragraph``: the source's paragraphs (lines), aligned the same way; every paragraph counts.
  - ``character``: every character of every source is a unit (`pipeline.reliability.characters`):
    percent agreement and Cohen's kappa per code, per source and per coder pair, and Krippendorff's
    unitizing alpha.

  For segment units a coder rates a unit only when it belongs to a document the coder coded, and (capcode's
  codebook) only on the axes the coder coded (`coder_axes`); elsewhere the rating is missing, never
  "absent", and the missing decisions are counted (``missing``). With ``model_dir`` the model's predictions
  on the same fragments join as coder ``model`` (capcode's codebook, fragment units).
- **A reviewed project** (``reviewer``): `.qdpx` projects that went out with capcode's suggestions and came
  back reviewed (`pipeline.corpus.review`): only the reviewed interviews, the reviewer and capcode's
  suggestions users as the coders, and a ``review`` block: ``{reviewer, inputs: {input: what was reviewed},
  outcomes: {suggestions user: {code: {accepted, rejected, added}}}}``.
- **A ratings table** (`pipeline.reliability.table`: ``,`` ``;`` or tab, long ``unit,coder,value`` or wide
  one-column-per-coder, missing values counted) at ``level`` nominal, ordinal, interval or ratio.

The result (what ``-o report.json`` holds; ``-o report.html`` renders it for a reader):

- Ratings table: one *summary* object (below) plus ``table`` (layout, delimiter, missing values per coder),
  ``pairs`` (coder pair -> summary) and ``per_coder``.
- Coded material, segment units: the top level is a summary for **all coders over all code decisions
  pooled** (a unit is one fragment x one code, value 1 = code given, 0 = not given), plus::

    mode: "coded", unit: "fragment"|"paragraph", unit_description, coders, synthetic, inputs, data: {counts},
    scheme: {codebook: "capcode"|"project", codes, depth, selection, codings_per_code, ...},
    categories: {"code": ["absent", "present"], "<axis id>": [...]}    # axes with capcode's codebook only
    per_code: {code: summary}, per_axis: {axis id: summary}
    pairs: {"<coder> vs <coder>": {coders: [a, b], <pooled summary keys>, per_code: {...}, per_axis: {...}}}
    per_coder: {coder: {n_units_rated, n_pairs, mean_percent_agreement, mean_cohen_kappa,
                        mean_krippendorff_alpha, krippendorff_alpha_without}}
    missing: {n_missing, by_coder, n_decisions}
    disagreements: [{code, unit, document, start, end, text, coded_by, not_coded_by}] (first 500, by code),
    n_disagreements

- Coded material, character units: ``mode``, ``unit: "character"``, ``coders``, ``scheme``, ``data`` and the
  blocks of `pipeline.reliability.characters.character_report` (``krippendorff_alpha_u``, ``codes``,
  ``pairs`` with ``codes`` and ``sources``, ``per_coder``, ``disagreements``).

Numbers in the written JSON are rounded to 4 decimals for reading (`round_floats`); the dict that
`agreement` returns keeps full precision for Python callers. (`capcode evaluate`'s metrics.json, which
``dvc metrics diff`` compares, is not rounded.)

A *summary* is `pipeline.reliability.summary.agreement_summary`: ``n_units``, ``n_units_compared`` (units rated by
two or more coders, the ones the coefficients use), ``n_coders``, ``percent_agreement``,
``krippendorff_alpha``, ``cohen_kappa`` (null unless exactly two coders), ``scott_pi``, ``fleiss_kappa``,
``gwet_ac1``, ``brennan_prediger`` (a number, or null with a line in ``notes``), ``notes`` and ``ci95``
(coefficient -> [low, high] percentile bootstrap interval over units, or null). The chance terms of Gwet's
AC1 and Brennan-Prediger use the codebook's categories (2 per code, 4 per axis), even when the data use
fewer; the other coefficients depend only on categories that occur. Bootstrap settings: params `agreement`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.codebook import Axis, Codebook, load_codebook
from pipeline.core.documents import Document
from pipeline.core.errors import InputError
from pipeline.core.io_utils import atomic_writer, check_output_file, write_json
from pipeline.core.params import AgreementParams, PredictParams, load_params
from pipeline.corpus.collection import Collection
from pipeline.corpus.labelling import label_collection
from pipeline.corpus.loading import load_corpus_dir
from pipeline.corpus.own_codes import OwnCodes, own_codes_collection, select_flat_codes
from pipeline.corpus.review import ReviewedProject, read_reviewed, review_outcomes
from pipeline.qdpx.importer import project_to_collection, read_project
from pipeline.qdpx.project import QdaProject
from pipeline.reliability.breakdown import disagreements, missing_ratings, per_coder
from pipeline.reliability.characters import character_report
from pipeline.reliability.coefficients import LEVELS
from pipeline.reliability.ratings import (
    CHANCE_NOTE,
    CODE_CATEGORIES,
    MODEL_CODER,
    axis_categories,
    codes_block,
    overlapping_pairs,
    pair_key,
)
from pipeline.reliability.summary import agreement_summary
from pipeline.reliability.table import LAYOUTS, RatingsTable, read_ratings_table

OUTPUT_SUFFIXES = (".json", ".html")
UNITS = ("fragment", "paragraph", "character")
CAPCODE = "capcode"
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xls", ".ods")
UNIT_DESCRIPTIONS = {
    "fragment": "fragments (capcode's segmentation into speaker turns and sentences); per code, each coder's "
                "code is present or absent in a fragment",
    "paragraph": "paragraphs (the source's lines); per code, each coder's code is present or absent in a paragraph",
    "character": "characters: per code, which characters each coder coded with it (QDA programs' coding "
                 "comparison), and Krippendorff's unitizing alpha over the coded spans",
}
ROUND_DIGITS = 4
# Bootstrap intervals per code up to this many codes (each costs n_boot resamples of the units), and for the
# pooled figures up to this many unit x code decisions (the pooled bootstrap resamples all of them). On the
# NVivo sample with a second coder (README item 37, reports/hardware/intel-avx512bf16/round19/): by fragment,
# 34 codes and 47,736 decisions, 8.2 s with every interval; by paragraph, 15,262 paragraphs, 21.2 s with an
# interval for each code, while its 518,908 pooled decisions stay over the limit.
MAX_CODES_WITH_INTERVALS = 50
MAX_POOLED_WITH_INTERVALS = 250_000


def round_floats(value: Any, digits: int = ROUND_DIGITS) -> Any:
    """``value`` with every float rounded to ``digits`` decimals (for reading: 0.8 instead of 0.7999999999999999)."""
    if isinstance(value, float):
        return value if not math.isfinite(value) else round(value, digits) + 0.0
    if isinstance(value, dict):
        return {k: round_floats(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [round_floats(v, digits) for v in value]
    return value


def agreement_report(
    records: Sequence[dict[str, Any]], coders: Sequence[str], codes: Sequence[str], axes: Sequence[Axis] = (), *,
    n_boot: int, seed: int, confidence: float = 0.95,
) -> dict[str, Any]:
    """The segment-unit report (module docstring) over records with ``labels`` per coder.

    Per-code intervals cost a bootstrap per code and pair; beyond `MAX_CODES_WITH_INTERVALS` codes only the
    pooled figures get intervals (a note says so). With two coders the pair is the whole report, computed once.
    """
    per_code_boot = n_boot if len(codes) <= MAX_CODES_WITH_INTERVALS else 0
    pooled_boot = n_boot if len(records) * len(codes) <= MAX_POOLED_WITH_INTERVALS else 0
    labels = [r["labels"] for r in records]
    report = codes_block(labels, coders, codes, axes, n_boot=pooled_boot, seed=seed, per_code_boot=per_code_boot,
                         confidence=confidence)
    report["notes"] = [*report["notes"], CHANCE_NOTE if axes else CHANCE_NOTE.split(" and 4 per axis")[0] + "."]
    if per_code_boot != n_boot and n_boot:
        report["notes"].append(f"{len(codes)} codes: no 95% intervals per code (computed for up to "
                               f"{MAX_CODES_WITH_INTERVALS} codes; choose codes with --codes or roll them up with "
                               "--depth)")
    if pooled_boot != n_boot and n_boot:
        report["notes"].append(f"{len(records) * len(codes)} pooled unit x code decisions: no 95% interval for the "
                               f"pooled figures (computed up to {MAX_POOLED_WITH_INTERVALS} decisions)")
    report["pairs"] = {}
    for first, second in overlapping_pairs(labels, coders):
        if len(coders) == 2:
            block = {k: v for k, v in report.items() if k not in ("pairs",)}
        else:
            block = codes_block(labels, [first, second], codes, axes, n_boot=pooled_boot, seed=seed,
                                per_code_boot=per_code_boot, confidence=confidence)
        report["pairs"][pair_key(first, second)] = {"coders": [first, second], **block}
    report["per_coder"] = per_coder(records, coders, codes, report["pairs"])
    report["missing"] = missing_ratings(records, coders, codes)
    found = disagreements(records, codes)
    report["n_disagreements"] = len(found)
    report["disagreements"] = found[:500]
    return report


# --------------------------------------------------------------------------- coded material


@dataclass
class CodedMaterial:
    """The coded inputs merged into one collection, with the codes agreement is computed on."""

    collection: Collection
    codes: list[str]
    axes: tuple[Axis, ...]  # capcode's axes; empty for a project's own codes
    scheme: dict[str, Any]
    inputs: list[str]
    codebook: Codebook | None = None  # capcode's codebook; None for a project's own codes
    records: list[dict[str, Any]] = field(default_factory=list)  # segment units: id, text, ..., labels
    coders: list[str] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)
    reviewed: list[ReviewedProject] = field(default_factory=list)  # --reviewer: the reviewed projects

    @property
    def synthetic(self) -> bool:
        return self.collection.synthetic


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
            names = sorted(collection.unmapped_codes.items(), key=lambda item: (-item[1], item[0]))
            shown = ", ".join(f"'{name}' ({n} codings)" for name, n in names[:5])
            more = f" and {len(names) - 5} more" if len(names) > 5 else ""
            raise InputError(
                collection.source,
                f"--codes capcode, but {len(names)} code(s) are not in capcode's codebook: {shown}{more}; leave out "
                f"--codes to compare the coders on the project's own codes, or map the names with a codebook of "
                f"your own (--codebook, aliases as in {codebook.source})",
            )


def _read(path: Path, codebook: Codebook) -> tuple[Collection, QdaProject | None]:
    """A collection mapped onto capcode's codebook, and the project behind it when it is a `.qdpx`."""
    if path.suffix.lower() == ".qdpx":
        project = read_project(path)
        return project_to_collection(project, codebook), project
    if path.is_dir():
        return load_corpus_dir(path, codebook), None
    if not path.exists():
        raise InputError(path, "not found; expected a corpus directory, a .qdpx project or a ratings .csv")
    raise InputError(path, "expected a corpus directory (with collection.yaml), a .qdpx project or a ratings .csv")


def _own_codes(path: Path, collection: Collection, project: QdaProject | None, codebook: Codebook,
               selection: Sequence[str], depth: int | None) -> tuple[Collection, OwnCodes]:
    if project is not None:
        return own_codes_collection(collection, project, selection=selection, depth=depth)
    if depth is not None:
        raise InputError(path, "--depth rolls up a code tree; the codes of a corpus directory are flat")
    return select_flat_codes(load_corpus_dir(path, codebook, own_codes=True), selection=selection)


def load_material(inputs: Sequence[Path], codebook: Codebook, *, codes: Sequence[str] | None = None,
                  depth: int | None = None) -> CodedMaterial:
    """Read and merge the inputs, and choose the codes (capcode's or the project's own; module docstring)."""
    read = [(Path(p), *_read(Path(p), codebook)) for p in inputs]
    collections = [collection for _, collection, _ in read]
    insist = codes is not None and [c.casefold() for c in codes] == [CAPCODE]
    unmapped = {name: n for c in collections for name, n in c.unmapped_codes.items()}
    if insist or (codes is None and depth is None and not unmapped):
        if depth is not None:
            raise InputError("--depth", "capcode's six codes have no tree to roll up; --depth applies to a "
                             "project's own codes")
        _refuse_unmapped(collections, codebook)
        scheme: dict[str, Any] = {"codebook": CAPCODE, "source": codebook.source, "codes": codebook.code_ids}
        return CodedMaterial(_merge(collections), codebook.code_ids, codebook.axes, scheme, [str(p) for p in inputs],
                             codebook)
    owned = [_own_codes(path, c, project, codebook, codes or (), depth) for path, c, project in read]
    merged = _merge([c for c, _ in owned])
    names = list(dict.fromkeys(name for _, info in owned for name in info.codes))
    per_code: dict[str, dict[str, int]] = {}
    for _, info in owned:
        for name, by_coder in info.codings_per_code.items():
            for coder, n in by_coder.items():
                per_code.setdefault(name, {})[coder] = per_code.get(name, {}).get(coder, 0) + n
    scheme = {"codebook": "project", "codes": names, "depth": depth, "selection": list(codes or ()),
              "n_codings_not_selected": sum(info.n_codings_not_selected for _, info in owned),
              "n_overlaps_united": sum(info.n_overlaps_united for _, info in owned),
              "codings_per_code": per_code,
              "reason": ("chosen with --codes/--depth" if codes or depth else
                         f"{len(unmapped)} code name(s) are not capcode's: the project's own codes are compared")}
    return CodedMaterial(merged, names, (), scheme, [str(p) for p in inputs])


def load_reviewed_material(inputs: Sequence[Path], codebook: Codebook, *, reviewer: str) -> CodedMaterial:
    """The reviewed interviews of reviewed `.qdpx` projects (`pipeline.corpus.review`): the reviewer and
    capcode's suggestions users as the coders, on capcode's codes."""
    reviewed = []
    for path in map(Path, inputs):
        if path.suffix.lower() != ".qdpx":
            raise InputError(path, "--reviewer compares capcode's suggestions with a reviewer in a reviewed .qdpx "
                             "project; give .qdpx projects")
        reviewed.append(read_reviewed(read_project(path), codebook, reviewer=reviewer))
    scheme: dict[str, Any] = {"codebook": CAPCODE, "source": codebook.source, "codes": codebook.code_ids}
    material = CodedMaterial(_merge([r.collection for r in reviewed]), codebook.code_ids, codebook.axes, scheme,
                             [str(p) for p in inputs], codebook)
    material.reviewed = reviewed
    return material


def review_block(material: CodedMaterial) -> dict[str, Any]:
    """What was reviewed (per input) and per suggestions user the accepted / rejected / added suggestions per
    code, on the fragments compared."""
    assert material.codebook is not None
    reviewer = material.reviewed[0].reviewer
    suggesters = list(dict.fromkeys(s for r in material.reviewed for s in r.suggesters))
    return {"reviewer": reviewer, "inputs": {p: r.summary() for p, r in zip(material.inputs, material.reviewed)},
            "outcomes": {s: review_outcomes(material.records, reviewer=reviewer, suggester=s,
                                            codebook=material.codebook) for s in suggesters}}


def segment_units(material: CodedMaterial, *, unit: str, max_fragment_tokens: int, min_fragment_share: float,
                  min_span_share: float) -> None:
    """Cut the documents into fragments or paragraphs, align every coder's spans, fill ``records``."""
    collection = material.collection
    capcode = material.codebook is not None
    labelled = label_collection(collection, material.codebook, max_fragment_tokens=max_fragment_tokens,
                                min_fragment_share=min_fragment_share, min_span_share=min_span_share, unit=unit,
                                codes=material.codes)
    units, alignment = labelled.fragments, labelled.alignment
    records = [{**fragment.to_dict(), "labels": labels} for fragment, labels in zip(units, labelled.labels)
               if labels and (fragment.codable or not capcode)]
    material.records = records
    material.coders = sorted({coder for r in records for coder in r["labels"]})
    material.counts = {
        "n_documents": len(collection.documents),
        f"n_{unit}s": len(units),
        f"n_{unit}s_compared": len(records),
        "units_per_coder": {c: sum(c in r["labels"] for r in records) for c in material.coders},
        "alignment": {k: v for k, v in alignment.to_dict().items() if k != "unaligned"},
    }
    if unit == "fragment":  # the names the report and its tests have always used
        material.counts["n_fragments"] = len(units)
        material.counts["n_codable_fragments_coded"] = len(records)
        material.counts["fragments_per_coder"] = material.counts["units_per_coder"]


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
    material.counts["units_per_coder"][MODEL_CODER] = len(material.records)
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


def _check_comparable(material: CodedMaterial, unit: str) -> None:
    where = ", ".join(material.inputs)
    if len(material.coders) < 2:
        what = "coded respondent fragments" if unit == "fragment" and material.scheme["codebook"] == CAPCODE \
            else "codings"
        found = f"only one coder ('{material.coders[0]}')" if material.coders else f"no {what}"
        raise InputError(where, f"{found}; agreement needs at least two coders (several users in a .qdpx, "
                         "several inputs, or --model)")
    if unit != "character" and not overlapping_pairs([r["labels"] for r in material.records], material.coders):
        raise InputError(where, f"coders {', '.join(material.coders)} never coded the same {unit} on the same "
                         "codes; agreement needs overlapping coding")
    if unit == "character":
        docs = material.collection.documents
        if not any(sum(c in material.collection.coders_of(d) for c in material.coders) >= 2 for d in docs):
            raise InputError(where, f"coders {', '.join(material.coders)} never coded the same source; agreement "
                             "needs overlapping coding")


def _character_report(material: CodedMaterial) -> dict[str, Any]:
    collection = material.collection
    if collection.coder_axes:
        raise InputError(", ".join(material.inputs), "--unit character compares every code, but coder_axes says "
                         "some coders coded only some axes; use --unit fragment or paragraph")
    material.coders = collection.coders
    _check_comparable(material, "character")
    documents = {doc_id: doc.text for doc_id, doc in collection.documents.items()}
    coders_of = {doc_id: collection.coders_of(doc_id) for doc_id in documents}
    material.counts = {"n_documents": len(documents), "n_characters": sum(len(t) for t in documents.values()),
                       "n_codings": len(collection.codings),
                       "codings_per_coder": {c: sum(x.coder == c for x in collection.codings) for c in collection.coders},
                       "documents_per_coder": {c: sum(c in cs for cs in coders_of.values()) for c in collection.coders}}
    return character_report(documents=documents, codings=collection.codings, coders_of=coders_of,
                            coders=material.coders, codes=material.codes)


# --------------------------------------------------------------------------- ratings tables


def table_report(path: Path, *, level: str, categories: Sequence[str] | None, layout: str, missing: Sequence[str],
                 n_boot: int, seed: int, confidence: float = 0.95) -> tuple[dict[str, Any], RatingsTable]:
    """The summary of a ratings table, with per-pair and per-coder figures and what the reader found."""
    table = read_ratings_table(path, level=level, categories=categories, layout=layout, missing=missing)
    q = None if categories is None else list(range(len(categories)))
    report = agreement_summary(table.ratings, level=level, categories=q, n_boot=n_boot, seed=seed,
                               confidence=confidence)
    pairs: dict[str, Any] = {}
    n = len(table.coder_ids)
    for i in range(n):
        for j in range(i + 1, n):
            sub = table.ratings[[i, j]]
            if ((~np.isnan(sub)).sum(axis=0) == 2).any():
                pairs[pair_key(table.coder_ids[i], table.coder_ids[j])] = {
                    "coders": [table.coder_ids[i], table.coder_ids[j]],
                    **agreement_summary(sub, level=level, categories=q, n_boot=0)}
    rows: dict[str, Any] = {}
    for i, coder in enumerate(table.coder_ids):
        mine = [p for p in pairs.values() if coder in p["coders"]]
        others = [k for k in range(n) if k != i]
        without = None
        if len(others) >= 2:
            without = agreement_summary(table.ratings[others], level=level, categories=q, n_boot=0)[
                "krippendorff_alpha"]
        rows[coder] = {"n_units_rated": int((~np.isnan(table.ratings[i])).sum()), "n_pairs": len(mine),
                       "n_missing": table.missing_by_coder.get(coder, 0),
                       **{f"mean_{k}": _mean([p[k] for p in mine])
                          for k in ("percent_agreement", "cohen_kappa", "krippendorff_alpha")},
                       "krippendorff_alpha_without": without}
    report["pairs"] = pairs
    report["per_coder"] = rows
    report["table"] = table.summary()
    if table.n_missing:
        report["notes"] = [*report["notes"], f"{table.n_missing} missing rating(s) "
                           f"({', '.join(f'{k}: {v}' for k, v in table.missing_markers.items())}) are left out, "
                           "not counted as a category"]
    return report, table


def _mean(values: Sequence[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None


# --------------------------------------------------------------------------- the command


def _bootstrap_settings(params: AgreementParams, n_boot: int | None, seed: int | None) -> tuple[int, int]:
    return (int(params.n_boot) if n_boot is None else n_boot, int(params.seed) if seed is None else seed)


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
    codes: Sequence[str] | None = None,
    depth: int | None = None,
    unit: str = "fragment",
    layout: str = "auto",
    missing: Sequence[str] = (),
    reviewer: str | None = None,
) -> dict[str, Any]:
    """Compute agreement on ``inputs`` and write ``output`` (.json or .html); return the report.

    One ratings table (``.csv``, ``.tsv``, ``.txt``) is compared on its own (``level`` default nominal;
    ``categories`` optional, in order; ``layout`` auto, long or wide; ``missing`` extra missing-value
    markers); anything else is coded material (``level`` must be nominal or unset), see the module docstring
    for ``codes``, ``depth``, ``unit`` and ``reviewer``.
    """
    check_output_file(output, OUTPUT_SUFFIXES)
    if level is not None and level not in LEVELS:
        raise InputError("--level", f"unknown level '{level}'; expected one of {', '.join(LEVELS)}")
    if unit not in UNITS:
        raise InputError("--unit", f"unknown unit '{unit}'; expected one of {', '.join(UNITS)}")
    if layout not in LAYOUTS:
        raise InputError("--layout", f"unknown layout '{layout}'; expected one of {', '.join(LAYOUTS)}")
    all_params = load_params(params_path)
    n_boot, seed = _bootstrap_settings(all_params.agreement, n_boot, seed)
    confidence = all_params.agreement.confidence
    tables = [p for p in inputs if p.suffix.lower() in TABLE_SUFFIXES]
    if tables and reviewer is not None:
        raise InputError(tables[0], "--reviewer compares capcode's suggestions in a reviewed .qdpx, not a ratings table")
    if tables:
        report, page_info = _table_mode(tables[0], inputs, level=level, categories=categories, layout=layout,
                                        missing=missing, model_dir=model_dir, codes=codes, depth=depth, unit=unit,
                                        n_boot=n_boot, seed=seed, confidence=confidence)
    else:
        if level not in (None, "nominal"):
            raise InputError("--level", f"codes and axes are nominal; --level {level} applies to a ratings table only")
        if categories is not None:
            raise InputError("--categories", "categories come from the codebook for coded material")
        if layout != "auto" or missing:
            raise InputError("--layout" if layout != "auto" else "--missing", "applies to a ratings table only")
        report = _coded_mode(inputs, codebook_path=codebook_path, all_params=all_params, model_dir=model_dir,
                             codes=codes, depth=depth, unit=unit, n_boot=n_boot, seed=seed, confidence=confidence,
                             reviewer=reviewer)
        page_info = {}
    write_agreement(output, report, page_info)
    return report


def _table_mode(path: Path, inputs: Sequence[Path], *, level: str | None, categories: Sequence[str] | None,
                layout: str, missing: Sequence[str], model_dir: Path | None, codes: Sequence[str] | None,
                depth: int | None, unit: str, n_boot: int, seed: int,
                confidence: float = 0.95) -> tuple[dict[str, Any], dict[str, Any]]:
    if len(inputs) != 1:
        raise InputError(path, "a ratings table is compared on its own; give exactly one table")
    if model_dir is not None:
        raise InputError(path, "--model needs coded transcripts (corpus directory or .qdpx), not a ratings table")
    if codes is not None or depth is not None or unit != "fragment":
        raise InputError(path, "--codes, --depth and --unit apply to coded material, not a ratings table")
    level = level or "nominal"
    if categories is not None and level not in ("nominal", "ordinal"):
        raise InputError("--categories", f"categories apply at nominal and ordinal level, not {level}")
    report, _ = table_report(path, level=level, categories=categories, layout=layout, missing=missing,
                             n_boot=n_boot, seed=seed, confidence=confidence)
    page_info = {"mode": "csv", "inputs": [str(path)], "level": level,
                 "bootstrap": {"n_boot": n_boot, "seed": seed, "confidence": confidence}}
    return report, page_info


def _coded_mode(inputs: Sequence[Path], *, codebook_path: Path | None, all_params: Any, model_dir: Path | None,
                codes: Sequence[str] | None, depth: int | None, unit: str, n_boot: int, seed: int,
                confidence: float = 0.95, reviewer: str | None = None) -> dict[str, Any]:
    codebook = load_codebook(codebook_path)
    if reviewer is not None:
        if codes is not None or depth is not None or unit != "fragment":
            raise InputError("--reviewer", "compares capcode's suggestions on capcode's codes, by fragment; leave "
                             "out --codes, --depth and --unit")
        material = load_reviewed_material(inputs, codebook, reviewer=reviewer)
    else:
        material = load_material(inputs, codebook, codes=codes, depth=depth)
    capcode = material.scheme["codebook"] == CAPCODE
    if model_dir is not None and (not capcode or unit != "fragment"):
        raise InputError("--model", "the model codes capcode's six codes on fragments; it cannot join a comparison "
                         "on a project's own codes or on other units")
    head: dict[str, Any] = {"mode": "coded", "unit": unit, "unit_description": UNIT_DESCRIPTIONS[unit]}
    if unit == "character":
        body = _character_report(material)
        body["notes"] = ["character units: every character of a source is a unit; a pair is compared on the "
                         "sources both coders coded, all coders together on the sources every one of them coded"]
    else:
        segment_params, prepare_params = all_params.segment, all_params.prepare
        segment_units(material, unit=unit, max_fragment_tokens=int(segment_params.max_fragment_tokens),
                      min_fragment_share=float(prepare_params.min_fragment_share),
                      min_span_share=float(prepare_params.min_span_share))
        if model_dir is not None:
            add_model_coder(material, model_dir=model_dir, codebook=codebook, params=all_params.predict)
        _check_comparable(material, unit)
        body = agreement_report(material.records, material.coders, material.codes, material.axes,
                                n_boot=n_boot, seed=seed, confidence=confidence)
        body["notes"] = [*body["notes"], *_training_overlap_notes(material)]
        if material.reviewed:
            body["review"] = review_block(material)
        head["bootstrap"] = {"n_boot": n_boot, "seed": seed, "confidence": confidence}
        head["categories"] = {"code": list(CODE_CATEGORIES), **{a.id: axis_categories(a) for a in material.axes}}
    return {**head, "coders": material.coders, "synthetic": material.synthetic, "inputs": material.inputs,
            "scheme": material.scheme, "data": material.counts, **body}


def write_agreement(output: Path, report: dict[str, Any], page_info: dict[str, Any]) -> None:
    """Write the report as JSON (numbers rounded, `round_floats`) or as the HTML page (atomically)."""
    if output.suffix.lower() == ".json":
        write_json(output, round_floats(report))
        return
    from pipeline.report.html import agreement_page

    html = agreement_page(report, **page_info)
    with atomic_writer(output) as handle:
        handle.write(html)
