"""Paragraphs as units of coding: a source's lines, the unit QDA programs' paragraph-level comparisons use.

A paragraph is a maximal run of text between line breaks, without surrounding white space; empty lines are
no paragraph. Unlike capcode's fragments (speaker turns cut at sentences), paragraphs ignore speakers:
every paragraph counts, interviewer lines included, because a project's own codebook may code them.
"""

from __future__ import annotations

import re

from pipeline.core.documents import RESPONDENT, Document, Fragment, fragment_id

_LINE = re.compile(r"[^\n]+")


def paragraphs(document: Document) -> list[Fragment]:
    """The document's paragraphs as fragments (``role`` respondent, so every one is codable)."""
    result = []
    for index, match in enumerate(_LINE.finditer(document.text)):
        text = match.group()
        stripped = text.strip()
        if not stripped:
            continue
        start = match.start() + (len(text) - len(text.lstrip()))
        end = start + len(stripped)
        result.append(Fragment(fragment_id(document.id, start, end), document.id, None, RESPONDENT, start, end,
                               document.text[start:end], index))
    return result
