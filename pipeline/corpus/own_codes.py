"""A project's own codes, for agreement on any codebook: code selection (`--codes`) and roll-up (`--depth`).

capcode's six codes are one codebook among many: a team that double-codes its own codebook compares coders
on its own codes, as NVivo's coding comparison, ATLAS.ti's inter-coder agreement and MAXQDA's intercoder
check do. Here a collection keeps the code *names* it was coded with instead of mapping them onto capcode's
ids:

- In a `.qdpx` the codes form a tree. ``depth`` rolls sub-codes up to their ancestor at that level (1 = the
  top-level codes): a coding with "Attitude > positive > strong" counts for "Attitude" at depth 1. Without
  ``depth`` every code stands on its own.
- ``selection`` (names or folders, any case, a name or its path "Folder > Code") keeps the chosen codes and
  everything below them; codings of other codes are counted, not used. A roll-up never climbs above the
  chosen code: ``--codes "Attitude > positive" --depth 1`` keeps "positive".
- A code's name is its own name, or its path ("Folder > Code") where two codes share a name.
- In a corpus directory codes are flat: the names in ``codings.jsonl``.

Overlapping codings of one code by one coder are united (QDA programs allow them; several sub-codes rolled
up into one parent overlap too); how many were united is counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from pipeline.core.documents import SpanCoding
from pipeline.core.errors import InputError
from pipeline.corpus.collection import Collection
from pipeline.qdpx.importer import coder_names, merge_overlaps
from pipeline.qdpx.project import QdaProject

PATH_SEPARATOR = " > "


@dataclass
class OwnCodes:
    """What choosing and rolling up the codes did: the codes kept and what was left out."""

    codes: list[str]  # names of the codes agreement is computed on, in codebook order
    depth: int | None
    selection: list[str]
    n_codings_not_selected: int = 0
    n_overlaps_united: int = 0
    codings_per_code: dict[str, dict[str, int]] = field(default_factory=dict)  # code -> coder -> codings

    def to_dict(self) -> dict[str, object]:
        return {"codes": list(self.codes), "depth": self.depth, "selection": list(self.selection),
                "n_codings_not_selected": self.n_codings_not_selected,
                "n_overlaps_united": self.n_overlaps_united, "codings_per_code": self.codings_per_code}


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


def code_names(project: QdaProject) -> dict[str, str]:
    """Code guid -> display name: the code's name, or its path where the name is not unique."""
    counts = Counter(_key(code.name) for code in project.codes.values())
    return {guid: code.name if counts[_key(code.name)] == 1 else PATH_SEPARATOR.join(project.code_path(guid))
            for guid, code in project.codes.items()}


def _ancestors(project: QdaProject, guid: str) -> list[str]:
    """Guids from the top-level code down to ``guid``."""
    chain: list[str] = []
    current: str | None = guid
    while current is not None:
        chain.append(current)
        current = project.codes[current].parent
    return chain[::-1]


def _selected_roots(project: QdaProject, selection: Sequence[str], where: str) -> set[str]:
    names = code_names(project)
    by_key: dict[str, set[str]] = {}
    for guid, code in project.codes.items():
        for name in (code.name, names[guid], PATH_SEPARATOR.join(project.code_path(guid))):
            by_key.setdefault(_key(name), set()).add(guid)
    roots: set[str] = set()
    for wanted in selection:
        found = by_key.get(_key(wanted))
        if not found:
            top = ", ".join(f"'{c.name}'" for c in project.root_codes[:8])
            raise InputError(where, f"--codes: no code or folder named '{wanted}' in the project (top-level codes: "
                             f"{top}{', ...' if len(project.root_codes) > 8 else ''})")
        roots |= found
    return roots


def _target(project: QdaProject, guid: str, roots: set[str] | None, depth: int | None) -> str | None:
    """The code a coding with ``guid`` counts for, or None when it is not selected."""
    chain = _ancestors(project, guid)
    floor = 0
    if roots is not None:
        hits = [i for i, g in enumerate(chain) if g in roots]
        if not hits:
            return None
        floor = hits[-1]  # the deepest selected code on the way down
    level = len(chain) - 1 if depth is None else max(depth - 1, floor)
    return chain[min(level, len(chain) - 1)]


