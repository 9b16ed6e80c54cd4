"""`capcode next`: which uncoded fragments (or whole interviews) a human should code next.

Reads what `capcode predict` reads (transcripts, `.qdpx` projects, fragment `.jsonl` files), keeps the
respondent fragments no human coded (`pipeline.corpus.uncoded`), scores them exactly as `predict` does, and
ranks them (`pipeline.model.selection`): near the model's own decision rule on an axis, in turn over the axes,
and spread out over the encoder's embedding space (greedy k-center from what is already coded). With `--unit
interview` the units are the interviews nobody coded yet, each with its fragments' mean uncertainty per axis
and the mean of their embeddings. Everything is read and checked before the model loads; the output is
written atomically in the format its suffix names (`pipeline.report.selection`).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.codebook import Codebook, load_codebook
from pipeline.core.errors import InputError
from pipeline.core.io_utils import check_output_file
from pipeline.core.params import NextParams, load_params
from pipeline.corpus.uncoded import read_coding_state
from pipeline.report.selection import OUTPUT_SUFFIXES, write_selection

UNITS = ("fragment", "interview")


def rank_next(*, inputs: list[Path], model_dir: Path, k: int, output: Path, unit: str = "fragment",
              params_path: Path | None = None, codebook_path: Path | None = None, encoding: str | None = None,
              code_all_roles: bool = False, qdpx_positions: str = "auto") -> dict[str, Any]:
    """Rank the uncoded fragments (or interviews) of `inputs` for the model in `model_dir`; write the best `k`
    to `output`. Returns counts for the closing message."""
    if unit not in UNITS:
        raise InputError(output, f"--unit {unit}: expected fragment or interview")
    if k < 1:
        raise InputError(output, f"-n {k}: expected at least 1")
    check_output_file(output, OUTPUT_SUFFIXES, inputs=inputs)
    if output.suffix.lower() == ".qdpx" and any(p.suffix.lower() == ".jsonl" for p in inputs):
        raise InputError(output, "a .qdpx needs the full transcripts; give transcripts or a .qdpx as input, not fragments")
    all_params = load_params(params_path)
    settings = all_params.next
    codebook = load_codebook(codebook_path)
    state = read_coding_state(inputs, codebook, max_fragment_tokens=int(all_params.segment.max_fragment_tokens),
                              min_fragment_share=all_params.prepare.min_fragment_share,
                              min_span_share=all_params.prepare.min_span_share, encoding=encoding)
    codable = [r for r in state.records if code_all_roles or r.get("codable", True)]
    if unit == "interview":
        missing = next((r for r in codable if not r.get("document")), None)
        if missing is not None:
            raise InputError(", ".join(map(str, inputs)), f"fragment {missing['id']!r} names no 'document': "
                             "--unit interview needs the interview of every fragment")
        coded_documents = {r["document"] for r in codable if state.coded(r)}
        candidates = [r for r in codable if r["document"] not in coded_documents]
    else:
        candidates = [r for r in codable if not state.coded(r)]
    coded = [r for r in codable if state.coded(r)]
    if not candidates:
        raise InputError(", ".join(map(str, inputs)), f"no uncoded {'interview' if unit == 'interview' else 'respondent fragment'}"
                         f" to rank: every one is coded (coders: {', '.join(state.coders) or 'none'})")

    from pipeline.model.adaptation import embed
    from pipeline.model.apply import load_scorer
    from pipeline.model.category_head import category_probabilities
    from pipeline.model.decision import threshold_rule
    from pipeline.model.selection import boundary_distances, category_distances

    scorer = load_scorer(model_dir=model_dir, codebook=codebook, params=all_params.predict,
                         compute=all_params.compute)
    code_ids = scorer.metadata.code_ids
    what = "uncoded fragments" if unit == "fragment" else "fragments of uncoded interviews"
    print(f"next: {len(candidates)} {what}; encoding them and {len(coded)} coded ones for diversity",
          file=sys.stderr)
    vectors = embed(scorer.model, scorer.tokenizer, [r["text"] for r in candidates + coded],
                    text_prefix=scorer.metadata.text_prefix, max_length=scorer.metadata.max_length)
    candidate_x, coded_x = vectors[:len(candidates)], vectors[len(candidates):]
    if scorer.axis_poles is not None:  # an axis_categories head: its categories from the same embeddings
        head = scorer.model.head
        categories = category_probabilities(candidate_x, head.weight.detach().cpu().numpy(),
                                            head.bias.detach().cpu().numpy())
        doubt = category_distances(categories, code_ids, codebook)
    else:
        scored = scorer.apply(candidates, code_all_roles=True)  # the candidates are already the roles to rank
        probabilities = np.array([[r["scores"][c] for c in code_ids] for r in scored], dtype=float)
        rule = scorer.metadata.decision or threshold_rule(code_ids, [scorer.metadata.thresholds[c] for c in code_ids])
        doubt = boundary_distances(probabilities, rule, code_ids, codebook)
    if unit == "fragment":
        rows = _fragment_rows(candidates, candidate_x, coded_x, doubt, k, settings, codebook)
    else:
        rows = _interview_rows(candidates, candidate_x, coded, coded_x, doubt, k, settings, codebook)
    for row in rows:
        row["model"] = scorer.metadata.identity
    n_units = len(candidates) if unit == "fragment" else len({r["document"] for r in candidates})
    write_selection(output, rows, codebook=codebook, model=scorer.metadata.identity, unit=unit, n_candidates=n_units,
                    documents=state.documents, base_projects=state.base_projects,
                    synthetic_model=bool(scorer.metadata.synthetic_training_data), qdpx_positions=qdpx_positions)
    return {"chosen": len(rows), "candidates": n_units, "coded": len(coded), "unit": unit,
            "model": scorer.metadata.identity}


def _axes(doubt: Any, row: int, codebook: Codebook) -> dict[str, dict[str, Any]]:
    u = doubt.uncertainty()
    return {axis.id: {"uncertainty": round(float(u[row, a]), 4), "distance": round(float(doubt.distances[row, a]), 4),
                      "reason": doubt.reason(row, a)} for a, axis in enumerate(codebook.axes)}


def _fragment_rows(candidates: list[dict[str, Any]], x: np.ndarray, coded_x: np.ndarray, doubt: Any, k: int,
                   settings: NextParams, codebook: Codebook) -> list[dict[str, Any]]:
    from pipeline.model.selection import select_batch

    batch = select_batch(x, doubt, k, coded=coded_x, shortlist_factor=settings.shortlist_factor,
                         near_duplicate_cosine=settings.near_duplicate_cosine, axis_ids=[a.id for a in codebook.axes])
    u = doubt.uncertainty()
    rows = []
    for rank, (index, axis, spread) in enumerate(zip(batch.chosen, batch.axis, batch.spread), 1):
        record = candidates[index]
        rows.append({"rank": rank, "id": str(record["id"]), "unit": "fragment", "document": record.get("document"),
                     "start": record.get("start"), "end": record.get("end"), "speaker": record.get("speaker"),
                     "score": round(float(u[index].max()), 4), "chosen_for": axis,
                     "spread": None if np.isnan(spread) else round(spread, 4), "axes": _axes(doubt, index, codebook),
                     "text": record["text"]})
    return rows


def _interview_rows(candidates: list[dict[str, Any]], x: np.ndarray, coded: list[dict[str, Any]],
                    coded_x: np.ndarray, doubt: Any, k: int, settings: NextParams, codebook: Codebook) -> list[dict[str, Any]]:
    from pipeline.model.selection import interview_doubt, normalise, select_batch

    documents = [str(r["document"]) for r in candidates]
    per_interview = interview_doubt(doubt, documents)
    x = normalise(x)
    interview_x = np.array([x[per_interview.rows[name]].mean(axis=0) for name in per_interview.names])
    coded_rows: dict[str, list[int]] = defaultdict(list)
    for k_row, record in enumerate(coded):
        coded_rows[str(record["document"])].append(k_row)
    coded_interviews = np.array([normalise(coded_x)[rows].mean(axis=0) for rows in coded_rows.values()]) \
        if coded_rows else None
    batch = select_batch(interview_x, per_interview, k, coded=coded_interviews,
                         shortlist_factor=settings.shortlist_factor, near_duplicate_cosine=settings.near_duplicate_cosine,
                         axis_ids=[a.id for a in codebook.axes])
    u, fragment_u = per_interview.uncertainty(), doubt.uncertainty()
    rows = []
    for rank, (index, axis, spread) in enumerate(zip(batch.chosen, batch.axis, batch.spread), 1):
        name = per_interview.names[index]
        members = per_interview.rows[name]
        doubtful = sorted(members, key=lambda m: -fragment_u[m].max())[:settings.interview_examples]
        rows.append({"rank": rank, "id": name, "unit": "interview", "document": name, "n_fragments": len(members),
                     "score": round(float(u[index].max()), 4), "chosen_for": axis,
                     "spread": None if np.isnan(spread) else round(spread, 4),
                     "axes": _axes(per_interview, index, codebook),
                     "examples": [{"id": str(candidates[m]["id"]), "start": candidates[m].get("start"),
                                   "end": candidates[m].get("end"), "text": candidates[m]["text"],
                                   "score": round(float(fragment_u[m].max()), 4)} for m in doubtful]})
    return rows
