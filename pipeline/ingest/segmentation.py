"""Segmentation: cut a document's speaker turns into fragments, the unit of coding.

A turn is one fragment unless it has more tokens than the budget (`segment.max_fragment_tokens` in
params.yaml); then it is cut at spaCy sentence boundaries (`spacy.blank("nl")` + `sentencizer`) into runs
of whole sentences that each stay within the budget. A single sentence over the budget stays whole: the
model later truncates or windows it and says so.

spaCy refuses texts over `nlp.max_length` (1,000,000 characters, error E088) and its memory grows with the
text, so a turn longer than `PIECE_CHARS` is sentencized in pieces cut at a line break or a space near
that length; a sentence never spans two pieces. Memory stays bounded by the piece, whatever the turn.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import TYPE_CHECKING

from pipeline.core.documents import Document, Fragment, Turn, fragment_id

if TYPE_CHECKING:
    from spacy.language import Language

PIECE_CHARS = 100_000  # well under spaCy's max_length; a piece ends at a line break or space near this


def text_pieces(text: str, limit: int = PIECE_CHARS) -> list[tuple[int, int]]:
    """(start, end) pieces that cover `text` in order, each at most `limit` characters, cut after the last
    line break in the second half of the window, else after the last space there, else hard at `limit`."""
    pieces, start = [], 0
    while len(text) - start > limit:
        window = text[start : start + limit]
        cut = window.rfind("\n", limit // 2)
        if cut < 0:
            cut = max(window.rfind(" ", limit // 2), window.rfind("\t", limit // 2))
        end = start + (cut + 1 if cut >= 0 else limit)
        pieces.append((start, end))
        start = end
    pieces.append((start, len(text)))
    return pieces


@lru_cache(maxsize=1)
def dutch_sentencizer() -> Language:
    """A blank Dutch pipeline with the rule-based sentencizer (no Dutch model can be installed offline).

    spaCy is imported here, not at module level: importing it takes seconds, and bad input should be
    refused before that.
    """
    import spacy

    nlp = spacy.blank("nl")
    nlp.add_pipe("sentencizer")
    return nlp


def _sentence_runs(doc, max_tokens: int) -> Iterator[tuple[int, int]]:
    """Yield (start_char, end_char) of greedy runs of whole sentences with at most `max_tokens` tokens."""
    run_start: int | None = None
    run_end = 0
    run_tokens = 0
    for sent in doc.sents:
        n = sum(1 for token in sent if not token.is_space)
        if run_start is not None and run_tokens + n > max_tokens:
            yield run_start, run_end
            run_start, run_tokens = None, 0
        if run_start is None:
            run_start = sent.start_char
        run_end = sent.end_char
        run_tokens += n
    if run_start is not None:
        yield run_start, run_end


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def segment_document(document: Document, *, max_fragment_tokens: int) -> list[Fragment]:
    """Return the fragments of one document, in text order; `text == document.text[start:end]` holds."""
    if max_fragment_tokens < 1:
        raise ValueError(f"max_fragment_tokens must be >= 1, got {max_fragment_tokens}")
    nlp = dutch_sentencizer()
    owners: list[tuple[int, int]] = []  # (turn index, offset of the piece in the document) per spaCy text
    texts: list[str] = []
    for index, turn in enumerate(document.turns):
        for start, end in text_pieces(document.text[turn.start : turn.end]):
            owners.append((index, turn.start + start))
            texts.append(document.text[turn.start + start : turn.start + end])
    runs: dict[int, list[tuple[int, int]]] = {}  # sentence runs per turn, in document offsets
    n_tokens: dict[int, int] = {}
    for (index, offset), spacy_doc in zip(owners, nlp.pipe(texts, batch_size=256)):
        n_tokens[index] = n_tokens.get(index, 0) + sum(1 for token in spacy_doc if not token.is_space)
        runs.setdefault(index, []).extend(
            (offset + a, offset + b) for a, b in _sentence_runs(spacy_doc, max_fragment_tokens))
    fragments: list[Fragment] = []
    for index, turn in enumerate(document.turns):
        spans = [(turn.start, turn.end)] if n_tokens.get(index, 0) <= max_fragment_tokens else runs[index]
        for span_start, span_end in spans:
            start, end = _trimmed(document.text, span_start, span_end)
            if end > start:
                fragments.append(_fragment(document, turn, index, start, end))
    return fragments


def _fragment(document: Document, turn: Turn, index: int, start: int, end: int) -> Fragment:
    return Fragment(
        id=fragment_id(document.id, start, end),
        document=document.id,
        speaker=turn.speaker,
        role=turn.role,
        start=start,
        end=end,
        text=document.text[start:end],
        turn=index,
        timestamp=turn.timestamp,
    )


def segment_documents(documents: Iterable[Document], *, max_fragment_tokens: int) -> Iterator[Fragment]:
    for document in documents:
        yield from segment_document(document, max_fragment_tokens=max_fragment_tokens)
