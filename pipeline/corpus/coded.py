"""Coded fragments from any coded material, one record per fragment with every coder's labels.

What `capcode profile` (and anything else that compares codings per case) reads:

- a corpus directory or a `.qdpx` project: segmented and every coder's spans aligned onto the fragments,
  as `prepare` does (`segment.max_fragment_tokens`, `prepare.min_fragment_share`, `prepare.min_span_share`);
- the output directory of `prepare` (or its `fragments.jsonl`, with `documents.jsonl` beside it): the
  fragments with their per-coder labels as prepared, optionally only some splits or collections;
- predictions `.jsonl` as `capcode predict`/`export` write them (one line per fragment with `id`, `document`,
  `labels` {code: 0|1} and optionally `scores`, `coded`, `case`, ...) or as the cross-validation writes
  them: one *model* coder, joined onto the other inputs' fragments by fragment id.

Only respondent (codable) fragments are kept. A record is ``{id, document, text, speaker, role, start, end,
fields, labels: {coder: {code: 0|1}}, scores: {coder: {code: probability}}}``; ``fields`` holds a prediction
line's own extra fields (a `case` given per line). Document metadata (municipality, respondent role, a
`.qdpx`'s Cases and variables) is kept per document.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.core.codebook import Codebook
from pipeline.core.errors import InputError
from pipeline.core.io_utils import read_jsonl
from pipeline.corpus.align import align_codings, label_vectors
from pipeline.corpus.loading import load_collection

MODEL_CODER = "model"
_FRAGMENT_KEYS = ("id", "document", "text", "speaker", "role", "start", "end")
_PREDICTION_OWN = {*_FRAGMENT_KEYS, "labels", "scores", "coded", "codable", "review", "model", "turn", "timestamp",
                   "long_fragment", "split", "collection", "synthetic", "margins", "review_codes"}


@dataclass
class CodedSet:
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # fragment id -> record, input order
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)  # document id -> metadata
    coders: list[str] = field(default_factory=list)  # in order of appearance
    model_coders: list[str] = field(default_factory=list)  # those from predictions or a model
    synthetic: bool = False
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add_coder(self, coder: str, *, model: bool = False) -> None:
        if coder not in self.coders:
            self.coders.append(coder)
        if model and coder not in self.model_coders:
            self.model_coders.append(coder)

    def record(self, fragment: dict[str, Any]) -> dict[str, Any]:
        """The record of a fragment, created from its fields when new."""
        key = str(fragment["id"])
        if key not in self.records:
            self.records[key] = {**{k: fragment.get(k) for k in _FRAGMENT_KEYS}, "id": key, "fields": {},
                                 "labels": {}, "scores": {}}
        return self.records[key]


def _check_codes(labels: Any, codebook: Codebook, path: Path, number: int, what: str) -> dict[str, int]:
    if not isinstance(labels, dict) or not all(isinstance(v, (int, bool)) or v is None for v in labels.values()):
        raise InputError(path, f"line {number}: {what} must be an object {{code: 0|1}}, found {labels!r}")
    expected = set(codebook.code_ids)
    if set(labels) != expected:
        raise InputError(path, f"line {number}: {what} name the codes {', '.join(sorted(labels))}, but the codebook "
                         f"({codebook.source}) has {', '.join(codebook.code_ids)}: predictions from a model with another "
                         "codebook; use that model's codebook (--codebook) or re-run predict with this one")
    return {code: int(bool(value)) for code, value in labels.items()}


def _is_prepared_line(record: dict[str, Any]) -> bool:
    labels = record.get("labels")
    return isinstance(labels, dict) and bool(labels) and all(isinstance(v, dict) for v in labels.values())


def add_predictions(coded: CodedSet, path: Path, records: list[dict[str, Any]], codebook: Codebook, coder: str, *,
                    splits: Sequence[str] = (), collections: Sequence[str] = ()) -> None:
    """Predictions lines as coder `coder` (see the module docstring); lines that name a split or collection
    (as `export` carries them) outside `splits` / `collections` are left out, like the prepared fragments."""
    if coder in coded.coders:
        raise InputError(path, f"a coder called '{coder}' is already in the inputs; rename one")
    for number, line in enumerate(records, 1):
        if "id" not in line or "labels" not in line:
            raise InputError(path, f"line {number}: expected 'id' and 'labels' ({{code: 0|1}}) as `capcode predict` "
                             f"writes them, found keys {', '.join(sorted(line))}")
        labels = _check_codes(line["labels"], codebook, path, number, "labels")
        if line.get("coded") is False or line.get("codable") is False:
            continue  # interviewer turns that were not scored
        if (splits and line.get("split") not in (None, *splits)) or \
                (collections and line.get("collection") not in (None, *collections)):
            continue
        if "document" not in line and str(line["id"]) not in coded.records:
            raise InputError(path, f"line {number}: fragment {line['id']!r} has no 'document' and is not in the other "
                             "inputs; give the document of every fragment")
        record = coded.record(line)
        record["fields"].update({k: v for k, v in line.items() if k not in _PREDICTION_OWN})
        if record.get("text") is None and isinstance(line.get("text"), str):
            record["text"] = line["text"]
        record["labels"][coder] = labels
        scores = line.get("scores")
        if isinstance(scores, dict) and all(isinstance(v, (int, float)) for v in scores.values()):
            record["scores"][coder] = {c: float(v) for c, v in scores.items()}
        coded.synthetic = coded.synthetic or bool(line.get("synthetic"))
    coded.add_coder(coder, model=True)


def add_prepared(coded: CodedSet, fragments_path: Path, records: list[dict[str, Any]], *, splits: Sequence[str],
                 collections: Sequence[str]) -> None:
    """Fragments from the prepare stage (labels {coder: {code: 0|1}}) and the documents beside them."""
    documents_path = fragments_path.parent / "documents.jsonl"
    if not documents_path.is_file():
        raise InputError(fragments_path, f"no documents.jsonl beside it ({documents_path}); give the prepare stage's "
                         "output directory, which has both")
    kept = [r for r in records if r.get("codable", True) and (not splits or r.get("split") in splits)
            and (not collections or r.get("collection") in collections)]
    if not kept:
        raise InputError(fragments_path, f"no respondent fragments in split(s) {', '.join(splits) or 'any'} and "
                         f"collection(s) {', '.join(collections) or 'any'}")
    for line in kept:
        if not _is_prepared_line(line):
            raise InputError(fragments_path, f"fragment {line.get('id')!r}: expected labels {{coder: {{code: 0|1}}}} "
                             "as the prepare stage writes them")
        record = coded.record(line)
        for coder, labels in line["labels"].items():
            record["labels"][coder] = {c: int(bool(v)) for c, v in labels.items()}
            coded.add_coder(coder)
        coded.synthetic = coded.synthetic or bool(line.get("synthetic"))
    wanted = {r["document"] for r in kept}
    for document in read_jsonl(documents_path):
        if document.get("id") in wanted:
            coded.documents[document["id"]] = dict(document.get("metadata") or {})


def add_collection(coded: CodedSet, path: Path, codebook: Codebook, *, max_fragment_tokens: int,
                   min_fragment_share: float, min_span_share: float) -> None:
    """A corpus directory or .qdpx: segment, align every coder's spans, keep coded respondent fragments."""
    from pipeline.ingest.segmentation import segment_document

    collection = load_collection(path, codebook)
    if collection.unmapped_codes:
        names = ", ".join(f"'{name}' ({n} codings)" for name, n in sorted(collection.unmapped_codes.items()))
        raise InputError(path, f"codes not in the codebook: {names}; a profile needs every code mapped: add them as "
                         f"aliases in {codebook.source} or remove them")
    fragments = [f for doc in collection.documents.values()
                 for f in segment_document(doc, max_fragment_tokens=max_fragment_tokens)]
    aligned, _ = align_codings(fragments, collection.codings, min_fragment_share=min_fragment_share,
                               min_span_share=min_span_share)
    for fragment in fragments:
        coders = collection.coders_of(fragment.document)
        if not fragment.codable or not coders:
            continue
        record = coded.record(fragment.to_dict())
        for coder, labels in label_vectors(aligned.get(fragment.id, {}), coders, codebook,
                                           collection.coder_axes).items():
            if coder in record["labels"]:
                raise InputError(path, f"coder '{coder}' coded document '{fragment.document}' in two inputs")
            record["labels"][coder] = labels
            coded.add_coder(coder)
    for doc_id, document in collection.documents.items():
        coded.documents.setdefault(doc_id, dict(document.metadata))
    coded.synthetic = coded.synthetic or collection.synthetic


