"""Writing pre-coded fragments as JSONL, CSV, a readable HTML page, or a REFI-QDA project.

Language rule: every HTML page capcode writes (this one, the agreement and evaluation reports) is English;
the codes keep their names from the codebook (Dutch for capcode's own codebook).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from html import escape
from pathlib import Path
from typing import Any

from pipeline.core.codebook import Codebook
from pipeline.core.documents import Document
from pipeline.core.io_utils import atomic_writer, write_jsonl
from pipeline.core.numbers import cut_to
from pipeline.ingest.turns import load_conventions
from pipeline.model.classifier import AXIS_CATEGORIES, ModelMetadata

CARRIED = ("id", "document", "speaker", "role", "start", "end", "timestamp")


def _csv_columns(code_ids: list[str], axis_ids: list[str]) -> list[str]:
    return [*CARRIED, "text", *(f"label_{c}" for c in code_ids), *(f"score_{c}" for c in code_ids),
            *(f"margin_{a}" for a in axis_ids), "coded", "review", "long_fragment", "model"]


def _csv_row(record: dict[str, Any], code_ids: list[str], axis_ids: list[str]) -> list[Any]:
    margins = record.get("margins") or {}
    return [
        *(record.get(k, "") for k in CARRIED), record["text"],
        *(record["labels"][c] for c in code_ids),
        *("" if record["scores"][c] is None else record["scores"][c] for c in code_ids),
        *("" if margins.get(a) is None else margins[a] for a in axis_ids),
        int(record["coded"]), int(record["review"]), record.get("long_fragment", ""), record["model"],
    ]


def write_csv(path: Path, records: list[dict[str, Any]], code_ids: list[str], axis_ids: list[str]) -> None:
    """One row per record: labels, scores, and per axis the decision margin (`margin_<axis>`, the column a
    team sorts by to take the model's surest suggestions first), empty for an uncoded fragment."""
    with atomic_writer(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(_csv_columns(code_ids, axis_ids))
        for record in records:
            writer.writerow(_csv_row(record, code_ids, axis_ids))


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#222;line-height:1.5}
.banner{background:#fff3cd;border:1px solid #e0c060;padding:.5rem 1rem;border-radius:4px}
.legend span,.chip{display:inline-block;padding:0 .4rem;margin:0 .2rem .2rem 0;border-radius:3px;color:#fff;
font-size:.8rem}
.fragment{display:block;margin:.4rem 0;padding:.3rem .5rem;border-left:6px solid #ccc;white-space:pre-wrap}
.fragment.review{outline:2px dashed #c00}
.interviewer{color:#666;font-style:italic}
.plain{white-space:pre-wrap;color:#777;font-size:.8rem}
.meta{font-size:.8rem;color:#555}
.doubt{font-size:.8rem;color:#a00;font-weight:600}
.stamp{font-size:.75rem;color:#777;font-family:monospace}
table{border-collapse:collapse}td,th{padding:.2rem .5rem;border:1px solid #ddd}
"""


def codes_in_doubt(
    record: dict[str, Any], thresholds: Mapping[str, float], margin: float | None = None
) -> list[tuple[str, float, float]]:
    """(code, score, threshold) of the codes that put a fragment up for review, nearest its threshold first.

    These are the codes whose score lies within `margin` of the threshold (the `predict.review_margin` rule);
    a record may name them itself (`review_codes`). Without a margin, or where rounding of the stored scores
    leaves none inside it, the code nearest its threshold is the one in doubt.
    """
    if not record.get("review"):
        return []
    scored = [(code, float(score), float(thresholds[code])) for code, score in record["scores"].items()
              if score is not None and code in thresholds]
    named = record.get("review_codes")
    if named:
        doubt = [row for row in scored if row[0] in named]
    else:
        doubt = [row for row in scored if margin is not None and abs(row[1] - row[2]) < margin]
    ranked = sorted(scored, key=lambda row: abs(row[1] - row[2]))
    return sorted(doubt, key=lambda row: abs(row[1] - row[2])) or ranked[:1]


def deciding_thresholds(metadata: ModelMetadata) -> dict[str, float]:
    """The thresholds that decide the model's codes, shown beside a fragment in doubt: none for an
    axis_categories model (per axis the most probable category decides; its stored 0.5s decide nothing)."""
    if metadata.head == AXIS_CATEGORIES:
        return {}
    return {code: float(value) for code, value in metadata.thresholds.items()}


def review_reason(record: dict[str, Any], thresholds: Mapping[str, float], margin: float | None = None) -> str:
    """One line for a flagged fragment: "strategisch 0.340 at threshold 0.350"; empty when not flagged. Without
    thresholds (an axis_categories model) the poles of the axis in doubt: "intern 0.450, extern 0.410"."""
    named = record.get("review_codes")
    if record.get("review") and named and not thresholds:
        return ", ".join(f"{code} {record['scores'][code]:.3f}" for code in named
                         if record["scores"].get(code) is not None)
    return "; ".join(f"{code} {score:.3f} at threshold {threshold:.3f}"
                     for code, score, threshold in codes_in_doubt(record, thresholds, margin))


def _chips(record: dict[str, Any], codebook: Codebook) -> str:
    chips = []
    for code in codebook.codes:
        score = record["scores"].get(code.id)
        if record["labels"].get(code.id):
            chips.append(f'<span class="chip" style="background:{code.colour}" title="{escape(code.definition)}">'
                         f"{escape(code.label)} {score:.2f}</span>")
    return "".join(chips) or '<span class="meta">no code</span>'


def _doubt_html(record: dict[str, Any], codebook: Codebook, thresholds: Mapping[str, float],
                margin: float | None) -> str:
    """Which code puts the fragment up for review, with its score against its threshold (an axis_categories
    model has no thresholds: the poles of the axis in doubt with their scores)."""
    named = record.get("review_codes")
    if named and not thresholds:
        shown = ", ".join(f"{escape(codebook.code(code).label)} {record['scores'][code]:.2f}" for code in named
                          if record["scores"].get(code) is not None)
        return f' <span class="doubt">review: {shown}</span>'
    doubts = codes_in_doubt(record, thresholds, margin)
    if not doubts:
        return ' <span class="meta">(review)</span>'
    shown = ", ".join(f"{escape(codebook.code(code).label)} {score:.2f} at threshold {threshold:.2f}"
                      for code, score, threshold in doubts)
    return f' <span class="doubt">review: {shown}</span>'


def _fragment_html(record: dict[str, Any], codebook: Codebook, *, show_speaker: bool,
                   thresholds: Mapping[str, float] | None = None, margin: float | None = None,
                   stamps: tuple[str, ...] = ()) -> str:
    coded_colours = [codebook.code(c).colour for c, v in record["labels"].items() if v]
    border = coded_colours[0] if coded_colours else "#ccc"
    classes = "fragment" + (" review" if record["review"] else "") + ("" if record["coded"] else " interviewer")
    speaker = f"<b>{escape(str(record.get('speaker')))}:</b> " if show_speaker and record.get("speaker") else ""
    stamp = "".join(f' <span class="stamp">{escape(s)}</span>' for s in stamps)
    flag = _doubt_html(record, codebook, thresholds or {}, margin) if record["review"] else ""
    chips = _chips(record, codebook) if record["coded"] else '<span class="meta">not coded</span>'
    return (f'<span class="{classes}" style="border-left-color:{border}" id="{escape(str(record["id"]))}"'
            f"{_margins_title(record, codebook)}>{speaker}{escape(record['text'])}{stamp}<br>{chips}{flag}</span>")


def _margins_title(record: dict[str, Any], codebook: Codebook) -> str:
    """A hover text with each axis's decision margin (how far its decision stands from changing; cut, not rounded,
    as `pipeline.core.numbers` says why), empty for a fragment the model did not code."""
    margins = record.get("margins") or {}
    shown = [f"{axis.label} {cut_to(margins[axis.id], 2):.2f}" for axis in codebook.axes
             if margins.get(axis.id) is not None]
    return f' title="decision margin: {escape(", ".join(shown))}"' if shown else ""


def _own_stamps(gap: str) -> tuple[tuple[str, ...], str]:
    """Split off the timestamps at the start of the text after a fragment, on the fragment's own line (f4's
    `#00:00:12-3#` closes the paragraph it times); return them and the rest of the gap."""
    timestamp = load_conventions().timestamp
    stamps: list[str] = []
    pos = 0
    while True:
        while pos < len(gap) and gap[pos] in " \t":
            pos += 1
        match = timestamp.match(gap, pos)
        if not match:
            break
        stamps.append(match.group(0))
        pos = match.end()
    return tuple(stamps), gap[pos:]


def _without_marker(gap: str, speaker: str | None) -> str:
    """The text between two fragments, minus the next turn's speaker marker (the fragment shows the speaker)."""
    gap = gap.strip()
    if speaker:
        for marker in (f"[{speaker}]:", f"[{speaker}]", f"{speaker}:"):
            if gap.endswith(marker):
                return gap[: -len(marker)].strip()
    return gap


def _document_parts(records: list[dict[str, Any]], text: str | None, codebook: Codebook,
                    thresholds: Mapping[str, float], margin: float | None) -> list[str]:
    """The fragments of one document in text order, with the text between them (headers, notes); a fragment
    is drawn once the text after it is known, so that its own trailing timestamp goes with it."""
    parts: list[str] = []
    pos, previous_turn = 0, None
    pending: tuple[dict[str, Any], bool] | None = None  # (record, show its speaker)
    for record in [*records, None]:
        if record is None:  # after the last fragment: only its own timestamps
            gap = text[pos:] if text is not None else ""
        elif text is not None and isinstance(record.get("start"), int) and record["start"] > pos:
            gap = text[pos : record["start"]]
        else:
            gap = ""
        stamps, gap = _own_stamps(gap) if pending is not None else ((), gap)
        if pending is not None:
            parts.append(_fragment_html(pending[0], codebook, show_speaker=pending[1], thresholds=thresholds,
                                        margin=margin, stamps=stamps))
        if record is None:
            break
        gap = _without_marker(gap, record.get("speaker"))
        if gap:  # text outside any fragment: headers, notes, a timestamp that opens the next turn
            parts.append(f'<span class="plain">{escape(gap)}</span>')
        turn = (record.get("speaker"), record.get("turn"))
        pending, previous_turn = (record, turn != previous_turn), turn
        if isinstance(record.get("end"), int):
            pos = max(pos, record["end"])
    return parts


def render_html(records: list[dict[str, Any]], documents: list[Document], metadata: ModelMetadata,
                codebook: Codebook, *, review_margin: float | None = None) -> str:
    """A self-contained page: every transcript with the proposed codes coloured per fragment, each code's
    threshold, and for a fragment up for review the code in doubt with its score against its threshold."""
    thresholds = deciding_thresholds(metadata)
    by_document: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_document[str(record.get("document", "fragments"))].append(record)
    texts = {d.id: d.text for d in documents}
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>capcode: suggested codes</title>"
             f"<style>{_STYLE}</style></head><body><h1>Suggested codes (capcode)</h1>"]
    if metadata.synthetic_training_data:
        parts.append('<p class="banner">The model was trained on <b>synthetic</b> interviews; '
                     "treat its codes as suggestions for a researcher to review.</p>")
    if metadata.head == AXIS_CATEGORIES:  # per axis the most probable of four categories, not thresholds
        near = f" (within {2 * review_margin:.2f})" if review_margin is not None else ""
        how = ("Per axis the model chooses the most probable of four categories (only one pole, only the other, "
               "both, neither); a code's score is the probability that its pole applies (its own category plus "
               f"both). A dashed outline means two categories of an axis lie close together{near}: review it; "
               "the poles of that axis are shown with their scores. Resting the pointer on a fragment's text "
               "shows each axis's decision margin (half the gap between its two most probable categories).")
    else:
        near = f" (within {review_margin:.2f})" if review_margin is not None else ""
        how = (f"A dashed outline means an axis's decision lies close to changing{near}, with plain thresholds "
               "a score close to its threshold: review it; the code in doubt is shown with its score and "
               "threshold. Resting the pointer on a fragment's text shows each axis's decision margin.")
    parts.append(f'<p class="meta">Model {escape(metadata.identity)}, backbone {escape(str(metadata.backbone.get("spec")))}. '
                 f"{how}</p>")
    parts.append('<p class="legend">' + "".join(
        f'<span style="background:{c.colour}" title="{escape(c.definition)}">{escape(c.label)}</span>' for c in codebook.codes)
        + "</p>")
    if thresholds:  # none for an axis_categories model: no table, and doubts are shown without one
        parts.append('<table class="thresholds"><tr><th>code</th>' + "".join(
            f"<th>{escape(c.label)}</th>" for c in codebook.codes if c.id in thresholds) + "</tr><tr><th>threshold</th>"
            + "".join(f"<td>{thresholds[c.id]:.2f}</td>" for c in codebook.codes if c.id in thresholds) + "</tr></table>")
    for doc_id, doc_records in by_document.items():
        parts.append(f"<h2>{escape(doc_id)}</h2>")
        doc_records.sort(key=lambda r: (r.get("start", 0) or 0))
        parts.extend(_document_parts(doc_records, texts.get(doc_id), codebook, thresholds, review_margin))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_predictions(
    output: Path, *, records: list[dict[str, Any]], documents: list[Document], metadata: ModelMetadata,
    codebook: Codebook, base_projects: list[Path], review_margin: float | None = None, qdpx_positions: str = "auto",
) -> None:
    """Write `records` in the format `output`'s extension names. `review_margin` (predict.review_margin) lets
    the HTML and the .qdpx say which codes are in doubt; `qdpx_positions` is the .qdpx position dialect
    ("auto": the one the input project came in)."""
    suffix = output.suffix.lower()
    if suffix == ".jsonl":
        write_jsonl(output, records)
    elif suffix == ".csv":
        write_csv(output, records, metadata.code_ids, [axis.id for axis in codebook.axes])
    elif suffix == ".html":
        with atomic_writer(output) as handle:
            handle.write(render_html(records, documents, metadata, codebook, review_margin=review_margin))
    elif suffix == ".qdpx":
        write_predictions_qdpx(output, records=records, documents=documents, metadata=metadata, codebook=codebook,
                               base_projects=base_projects, review_margin=review_margin, positions=qdpx_positions)
    else:  # checked by the caller; kept for library use
        raise ValueError(f"unsupported output {output}")


def write_predictions_qdpx(output: Path, *, records, documents, metadata: ModelMetadata, codebook: Codebook,
                           base_projects: list[Path], review_margin: float | None = None,
                           positions: str = "auto") -> None:
    from pipeline.qdpx.importer import read_project
    from pipeline.qdpx.project import suggestions_user_name
    from pipeline.qdpx.writer import Suggestion, write_qdpx

    suggestions = [
        Suggestion(document=r["document"], start=r["start"], end=r["end"], code=code, score=float(r["scores"][code]))
        for r in records if r["coded"] for code, value in r["labels"].items() if value
    ]
    base = read_project(base_projects[0]) if len(base_projects) == 1 else None
    scores = {(r["document"], r["start"], r["end"]): r["scores"] for r in records if r["coded"]}
    margins = {(r["document"], r["start"], r["end"]): r["margins"]
               for r in records if r["coded"] and r.get("margins")}
    thresholds = deciding_thresholds(metadata)
    review = {(r["document"], r["start"], r["end"]): review_reason(r, thresholds, review_margin)
              for r in records if r["coded"] and r["review"]}
    write_qdpx(output, documents=documents, suggestions=suggestions, codebook=codebook,
               model_user=suggestions_user_name(metadata.identity, metadata.codebook_fingerprint),
               base_project=base, scores=scores, review=review, margins=margins, positions=positions)


@contextmanager
def open_prediction_writer(
    output: Path, *, metadata: ModelMetadata, codebook: Codebook, documents: list[Document], base_projects: list[Path],
    review_margin: float | None = None, qdpx_positions: str = "auto",
) -> Iterator[Callable[[list[dict[str, Any]]], None]]:
    """A function that takes pre-coded records chunk by chunk, in output order, and the output is written
    (atomically) when the block ends without error.

    `.jsonl` and `.csv` are written as the chunks come, so memory stays flat however many fragments there
    are; `.html` and `.qdpx` need every fragment of a document at once and keep the records until the end.
    The bytes are the same as `write_predictions` writes for the same records."""
    suffix = output.suffix.lower()
    if suffix == ".jsonl":
        with atomic_writer(output) as handle:
            yield lambda records: handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    elif suffix == ".csv":
        with atomic_writer(output) as handle:
            writer = csv.writer(handle)
            axis_ids = [axis.id for axis in codebook.axes]
            writer.writerow(_csv_columns(metadata.code_ids, axis_ids))
            yield lambda records: writer.writerows(_csv_row(r, metadata.code_ids, axis_ids) for r in records)
    else:
        kept: list[dict[str, Any]] = []
        yield kept.extend
        write_predictions(output, records=kept, documents=documents, metadata=metadata, codebook=codebook,
                          base_projects=base_projects, review_margin=review_margin, qdpx_positions=qdpx_positions)
