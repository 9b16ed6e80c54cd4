"""Writing pre-coded fragments as JSONL, CSV, a readable HTML page, or a REFI-QDA project."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html import escape
from pathlib import Path
from typing import Any

from pipeline.core.codebook import Codebook
from pipeline.core.documents import Document
from pipeline.core.io_utils import atomic_writer, write_jsonl
from pipeline.model.classifier import ModelMetadata

CARRIED = ("id", "document", "speaker", "role", "start", "end", "timestamp")


def _csv_columns(code_ids: list[str]) -> list[str]:
    return [*CARRIED, "text", *(f"label_{c}" for c in code_ids), *(f"score_{c}" for c in code_ids),
            "coded", "review", "long_fragment", "model"]


def _csv_row(record: dict[str, Any], code_ids: list[str]) -> list[Any]:
    return [
        *(record.get(k, "") for k in CARRIED), record["text"],
        *(record["labels"][c] for c in code_ids),
        *("" if record["scores"][c] is None else record["scores"][c] for c in code_ids),
        int(record["coded"]), int(record["review"]), record.get("long_fragment", ""), record["model"],
    ]


def write_csv(path: Path, records: list[dict[str, Any]], code_ids: list[str]) -> None:
    with atomic_writer(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(_csv_columns(code_ids))
        for record in records:
            writer.writerow(_csv_row(record, code_ids))


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
table{border-collapse:collapse}td,th{padding:.2rem .5rem;border:1px solid #ddd}
"""


def _chips(record: dict[str, Any], codebook: Codebook) -> str:
    chips = []
    for code in codebook.codes:
        score = record["scores"].get(code.id)
        if record["labels"].get(code.id):
            chips.append(f'<span class="chip" style="background:{code.colour}" title="{escape(code.definition)}">'
                         f"{escape(code.label)} {score:.2f}</span>")
    return "".join(chips) or '<span class="meta">geen code</span>'


def _fragment_html(record: dict[str, Any], codebook: Codebook, *, show_speaker: bool) -> str:
    coded_colours = [codebook.code(c).colour for c, v in record["labels"].items() if v]
    border = coded_colours[0] if coded_colours else "#ccc"
    classes = "fragment" + (" review" if record["review"] else "") + ("" if record["coded"] else " interviewer")
    speaker = f"<b>{escape(str(record.get('speaker')))}:</b> " if show_speaker and record.get("speaker") else ""
    flag = ' <span class="meta">(nakijken)</span>' if record["review"] else ""
    chips = _chips(record, codebook) if record["coded"] else '<span class="meta">niet gecodeerd</span>'
    return (f'<span class="{classes}" style="border-left-color:{border}" id="{escape(str(record["id"]))}">'
            f"{speaker}{escape(record['text'])}<br>{chips}{flag}</span>")


def _without_marker(gap: str, speaker: str | None) -> str:
    """The text between two fragments, minus the next turn's speaker marker (the fragment shows the speaker)."""
    gap = gap.strip()
    if speaker:
        for marker in (f"[{speaker}]:", f"[{speaker}]", f"{speaker}:"):
            if gap.endswith(marker):
                return gap[: -len(marker)].strip()
    return gap


def render_html(records: list[dict[str, Any]], documents: list[Document], metadata: ModelMetadata,
                codebook: Codebook) -> str:
    """A self-contained page: every transcript with the proposed codes coloured per fragment."""
    by_document: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_document[str(record.get("document", "fragments"))].append(record)
    texts = {d.id: d.text for d in documents}
    parts = [f"<!doctype html><html lang='nl'><head><meta charset='utf-8'><title>capcode: voorgestelde codes</title>"
             f"<style>{_STYLE}</style></head><body><h1>Voorgestelde codes (capcode)</h1>"]
    if metadata.synthetic_training_data:
        parts.append('<p class="banner">Het model is getraind op <b>synthetische</b> interviews; '
                     "behandel de voorstellen als suggesties die een onderzoeker nakijkt.</p>")
    parts.append(f'<p class="meta">Model {escape(metadata.identity)}, backbone {escape(str(metadata.backbone.get("spec")))}. '
                 "Een gestippelde rand betekent: een score ligt dicht bij de drempel, nakijken.</p>")
    parts.append('<p class="legend">' + "".join(
        f'<span style="background:{c.colour}" title="{escape(c.definition)}">{escape(c.label)}</span>' for c in codebook.codes)
        + "</p>")
    for doc_id, doc_records in by_document.items():
        parts.append(f"<h2>{escape(doc_id)}</h2>")
        doc_records.sort(key=lambda r: (r.get("start", 0) or 0))
        text, pos, previous_turn = texts.get(doc_id), 0, None
        for record in doc_records:
            if text is not None and isinstance(record.get("start"), int) and record["start"] > pos:
                gap = _without_marker(text[pos : record["start"]], record.get("speaker"))
                if gap:  # text outside any fragment: headers, notes, timestamps
                    parts.append(f'<span class="plain">{escape(gap)}</span>')
            turn = (record.get("speaker"), record.get("turn"))
            parts.append(_fragment_html(record, codebook, show_speaker=turn != previous_turn))
            previous_turn = turn
            if isinstance(record.get("end"), int):
                pos = max(pos, record["end"])
    parts.append("</body></html>")
    return "\n".join(parts)


def write_predictions(
    output: Path, *, records: list[dict[str, Any]], documents: list[Document], metadata: ModelMetadata,
    codebook: Codebook, base_projects: list[Path],
) -> None:
    suffix = output.suffix.lower()
    if suffix == ".jsonl":
        write_jsonl(output, records)
    elif suffix == ".csv":
        write_csv(output, records, metadata.code_ids)
    elif suffix == ".html":
        with atomic_writer(output) as handle:
            handle.write(render_html(records, documents, metadata, codebook))
    elif suffix == ".qdpx":
        write_predictions_qdpx(output, records=records, documents=documents, metadata=metadata, codebook=codebook,
                               base_projects=base_projects)
    else:  # checked by the caller; kept for library use
        raise ValueError(f"unsupported output {output}")


def write_predictions_qdpx(output: Path, *, records, documents, metadata: ModelMetadata, codebook: Codebook,
                           base_projects: list[Path]) -> None:
    from pipeline.qdpx.importer import read_project
    from pipeline.qdpx.writer import Suggestion, write_qdpx

    suggestions = [
        Suggestion(document=r["document"], start=r["start"], end=r["end"], code=code, score=float(r["scores"][code]))
        for r in records if r["coded"] for code, value in r["labels"].items() if value
    ]
    base = read_project(base_projects[0]) if len(base_projects) == 1 else None
    scores = {(r["document"], r["start"], r["end"]): r["scores"] for r in records if r["coded"]}
    write_qdpx(output, documents=documents, suggestions=suggestions, codebook=codebook,
               model_user=f"capcode model {metadata.identity}", base_project=base, scores=scores)


@contextmanager
def open_prediction_writer(
    output: Path, *, metadata: ModelMetadata, codebook: Codebook, documents: list[Document], base_projects: list[Path],
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
            writer.writerow(_csv_columns(metadata.code_ids))
            yield lambda records: writer.writerows(_csv_row(r, metadata.code_ids) for r in records)
    else:
        kept: list[dict[str, Any]] = []
        yield kept.extend
        write_predictions(output, records=kept, documents=documents, metadata=metadata, codebook=codebook,
                          base_projects=base_projects)
