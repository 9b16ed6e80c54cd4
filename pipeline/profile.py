"""`capcode profile`: the report's overview tables per case, from human or model coding, side by side.

For every group of fragments (a case: the municipality; an interview; a respondent role; `--by`) and every
coder, the two grids of the study (strategische and operationele capaciteit), each beleid/beheer by
intern/extern: count and share of coded fragments per cell with bootstrap intervals, the strongest evidence
(a model's highest-scoring fragments, a human's every fragment), and the recurring themes of the cell
(c-TF-IDF key terms, `pipeline.report.themes`). Where two codings cover the same fragments (a human and the
model, or two humans), the comparison: per cell the difference in share with a paired interval, and across
the groups whether both codings rank the groups alike on each axis (Spearman) and agree on each group's
dominant pole. Figures: `pipeline.reliability.grids`; inputs: `pipeline.corpus.coded`.

Outputs by extension, any number of `-o`: `.csv` (one row per coder x group x grid x cell), `.json` (the same
figures plus evidence, themes and comparisons), `.html` (self-contained page). `plot` writes the long table
that the DVC stage plots.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.errors import InputError
from pipeline.core.io_utils import atomic_writer, check_output_file, write_json
from pipeline.core.params import ProfileParams, load_params
from pipeline.core.progress import progress
from pipeline.corpus.coded import MODEL_CODER, CodedSet, combine_partial_coders, load_coded
from pipeline.corpus.grouping import GROUPINGS, assign_groups
from pipeline.reliability.grids import (
    COLUMN_AXIS,
    GRID_AXIS,
    ROW_AXIS,
    Layout,
    balance,
    dominant_pole,
    grid_figures,
    layout_from_poles,
    paired_differences,
    pole_counts,
    spearman,
)
from pipeline.report.themes import METHOD, cell_themes

OUTPUT_SUFFIXES = (".html", ".csv", ".json")
CSV_COLUMNS = ("coder", "group", "grid", "beleid_beheer", "intern_extern", "n", "share", "share_low", "share_high")


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def add_model(coded: CodedSet, *, model_dir: Path, codebook: Codebook, params: Any) -> None:
    """Let a trained model code every fragment, as coder `model`."""
    from pipeline.model.apply import apply_model

    if MODEL_CODER in coded.coders:
        raise InputError(model_dir, f"the inputs already have a coder '{MODEL_CODER}'; drop --model or the predictions")
    records = list(coded.records.values())
    missing = [r["id"] for r in records if not isinstance(r.get("text"), str)]
    if missing:
        raise InputError(model_dir, f"fragment {missing[0]!r} has no text to score; --model needs coded material or "
                         "fragments with their text")
    predicted, _ = apply_model([{"id": r["id"], "text": r["text"], "codable": True} for r in records],
                               model_dir=model_dir, codebook=codebook, params=params)
    for record, prediction in zip(records, predicted):
        record["labels"][MODEL_CODER] = dict(prediction["labels"])
        record["scores"][MODEL_CODER] = dict(prediction["scores"])
    coded.add_coder(MODEL_CODER, model=True)
    coded.sources.append(f"--model {model_dir}")


def _evidence(records: list[dict[str, Any]], coder: str, cell: tuple[str, str, str], documents: dict[str, Any],
              role_fields: Sequence[str], limit: int | None) -> list[dict[str, Any]]:
    """The fragments of a cell: a model's by cell score (the lowest of the three codes' probabilities) and at
    most `limit`, a human's all, in interview order."""
    chosen = [r for r in records if all(r["labels"][coder].get(code) for code in cell)]
    scored = coder in {c for r in chosen for c in r["scores"]}
    if scored:
        chosen.sort(key=lambda r: -min(r["scores"].get(coder, {}).get(code, 0.0) for code in cell))
        chosen = chosen[:limit] if limit is not None else chosen
    else:
        chosen.sort(key=lambda r: (str(r["document"]), r.get("start") or 0))
    out = []
    for r in chosen:
        metadata = documents.get(str(r["document"]), {})
        role = next((metadata[f] for f in role_fields if metadata.get(f)), None)
        item = {"id": r["id"], "document": r["document"], "speaker": r.get("speaker"), "respondent_role": role,
                "text": r.get("text")}
        if scored:
            item["score"] = _round(min(r["scores"].get(coder, {}).get(code, 0.0) for code in cell))
        out.append(item)
    return out


