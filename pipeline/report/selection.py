"""Writing `capcode next`'s ranking: `.jsonl`, `.csv`, a readable `.html`, or a `.qdpx` with a Set and notes.

A row is one chosen unit (a fragment, or an interview with `--unit interview`): `rank`, `id`, `score` (1 = on
a decision boundary, 0 = 0.5 or more from every boundary, on its most doubtful axis), and per axis its
uncertainty and the reason (which boundary is near, and what the model decides now).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from pipeline.core.codebook import Codebook
from pipeline.core.documents import Document
from pipeline.core.io_utils import atomic_writer, write_jsonl
from pipeline.report.layout import _page, _section

# The Set of interviews to code next, and the QDA user its notes come from (distinct from the suggestions'
# user, so that writing the notes leaves an earlier round's suggestions in the project alone).
NEXT_SET_NAME = "capcode: code next"
NEXT_USER = "capcode model (code next)"
OUTPUT_SUFFIXES = {".jsonl", ".csv", ".html", ".qdpx"}


def _csv(path: Path, rows: Sequence[dict[str, Any]], axis_ids: Sequence[str]) -> None:
    columns = ["rank", "id", "unit", "document", "start", "end", "score", *(f"uncertainty_{a}" for a in axis_ids),
               *(f"reason_{a}" for a in axis_ids), "text"]
    with atomic_writer(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row["rank"], row["id"], row["unit"], row.get("document", ""), row.get("start", ""),
                             row.get("end", ""), row["score"], *(row["axes"][a]["uncertainty"] for a in axis_ids),
                             *(row["axes"][a]["reason"] for a in axis_ids), row.get("text", "")])


def note_text(row: dict[str, Any], codebook: Codebook) -> str:
    """The note a chosen fragment or interview carries in the QDA program."""
    reasons = "; ".join(f"{axis.id}: {row['axes'][axis.id]['reason']}" for axis in codebook.axes)
    return f"{NEXT_SET_NAME} #{row['rank']} (score {row['score']:.2f}): {reasons}"


def _html(rows: Sequence[dict[str, Any]], codebook: Codebook, *, model: str, unit: str, n_candidates: int,
          banner: str | None) -> str:
    intro = (f"<p>The {len(rows)} {unit}s of {n_candidates} uncoded ones where a human decision would teach the "
             f"model <code>{escape(model)}</code> the most, in the order to code them: near the model's decision "
             "boundary on an axis (uncertainty), spread over the axes in turn (balance), and as different from "
             "each other and from what is already coded as possible (diversity). The score is 1 on a decision "
             "boundary and 0 at 0.5 or more from every boundary, on the unit's most doubtful axis.</p>")
    parts = []
    for row in rows:
        where = escape(str(row.get("document", "")))
        if row["unit"] == "fragment":
            where += f", characters {row['start']}-{row['end']}"
        reasons = "".join(f"<li><strong>{escape(axis.id)}</strong> ({row['axes'][axis.id]['uncertainty']:.2f}): "
                          f"{escape(row['axes'][axis.id]['reason'])}</li>" for axis in codebook.axes)
        texts = [row["text"]] if row["unit"] == "fragment" else [e["text"] for e in row.get("examples", [])]
        quotes = "".join(f"<blockquote>{escape(t)}</blockquote>" for t in texts)
        label = "" if row["unit"] == "fragment" else "<p class=\"small\">its most doubtful fragments:</p>"
        parts.append(f"<h3>#{row['rank']} &middot; score {row['score']:.2f} &middot; {where}</h3>"
                     f"<ul>{reasons}</ul>{label}{quotes}")
    return _page("What to code next", f"{len(rows)} {unit}s, model {model}", banner,
                 [_section("Ranking", intro, *parts)])


def write_selection(output: Path, rows: Sequence[dict[str, Any]], *, codebook: Codebook, model: str, unit: str,
                    n_candidates: int, documents: Sequence[Document], base_projects: Sequence[Path],
                    synthetic_model: bool, qdpx_positions: str = "auto") -> None:
    """Write `rows` in the format `output`'s suffix names (checked by the caller); atomic."""
    suffix = output.suffix.lower()
    axis_ids = [axis.id for axis in codebook.axes]
    if suffix == ".jsonl":
        write_jsonl(output, rows)
    elif suffix == ".csv":
        _csv(output, rows, axis_ids)
    elif suffix == ".html":
        banner = ("The model was trained on synthetic interviews; its doubts point at what to code, they do not "
                  "code it.") if synthetic_model else None
        with atomic_writer(output) as handle:
            handle.write(_html(rows, codebook, model=model, unit=unit, n_candidates=n_candidates, banner=banner))
    elif suffix == ".qdpx":
        _qdpx(output, rows, codebook=codebook, unit=unit, documents=documents, base_projects=base_projects,
              positions=qdpx_positions)
    else:  # checked by the caller; kept for library use
        raise ValueError(f"unsupported output {output}")


def _qdpx(output: Path, rows: Sequence[dict[str, Any]], *, codebook: Codebook, unit: str,
          documents: Sequence[Document], base_projects: Sequence[Path], positions: str) -> None:
    """The input project (or the transcripts) with a Set of the chosen interviews and a note on each chosen
    fragment (`--unit fragment`) or interview (`--unit interview`)."""
    from pipeline.qdpx.importer import read_project
    from pipeline.qdpx.writer import SourceSet, write_qdpx

    chosen = tuple(dict.fromkeys(str(row["document"]) for row in rows))
    description = (f"{len(rows)} {unit}{'' if len(rows) == 1 else 's'} ranked by capcode next: code these next; "
                   "each carries a note with its rank and reason")
    notes = {(str(r["document"]), int(r["start"]), int(r["end"])): note_text(r, codebook) for r in rows} \
        if unit == "fragment" else None
    source_notes = {str(r["document"]): note_text(r, codebook) for r in rows} if unit == "interview" else None
    base = read_project(base_projects[0]) if len(base_projects) == 1 else None
    write_qdpx(output, documents=documents, suggestions=[], codebook=codebook, model_user=NEXT_USER,
               base_project=base, sets=[SourceSet(NEXT_SET_NAME, chosen, description)], notes=notes,
               source_notes=source_notes, positions=positions)
