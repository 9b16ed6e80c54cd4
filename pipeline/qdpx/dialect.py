"""Position dialects of REFI-QDA projects, and converting their positions to normalised code points.

The spec counts code points, QualCoder too (and keeps its LF-based offsets when it writes CRLF text for
MAXQDA, so CRLF counts 1), NVivo counts UTF-16 code units and on Windows writes BOM + CRLF text with CRLF
counted as 2 (docs/qdpx.md). `Project/@origin` names the writer
but a later tool may have changed it, so it is only a tie-breaker: the dialect is the one under which the
coded spans land on word boundaries and inside the text (`detect_dialect`). `SourceText` maps a dialect's
positions onto the normalised text (NFC, `\\n`, no BOM) that the rest of capcode indexes.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Any

from pipeline.ingest.textnorm import normalise_text
from pipeline.qdpx.project import RawSelection


@dataclass(frozen=True)
class Dialect:
    """How a QDA program counts positions in a source's text."""

    name: str
    utf16: bool  # positions count UTF-16 code units: a character outside the BMP counts 2
    crlf_counts_two: bool  # a CRLF in the text file counts 2 positions (else 1, as if the text had LF)


DIALECTS = {
    d.name: d
    for d in (
        Dialect("codepoint", utf16=False, crlf_counts_two=True),  # the spec, on the text as stored
        Dialect("codepoint-lf", utf16=False, crlf_counts_two=False),  # QualCoder
        Dialect("utf16", utf16=True, crlf_counts_two=True),  # NVivo (Mac: LF text; Windows: BOM + CRLF)
        Dialect("utf16-lf", utf16=True, crlf_counts_two=False),
    )
}
SPEC_DIALECT = "codepoint"

_NON_BMP = re.compile("[\U00010000-\U0010ffff]")
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


class SourceText:
    """A source's text as stored, and the maps from dialect positions to its normalised text.

    Three texts: the raw text (decoded, BOM removed), the LF text (CRLF and lone CR -> LF, code points) and
    the normalised text (the LF text in NFC). CRLFs and non-BMP characters are sparse, so a dialect position
    maps to an LF index by bisection over them; NFC changes (rare: most exports are NFC already) are mapped
    chunk by chunk.
    """

    def __init__(self, raw: str) -> None:
        self.had_bom = raw.startswith("\ufeff")
        self.had_cr = "\r" in raw
        raw = raw.lstrip("\ufeff")
        self.text = normalise_text(raw)
        crlf = [m.start() for m in re.finditer("\r\n", raw)]
        self._crlf_lf = [r - j for j, r in enumerate(crlf)]  # LF-text index of the LF of each CRLF
        self._wide = [m.start() - bisect_left(crlf, m.start()) for m in _NON_BMP.finditer(raw)]
        self.lf_length = len(raw) - len(crlf)
        lf_text = raw.replace("\r\n", "\n").replace("\r", "\n")
        self._nfc = _NfcMap(lf_text, self.text)
        self._tables: dict[str, tuple[list[int], list[int]]] = {}

    def _table(self, dialect: Dialect) -> tuple[list[int], list[int]]:
        """(LF index, dialect position) of every character that counts 2 in this dialect."""
        if dialect.name not in self._tables:
            wide = sorted((self._wide if dialect.utf16 else []) + (self._crlf_lf if dialect.crlf_counts_two else []))
            self._tables[dialect.name] = (wide, [index + k for k, index in enumerate(wide)])
        return self._tables[dialect.name]

    def length(self, dialect: Dialect) -> int:
        return self.lf_length + len(self._table(dialect)[0])

    def to_normalised(self, position: int, dialect: Dialect, *, round_up: bool) -> tuple[int, bool]:
        """A dialect position as an index into the normalised text, and whether it fell on a character
        boundary (not inside a surrogate pair, a CRLF or a composed character). Inside one, `round_up`
        moves it after that character (for `end`), else before it (for `start`)."""
        wide, starts = self._table(dialect)
        k = bisect_right(starts, position) - 1
        aligned = True
        if k < 0:
            lf_index = position
        elif position == starts[k]:
            lf_index = wide[k]
        elif position == starts[k] + 1:  # second unit of a 2-unit character
            lf_index, aligned = wide[k] + (1 if round_up else 0), False
        else:
            lf_index = position - (k + 1)
        index, nfc_aligned = self._nfc.map(lf_index, round_up=round_up)
        return index, aligned and nfc_aligned

    def from_normalised(self, index: int, dialect: Dialect) -> int:
        """The inverse, for writing a project in a given dialect (tests, benchmark): requires an NFC text."""
        if not self._nfc.identity:
            raise ValueError("from_normalised needs a source whose text is already NFC")
        wide, _ = self._table(dialect)
        return index + bisect_left(wide, index)


