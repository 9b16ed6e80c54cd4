"""Decoding and normalising transcript text once, so that every offset refers to the same string.

Researchers' files come as UTF-8, UTF-8 with a BOM (Windows tools, NVivo), UTF-16 (Word "Unicode text") or
legacy cp1252/latin-1 (old Windows transcripts). We decode them, report the choice, and refuse files that
are binary or that no supported encoding reads cleanly.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import InputError

# Bytes that cp1252 leaves undefined; latin-1 maps them to C1 control characters, which never occur in
# real transcripts. A file that only decodes by producing them is not a text file we understand.
_CP1252_UNDEFINED = {0x81, 0x8D, 0x8F, 0x90, 0x9D}


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str


def normalise_text(text: str) -> str:
    """NFC, ``\\n`` line ends, no BOM: the one text that all offsets refer to."""
    text = text.lstrip("\ufeff")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", text)


# Unicode category Cc (C0 and C1 controls) minus the line and tab controls that text files contain.
_STRAY_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


def _control_share(text: str) -> float:
    if not text:
        return 0.0
    return len(_STRAY_CONTROL.findall(text)) / len(text)


def _utf16_without_bom(data: bytes) -> DecodedText | None:
    """UTF-16 text saved without a byte order mark (some Windows tools, exported subtitles): most characters
    of Western text are below U+0100, so one byte of each pair is NUL, always at odd offsets (little-endian)
    or always at even ones (big-endian). None when the bytes do not look like that or do not decode cleanly."""
    if len(data) % 2 or len(data) < 4:
        return None
    even_nul, odd_nul = data[0::2].count(0), data[1::2].count(0)
    pairs = len(data) // 2
    if odd_nul >= 0.3 * pairs and even_nul <= 0.02 * pairs:
        codec = "utf-16-le"
    elif even_nul >= 0.3 * pairs and odd_nul <= 0.02 * pairs:
        codec = "utf-16-be"
    else:
        return None
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:
        return None
    if _control_share(text) > 0.01:
        return None
    return DecodedText(text, f"{codec} (no byte order mark)")


def decode_bytes(data: bytes, path: str | Path, encoding: str | None = None) -> DecodedText:
    """Decode transcript bytes, detecting UTF-8 (with or without BOM), UTF-16 and cp1252/latin-1.

    Raises InputError for empty, binary or undecodable input.
    """
    if not data:
        raise InputError(path, "the file is empty; expected a transcript with text")
    if encoding:
        try:
            return DecodedText(data.decode(encoding), encoding)
        except (UnicodeDecodeError, LookupError) as err:
            raise InputError(path, f"cannot be read as {encoding} ({err}); check --encoding") from None
    if data.startswith(codecs.BOM_UTF8):
        candidates = ["utf-8-sig"]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates = ["utf-16"]
    else:
        if b"\x00" in data:
            bomless = _utf16_without_bom(data)
            if bomless is not None:
                return bomless
            raise InputError(path, "looks like a binary file (contains NUL bytes), or UTF-16 text that capcode could "
                             "not recognise; expected a text transcript (for UTF-16 pass --encoding utf-16-le or "
                             "utf-16-be)")
        candidates = ["utf-8", "cp1252"]
    for candidate in candidates:
        try:
            text = data.decode(candidate)
        except UnicodeDecodeError:
            continue
        if _control_share(text) > 0.01:
            raise InputError(path, "looks like a binary file (control characters); expected a text transcript")
        return DecodedText(text, candidate)
    undefined = [b for b in data if b in _CP1252_UNDEFINED]
    detail = f" (byte 0x{undefined[0]:02X} is not a cp1252 character)" if undefined else ""
    raise InputError(
        path,
        f"unreadable encoding: not UTF-8, UTF-16 or cp1252/latin-1{detail}; "
        "re-save the file as UTF-8 or pass --encoding",
    )
