"""Recognising speaker turns, timestamps and roles in a normalised transcript (README, "Transcripts").

The conventions (marker and timestamp patterns, interviewer labels) are data in `configs/transcripts.yaml`;
this module only applies them. A turn's span covers the spoken text: after the marker and any leading
timestamp, before a trailing timestamp.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import regex

from pipeline.core.config import DEFAULT_TRANSCRIPTS, read_yaml
from pipeline.core.documents import INTERVIEWER, OTHER, RESPONDENT, Turn
from pipeline.core.errors import InputError


@dataclass(frozen=True)
class TranscriptConventions:
    speaker_markers: tuple[regex.Pattern, ...]
    name_markers: tuple[regex.Pattern, ...]
    name_marker_max_length: int
    name_marker_min_turns: int
    timestamp: regex.Pattern
    interviewer_speakers: tuple[regex.Pattern, ...]
    interviewer_question_share: float


def _compile(pattern: str, path: Path) -> regex.Pattern:
    try:
        return regex.compile(pattern)
    except regex.error as err:
        raise InputError(path, f"invalid pattern {pattern!r}: {err}") from None


@lru_cache(maxsize=4)
def load_conventions(path: str | Path = DEFAULT_TRANSCRIPTS) -> TranscriptConventions:
    """Load and compile the transcript conventions; a broken pattern is a clear InputError."""
    path = Path(path)
    raw = read_yaml(path)
    try:
        markers = tuple(_compile(p, path) for p in raw["speaker_markers"])
        name_markers = tuple(_compile(p, path) for p in raw["name_markers"])
        timestamp = _compile("|".join(f"(?:{p})" for p in raw["timestamps"]), path)
        interviewers = tuple(_compile(p, path) for p in raw["interviewer_speakers"])
        conventions = TranscriptConventions(
            speaker_markers=markers,
            name_markers=name_markers,
            name_marker_max_length=int(raw["name_marker_max_length"]),
            name_marker_min_turns=int(raw["name_marker_min_turns"]),
            timestamp=timestamp,
            interviewer_speakers=interviewers,
            interviewer_question_share=float(raw["interviewer_question_share"]),
        )
    except KeyError as err:
        raise InputError(path, f"missing key {err}; see the shipped configs/transcripts.yaml") from None
    for pattern in (*markers, *name_markers):
        if "speaker" not in pattern.groupindex:
            raise InputError(path, f"pattern {pattern.pattern!r} needs a named group 'speaker'")
    return conventions


@dataclass
class _Line:
    start: int
    end: int  # without the newline


def _lines(text: str) -> list[_Line]:
    lines, pos = [], 0
    for raw in text.split("\n"):
        lines.append(_Line(pos, pos + len(raw)))
        pos += len(raw) + 1
    return lines


def _past_invisible(text: str, pos: int, end: int) -> int:
    """Skip invisible format characters (zero-width spaces, joiners, bidi marks and isolates, a stray BOM:
    Unicode category Cf) that copy-paste and speech-to-text tools leave before a speaker marker. They stay in
    the text, outside any turn, so offsets are unchanged."""
    while pos < end and unicodedata.category(text[pos]) == "Cf":
        pos += 1
    return pos


def _marker_start(text: str, line: _Line, conventions: TranscriptConventions) -> tuple[int, str | None]:
    """Where a marker may begin on the line: past invisible format characters and a leading timestamp
    (``[00:00:05] R: ...``), if any."""
    start = _past_invisible(text, line.start, line.end)
    stamp = conventions.timestamp.match(text, start, line.end)
    if not stamp:
        return start, None
    pos = stamp.end()
    while pos < line.end and (text[pos] in " \t" or unicodedata.category(text[pos]) == "Cf"):
        pos += 1
    return pos, stamp.group(0)


def _match_marker(
    text: str, pos: int, end: int, conventions: TranscriptConventions, names: set[str] | None
) -> regex.Match | None:
    for pattern in conventions.speaker_markers:
        match = pattern.match(text, pos, end)
        if match:
            return match
    if names:
        for pattern in conventions.name_markers:
            match = pattern.match(text, pos, end)
            if match and match.group("speaker") in names:
                return match
    return None


def _name_labels(text: str, lines: list[_Line], conventions: TranscriptConventions) -> set[str]:
    """Name labels that start enough lines to be speaker markers rather than running text."""
    counts: Counter[str] = Counter()
    for line in lines:
        pos, _ = _marker_start(text, line, conventions)
        for pattern in conventions.name_markers:
            match = pattern.match(text, pos, line.end)
            if match and len(match.group("speaker")) <= conventions.name_marker_max_length:
                counts[match.group("speaker")] += 1
                break
    return {name for name, n in counts.items() if n >= conventions.name_marker_min_turns}


def _trim(text: str, start: int, end: int, conventions: TranscriptConventions) -> tuple[int, int, str | None]:
    """Shrink [start, end) past whitespace and leading/trailing timestamps; return the first timestamp."""
    stamp = None
    changed = True
    while changed:
        changed = False
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        lead = conventions.timestamp.match(text, start, end)
        if lead:
            stamp = stamp or lead.group(0)
            start = lead.end()
            changed = True
            continue
        tail = conventions.timestamp.search(text, start, end)
        while tail and tail.end() != end:
            tail = conventions.timestamp.search(text, tail.end(), end)
        if tail:
            stamp = stamp or tail.group(0)
            end = tail.start()
            changed = True
    return start, end, stamp


def find_turns(text: str, conventions: TranscriptConventions | None = None) -> list[Turn]:
    """Split a normalised transcript into speaker turns (roles still unassigned: see `assign_roles`).

    Lines that start with a marker (possibly after a timestamp: ``[00:00:05] R: ...``) open a turn; following
    lines without a marker continue it. Text before the first marker becomes a turn with role `other`. A
    transcript without any marker is one speaker, split at blank lines.
    """
    conventions = conventions or load_conventions()
    lines = _lines(text)
    names = _name_labels(text, lines, conventions)
    # (speaker or None, content start, end of last line, marked, timestamp before the marker) per block
    blocks: list[list] = []
    for line in lines:
        pos, lead_stamp = _marker_start(text, line, conventions)
        match = _match_marker(text, pos, line.end, conventions, names)
        if match:
            blocks.append([match.group("speaker").strip(), match.end(), line.end, True, lead_stamp])
        elif blocks:
            blocks[-1][2] = line.end
        elif text[line.start : line.end].strip():
            blocks.append([None, line.start, line.end, False, None])
    has_markers = any(block[3] for block in blocks)
    if not has_markers:
        return _paragraph_turns(text, lines, conventions)
    turns = []
    for speaker, start, end, marked, lead_stamp in blocks:
        start, end, stamp = _trim(text, start, end, conventions)
        role = RESPONDENT if marked else OTHER
        turns.append(Turn(speaker=speaker if marked else None, role=role, start=start, end=end,
                          timestamp=lead_stamp or stamp))
    return [t for t in turns if t.end > t.start]


def _paragraph_turns(text: str, lines: list[_Line], conventions: TranscriptConventions) -> list[Turn]:
    turns: list[Turn] = []
    start: int | None = None
    end = 0
    for line in [*lines, None]:
        if line is None or not text[line.start : line.end].strip():
            if start is not None:
                s, e, stamp = _trim(text, start, end, conventions)
                if e > s:
                    turns.append(Turn(speaker=None, role=RESPONDENT, start=s, end=e, timestamp=stamp))
            start = None
        else:
            start = line.start if start is None else start
            end = line.end
    return turns


def assign_roles(
    turns: list[Turn],
    text: str,
    conventions: TranscriptConventions | None = None,
    interviewers: list[str] | None = None,
) -> str:
    """Mark interviewer turns in place; return how the interviewer was found (for the document metadata).

    Order: speakers named in `interviewers` (corpus metadata), then the configured interviewer labels, then
    the question-mark heuristic. Turns of role `other` keep it.
    """
    conventions = conventions or load_conventions()
    speakers = {t.speaker for t in turns if t.speaker is not None}
    chosen: set[str] = set()
    source = "none"
    if interviewers:
        chosen = {s for s in speakers if s in set(interviewers)}
        source = "metadata"
    if not chosen:
        chosen = {s for s in speakers if any(p.fullmatch(s) for p in conventions.interviewer_speakers)}
        source = "pattern" if chosen else "none"
    if not chosen and len(speakers) >= 2:
        share = {}
        for speaker in speakers:
            own = [t for t in turns if t.speaker == speaker]
            share[speaker] = sum(text[t.start : t.end].rstrip().endswith("?") for t in own) / len(own)
        best = max(share, key=lambda speaker: share[speaker])
        if share[best] >= conventions.interviewer_question_share and list(share.values()).count(share[best]) == 1:
            chosen, source = {best}, "question-heuristic"
    for turn in turns:
        if turn.role != OTHER:
            turn.role = INTERVIEWER if turn.speaker in chosen else RESPONDENT
    return source