def _ordered_coders(coded: CodedSet, wanted: Sequence[str] | None) -> list[str]:
    present = [c for c in coded.coders if any(c in r["labels"] for r in coded.records.values())]
    if wanted:
        unknown = [c for c in wanted if c not in present]
        if unknown:
            raise InputError("--coder", f"no coder '{unknown[0]}' in the inputs; coders: {', '.join(present) or 'none'}")
        return list(wanted)
    humans = [c for c in present if c not in coded.model_coders]
    return humans + [c for c in present if c in coded.model_coders]


def _pairs(coders: list[str], coded: CodedSet) -> list[tuple[str, str]]:
    """Pairs of coders that coded common fragments: each human against each model, then humans together."""
    humans = [c for c in coders if c not in coded.model_coders]
    models = [c for c in coders if c in coded.model_coders]
    candidates = [(h, m) for h in humans for m in models] + [(a, b) for i, a in enumerate(humans) for b in humans[i + 1:]]
    candidates += [(a, b) for i, a in enumerate(models) for b in models[i + 1:]]
    return [(a, b) for a, b in candidates
            if any(a in r["labels"] and b in r["labels"] for r in coded.records.values())]


def _cell_dict(figures: Any, layout: Layout) -> dict[str, Any]:
    return {"grid": figures.grid, ROW_AXIS: figures.row, COLUMN_AXIS: figures.column, "n": figures.n,
            "n_grid": figures.n_grid, "share": _round(figures.share), "share_low": _round(figures.low),
            "share_high": _round(figures.high)}