def own_codes_collection(
    collection: Collection, project: QdaProject, *, selection: Sequence[str] = (), depth: int | None = None,
) -> tuple[Collection, OwnCodes]:
    """``collection`` (read from ``project``) recoded with the project's own codes, chosen and rolled up.

    ``collection`` gives the documents (ids, normalised texts, turns) and coders; its codings are replaced
    by the project's selections, each counted for the code `_target` gives.
    """
    if depth is not None and depth < 1:
        raise InputError("--depth", f"must be 1 or more (1 = top-level codes), got {depth}")
    roots = _selected_roots(project, selection, project.path) if selection else None
    names = code_names(project)
    doc_of_source = {doc.metadata["qdpx_guid"]: doc_id for doc_id, doc in collection.documents.items()}
    users = coder_names(project)
    codings: list[SpanCoding] = []
    not_selected = 0
    for selection_ in project.selections:
        if selection_.source not in doc_of_source:
            continue
        for coding in selection_.codings:
            target = _target(project, coding.code, roots, depth)
            if target is None:
                not_selected += 1
                continue
            coder = users.get(coding.user, coding.user or "unknown")
            codings.append(SpanCoding(doc_of_source[selection_.source], selection_.start, selection_.end,
                                      names[target], coder))
    merged = merge_overlaps(codings)
    order = {names[g]: i for i, g in enumerate(project.codes)}
    used = sorted({c.code for c in merged}, key=lambda name: order.get(name, len(order)))
    info = OwnCodes(used, depth, list(selection), not_selected, len(codings) - len(merged), _per_code(merged))
    coded_by: dict[str, set[str]] = {}
    for selection_ in project.selections:
        for coding in selection_.codings:
            if selection_.source in doc_of_source:
                coded_by.setdefault(doc_of_source[selection_.source], set()).add(
                    users.get(coding.user, coding.user or "unknown"))
    return replace(collection, codings=merged, unmapped_codes={},
                   documents=_with_coders(collection, coded_by)), info


def _with_coders(collection: Collection, coded_by: dict[str, set[str]]) -> dict:
    """Documents with the coders who coded them *with any code* in their metadata: a coder who coded a
    document only with codes that were not chosen still coded it (the chosen codes are absent, not missing)."""
    return {doc_id: replace(doc, metadata={**doc.metadata, "coders": sorted(coded_by.get(doc_id, ()))})
            if not doc.metadata.get("coders") else doc for doc_id, doc in collection.documents.items()}


def _per_code(codings: Sequence[SpanCoding]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for coding in codings:
        by_coder = table.setdefault(coding.code, {})
        by_coder[coding.coder] = by_coder.get(coding.coder, 0) + 1
    return table


def select_flat_codes(collection: Collection, *, selection: Sequence[str] = ()) -> tuple[Collection, OwnCodes]:
    """A corpus directory's codes as they are (flat names), optionally only the ``selection``."""
    wanted = {_key(name) for name in selection}
    known = {_key(c.code) for c in collection.codings}
    unknown = [name for name in selection if _key(name) not in known]
    if unknown:
        raise InputError(collection.source, f"--codes: no coding uses the code '{unknown[0]}' (codes used: "
                         f"{', '.join(sorted({c.code for c in collection.codings})[:8])})")
    kept = [c for c in collection.codings if not wanted or _key(c.code) in wanted]
    codes = list(dict.fromkeys(sorted(c.code for c in kept)))
    info = OwnCodes(codes, None, list(selection), len(collection.codings) - len(kept), 0, _per_code(kept))
    coded_by: dict[str, set[str]] = {}
    for coding in collection.codings:
        coded_by.setdefault(coding.document, set()).add(coding.coder)
    return replace(collection, codings=kept, unmapped_codes={},
                   documents=_with_coders(collection, coded_by)), info


def is_capcode_coding(collection: Collection) -> bool:
    """True when every coding of ``collection`` (loaded with capcode's codebook) maps onto capcode's codes."""
    return not collection.unmapped_codes and bool(collection.codings)

