"""Counts and label distributions of a corpus collection, as Markdown for its README.

Segments and aligns the collection exactly as the `prepare` stage does (`pipeline.corpus.labelling`, same params), then counts per coder:
documents, codable respondent fragments, fragments per code, per axis state (one pole, the other, both,
neither), the combinations of single poles over the three axes, and fragments with no code at all.
Run: `python -m pipeline.tools.corpus_stats corpus/synthetic`.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

from pipeline.core.codebook import Codebook, axis_category, load_codebook
from pipeline.core.params import Params, load_params
from pipeline.corpus.labelling import label_collection
from pipeline.corpus.loading import load_collection


def axis_state(labels: dict[str, int], poles: tuple[str, str]) -> str:
    """The axis category (`pipeline.core.codebook.axis_category`) named for a table: a pole, "both", "neither"."""
    names = [poles[0], poles[1], "both", "neither"]
    return names[int(axis_category(labels.get(poles[0], 0), labels.get(poles[1], 0)))]


def collection_stats(directory: Path, codebook: Codebook, params: Params | None = None) -> str:
    params = params or load_params()
    prepare_params, segment_params = params.prepare, params.segment
    collection = load_collection(directory, codebook)
    labelled = label_collection(
        collection, codebook, max_fragment_tokens=int(segment_params.max_fragment_tokens),
        min_fragment_share=float(prepare_params.min_fragment_share),
        min_span_share=float(prepare_params.min_span_share),
    )
    records: list[dict[str, Any]] = [{"codable": f.codable, "labels": labels}
                                     for f, labels in zip(labelled.fragments, labelled.labels)]
    counts = {"alignment": labelled.alignment.to_dict()}
    metadata = [d.metadata for d in collection.documents.values()]
    lines = [f"Collection `{collection.name}` ({'SYNTHETIC' if collection.synthetic else 'real'} data, use: {collection.use})", ""]
    lines.append(f"- documents: {len(collection.documents)}")
    for key in ("municipality", "respondent_kind", "markers", "case", "section_title"):
        values = Counter(str(m.get(key)) for m in metadata if key in m)
        if values:
            lines.append(f"- {key}: " + ", ".join(f"{k} ({v})" for k, v in sorted(values.items())))
    codable = [r for r in records if r["codable"]]
    lines.append(f"- fragments: {len(records)}, of which codable respondent fragments: {len(codable)}")
    lines.append(f"- span codings: {len(collection.codings)}; spans that hit no fragment: "
                 f"{counts['alignment']['n_unaligned']}; codings of codes not in the codebook: "
                 f"{sum(collection.unmapped_codes.values())}")
    for coder in collection.coders:
        coded = [r["labels"][coder] for r in codable if coder in r["labels"]]
        if not coded:
            continue
        lines += ["", f"### Coder `{coder}`: {len(coded)} codable fragments in "
                      f"{sum(1 for d in collection.documents if coder in collection.coders_of(d))} documents", ""]
        lines += ["| code | fragments | share |", "|---|---:|---:|"]
        for code in codebook.codes:
            n = sum(1 for labels in coded if labels.get(code.id))
            if any(code.id in labels for labels in coded):
                lines.append(f"| {code.id} | {n} | {n / len(coded):.1%} |")
        none = sum(1 for labels in coded if not any(labels.values()))
        lines.append(f"| (no code at all) | {none} | {none / len(coded):.1%} |")
        lines += ["", "| axis | " + " | ".join(["pole 1", "pole 2", "both", "neither"]) + " |", "|---|---:|---:|---:|---:|"]
        for axis in codebook.axes:
            if not all(p in coded[0] for p in axis.poles):
                continue
            states = Counter(axis_state(labels, axis.poles) for labels in coded)
            lines.append(f"| {axis.id} | {axis.poles[0]} {states[axis.poles[0]]} | {axis.poles[1]} "
                         f"{states[axis.poles[1]]} | {states['both']} | {states['neither']} |")
        if all(all(p in coded[0] for p in axis.poles) for axis in codebook.axes):
            combos = Counter(
                " x ".join(axis_state(labels, axis.poles) for axis in codebook.axes) for labels in coded
                if all(axis_state(labels, axis.poles) in axis.poles for axis in codebook.axes)
            )
            lines += ["", "Single-pole combinations over the three axes (fragments with exactly one pole on every axis):", ""]
            lines += [f"- {combo}: {n}" for combo, n in sorted(combos.items())]
    return "\n".join(lines)


if __name__ == "__main__":
    for target in sys.argv[1:] or ["corpus/synthetic"]:
        print(collection_stats(Path(target), load_codebook()))
        print()