def prediction_coder_names(paths: Sequence[Path]) -> list[str]:
    """`model` for one predictions file; the file stems (made unique) for several."""
    if len(paths) == 1:
        return [MODEL_CODER]
    names: list[str] = []
    for path in paths:
        name, n = path.stem, 1
        while name in names:
            n += 1
            name = f"{path.stem}-{n}"
        names.append(name)
    return names


def load_coded(
    inputs: Sequence[Path], codebook: Codebook, *, max_fragment_tokens: int, min_fragment_share: float,
    min_span_share: float, splits: Sequence[str] = (), collections: Sequence[str] = (),
) -> CodedSet:
    """Read every input (see the module docstring): coded material first, then predictions joined onto it."""
    coded = CodedSet(sources=[str(p) for p in inputs])
    predictions: list[tuple[Path, list[dict[str, Any]]]] = []
    for path in inputs:
        if path.is_dir() and (path / "fragments.jsonl").is_file() and not (path / "collection.yaml").exists():
            add_prepared(coded, path / "fragments.jsonl", read_jsonl(path / "fragments.jsonl"), splits=splits,
                         collections=collections)
        elif path.suffix.lower() == ".jsonl":
            lines = read_jsonl(path)
            if not lines:
                raise InputError(path, "is empty; expected predictions (one JSON object per fragment)")
            if _is_prepared_line(lines[0]):
                add_prepared(coded, path, lines, splits=splits, collections=collections)
            else:
                predictions.append((path, lines))
        elif path.suffix.lower() == ".qdpx" or path.is_dir():
            add_collection(coded, path, codebook, max_fragment_tokens=max_fragment_tokens,
                           min_fragment_share=min_fragment_share, min_span_share=min_span_share)
        elif not path.exists():
            raise InputError(path, "not found; expected a corpus directory, a .qdpx, the prepare stage's output "
                             "directory or predictions .jsonl")
        else:
            raise InputError(path, "unsupported input; expected a corpus directory, a .qdpx, the prepare stage's "
                             "output directory or predictions .jsonl")
    for (path, lines), coder in zip(predictions, prediction_coder_names([p for p, _ in predictions])):
        before = set(coded.records)
        add_predictions(coded, path, lines, codebook, coder, splits=splits, collections=collections)
        shared = sum(1 for key, r in coded.records.items() if key in before and coder in r["labels"])
        if before and not shared:
            coded.notes.append(f"{path}: none of its fragment ids occurs in the other inputs, so '{coder}' is not "
                               "compared with them fragment by fragment (were they segmented the same way?)")
    return coded


