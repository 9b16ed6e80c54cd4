"""`capcode segment`: read transcripts or projects and write their fragments as JSON lines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pipeline.core.io_utils import write_jsonl
from pipeline.core.params import load_params
from pipeline.core.progress import progress
from pipeline.corpus.inputs import read_inputs
from pipeline.ingest.segmentation import segment_document


def segment_files(
    *, inputs: list[Path], output: Path, encoding: str | None = None, max_fragment_tokens: int | None = None,
    params_path: Path | None = None,
) -> tuple[int, int]:
    """Segment all inputs and write one JSON line per fragment; return (documents, fragments)."""
    budget = max_fragment_tokens or load_params(params_path).segment.max_fragment_tokens
    documents = read_inputs(inputs, encoding=encoding)

    def records() -> Iterator[dict]:
        for document in progress(documents, desc="segmenting", unit="doc"):
            for fragment in segment_document(document, max_fragment_tokens=budget):
                yield fragment.to_dict()

    n_fragments = write_jsonl(output, records())
    return len(documents), n_fragments
