"""Strings that cannot be written as UTF-8: lone surrogates from JSON escapes and undecodable file names.

JSON may escape half of a UTF-16 pair (``"\\ud800"``), and Python then holds a lone surrogate, which no
UTF-8 file can store: writing it crashes. A file name whose bytes are not UTF-8 reaches Python as the same
kind of string (surrogate escapes). capcode replaces each such character with U+FFFD, which keeps every
other offset in place, and says so on stderr.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def has_lone_surrogates(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def replace_lone_surrogates(value: Any) -> tuple[Any, int]:
    """`value` (a string, or lists and dicts of them) with every lone surrogate replaced by U+FFFD, and how
    many were replaced. A JSON escape of a proper pair is already one character and stays."""
    if isinstance(value, str):
        fixed, count = _SURROGATE.subn(REPLACEMENT, value)
        return fixed, count
    if isinstance(value, list):
        total, items = 0, []
        for item in value:
            fixed, count = replace_lone_surrogates(item)
            items.append(fixed)
            total += count
        return items, total
    if isinstance(value, dict):
        total, mapping = 0, {}
        for key, item in value.items():
            fixed_key, key_count = replace_lone_surrogates(key)
            fixed, count = replace_lone_surrogates(item)
            mapping[fixed_key] = fixed
            total += count + key_count
        return mapping, total
    return value, 0


def report_replaced(path: str | Path, count: int) -> None:
    if count:
        print(f"{path}: {count} lone surrogate{'s' if count != 1 else ''} (half of a UTF-16 pair, escaped as \\udXXX) "
              "replaced with U+FFFD", file=sys.stderr)


def readable_name(name: str) -> str:
    """A file name as text that UTF-8 can hold: bytes that were not UTF-8 become U+FFFD."""
    if not has_lone_surrogates(name):
        return name
    try:
        return os.fsencode(name).decode("utf-8", "replace")
    except UnicodeError:  # not a surrogate escape: a lone surrogate in the name itself
        return _SURROGATE.sub(REPLACEMENT, name)