class _NfcMap:
    """LF-text index -> normalised (NFC) index. NFC never composes across an ASCII character (none is the
    second half of a canonical composition, and each is a starter that blocks reordering), so the text is
    cut before every ASCII character and only the chunks that NFC changes are mapped."""

    def __init__(self, lf_text: str, normalised: str) -> None:
        self.identity = lf_text == normalised
        self._chunks: list[tuple[int, int, int, int, str]] = []  # lf start, lf end, nfc start, nfc end, text
        if self.identity:
            return
        shift = 0
        for match in _NON_ASCII_RUN.finditer(lf_text):
            start = max(match.start() - 1, 0)
            chunk = lf_text[start : match.end()]
            composed = unicodedata.normalize("NFC", chunk)
            if composed != chunk:
                self._chunks.append((start, match.end(), start + shift, start + shift + len(composed), chunk))
                shift += len(composed) - len(chunk)
        self._starts = [c[0] for c in self._chunks]
        if len(lf_text) + shift != len(normalised):
            raise AssertionError("NFC chunk map out of step with normalise_text")

    def map(self, index: int, *, round_up: bool) -> tuple[int, bool]:
        if self.identity:
            return index, True
        k = bisect_right(self._starts, index) - 1
        if k < 0:
            return index, True
        lf_start, lf_end, nfc_start, nfc_end, chunk = self._chunks[k]
        if index >= lf_end:
            return index + (nfc_end - lf_end), True
        whole = unicodedata.normalize("NFC", chunk)

        def splits_cleanly(offset: int) -> bool:
            nfc = unicodedata.normalize
            return nfc("NFC", chunk[:offset]) + nfc("NFC", chunk[offset:]) == whole

        offset = index - lf_start
        aligned = splits_cleanly(offset)
        step = 1 if round_up else -1
        while not splits_cleanly(offset):  # ends at 0 or len(chunk) at the latest
            offset += step
        return nfc_start + len(unicodedata.normalize("NFC", chunk[:offset])), aligned


def _on_boundary(text: str, index: int) -> bool:
    """Whether a selection edge at `index` leaves words whole: not between two word characters, and not
    before a combining mark."""
    if index <= 0 or index >= len(text):
        return True
    after = text[index]
    if unicodedata.category(after).startswith("M"):
        return False
    before = text[index - 1]
    return not ((before.isalnum() or before == "_") and (after.isalnum() or after == "_"))


def _hint_order(origin: str | None) -> list[str]:
    origin = (origin or "").casefold()
    if "nvivo" in origin:
        first = "utf16"
    elif "qualcoder" in origin:
        first = "codepoint-lf"
    else:
        first = SPEC_DIALECT
    return [first] + [name for name in DIALECTS if name != first]


def convert_selection(raw: RawSelection, text: SourceText, dialect: Dialect) -> tuple[int, int, bool]:
    """A selection's (start, end) in the normalised text under `dialect`, and whether both edges are clean:
    on character boundaries and leaving words whole."""
    start, start_ok = text.to_normalised(raw.start, dialect, round_up=False)
    end, end_ok = text.to_normalised(raw.end, dialect, round_up=True)
    clean = start_ok and end_ok and _on_boundary(text.text, start) and _on_boundary(text.text, end)
    return start, end, clean


_CAPCODE_POSITIONS = re.compile(r"^capcode \S+; positions (?P<dialect>[\w-]+)$")


def capcode_origin(version: str, dialect: str) -> str:
    """`Project/@origin` of a file capcode writes: the version, and the dialect when it is not the spec's."""
    return f"capcode {version}" if dialect == SPEC_DIALECT else f"capcode {version}; positions {dialect}"


def _written_by_capcode(origin: str | None, texts: dict[str, SourceText]) -> str | None:
    """The dialect of a file capcode wrote: the one its origin names (`capcode_origin`), or code points for an
    older capcode file whose texts are still LF without a BOM; None for other writers."""
    origin = origin or ""
    named = _CAPCODE_POSITIONS.match(origin)
    if named and named.group("dialect") in DIALECTS:
        return named.group("dialect")
    if origin.startswith("capcode ") and not any(t.had_bom or t.had_cr for t in texts.values()):
        return SPEC_DIALECT
    return None


def detect_dialect(
    selections: list[RawSelection], texts: dict[str, SourceText], origin: str | None
) -> tuple[Dialect | None, dict[str, object]]:
    """Choose the position dialect under which the project's spans make sense.

    Rule: a dialect is *feasible* when every selection ends inside its text. Among feasible dialects, the
    one under which the most spans start and end on word boundaries (and not inside a surrogate pair or a
    CRLF) wins; ties, and projects where all dialects select the same characters, go to the dialect the
    `origin` suggests (NVivo: utf16, QualCoder: codepoint-lf, others: the spec's codepoint). A file that
    capcode wrote is read in the dialect its origin names ("capcode 0.1.0; positions utf16"), or as code
    points (origin "capcode ...", texts still LF without BOM), since its spans are model fragments whatever
    their boundaries. Returns None when no dialect is feasible.
    """
    order = _hint_order(origin)
    evidence: dict[str, object] = {"hint": order[0], "selections": len(selections)}
    ours = _written_by_capcode(origin, texts)
    if ours is not None and all(s.end <= texts[s.source].length(DIALECTS[ours]) for s in selections):
        evidence.update(decided_by=f"written by capcode in the {ours} dialect", chosen=ours)
        return DIALECTS[ours], evidence
    results: dict[str, tuple] = {}
    scores: dict[str, dict[str, Any]] = {}
    for name in order:
        dialect = DIALECTS[name]
        feasible = all(s.end <= texts[s.source].length(dialect) for s in selections)
        converted = [convert_selection(s, texts[s.source], dialect) for s in selections] if feasible else []
        clean = sum(1 for *_, ok in converted if ok)
        scores[name] = {"feasible": feasible, "clean_spans": clean}
        if feasible:
            results[name] = tuple((a, b) for a, b, _ in converted)
    evidence["scores"] = scores
    if not results:
        return None, evidence
    distinct = {results[name] for name in results}
    if len(distinct) == 1:
        chosen = next(name for name in order if name in results)
        evidence["decided_by"] = "all interpretations select the same text" if len(results) > 1 else "only feasible"
    else:
        chosen = max(results, key=lambda n: (scores[n]["clean_spans"], -order.index(n)))
        runner_up = max((scores[n]["clean_spans"] for n in results if results[n] != results[chosen]), default=-1)
        evidence["decided_by"] = "origin hint (tie)" if runner_up == scores[chosen]["clean_spans"] else "word boundaries"
    evidence["chosen"] = chosen
    return DIALECTS[chosen], evidence