def build_profiles(
    coded: CodedSet, codebook: Codebook, params: ProfileParams, *, by: str, fields: Sequence[str] | None = None,
    coders: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The whole profile report (see the module docstring) as a JSON-ready dict."""
    poles = {axis.id: axis.poles for axis in codebook.axes}
    if not {GRID_AXIS, ROW_AXIS, COLUMN_AXIS} <= set(poles):
        raise InputError(codebook.source, f"a profile needs the axes {GRID_AXIS}, {ROW_AXIS} and {COLUMN_AXIS}")
    layout = layout_from_poles(poles)
    combine_partial_coders(coded, codebook)
    chosen = _ordered_coders(coded, coders)
    if not chosen:
        raise InputError(", ".join(coded.sources), "no coded respondent fragments in the inputs")
    records = [r for r in coded.records.values() if any(c in r["labels"] for c in chosen)]
    group_fields = list(fields) if fields else list(params.case_fields if by == "case" else params.role_fields)
    group_of = assign_groups(records, coded.documents, by=by, fields=group_fields, source=", ".join(coded.sources))
    groups = sorted(set(group_of.values()), key=_natural)
    by_group: dict[str, list[dict[str, Any]]] = {g: [] for g in groups}
    for record in records:
        by_group[group_of[record["id"]]].append(record)

    profiles: list[dict[str, Any]] = []
    theme_texts: list[str] = []
    theme_classes: dict[str, dict[tuple[int, int], list[int]]] = {coder: {} for coder in chosen}
    text_index: dict[str, int] = {}
    for ci, coder in enumerate(progress(chosen, desc="profiles", unit="coder")):
        for gi, group in enumerate(groups):
            mine = [r for r in by_group[group] if coder in r["labels"]]
            figures = grid_figures([r["labels"][coder] for r in mine], layout, n_boot=params.n_boot,
                                   seed=params.seed + 7919 * ci + gi, confidence=params.confidence)
            cells = []
            for k, fig in enumerate(figures):
                cell = (fig.grid, fig.row, fig.column)
                entry = _cell_dict(fig, layout)
                entry["evidence"] = _evidence(mine, coder, cell, coded.documents, params.role_fields,
                                              params.model_evidence)
                members = [r for r in mine if all(r["labels"][coder].get(code) for code in cell)]
                indices = []
                for r in members:
                    if isinstance(r.get("text"), str):
                        indices.append(text_index.setdefault(r["id"], len(theme_texts)))
                        if indices[-1] == len(theme_texts):
                            theme_texts.append(r["text"])
                theme_classes[coder][(len(profiles), k)] = indices
                cells.append(entry)
            profiles.append({
                "coder": coder, "group": group, "model": coder in coded.model_coders,
                "n_fragments": len(mine), "n_interviews": len({r["document"] for r in mine}),
                "empty": not mine, "grid_sizes": {g: int(sum(bool(r["labels"][coder].get(g)) for r in mine))
                                                  for g in layout.grids},
                "cells": cells,
            })
    for coder in chosen:  # one c-TF-IDF per coder: its cells of every group are the classes
        themes = cell_themes(theme_texts, theme_classes[coder], top_n=params.themes,
                             ngram_range=params.theme_ngram_range, min_fragments=params.theme_min_fragments)
        for (p, k), terms in themes.items():
            profiles[p]["cells"][k]["themes"] = terms

    comparisons = [_compare(a, b, groups, by_group, layout, codebook, params) for a, b in _pairs(chosen, coded)]
    return {
        "by": by, "group_fields": group_fields if by != "interview" else ["document"], "groups": groups,
        "coders": chosen, "model_coders": [c for c in chosen if c in coded.model_coders],
        "synthetic": coded.synthetic, "inputs": coded.sources, "notes": coded.notes,
        "layout": {"grids": list(layout.grids), "rows": list(layout.rows), "columns": list(layout.columns),
                   "grid_axis": GRID_AXIS, "row_axis": ROW_AXIS, "column_axis": COLUMN_AXIS},
        "labels": {code.id: code.label for code in codebook.codes},
        "method": {
            "cell": "a fragment counts in grid g, cell (r, c) when it carries the codes g, r and c; share = n / "
                    "fragments in grid g (those carrying g)",
            "interval": f"percentile bootstrap over the group's fragments, {params.n_boot} resamples, "
                        f"{params.confidence:.0%}, seed {params.seed}; differences: paired over the fragments "
                        "both codings cover",
            "evidence": f"model coders: the {params.model_evidence} fragments with the highest cell score (the lowest "
                        "of the three codes' probabilities); human coders: every fragment in the cell",
            "themes": METHOD.format(min_fragments=params.theme_min_fragments),
            "ranking": "per axis a coding places a group by the share of the first pole among its fragments with a "
                       "pole of that axis; Spearman's rho of the two codings' placements over the groups; the "
                       "dominant pole is the pole with more fragments",
        },
        "profiles": profiles,
        "comparisons": comparisons,
    }


def _natural(name: str) -> tuple[Any, ...]:
    """Sort `case 2` before `case 10`."""
    import re

    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def _compare(a: str, b: str, groups: list[str], by_group: dict[str, list[dict[str, Any]]], layout: Layout,
             codebook: Codebook, params: ProfileParams) -> dict[str, Any]:
    """Codings a and b on the fragments both coded: per group the cell differences (b - a) and the axes'
    placements; across groups the rank correlation and dominant-pole agreement per axis."""
    per_group: list[dict[str, Any]] = []
    for gi, group in enumerate(groups):
        common = [r for r in by_group[group] if a in r["labels"] and b in r["labels"]]
        labels_a = [r["labels"][a] for r in common]
        labels_b = [r["labels"][b] for r in common]
        differences = paired_differences(labels_a, labels_b, layout, n_boot=params.n_boot, seed=params.seed + gi,
                                         confidence=params.confidence)
        axes: dict[str, dict[str, Any]] = {}
        for axis in codebook.axes:
            counts_a, counts_b = pole_counts(labels_a, axis.poles), pole_counts(labels_b, axis.poles)
            axes[axis.id] = {"counts": {a: list(counts_a), b: list(counts_b)},
                             "balance": {a: _round(balance(*counts_a)), b: _round(balance(*counts_b))},
                             "dominant": {a: dominant_pole(*counts_a, axis.poles), b: dominant_pole(*counts_b, axis.poles)}}
        per_group.append({
            "group": group, "n_fragments": len(common),
            "cells": [{"grid": d.grid, ROW_AXIS: d.row, COLUMN_AXIS: d.column, "share_a": _round(d.share_a),
                       "share_b": _round(d.share_b), "difference": _round(d.difference), "low": _round(d.low),
                       "high": _round(d.high)} for d in differences],
            "axes": axes,
        })
    across: dict[str, dict[str, Any]] = {}
    for axis in codebook.axes:
        placed = [g for g in per_group if g["n_fragments"] and None not in g["axes"][axis.id]["balance"].values()]
        rho = spearman([g["axes"][axis.id]["balance"][a] for g in placed], [g["axes"][axis.id]["balance"][b] for g in placed])
        judged = [g for g in per_group if g["n_fragments"] and None not in g["axes"][axis.id]["dominant"].values()]
        same = [g["group"] for g in judged if g["axes"][axis.id]["dominant"][a] == g["axes"][axis.id]["dominant"][b]]
        across[axis.id] = {
            "poles": list(axis.poles), "n_groups_ranked": len(placed), "spearman_rho": _round(rho),
            "rank_order": {c: _rank_order(placed, axis.id, c) for c in (a, b)},
            "n_groups_judged": len(judged), "dominant_pole_agreement": len(same),
            "dominant_pole_disagreement": [g["group"] for g in judged if g["group"] not in same],
        }
    return {"coders": [a, b], "n_fragments": sum(g["n_fragments"] for g in per_group), "groups": per_group,
            "across_groups": across}


def _rank_order(groups: list[dict[str, Any]], axis_id: str, coder: str) -> list[str]:
    """Group names by a coder's share of the axis's first pole, highest first."""
    return [g["group"] for g in sorted(groups, key=lambda g: -g["axes"][axis_id]["balance"][coder])]


# --------------------------------------------------------------------------- outputs


def csv_rows(report: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for profile in report["profiles"]:
        for cell in profile["cells"]:
            rows.append([profile["coder"], profile["group"], cell["grid"], cell[ROW_AXIS], cell[COLUMN_AXIS], cell["n"],
                         *("" if cell[k] is None else cell[k] for k in ("share", "share_low", "share_high"))])
    return rows


def write_outputs(report: dict[str, Any], outputs: Sequence[Path], codebook: Codebook) -> None:
    for output in outputs:
        suffix = output.suffix.lower()
        if suffix == ".json":
            write_json(output, report)
        elif suffix == ".csv":
            with atomic_writer(output) as handle:
                writer = csv.writer(handle, lineterminator="\n")
                writer.writerow(CSV_COLUMNS)
                writer.writerows(csv_rows(report))
        else:
            from pipeline.report.profile_page import profile_page

            with atomic_writer(output) as handle:
                handle.write(profile_page(report, codebook))


def write_plot(report: dict[str, Any], path: Path) -> None:
    """The long table for `dvc plots`: one row per group x grid x cell x coder with its share (0 when the grid
    is empty), labelled `group | grid row/column | coder`."""
    labels = report["labels"]
    with atomic_writer(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["cell", "coder", "share"])
        for profile in report["profiles"]:
            for cell in profile["cells"]:
                name = (f"{profile['group']} | {labels[cell['grid']]} {labels[cell[ROW_AXIS]]}/"
                        f"{labels[cell[COLUMN_AXIS]]} | {profile['coder']}")
                writer.writerow([name, profile["coder"], cell["share"] if cell["share"] is not None else 0])


def profile(
    *,
    inputs: Sequence[Path],
    outputs: Sequence[Path],
    by: str = "case",
    field: Sequence[str] | None = None,
    model_dir: Path | None = None,
    coders: Sequence[str] | None = None,
    splits: Sequence[str] = (),
    collections: Sequence[str] = (),
    plot: Path | None = None,
    params_path: Path | None = None,
    codebook_path: Path | None = None,
) -> dict[str, Any]:
    """Read the inputs, compute the profiles and write every output; return the report."""
    if not outputs:
        raise InputError("-o", "give at least one output: .html, .csv or .json")
    for output in outputs:
        check_output_file(output, OUTPUT_SUFFIXES)
    if plot is not None:
        check_output_file(plot, (".csv",))
    if by not in GROUPINGS:
        raise InputError("--by", f"unknown grouping '{by}'; expected one of {', '.join(GROUPINGS)}")
    all_params = load_params(params_path)
    params = all_params.profile
    codebook = load_codebook(codebook_path)
    segment, prepare = all_params.segment, all_params.prepare
    coded = load_coded(inputs, codebook, max_fragment_tokens=int(segment.max_fragment_tokens),
                       min_fragment_share=float(prepare.min_fragment_share),
                       min_span_share=float(prepare.min_span_share), splits=splits, collections=collections)
    if model_dir is not None:
        add_model(coded, model_dir=model_dir, codebook=codebook, params=all_params.predict)
    report = build_profiles(coded, codebook, params, by=by, fields=field, coders=coders)
    write_outputs(report, outputs, codebook)
    if plot is not None:
        write_plot(report, plot)
    for note in report["notes"]:
        print(f"profile: {note}", file=sys.stderr)
    return report
