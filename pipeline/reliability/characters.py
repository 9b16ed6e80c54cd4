"""The character-level agreement report (`capcode agreement --unit character`), from span codings.

The unit is the character: per code, per source, per coder pair, which characters each coder coded with the
code (`pipeline.reliability.unitizing`). A pair is compared on the sources both coders coded (a coder who
coded nothing in a source did not code it); all coders together on the sources every one of them coded.

The report (a dict, JSON-ready)::

    krippendorff_alpha_u: all coders, all codes (null when no source is coded by all)
    codes: {code: {krippendorff_alpha_u, n_characters, n_sources, n_coders}}     # all coders
    pairs: {"a vs b": {coders, n_sources, pooled: {...}, codes: {code: {...}}, sources: {doc: {n_characters,
            codes: {code: {...}}}}}}
    per_coder: {coder: {n_pairs, mean_percent_agreement, mean_cohen_kappa, mean_krippendorff_alpha_u}}
    disagreements: [{code, document, start, end, text, coded_by, not_coded_by}], n_disagreements

where ``{...}`` is ``{percent_agreement, cohen_kappa, krippendorff_alpha_u, n_characters, both, only_first,
only_second}`` over every character of every compared source pooled (``pooled``: every code x character).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.core.documents import SpanCoding
from pipeline.reliability.unitizing import (
    CharacterTable,
    Span,
    UnitizingTerms,
    character_table,
    merge_spans,
    unitizing_alpha,
    unitizing_terms,
)

MAX_DISAGREEMENTS = 500
MAX_TEXT = 300


def pair_key(first: str, second: str) -> str:
    return f"{first} vs {second}"


def _figures(table: CharacterTable, terms: UnitizingTerms | None | float) -> dict[str, Any]:
    alpha = terms if isinstance(terms, float) or terms is None else terms.alpha
    return {"percent_agreement": table.percent_agreement(), "cohen_kappa": table.cohen_kappa(),
            "krippendorff_alpha_u": alpha, "n_characters": table.n, "both": table.both,
            "only_first": table.only_first, "only_second": table.only_second}


def _spans_by(codings: Sequence[SpanCoding]) -> dict[tuple[str, str, str], list[Span]]:
    """(document, code, coder) -> merged spans."""
    raw: dict[tuple[str, str, str], list[Span]] = defaultdict(list)
    for coding in codings:
        raw[coding.document, coding.code, coding.coder].append((coding.start, coding.end))
    return {key: merge_spans(spans) for key, spans in raw.items()}


def _pair_block(first: str, second: str, documents: Sequence[str], lengths: Mapping[str, int], codes: Sequence[str],
                spans: Mapping[tuple[str, str, str], list[Span]]) -> dict[str, Any]:
    pooled = CharacterTable(0, 0, 0, 0)
    per_code: dict[str, Any] = {}
    all_terms = []
    sources: dict[str, Any] = {doc: {"n_characters": lengths[doc], "codes": {}} for doc in documents}
    for code in codes:
        total = CharacterTable(0, 0, 0, 0)
        continua = []
        for doc in documents:
            a, b = spans.get((doc, code, first), []), spans.get((doc, code, second), [])
            table = character_table(a, b, lengths[doc])
            terms = unitizing_terms([(lengths[doc], {first: a, second: b})])
            sources[doc]["codes"][code] = _figures(table, terms)
            total += table
            continua.append((lengths[doc], {first: a, second: b}))
        terms = unitizing_terms(continua)
        all_terms.append(terms)
        per_code[code] = _figures(total, terms)
        pooled += total
    return {"coders": [first, second], "n_sources": len(documents), "n_characters": sum(lengths[d] for d in documents),
            "pooled": _figures(pooled, unitizing_alpha(all_terms)), "codes": per_code, "sources": sources}


def _disagreements(documents: Mapping[str, str], coders_of: Mapping[str, Sequence[str]], codes: Sequence[str],
                   spans: Mapping[tuple[str, str, str], list[Span]]) -> list[dict[str, Any]]:
    """Maximal spans where the coders of a source differ on a code, ordered by code, source, position."""
    found = []
    for code in codes:
        for doc, text in documents.items():
            coders = list(coders_of.get(doc, ()))
            if len(coders) < 2:
                continue
            cuts = sorted({p for c in coders for s in spans.get((doc, code, c), []) for p in s})
            previous: tuple[int, int, frozenset[str]] | None = None
            pieces: list[tuple[int, int, frozenset[str]]] = []
            for start, end in itertools.pairwise(cuts):
                coded = frozenset(c for c in coders if any(s <= start and end <= e
                                                           for s, e in spans.get((doc, code, c), [])))
                if previous is not None and previous[1] == start and previous[2] == coded:
                    previous = (previous[0], end, coded)
                    pieces[-1] = previous
                else:
                    previous = (start, end, coded)
                    pieces.append(previous)
            for start, end, coded in pieces:
                if coded and len(coded) < len(coders) and text[start:end].strip():
                    found.append({"code": code, "document": doc, "start": start, "end": end,
                                  "text": _clip(text[start:end]), "coded_by": sorted(coded),
                                  "not_coded_by": sorted(set(coders) - coded)})
    return found


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "\u2026"


def _mean(values: Sequence[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None


def character_report(
    *, documents: Mapping[str, str], codings: Sequence[SpanCoding], coders_of: Mapping[str, Sequence[str]],
    coders: Sequence[str], codes: Sequence[str],
) -> dict[str, Any]:
    """The character-level report (module docstring) of ``codings`` on ``documents`` (id -> text)."""
    lengths = {doc: len(text) for doc, text in documents.items()}
    spans = _spans_by(codings)
    everyone = [doc for doc in documents if set(coders) <= set(coders_of.get(doc, ()))]
    code_block: dict[str, Any] = {}
    all_terms = []
    for code in codes:
        terms = unitizing_terms([(lengths[d], {c: spans.get((d, code, c), []) for c in coders}) for d in everyone])
        all_terms.append(terms)
        code_block[code] = {"krippendorff_alpha_u": None if terms is None else terms.alpha,
                            "n_characters": sum(lengths[d] for d in everyone), "n_sources": len(everyone),
                            "n_coders": len(coders)}
    pairs = {}
    for first, second in itertools.combinations(coders, 2):
        shared = [d for d in documents if {first, second} <= set(coders_of.get(d, ()))]
        if shared:
            pairs[pair_key(first, second)] = _pair_block(first, second, shared, lengths, codes, spans)
    per_coder = {}
    for coder in coders:
        mine = [p["pooled"] for p in pairs.values() if coder in p["coders"]]
        per_coder[coder] = {"n_pairs": len(mine),
                            **{f"mean_{k}": _mean([p[k] for p in mine])
                               for k in ("percent_agreement", "cohen_kappa", "krippendorff_alpha_u")}}
    disagreements = _disagreements(documents, coders_of, codes, spans)
    return {"krippendorff_alpha_u": unitizing_alpha(all_terms), "n_sources_all_coders": len(everyone),
            "codes": code_block, "pairs": pairs, "per_coder": per_coder,
            "n_disagreements": len(disagreements), "disagreements": disagreements[:MAX_DISAGREEMENTS]}
