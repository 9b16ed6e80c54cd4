"""Which coder disagrees with the others, where coders differ, and how many ratings are missing (segment units).

Reads fragment (or paragraph) records with ``labels: {coder: {code: 0|1}}`` as `pipeline.reliability.ratings`
does; a coder absent from a record's labels (or a code absent from a coder's labels) did not rate it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.reliability.ratings import pooled_ratings, summarise

MAX_DISAGREEMENTS = 500
MAX_TEXT = 300
PAIR_FIGURES = ("percent_agreement", "cohen_kappa", "krippendorff_alpha")


def _mean(values: Sequence[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None


def per_coder(
    records: Sequence[dict[str, Any]], coders: Sequence[str], codes: Sequence[str], pairs: Mapping[str, Any],
) -> dict[str, dict[str, Any]]:
    """Per coder: units rated, mean pooled figures over the pairs with this coder, and (three or more coders)
    Krippendorff's alpha of the others without this coder: a coder whose removal raises alpha disagrees most.
    """
    table: dict[str, dict[str, Any]] = {}
    for coder in coders:
        mine = [pair for pair in pairs.values() if coder in pair["coders"]]
        row: dict[str, Any] = {"n_units_rated": sum(coder in r["labels"] for r in records), "n_pairs": len(mine)}
        row.update({f"mean_{key}": _mean([pair.get(key) for pair in mine]) for key in PAIR_FIGURES})
        others = [c for c in coders if c != coder]
        row["krippendorff_alpha_without"] = (
            summarise(pooled_ratings([r["labels"] for r in records], others, codes), categories=[0, 1], n_boot=0,
                      seed=0)["krippendorff_alpha"]
            if len(others) >= 2 else None)
        table[coder] = row
    return table


def missing_ratings(records: Sequence[dict[str, Any]], coders: Sequence[str], codes: Sequence[str]) -> dict[str, Any]:
    """Unit x code decisions a coder did not make (did not code that document, or that axis), per coder."""
    by_coder = {coder: sum(sum(code not in r["labels"].get(coder, {}) for code in codes) for r in records)
                for coder in coders}
    return {"n_missing": sum(by_coder.values()), "by_coder": by_coder, "n_decisions": len(records) * len(codes) *
            len(coders)}


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "\u2026"


def disagreements(records: Sequence[dict[str, Any]], codes: Sequence[str]) -> list[dict[str, Any]]:
    """Units where the coders who rated a code differ on it, ordered by code, then document and position."""
    found = []
    for code in codes:
        for record in sorted(records, key=lambda r: (str(r.get("document")), r.get("start") or 0)):
            rated = {coder: labels[code] for coder, labels in record["labels"].items() if code in labels}
            if len(rated) >= 2 and len(set(rated.values())) > 1:
                found.append({"code": code, "unit": record["id"], "document": record.get("document"),
                              "start": record.get("start"), "end": record.get("end"), "text": _clip(record["text"]),
                              "coded_by": sorted(c for c, v in rated.items() if v),
                              "not_coded_by": sorted(c for c, v in rated.items() if not v)})
    return found
