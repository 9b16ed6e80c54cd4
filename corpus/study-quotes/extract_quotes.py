#!/usr/bin/env python3
"""Extract the interview quotes of case studies 5.1-5.3 from the report text into a gold set.

Usage::

    python corpus/study-quotes/extract_quotes.py /work/shared/seed/report-excerpt.txt
    python corpus/study-quotes/extract_quotes.py REPORT --list   # print quotes, write nothing

Writes, next to this script: ``transcripts/<qid>.txt`` (quote text only, no trailing newline),
``metadata.jsonl`` and ``codings.jsonl``. Coder ``report`` is derived from the section a quote stands
in (5.x.2.1 Strategische capaciteit -> ``strategisch``, 5.x.2.2 Operationele capaciteit ->
``operationeel``); coder ``dev`` is read from the hand-written ``dev_coding.json``
(``{qid: {"codes": [...], "justification": "..."}}``).

Standard library only. EVALUATION DATA: never use the output for training.
"""
from __future__ import annotations

import argparse
import bisect
import json
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The case studies 1-3 run from their chapter heading to the editor's ellipsis (or chapter 6).
START_RE = re.compile(r"^\s*5\.1\s+CASESTUDY\s+1\s*$")
END_RE = re.compile(r"^\s*(\[\.\.\.|6\s+VERGEL)")
HEADER_RE = re.compile(r"^\s*(5\.[1-3](?:\.\d+){0,2})\s+(\S.*?)\s*$")
# "(Respondent 4)", also split over lines ("(Respondent\n2)") or after a blank line.
ATTRIBUTION_RE = re.compile(r"\s*\(\s*(Respondent\s+\d+[^()]*?)\s*\)")
# What the PDF extraction inserts at page breaks: the footer line and a stray one-glyph line ("i").
FOOTER_RE = re.compile(r"^\s*pagina\s+\d+\s+van\s+\d+\b")
STRAY_GLYPH_RE = re.compile(r"^\s*\S\s*$")

REPORT_CODE = {"Strategische capaciteit": ("strategisch", "s"), "Operationele capaciteit": ("operationeel", "o")}
DEV_CODES = ("intern", "extern", "beleid", "beheer")  # the dev coder codes the other two axes only
CODE_ORDER = ("intern", "extern", "beleid", "beheer", "strategisch", "operationeel")


@dataclass
class Quote:
    case: int
    section: str
    section_title: str
    line: int  # 1-based line of the opening quote mark in the report
    text: str
    respondent: str
    notes: list[str] = field(default_factory=list)
    qid: str = ""

    @property
    def report_code(self) -> str | None:
        return REPORT_CODE.get(self.section_title, (None, "x"))[0]


def _headers(lines: list[str], first: int, last: int) -> list[tuple[int, str, str]]:
    """(0-based line, section number, title) of every 5.1-5.3 heading in lines[first:last]."""
    found = []
    for i in range(first, last):
        m = HEADER_RE.match(lines[i])
        if m:
            found.append((i, m.group(1), m.group(2)))
    return found


def _quote_spans(text: str) -> list[tuple[int, int, str]]:
    """(open, close, style) offsets of top-level quotations; typographic quotes may nest."""
    spans, depth, start, straight = [], 0, -1, -1
    for pos, ch in enumerate(text):
        if ch == "\u201c" and straight < 0:
            if depth == 0:
                start = pos
            depth += 1
        elif ch == "\u201d" and depth > 0:
            depth -= 1
            if depth == 0:
                spans.append((start, pos, "typographic"))
        elif ch == '"' and depth == 0:
            if straight < 0:
                straight = pos
            else:
                spans.append((straight, pos, "straight"))
                straight = -1
    if depth or straight >= 0:
        raise ValueError("unbalanced quotation marks in the case-study range")
    return spans


