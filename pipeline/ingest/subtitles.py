"""Reading WebVTT and SRT captions (Teams, Zoom, Whisper) and Whisper JSON into speaker turns.

Teams writes voices as ``<v Jan Janssens>text</v>``, Zoom prefixes the cue text with ``Name: ``, Whisper
writes no speaker. Consecutive cues of one speaker are merged into one turn. The document text is built as
``Name: text`` paragraphs separated by blank lines, so it reads like a transcript and survives a round trip
through a QDA program; cue times are kept as turn metadata, out of the text.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.documents import RESPONDENT, Turn
from pipeline.core.errors import InputError
from pipeline.core.unicode_safety import replace_lone_surrogates, report_replaced
from pipeline.ingest.turns import load_conventions

_TIME = r"(?:\d{1,2}:)?\d{1,2}:\d{2}[.,]\d{1,3}"
_CUE_TIMING = re.compile(rf"^\s*(?P<start>{_TIME})\s*-->\s*(?P<end>{_TIME})")
# a voice runs to its closing tag, the next voice, or the end of the cue (Teams often omits </v>)
_VOICE = re.compile(r"<v(?:\.[\w.-]+)?\s+(?P<name>[^>]+)>(?P<text>.*?)(?:</v>|(?=<v[\s.])|$)", re.S)
_TAG = re.compile(r"</?[^>]+>")
_ZOOM_SPEAKER = re.compile(r"^(?P<name>[^:\n]{1,63}):\s+(?P<text>.*)$", re.S)


@dataclass
class Cue:
    start: str
    end: str
    speaker: str | None
    text: str


_ARROW = re.compile(r"-->")
_NON_CUE_BLOCK = re.compile(r"^(?:WEBVTT|NOTE|STYLE|REGION)\b")
_SHOWN = 60  # characters of skipped text quoted on stderr


def parse_cues(text: str, path: Path) -> list[Cue]:
    """Parse the cue blocks of a VTT or SRT file (the header, notes and styles are skipped).

    Nothing is lost silently: a cue whose times do not parse (``00:0x:05.000``, a negative SRT time) keeps its
    text without times, and a block of text outside any cue is named on stderr.
    """
    blocks = re.split(r"\n\s*\n", text.strip())
    cues: list[Cue] = []
    malformed: list[str] = []
    skipped: list[str] = []
    for block in blocks:
        lines = block.split("\n")
        timings = [(i, m) for i, m in ((i, _CUE_TIMING.match(line)) for i, line in enumerate(lines)) if m]
        if not timings:
            arrow = next((i for i, line in enumerate(lines) if _ARROW.search(line)), None)
            if arrow is not None:  # a cue with times we cannot read: keep its text
                malformed.append(lines[arrow].strip())
                start = end = "?"
                payload = "\n".join(lines[arrow + 1 :]).strip()
            else:
                if not _NON_CUE_BLOCK.match(block.strip()) and block.strip() and not block.strip().isdigit():
                    skipped.append(" ".join(block.split()))
                continue  # WEBVTT header, NOTE, STYLE, REGION
        else:
            timing_index, timing = timings[0]
            start, end = timing.group("start"), timing.group("end")
            payload = "\n".join(lines[timing_index + 1 :]).strip()
        if not payload:
            continue
        voices = [(v.group("name").strip(), v.group("text")) for v in _VOICE.finditer(payload)] or [(None, payload)]
        for speaker, body in voices:  # one cue per voice: a Teams cue can hold several speakers
            body = re.sub(r"\s*\n\s*", " ", _TAG.sub("", body).strip())
            if body:
                cues.append(Cue(start, end, speaker, body))
    if malformed:
        print(f"{path}: {len(malformed)} cue(s) with malformed times (first: '{malformed[0][:_SHOWN]}'); their text is "
              "kept without times", file=sys.stderr)
    if skipped:
        print(f"{path}: skipped {len(skipped)} block(s) of text outside any cue (no 'start --> end' line; first: "
              f"'{skipped[0][:_SHOWN]}')", file=sys.stderr)
    if not cues:
        raise InputError(path, "no caption cues found; expected WebVTT/SRT cues like '00:00:01.000 --> 00:00:04.000'")
    _zoom_speakers(cues)
    return cues


def parse_whisper_json(text: str, path: Path) -> list[Cue]:
    """Cues from a Whisper (or WhisperX) JSON transcript: ``{"segments": [{"start", "end", "text"}]}``,
    with an optional per-segment ``speaker`` (WhisperX diarisation)."""
    import json

    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(path, f"not valid JSON ({err.msg} at line {err.lineno}); expected a Whisper transcript") from None
    data, replaced = replace_lone_surrogates(data)
    report_replaced(path, replaced)
    segments = data.get("segments") if isinstance(data, dict) else None
    if not isinstance(segments, list):
        raise InputError(path, "no 'segments' list; expected a Whisper JSON transcript with start/end/text segments")
    cues = []
    for number, segment in enumerate(segments, 1):
        if not isinstance(segment, dict) or not isinstance(segment.get("text"), str):
            raise InputError(path, f"segment {number} has no 'text'; expected start, end and text per segment")
        body = " ".join(segment["text"].split())
        if body:
            speaker = segment.get("speaker")
            cues.append(Cue(_clock(segment.get("start")), _clock(segment.get("end")),
                            str(speaker) if speaker else None, body))
    if not cues:
        raise InputError(path, "the Whisper transcript has no text in its segments")
    return cues


def _clock(seconds: object) -> str:
    """Seconds as an hh:mm:ss.mmm cue time (kept as turn metadata); '?' when the segment has none."""
    if not isinstance(seconds, (int, float)):
        return "?"
    millis = round(float(seconds) * 1000)
    return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d}.{millis % 1000:03d}"


def _zoom_speakers(cues: list[Cue]) -> None:
    """Move Zoom's ``Name: text`` prefixes into the speaker, in place.

    Like name markers in plain transcripts, a label counts when it is a known marker (``Interviewer``) or
    starts enough cues; once a file has such speakers, any label shaped like a name counts too. So a Whisper
    sentence like "Het punt is dit: ..." keeps its text, and a Zoom guest who spoke once keeps the name.
    """
    conventions = load_conventions()
    found = [(cue, _ZOOM_SPEAKER.match(cue.text)) for cue in cues if cue.speaker is None]
    labels = {match.group("name").strip() for _, match in found if match}
    counts = Counter(match.group("name").strip() for _, match in found if match)

    def fits(name: str, patterns: tuple) -> bool:
        return any(pattern.fullmatch(f"{name}:") for pattern in patterns)

    sure = {name for name in labels
            if fits(name, conventions.speaker_markers) or counts[name] >= conventions.name_marker_min_turns}
    accepted = sure | ({name for name in labels if fits(name, conventions.name_markers)} if sure else set())
    for cue, match in found:
        if match and match.group("name").strip() in accepted:
            cue.speaker, cue.text = match.group("name").strip(), match.group("text").strip()


def cues_to_document(cues: list[Cue]) -> tuple[str, list[Turn]]:
    """Merge consecutive cues of one speaker and lay the turns out as text; return text and turns."""
    merged: list[Cue] = []
    for cue in cues:
        if merged and merged[-1].speaker == cue.speaker:
            merged[-1] = Cue(merged[-1].start, cue.end, cue.speaker, f"{merged[-1].text} {cue.text}")
        else:
            merged.append(cue)
    parts: list[str] = []
    turns: list[Turn] = []
    pos = 0
    for cue in merged:
        prefix = f"{cue.speaker}: " if cue.speaker else ""
        start = pos + len(prefix)
        parts.append(prefix + cue.text)
        turns.append(Turn(cue.speaker, RESPONDENT, start, start + len(cue.text), f"{cue.start} --> {cue.end}"))
        pos += len(prefix) + len(cue.text) + 2
    return "\n\n".join(parts), turns
