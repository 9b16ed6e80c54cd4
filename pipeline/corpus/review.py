"""Reviewed projects: capcode's suggestions judged in a QDA program, read back as a reviewer's coding.

A `.qdpx` goes out with the model's suggestions under a user of its own (`suggestions_user_name`: "capcode
model <identity> codebook <fingerprint>") and comes back after review. Which interviews were reviewed:

- those in a REFI-QDA Set named `capcode: reviewed` (NVivo, ATLAS.ti and MAXQDA write Sets), or,
- when the project has no such Set (QualCoder writes none), every interview in which the reviewer coded at
  least one code of the codebook.

In a reviewed interview the reviewer's codes are the truth, on every axis: a suggestion the reviewer coded
again under their own user is *accepted*, one left alone is *rejected*, a code of the reviewer's that no
suggestion proposed is *added* (a miss). The suggestions are never read as truth; they only join the
collection so that these counts can be made on the same fragments (`review_outcomes`). Interviews nobody
reviewed, and the codes of other users, are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from pipeline.core.codebook import Codebook
from pipeline.core.errors import InputError
from pipeline.corpus.collection import Collection
from pipeline.qdpx.importer import coder_names, project_to_collection, resolve_code
from pipeline.qdpx.project import (
    REVIEW_CODE_NAME,
    REVIEWED_SET_NAME,
    QdaProject,
    is_suggestions_user,
    suggestions_codebook,
)

OUTCOMES = ("accepted", "rejected", "added")
MARKED_BY = {"set": f"in the Set '{REVIEWED_SET_NAME}'", "coding": "coded by the reviewer (no Set)"}


@dataclass
class ReviewedProject:
    """The reviewed interviews of a project: the reviewer's codings and the suggestions they judged."""

    path: str
    collection: Collection  # reviewed interviews only; codings of the reviewer and of the suggestions users
    reviewer: str
    suggesters: list[str]  # suggestions users (coder names) with suggestions in the reviewed interviews
    marked_by: str  # "set" (the Set `capcode: reviewed`) or "coding" (the reviewer coded there)
    n_interviews: int  # text sources of the whole project

    def summary(self) -> dict[str, Any]:
        return {"reviewer": self.reviewer, "marked_by": self.marked_by, "marked_how": MARKED_BY[self.marked_by],
                "suggesters": self.suggesters,
                "documents": sorted(self.collection.documents), "n_interviews_in_project": self.n_interviews}


def went_out_for_review(project: QdaProject) -> bool:
    """Whether the project went out with capcode's suggestions (a suggestions user) or has the Set of reviewed
    interviews: then it is read as a reviewed project."""
    return (any(is_suggestions_user(name) for name in project.users.values())
            or any(_is_reviewed_set(s.name) for s in project.sets))


def _is_reviewed_set(name: str) -> bool:
    return name.strip().casefold() == REVIEWED_SET_NAME


def read_reviewed(project: QdaProject, codebook: Codebook, *, reviewer: str) -> ReviewedProject:
    """The reviewed interviews of `project` with `reviewer`'s codings as the truth (module docstring).

    Refused (InputError, one line): a reviewer who is not a user of the project, or is capcode's own
    suggestions user; a project with no reviewed interview; suggestions from a model with another codebook.
    """
    path = project.path
    names = coder_names(project)
    suggestion_names = {guid: name for guid, name in names.items()
                        if guid is not None and is_suggestions_user(project.users[guid])}
    if reviewer in suggestion_names.values():
        raise InputError(path, f"'{reviewer}' is capcode's own suggestions user, never the truth; name the reviewer "
                               "who coded under their own user")
    humans = [name for guid, name in names.items() if guid is not None and guid not in suggestion_names]
    if reviewer not in humans:
        raise InputError(path, f"no user '{reviewer}' in the project; its users: {', '.join(sorted(humans)) or 'none'}")
    collection = project_to_collection(project, codebook)
    document_of = {doc.metadata["qdpx_guid"]: doc_id for doc_id, doc in collection.documents.items()}
    marked = [s for s in project.sets if _is_reviewed_set(s.name)]
    if marked:
        reviewed = {document_of[g] for s in marked for g in s.sources if g in document_of}
        how = f"the Set '{REVIEWED_SET_NAME}' holds no text source"
    else:
        reviewed = {c.document for c in collection.codings if c.coder == reviewer}
        how = (f"no Set '{REVIEWED_SET_NAME}' and no code of the codebook by '{reviewer}'; add the reviewed "
               f"interviews to a Set '{REVIEWED_SET_NAME}' or code them under your own user")
    if not reviewed:
        raise InputError(path, f"no reviewed interview: {how}")
    source_of = {doc_id: guid for guid, doc_id in document_of.items()}
    present = _suggesters_in(project, suggestion_names, {source_of[d] for d in reviewed})
    _check_codebook(project, codebook, present)
    suggesters = [suggestion_names[g] for g in present]
    coders = [reviewer, *suggesters]
    documents = {d: replace(collection.documents[d], metadata={**collection.documents[d].metadata, "coders": coders})
                 for d in sorted(reviewed)}
    codings = [c for c in collection.codings if c.document in reviewed and c.coder in coders]
    kept = replace(collection, documents=documents, codings=codings)
    return ReviewedProject(path, kept, reviewer, suggesters, "set" if marked else "coding", len(project.sources))


