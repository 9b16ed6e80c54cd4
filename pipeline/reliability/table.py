"""Reading a ratings table as people have them: delimiter, BOM, long or wide layout, missing values.

Two layouts (``layout="auto"`` tells them apart by the header):

- **long**: one row per rating, columns ``unit``, ``coder``, ``value`` (any order, any case, extra columns
  ignored). What capcode has always read.
- **wide**: one row per unit, one column per coder (the layout of ReCal and R's ``irr``). An optional first
  column named ``unit`` (or ``id``, ``item``, ``eenheid``, ``fragment``) names the units; without it units
  are numbered by their line. Every other column is a coder.

The delimiter is sniffed from the header line among ``,`` ``;`` and tab (Dutch Excel writes ``;``); a UTF-8
BOM is skipped. A value is **missing** when it is empty, ``NA``, ``N/A``, ``.``, or one of the ``missing``
strings the caller adds (``--missing``); missing values are counted, per coder, and never become a category.
Excel ``.xlsx`` is not read: no well-kept spreadsheet reader (openpyxl) is a dependency of capcode, and a
hand-written one would have to follow Excel's shared strings, dates and number formats; the message says to
save the sheet as CSV (any of the delimiters above).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.core.errors import InputError

LAYOUTS = ("auto", "long", "wide")
DELIMITERS = (",", ";", "\t")
DEFAULT_MISSING = ("", "NA", "N/A", "n/a", "na", ".", "#N/A", "NaN", "nan")
UNIT_COLUMNS = ("unit", "units", "id", "item", "eenheid", "fragment")
LEVELS = ("nominal", "ordinal", "interval", "ratio")


@dataclass
class RatingsTable:
    """A reliability matrix read from a file, with what the reader found on the way."""

    ratings: np.ndarray  # (n_coders, n_units), float, nan where missing
    unit_ids: list[str]
    coder_ids: list[str]
    layout: str  # long | wide
    delimiter: str
    categories: list[str] | None  # label of each code 0..q-1 when the values were labels, else None
    n_missing: int = 0  # cells or rows that held a missing-value marker
    missing_by_coder: dict[str, int] = field(default_factory=dict)
    missing_markers: dict[str, int] = field(default_factory=dict)  # marker as written -> count

    def summary(self) -> dict[str, object]:
        """What the report says about the file: layout, delimiter, missing values."""
        return {"layout": self.layout, "delimiter": {"\t": "tab"}.get(self.delimiter, self.delimiter),
                "n_units": len(self.unit_ids), "n_coders": len(self.coder_ids), "n_missing": self.n_missing,
                "missing_by_coder": dict(self.missing_by_coder), "missing_markers": dict(self.missing_markers),
                "categories": self.categories}


# --------------------------------------------------------------------------- reading the text


def _lines(path: Path) -> list[str]:
    if path.suffix.lower() in (".xlsx", ".xlsm", ".xls", ".ods"):
        raise InputError(path, "spreadsheets are not read (no spreadsheet reader is a dependency of capcode); "
                         "save the sheet as CSV (comma, semicolon or tab separated) and give that file")
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory; expected a ratings file") from None
    if b"\x00" in raw[:4096]:
        raise InputError(path, "binary file (or UTF-16); save the ratings as UTF-8 CSV")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(path, "not UTF-8 text; save the CSV as UTF-8") from None
    return text.splitlines()


def sniff_delimiter(header: str) -> str:
    """The delimiter of a header line: the most frequent of ``,`` ``;`` tab outside quotes (``,`` on a tie)."""
    unquoted = "".join(part for i, part in enumerate(header.split('"')) if i % 2 == 0)
    counts = {d: unquoted.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _rows(path: Path, lines: list[str], delimiter: str) -> list[tuple[int, list[str]]]:
    """(line number, stripped fields) of each non-blank line after the header."""
    try:
        reader = csv.reader(lines[1:], delimiter=delimiter)
        rows = []
        for number, record in enumerate(reader, 2):
            if any(f.strip() for f in record):
                rows.append((number, [f.strip() for f in record]))
    except csv.Error as err:
        raise InputError(path, f"not a valid CSV file: {err}") from None
    return rows


# --------------------------------------------------------------------------- values


def _parse_number(text: str) -> float | None:
    try:
        value = float(text.replace(",", ".")) if text.count(",") == 1 and "." not in text else float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _codes(path: Path, cells: list[tuple[int, str, str]], level: str,
           categories: Sequence[str] | None) -> tuple[list[float], list[str] | None]:
    """Numeric code of each (line, coder, text) cell, and the category labels when values are labels."""
    if categories is not None:
        position = {str(c).strip(): float(i) for i, c in enumerate(categories)}
        for line, _, text in cells:
            if text not in position:
                raise InputError(path, f"line {line}: value '{text}' is not a category; expected one of "
                                 f"{', '.join(position)} (or a missing-value marker such as NA)")
        return [position[t] for _, _, t in cells], [str(c).strip() for c in categories]
    numbers = [_parse_number(t) for _, _, t in cells]
    bad = [(line, text) for (line, _, text), n in zip(cells, numbers) if n is None]
    if bad and level == "nominal":
        labels = sorted({t for _, _, t in cells})
        code = {label: float(i) for i, label in enumerate(labels)}
        return [code[t] for _, _, t in cells], labels
    if bad:
        line, text = bad[0]
        hint = " (or pass the ordered categories)" if level == "ordinal" else ""
        raise InputError(path, f"line {line}: value '{text}' is not a finite number, needed at {level} level{hint}; "
                         "mark a missing rating as NA, '.', an empty cell or a --missing value")
    if level == "ratio":
        for (line, _, _), n in zip(cells, numbers):
            if n is not None and n < 0:
                raise InputError(path, f"line {line}: negative value at ratio level; ratio values must be >= 0")
    return [float(n) for n in numbers if n is not None], None


# --------------------------------------------------------------------------- layouts


def _detect_layout(names: list[str], layout: str) -> str:
    if layout != "auto":
        return layout
    # a header naming a coder or value column is meant as long (and checked as such), anything else is wide
    return "long" if {"coder", "value"} & set(names) else "wide"


def _long_cells(path: Path, header: list[str], names: list[str],
                rows: list[tuple[int, list[str]]]) -> list[tuple[int, str, str, str]]:
    missing = [c for c in ("unit", "coder", "value") if c not in names]
    if missing:
        raise InputError(path, f"missing column(s) {', '.join(missing)} for the long layout; expected a header "
                         f"'unit,coder,value' (or a wide table: one column per coder), found '{','.join(header)}'")
    columns = [names.index(c) for c in ("unit", "coder", "value")]
    cells = []
    for line, record in rows:
        unit, coder, value = (record[c] if c < len(record) else "" for c in columns)
        if not unit or not coder:
            raise InputError(path, f"line {line}: empty unit or coder")
        cells.append((line, unit, coder, value))
    return cells


def _wide_cells(path: Path, header: list[str], names: list[str],
                rows: list[tuple[int, list[str]]]) -> list[tuple[int, str, str, str]]:
    unit_column = 0 if names and names[0] in UNIT_COLUMNS else None
    coder_columns = [i for i in range(len(header)) if i != unit_column]
    coders = [header[i].strip() for i in coder_columns]
    if len(coders) < 2:
        raise InputError(path, f"a wide table needs a column per coder (two or more), found header "
                         f"'{','.join(header)}'; a long table needs the columns unit,coder,value")
    empty = [i + 1 for i, c in zip(coder_columns, coders) if not c]
    if empty:
        raise InputError(path, f"line 1: column {empty[0]} has no coder name")
    if len(set(coders)) != len(coders):
        twice = next(c for c in coders if coders.count(c) > 1)
        raise InputError(path, f"line 1: coder '{twice}' names two columns")
    cells: list[tuple[int, str, str, str]] = []
    seen_units: dict[str, int] = {}
    for line, record in rows:
        if len(record) > len(header) and any(record[len(header):]):
            raise InputError(path, f"line {line}: {len(record)} fields but the header has {len(header)}; "
                             "check the delimiter and quoting")
        unit = record[unit_column] if unit_column is not None and unit_column < len(record) else str(line - 1)
        if not unit:
            raise InputError(path, f"line {line}: empty unit")
        if unit in seen_units:
            raise InputError(path, f"line {line}: unit '{unit}' again (first on line {seen_units[unit]}); a wide "
                             "table has one row per unit")
        seen_units[unit] = line
        for i, coder in zip(coder_columns, coders):
            cells.append((line, unit, coder, record[i] if i < len(record) else ""))
    return cells


# --------------------------------------------------------------------------- the reader


def read_ratings_table(
    path: str | Path, *, level: str = "nominal", categories: Sequence[str] | None = None, layout: str = "auto",
    missing: Sequence[str] = (),
) -> RatingsTable:
    """Read a ratings file (module docstring) into a `RatingsTable`.

    Values: interval and ratio need numbers (a decimal comma is read as a point); ordinal takes numbers, or
    labels when ``categories`` orders them; nominal takes labels (coded by position in ``categories``, or
    in sorted order) or numbers (their own codes). Raises InputError, naming the file and the line, for: an
    unknown layout, a missing column, an empty unit or coder, a value the level cannot take, the same unit
    rated twice by one coder with different values, fewer than two coders, no unit rated by two coders.
    """
    path = Path(path)
    if layout not in LAYOUTS:
        raise InputError(path, f"unknown layout '{layout}'; expected one of {', '.join(LAYOUTS)}")
    if level not in LEVELS:
        raise InputError(path, f"unknown level '{level}'; expected one of {', '.join(LEVELS)}")
    if categories is not None and level in ("interval", "ratio"):
        raise InputError(path, f"categories only apply at nominal and ordinal level, not {level}")
    lines = _lines(path)
    if not lines or not lines[0].strip():
        raise InputError(path, "the file is empty; expected a header (unit,coder,value or one column per coder)")
    delimiter = sniff_delimiter(lines[0])
    header = [name.strip() for name in next(csv.reader([lines[0]], delimiter=delimiter))]
    names = [name.lower() for name in header]
    rows = _rows(path, lines, delimiter)
    chosen = _detect_layout(names, layout)
    cells = (_long_cells if chosen == "long" else _wide_cells)(path, header, names, rows)
    # a marker the caller names as a category (e.g. NA as an answer) is a value, not a missing rating
    named = {str(c).strip() for c in categories or ()}
    markers = {m.strip() for m in (*DEFAULT_MISSING, *missing)} - named
    missing_markers: dict[str, int] = {}
    missing_by_coder: dict[str, int] = {}
    rated = []
    for line, unit, coder, text in cells:
        if text in markers:
            missing_markers[text or "(empty)"] = missing_markers.get(text or "(empty)", 0) + 1
            missing_by_coder[coder] = missing_by_coder.get(coder, 0) + 1
        else:
            rated.append((line, unit, coder, text))
    codes, labels = _codes(path, [(line, coder, text) for line, _, coder, text in rated], level, categories)
    unit_ids = list(dict.fromkeys(unit for _, unit, _, _ in cells))
    coder_ids = list(dict.fromkeys(coder for _, _, coder, _ in cells))
    unit_index = {u: i for i, u in enumerate(unit_ids)}
    coder_index = {c: i for i, c in enumerate(coder_ids)}
    ratings = np.full((len(coder_ids), len(unit_ids)), np.nan)
    first_line: dict[tuple[str, str], int] = {}
    for (line, unit, coder, text), code in zip(rated, codes):
        i, j = coder_index[coder], unit_index[unit]
        if not np.isnan(ratings[i, j]) and ratings[i, j] != code:
            raise InputError(path, f"line {line}: coder '{coder}' rated unit '{unit}' again with a different value "
                             f"('{text}'), see line {first_line[unit, coder]}; keep one rating per unit and coder")
        ratings[i, j] = code
        first_line.setdefault((unit, coder), line)
    _check_comparable(path, ratings, coder_ids)
    return RatingsTable(ratings, unit_ids, coder_ids, chosen, delimiter, labels, sum(missing_markers.values()),
                        missing_by_coder, missing_markers)


def _check_comparable(path: Path, ratings: np.ndarray, coder_ids: list[str]) -> None:
    rated = ~np.isnan(ratings)
    raters = [coder for coder, any_rating in zip(coder_ids, rated.any(axis=1)) if any_rating]
    if len(raters) < 2:
        found = f"only one coder ('{raters[0]}')" if raters else "no ratings"
        raise InputError(path, f"{found}; agreement needs ratings from at least two coders")
    if not (rated.sum(axis=0) >= 2).any():
        raise InputError(path, "no unit is rated by two or more coders; agreement needs shared units")


def read_ratings_csv(
    path: str | Path, *, level: str, categories: Sequence[str] | None = None
) -> tuple[np.ndarray, list[str], list[str]]:
    """``(ratings, unit_ids, coder_ids)`` of a ratings file (`read_ratings_table`, layout detected)."""
    table = read_ratings_table(path, level=level, categories=categories)
    return table.ratings, table.unit_ids, table.coder_ids