def _clean(raw: str, first_line: int) -> tuple[str, list[str]]:
    """Join the quote's lines with single spaces; drop page furniture; note every oddity."""
    notes, parts = [], []
    for k, line in enumerate(raw.split("\n")):
        lineno = first_line + k
        if FOOTER_RE.match(line) or (k > 0 and STRAY_GLYPH_RE.match(line)):
            notes.append(f"dropped page furniture at line {lineno}: {line.strip()!r}")
            continue
        if not line.strip():
            if 0 < k < raw.count("\n"):
                notes.append(f"blank line inside the quote at line {lineno} (PDF layout), joined over")
            continue
        if k > 0 and line[:1].isspace():
            notes.append(f"line {lineno} starts with a space (probable PDF page start), stripped")
        parts.append(line.strip())
    return unicodedata.normalize("NFC", " ".join(parts)), notes


def extract(report: Path) -> tuple[list[Quote], list[str]]:
    """All attributed quotes of sections 5.1-5.3, in document order, and the skipped quotations."""
    lines = report.read_text(encoding="utf-8").replace("\r\n", "\n").lstrip("\ufeff").split("\n")
    first = next((i for i, s in enumerate(lines) if START_RE.match(s)), None)
    if first is None:
        raise ValueError(f"{report}: heading '5.1 CASESTUDY 1' not found")
    last = next((i for i in range(first + 1, len(lines)) if END_RE.match(lines[i])), len(lines))
    headers = _headers(lines, first, last)
    text = "\n".join(lines[first:last])
    line_starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            line_starts.append(i + 1)

    def line_of(offset: int) -> int:  # 0-based line in the whole report
        return first + bisect.bisect_right(line_starts, offset) - 1

    quotes, skipped = [], []
    for open_, close, style in _quote_spans(text):
        lineno = line_of(open_)
        m = ATTRIBUTION_RE.match(text, close + 1)
        snippet = " ".join(text[open_ + 1 : close].split())[:60]
        if not m:
            skipped.append(f"line {lineno + 1}: unattributed quotation, not an interview quote: {snippet!r}")
            continue
        body, notes = _clean(text[open_ + 1 : close], lineno + 1)
        if "\u201c" in body:
            notes.append("contains a nested quotation in typographic quotes, kept as printed")
        if style == "straight":
            notes.append('printed with straight quotes "..." instead of typographic ones')
        if text[line_starts[lineno - first] : open_].strip():
            notes.append("inline quote inside the researchers' paragraph")
        if "\n" in m.group(0)[m.group(0).index("(") :]:
            notes.append("attribution split over two lines ('(Respondent' / 'N)')")
        elif "\n\n" in m.group(0):
            notes.append("attribution printed after a blank line")
        elif "\n" in m.group(0):
            notes.append("attribution printed on the next line")
        section = [h for h in headers if h[0] <= lineno][-1]
        quotes.append(
            Quote(
                case=int(section[1].split(".")[1]),
                section=section[1],
                section_title=section[2],
                line=lineno + 1,
                text=body,
                respondent=" ".join(m.group(1).split()),
                notes=notes,
            )
        )
    counters: dict[tuple[int, str], int] = {}
    for q in quotes:
        prefix = REPORT_CODE.get(q.section_title, (None, "x"))[1]
        counters[(q.case, prefix)] = counters.get((q.case, prefix), 0) + 1
        q.qid = f"c{q.case}-{prefix}{counters[(q.case, prefix)]:02d}"
    return quotes, skipped


def _load_dev(path: Path, quotes: list[Quote]) -> dict[str, dict]:
    if not path.exists():
        raise ValueError(f"{path} not found: write the dev coding by hand ({{qid: {{codes, justification}}}})")
    dev = json.loads(path.read_text(encoding="utf-8"))
    qids = {q.qid for q in quotes}
    if set(dev) != qids:
        raise ValueError(
            f"{path}: qids differ from the extraction; missing {sorted(qids - set(dev))}, "
            f"unknown {sorted(set(dev) - qids)}"
        )
    for qid, entry in dev.items():
        bad = [c for c in entry.get("codes", []) if c not in DEV_CODES]
        if bad or not isinstance(entry.get("justification"), str) or not entry["justification"].strip():
            raise ValueError(f"{path}: {qid} needs codes from {DEV_CODES} and a justification (bad codes: {bad})")
    return dev


