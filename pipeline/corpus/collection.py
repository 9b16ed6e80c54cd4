"""The corpus contract: a coded collection of transcripts, and loading it from disk or a `.qdpx`.

A collection directory (see `corpus/README.md`) holds:

- `collection.yaml`: `name`, `synthetic` (bool), `use` (`train` or `evaluation`: evaluation collections are
  never trained on), optional `coder_axes` ({coder: [axis ids]} for coders that coded only some axes);
- `metadata.jsonl`: one object per document with at least `document` and `file` (relative path);
  other fields (municipality, respondent role, `interviewers`, ...) are carried along;
- `codings.jsonl`: span codings `{document, start, end, code, coder}`, code-point offsets into the
  normalised text of the document, `end` exclusive.

A `.qdpx` project is a collection too: its users are the coders (`pipeline.qdpx.importer`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core.codebook import Codebook
from pipeline.core.documents import Document, SpanCoding
from pipeline.core.errors import InputError


@dataclass
class Collection:
    name: str
    source: str
    documents: dict[str, Document]
    codings: list[SpanCoding]
    synthetic: bool = False
    use: str = "train"
    coder_axes: dict[str, list[str]] = field(default_factory=dict)
    unmapped_codes: dict[str, int] = field(default_factory=dict)  # code name -> number of codings

    @property
    def coders(self) -> list[str]:
        return sorted({c.coder for c in self.codings})

    def axes_of(self, coder: str, codebook: Codebook) -> list[str]:
        """The axes a coder coded (all, unless `coder_axes` restricts them)."""
        return list(self.coder_axes.get(coder, [axis.id for axis in codebook.axes]))

    def coders_of(self, document_id: str) -> list[str]:
        """Coders who coded this document: those with a coding in it, or listed in its metadata."""
        listed = self.documents[document_id].metadata.get("coders")
        if listed:
            return list(listed)
        return sorted({c.coder for c in self.codings if c.document == document_id})


def validate_codings(
    codings: list[SpanCoding], documents: dict[str, Document], path: str | Path
) -> None:
    """Refuse codings outside their document and overlapping codings of one code by one coder."""
    by_key: dict[tuple[str, str, str], list[SpanCoding]] = defaultdict(list)
    for coding in codings:
        if coding.document not in documents:
            raise InputError(path, f"coding {coding.to_dict()} names document '{coding.document}', which is not in the collection")
        length = len(documents[coding.document].text)
        if not 0 <= coding.start < coding.end <= length:
            raise InputError(
                path,
                f"coding {coding.code}/{coding.coder} [{coding.start}, {coding.end}) is outside document "
                f"'{coding.document}' (length {length}); expected 0 <= start < end <= length",
            )
        by_key[(coding.document, coding.coder, coding.code)].append(coding)
    for (document, coder, code), group in by_key.items():
        group.sort(key=lambda c: c.start)
        for before, after in zip(group, group[1:]):
            if after.start < before.end:
                raise InputError(
                    path,
                    f"overlapping codings of '{code}' by coder '{coder}' in '{document}': "
                    f"[{before.start}, {before.end}) and [{after.start}, {after.end}); merge them into one span",
                )
