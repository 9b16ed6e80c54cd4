"""Segmentation: cut a document's speaker turns into fragments, the unit of coding.

A turn is one fragment unless it has more tokens than the budget (`segment.max_fragment_tokens` in
params.yaml); then it is cut at spaCy sentence boundaries (`spacy.blank("nl")` + `sentencizer`) into runs
of whole sentences that each stay within the budget. A single sentence over the budget stays whole: the
model later truncates or windows it and says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import TYPE_CHECKING

from pipeline.core.documents import Document, Fragment, Turn, fragment_id

if TYPE_CHECKING:
    from spacy.language import Language


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
    turn_texts = [document.text[t.start : t.end] for t in document.turns]
    fragments: list[Fragment] = []
    for index, (turn, spacy_doc) in enumerate(zip(document.turns, nlp.pipe(turn_texts, batch_size=256))):
        n_tokens = sum(1 for token in spacy_doc if not token.is_space)
        spans = [(0, len(spacy_doc.text))] if n_tokens <= max_fragment_tokens else list(
            _sentence_runs(spacy_doc, max_fragment_tokens)
        )
        for rel_start, rel_end in spans:
            start, end = _trimmed(document.text, turn.start + rel_start, turn.start + rel_end)
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