def write(quotes: list[Quote], dev: dict[str, dict], out: Path) -> None:
    tdir = out / "transcripts"
    tdir.mkdir(parents=True, exist_ok=True)
    keep = {f"{q.qid}.txt" for q in quotes}
    for stale in tdir.glob("*.txt"):
        if stale.name not in keep:
            stale.unlink()
    meta_lines, coding_lines = [], []
    for q in quotes:
        (tdir / f"{q.qid}.txt").write_text(q.text, encoding="utf-8", newline="\n")
        meta = {
            "document": q.qid,
            "file": f"transcripts/{q.qid}.txt",
            "synthetic": False,
            "source": "report-excerpt.txt",
            "case": q.case,
            "respondent": q.respondent,
            "section": q.section,
            "section_title": q.section_title,
            "report_line": q.line,
            "dev_justification": dev[q.qid]["justification"],
            "extraction_notes": q.notes,
        }
        meta_lines.append(json.dumps(meta, ensure_ascii=False))
        codes = [("report", q.report_code)] if q.report_code else []
        codes += [("dev", c) for c in sorted(set(dev[q.qid]["codes"]), key=CODE_ORDER.index)]
        for coder, code in codes:
            row = {"document": q.qid, "start": 0, "end": len(q.text), "code": code, "coder": coder}
            coding_lines.append(json.dumps(row, ensure_ascii=False))
    (out / "metadata.jsonl").write_text("\n".join(meta_lines) + "\n", encoding="utf-8", newline="\n")
    (out / "codings.jsonl").write_text("\n".join(coding_lines) + "\n", encoding="utf-8", newline="\n")


def summary(quotes: list[Quote], dev: dict[str, dict] | None) -> str:
    out: list[str] = []
    sections: dict[tuple[int, str, str], int] = {}
    for q in quotes:
        key = (q.case, q.section, q.section_title)
        sections[key] = sections.get(key, 0) + 1
    out.append(f"{len(quotes)} quotes")
    for (case, sec, title), n in sorted(sections.items()):
        out.append(f"  case {case}  {sec} {title}: {n}")
    counts: dict[tuple[str, str], int] = {}
    for q in quotes:
        if q.report_code:
            counts[("report", q.report_code)] = counts.get(("report", q.report_code), 0) + 1
        for c in (dev or {}).get(q.qid, {}).get("codes", []):
            counts[("dev", c)] = counts.get(("dev", c), 0) + 1
    for (coder, code), n in sorted(counts.items(), key=lambda kv: (kv[0][0], CODE_ORDER.index(kv[0][1]))):
        out.append(f"  coder {coder:6s} {code:12s} {n}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("report", type=Path, help="path to report-excerpt.txt")
    ap.add_argument("--list", action="store_true", help="print the extracted quotes as JSON lines, write nothing")
    args = ap.parse_args(argv)
    try:
        quotes, skipped = extract(args.report)
        if args.list:
            for q in quotes:
                print(json.dumps({"qid": q.qid, "line": q.line, "section": q.section, "respondent": q.respondent,
                                  "notes": q.notes, "text": q.text}, ensure_ascii=False))
            return 0
        dev = _load_dev(HERE / "dev_coding.json", quotes)
        write(quotes, dev, HERE)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for s in skipped:
        print(f"skipped {s}")
    for q in quotes:
        for n in q.notes:
            print(f"note {q.qid} (line {q.line}): {n}")
    print(summary(quotes, dev))
    return 0


if __name__ == "__main__":
    sys.exit(main())