def axes_coded(labels: dict[str, int], codebook: Codebook) -> tuple[str, ...]:
    """The axes whose both poles a label vector holds."""
    return tuple(axis.id for axis in codebook.axes if all(pole in labels for pole in axis.poles))


def combine_partial_coders(coded: CodedSet, codebook: Codebook) -> None:
    """Coders who coded only some axes (`coder_axes`, e.g. the study's `report` for strategisch/operationeel and
    `dev` for the other two) cannot fill a grid alone; when their axes split the codebook's axes between them,
    they become one coder `a+b` on the fragments all of them coded. Otherwise they are left out, with a note."""
    all_axes = tuple(axis.id for axis in codebook.axes)
    partial: dict[str, set[str]] = {}
    for record in coded.records.values():
        for coder, labels in record["labels"].items():
            axes = axes_coded(labels, codebook)
            if axes != all_axes:
                partial.setdefault(coder, set()).update(axes)
    if not partial:
        return
    covered = [axis for coder in partial for axis in partial[coder]]
    parts = sorted(partial, key=lambda c: min(all_axes.index(a) for a in partial[c]) if partial[c] else len(all_axes))
    combinable = sorted(covered) == sorted(all_axes) and len(parts) > 1
    name = "+".join(parts)
    for record in coded.records.values():
        pieces = [record["labels"].pop(coder) for coder in parts if coder in record["labels"]]
        if combinable and len(pieces) == len(parts):
            record["labels"][name] = {code: value for piece in pieces for code, value in piece.items()}
    coded.coders = [c for c in coded.coders if c not in partial]
    if combinable:
        coded.coders.insert(0, name)
        coded.notes.append(f"coders {', '.join(parts)} each coded only some axes; together they are coder '{name}' "
                           f"({'; '.join(f'{c}: ' + ', '.join(sorted(partial[c])) for c in parts)})")
    else:
        coded.notes.append(f"coders {', '.join(parts)} coded only some axes and do not add up to all three; left out")