def _suggesters_in(project: QdaProject, suggestion_names: dict[str, str], sources: set[str]) -> list[str]:
    """Guids of the suggestions users with a selection (a code or the review flag) in one of `sources`."""
    present = {s.user for s in project.selections if s.source in sources and s.user in suggestion_names}
    present |= {c.user for s in project.selections if s.source in sources for c in s.codings
                if c.user in suggestion_names}
    return sorted((g for g in present if g is not None), key=lambda g: suggestion_names[g])


def _check_codebook(project: QdaProject, codebook: Codebook, suggesters: Sequence[str]) -> None:
    """Refuse suggestions that came from a model with another codebook: the codebook its user's name
    records differs from this one, or it coded a code that is not in this codebook."""
    fingerprint = codebook.fingerprint()[:8]
    for guid in suggesters:
        name = project.users[guid]
        recorded = suggestions_codebook(name)
        if recorded is not None and recorded != fingerprint:
            raise InputError(project.path, f"the suggestions of '{name}' came from a model with another codebook "
                             f"({recorded}, this one is {fingerprint}); review suggestions of a model trained on "
                             f"this codebook, or pass its codebook with --codebook")
    for selection in project.selections:
        for coding in selection.codings:
            if coding.user is None or coding.user not in suggesters or \
                    project.codes[coding.code].name == REVIEW_CODE_NAME:
                continue
            if resolve_code(project, coding.code, codebook) is None:
                raise InputError(project.path, f"the suggestions of '{project.users[coding.user]}' use the code "
                                 f"'{project.codes[coding.code].name}', which is not in the codebook "
                                 f"({codebook.source}): they came from a model with another codebook")


def review_outcomes(records: Sequence[dict[str, Any]], *, reviewer: str, suggester: str,
                    codebook: Codebook) -> dict[str, dict[str, int]]:
    """Per code, how many of `suggester`'s suggestions `reviewer` accepted or rejected, and how many codes the
    reviewer added, over codable fragments labelled by both ({code: {accepted, rejected, added}})."""
    counts = {code: dict.fromkeys(OUTCOMES, 0) for code in codebook.code_ids}
    for record in records:
        labels = record.get("labels", {})
        if not record.get("codable", True) or reviewer not in labels or suggester not in labels:
            continue
        for code in codebook.code_ids:
            truth, suggested = labels[reviewer].get(code), labels[suggester].get(code)
            if truth is None or suggested is None:
                continue
            if suggested:
                counts[code]["accepted" if truth else "rejected"] += 1
            elif truth:
                counts[code]["added"] += 1
    return counts


def review_summary(reviewed: ReviewedProject, records: Sequence[dict[str, Any]],
                   codebook: Codebook) -> dict[str, Any]:
    """What was reviewed and, per suggestions user, the outcomes per code (`review_outcomes`)."""
    return {**reviewed.summary(), "outcomes": {
        s: review_outcomes(records, reviewer=reviewed.reviewer, suggester=s, codebook=codebook)
        for s in reviewed.suggesters}}


def outcome_lines(summary: dict[str, Any]) -> list[str]:
    """Readable lines: per suggestions user, per code 'accepted a, rejected r, added d'."""
    lines = []
    for suggester, per_code in summary["outcomes"].items():
        lines.append(f"suggestions by '{suggester}' reviewed by '{summary['reviewer']}': " + "; ".join(
            f"{code} accepted {n['accepted']}, rejected {n['rejected']}, added {n['added']}"
            for code, n in per_code.items()))
    return lines
