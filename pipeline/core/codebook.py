"""The coding scheme as data: loading and validating `configs/codebook.yaml`, mapping QDA code names.

Everything that knows about codes (alignment, the model head, reports, REFI-QDA export) asks this module,
so a changed codebook changes them all, and a model trained on another codebook is recognised.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.config import DEFAULT_CODEBOOK, read_yaml
from pipeline.core.errors import InputError

_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Code:
    id: str
    axis: str
    label: str
    colour: str
    definition: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class Axis:
    id: str
    label: str
    poles: tuple[str, str]

    @property
    def categories(self) -> list[str]:
        """The names of the four axis categories, in the order of their numbers (`axis_category`)."""
        first, second = self.poles
        return [f"only {first}", f"only {second}", "both", "neither"]


# The axis category of a fragment: which of an axis's two poles a coder (or the model) gave it.
ONLY_FIRST, ONLY_SECOND, BOTH, NEITHER = 0, 1, 2, 3


def axis_category(first: Any, second: Any) -> np.ndarray:
    """Axis category of pole labels: 0 only the first pole, 1 only the second, 2 both, 3 neither.

    ``first`` and ``second`` are the 0/1 labels of the two poles, scalars or arrays of one shape (elementwise);
    the result is an int array of that shape (0-d for scalars: ``int()`` it). The one definition behind the
    4x4 axis confusion matrices, the axis agreement coefficients and the corpus statistics.
    """
    first, second = np.asarray(first).astype(bool), np.asarray(second).astype(bool)
    return np.where(first & second, BOTH, np.where(first, ONLY_FIRST, np.where(second, ONLY_SECOND, NEITHER))).astype(int)


@dataclass(frozen=True)
class Codebook:
    name: str
    axes: tuple[Axis, ...]
    codes: tuple[Code, ...]
    source: str

    @property
    def code_ids(self) -> list[str]:
        return [code.id for code in self.codes]

    def code(self, code_id: str) -> Code:
        for code in self.codes:
            if code.id == code_id:
                return code
        raise KeyError(code_id)

    def axis(self, axis_id: str) -> Axis:
        for axis in self.axes:
            if axis.id == axis_id:
                return axis
        raise KeyError(axis_id)

    def resolve(self, name: str) -> str | None:
        """Map a code name from a QDA export (id, label or alias, any case) to a code id, or None."""
        return self._lookup().get(_key(name))

    def require(self, name: str, path: str | Path) -> str:
        """Like `resolve`, but an unknown name is a clear InputError naming the known codes."""
        code_id = self.resolve(name)
        if code_id is None:
            raise InputError(
                path, f"unknown code '{name}'; expected one of {', '.join(self.code_ids)} or an alias in {self.source}"
            )
        return code_id

    def _lookup(self) -> dict[str, str]:
        return _alias_table(self)

    def fingerprint(self) -> str:
        """sha256 over ids, axes and order: what a trained model depends on (labels/colours may change)."""
        payload = json.dumps([[c.id, c.axis] for c in self.codes] + [[a.id, *a.poles] for a in self.axes])
        return hashlib.sha256(payload.encode()).hexdigest()


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


@lru_cache(maxsize=8)
def _alias_table(codebook: Codebook) -> dict[str, str]:
    table: dict[str, str] = {}
    for code in codebook.codes:
        for name in (code.id, code.label, *code.aliases):
            table[_key(name)] = code.id
    return table


def _require_keys(entry: dict, keys: tuple[str, ...], where: str, path: Path) -> None:
    if not isinstance(entry, dict):
        raise InputError(path, f"{where} must be a mapping with {', '.join(keys)}, found {entry!r}")
    missing = [key for key in keys if key not in entry]
    if missing:
        raise InputError(path, f"{where} lacks {', '.join(missing)}; every entry needs {', '.join(keys)}")


def _entry_id(entry: object) -> str:
    return str(entry.get("id", "?")) if isinstance(entry, dict) else "?"


def load_codebook(path: str | Path | None = None) -> Codebook:
    """Load and validate a codebook (default: the shipped one); every problem is an InputError."""
    path = Path(path or DEFAULT_CODEBOOK)
    return _load_codebook(str(path.resolve()))


@lru_cache(maxsize=4)
def _load_codebook(path_str: str) -> Codebook:
    path = Path(path_str)
    raw = read_yaml(path)
    _require_keys(raw, ("axes", "codes"), "the codebook", path)
    axes: list[Axis] = []
    for key in ("axes", "codes"):
        if not isinstance(raw[key], list):
            raise InputError(path, f"'{key}' must be a list of entries, found {type(raw[key]).__name__}")
    for entry in raw["axes"]:
        _require_keys(entry, ("id", "label", "poles"), f"axis {_entry_id(entry)}", path)
        if not isinstance(entry["poles"], list) or len(entry["poles"]) != 2:
            raise InputError(path, f"axis '{entry['id']}' needs exactly two poles, found {entry['poles']!r}")
        axes.append(Axis(entry["id"], entry["label"], tuple(entry["poles"])))
    axis_ids = {axis.id for axis in axes}
    codes: list[Code] = []
    seen_names: dict[str, str] = {}
    for entry in raw["codes"]:
        _require_keys(entry, ("id", "axis", "label", "colour", "definition"), f"code {_entry_id(entry)}", path)
        code_id = entry["id"]
        if not _ID.match(str(code_id)):
            raise InputError(path, f"code id '{code_id}' must be lower-case letters, digits and underscores")
        if entry["axis"] not in axis_ids:
            raise InputError(
                path, f"code '{code_id}' names axis '{entry['axis']}', which is not defined; axes: {', '.join(axis_ids)}"
            )
        if not _COLOUR.match(str(entry["colour"])):
            raise InputError(path, f"code '{code_id}' colour {entry['colour']!r} is not of the form #rrggbb")
        aliases = tuple(str(a) for a in entry.get("aliases") or ())
        for name in (code_id, entry["label"], *aliases):
            owner = seen_names.setdefault(_key(name), code_id)
            if owner != code_id:
                raise InputError(path, f"alias '{name}' maps to both '{owner}' and '{code_id}'; make it unique")
        codes.append(Code(code_id, entry["axis"], entry["label"], entry["colour"], entry["definition"].strip(), aliases))
    code_ids = [code.id for code in codes]
    if len(set(code_ids)) != len(code_ids):
        raise InputError(path, f"duplicate code ids in {code_ids}")
    for axis in axes:
        for pole in axis.poles:
            if pole not in code_ids:
                raise InputError(path, f"axis '{axis.id}' names pole '{pole}', which is not a code")
            if next(c for c in codes if c.id == pole).axis != axis.id:
                raise InputError(path, f"pole '{pole}' of axis '{axis.id}' belongs to another axis")
    return Codebook(str(raw.get("name", path.stem)), tuple(axes), tuple(codes), str(path))
