"""Reading WebVTT and SRT captions (Teams, Zoom, Whisper) into speaker turns.

Teams writes voices as ``<v Jan Janssens>text</v>``, Zoom prefixes the cue text with ``Name: ``, Whisper
writes no speaker. Consecutive cues of one speaker are merged into one turn. The document text is built as
``Name: text`` paragraphs separated by blank lines, so it reads like a transcript and survives a round trip
through a QDA program; cue times are kept as turn metadata, out of the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.documents import RESPONDENT, Turn
from pipeline.errors import InputError

_TIME = r"(?:\d{1,2}:)?\d{1,2}:\d{2}[.,]\d{1,3}"
_CUE_TIMING = re.compile(rf"^\s*(?P<start>{_TIME})\s*-->\s*(?P<end>{_TIME})")
_VOICE = re.compile(r"<v(?:\.[\w.-]+)?\s+(?P<name>[^>]+)>(?P<text>.*?)(?:</v>|$)", re.S)
_TAG = re.compile(r"</?[^>]+>")
_ZOOM_SPEAKER = re.compile(r"^(?P<name>[^:\n]{1,63}):\s+(?P<text>.*)$", re.S)


@dataclass
class Cue:
    start: str
    end: str
    speaker: str | None
    text: str


def parse_cues(text: str, path: Path) -> list[Cue]:
    """Parse the cue blocks of a VTT or SRT file (the header, notes and styles are skipped)."""
    blocks = re.split(r"\n\s*\n", text.strip())
    cues: list[Cue] = []
    for block in blocks:
        lines = block.split("\n")
        timing_index = next((i for i, line in enumerate(lines) if _CUE_TIMING.match(line)), None)
        if timing_index is None:
            continue  # WEBVTT header, NOTE, STYLE, REGION
        timing = _CUE_TIMING.match(lines[timing_index])
        payload = "\n".join(lines[timing_index + 1 :]).strip()
        if not payload:
            continue
        speaker, body = None, payload
        voice = _VOICE.search(payload)
        if voice:
            speaker, body = voice.group("name").strip(), voice.group("text")
        body = _TAG.sub("", body).strip()
        if speaker is None:
            zoom = _ZOOM_SPEAKER.match(body)
            if zoom:
                speaker, body = zoom.group("name").strip(), zoom.group("text").strip()
        body = re.sub(r"\s*\n\s*", " ", body)
        if body:
            cues.append(Cue(timing.group("start"), timing.group("end"), speaker, body))
    if not cues:
        raise InputError(path, "no caption cues found; expected WebVTT/SRT cues like '00:00:01.000 --> 00:00:04.000'")
    return cues


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
