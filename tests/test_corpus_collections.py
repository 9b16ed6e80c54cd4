"""The bundled collections: codings align to text, codes are in the codebook, synthetic text is new."""

from __future__ import annotations

import re

import pytest

from pipeline.core.codebook import load_codebook
from pipeline.core.config import REPO_ROOT
from pipeline.core.params import load_params
from pipeline.corpus.loading import load_collection
from pipeline.prepare import prepare_collection
from pipeline.tools.corpus_stats import axis_state

CODEBOOK = load_codebook()
SYNTHETIC = REPO_ROOT / "corpus" / "synthetic"
QUOTES = REPO_ROOT / "corpus" / "study-quotes"


@pytest.fixture(scope="module")
def synthetic():
    return load_collection(SYNTHETIC, CODEBOOK)


@pytest.fixture(scope="module")
def quotes():
    return load_collection(QUOTES, CODEBOOK)


def _prepared(collection):
    prepare_params, segment_params = load_params().prepare, load_params().segment
    return prepare_collection(
        collection, CODEBOOK, max_fragment_tokens=int(segment_params.max_fragment_tokens),
        min_fragment_share=float(prepare_params.min_fragment_share),
        min_span_share=float(prepare_params.min_span_share),
        fractions=dict(prepare_params.split_fractions), seed=int(prepare_params.seed),
    )


@pytest.mark.parametrize("name", ["synthetic", "quotes"])
def test_every_coding_aligns_and_is_in_the_codebook(name, request):
    collection = request.getfixturevalue(name)
    assert collection.codings
    assert collection.unmapped_codes == {}
    for coding in collection.codings:
        assert coding.code in CODEBOOK.code_ids
        span = collection.documents[coding.document].text[coding.start : coding.end]
        assert span.strip() == span and span, f"coding {coding} selects whitespace at its edges"
    records, counts = _prepared(collection)
    assert counts["alignment"]["n_unaligned"] == 0


def test_codings_only_cover_respondent_text(synthetic):
    from pipeline.ingest.segmentation import segment_document

    for doc_id, document in synthetic.documents.items():
        interviewer = [(f.start, f.end) for f in segment_document(document, max_fragment_tokens=10_000)
                       if f.role != "respondent"]
        for coding in (c for c in synthetic.codings if c.document == doc_id):
            assert not any(s < coding.end and coding.start < e for s, e in interviewer), coding


def test_synthetic_corpus_meets_its_brief(synthetic):
    records, _ = _prepared(synthetic)
    metadata = [d.metadata for d in synthetic.documents.values()]
    assert synthetic.synthetic is True and all(m["synthetic"] is True for m in metadata)
    assert len(synthetic.documents) >= 24
    assert len({m["municipality"] for m in metadata}) >= 8
    inhabitants = [m["inhabitants"] for m in metadata]
    assert min(inhabitants) >= 5000 and max(inhabitants) <= 80000
    assert {m["respondent_kind"] for m in metadata} == {"civil servant", "politician", "external partner"}
    coded_a = [r.labels["A"] for r in records if r.codable]
    assert len(coded_a) >= 1000
    assert sum(1 for labels in coded_a if not any(labels.values())) / len(coded_a) >= 0.15
    for axis in CODEBOOK.axes:
        states = {axis_state(labels, axis.poles) for labels in coded_a}
        assert states == {axis.poles[0], axis.poles[1], "both", "neither"}, axis.id
    combos = {tuple(axis_state(labels, a.poles) for a in CODEBOOK.axes) for labels in coded_a}
    assert sum(1 for c in combos if all(s in a.poles for s, a in zip(c, CODEBOOK.axes))) == 8
    double_coded = [d for d in synthetic.documents if "B" in synthetic.coders_of(d)]
    assert len(double_coded) >= 6


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def test_no_synthetic_sentence_repeats_a_study_quote(synthetic, quotes):
    """No run of 7 words from any study quote occurs in the synthetic transcripts."""
    shingle = 7
    synthetic_text = " " + " ".join(" ".join(_words(d.text)) for d in synthetic.documents.values()) + " "
    hits = []
    for doc_id, document in quotes.documents.items():
        words = _words(document.text)
        for i in range(max(0, len(words) - shingle + 1)):
            run = " " + " ".join(words[i : i + shingle]) + " "
            if run in synthetic_text:
                hits.append((doc_id, run.strip()))
    assert hits == []


def test_study_quotes_are_evaluation_only_and_real(quotes):
    assert quotes.use == "evaluation" and quotes.synthetic is False
    records, counts = _prepared(quotes)
    assert {r.split for r in records} == {"gold"}
    assert set(quotes.coder_axes) == {"report", "dev"}
    report_codes = {c.code for c in quotes.codings if c.coder == "report"}
    assert report_codes == {"strategisch", "operationeel"}
    source = REPO_ROOT.parent / "shared" / "seed" / "report-excerpt.txt"
    if not source.exists():
        pytest.skip("shared/seed/report-excerpt.txt is not beside the checkout")
    report = " ".join(source.read_text(encoding="utf-8").split())
    for document in quotes.documents.values():
        assert " ".join(document.text.split()) in report, document.id


@pytest.mark.slow
def test_no_training_fragment_is_a_near_paraphrase_of_a_study_quote():
    """Embedding similarity (e5 cosine) of every study quote to its closest training fragment stays below
    the threshold; the closest pairs are printed so a reader can judge them (`pytest -s`)."""
    from pipeline.tools.paraphrase_check import THRESHOLD, closest_pairs

    pairs = closest_pairs([SYNTHETIC, REPO_ROOT / "corpus" / "field"])
    for pair in pairs[:3]:
        print(f"{pair['cosine']:.3f} {pair['quote']}: {pair['quote_text'][:80]!r} ~ {pair['fragment_text'][:80]!r}")
    assert len(pairs) == 47
    assert pairs[0]["cosine"] < THRESHOLD, pairs[0]


def test_no_field_sentence_repeats_a_study_quote(quotes):
    """No run of 7 words from any study quote occurs in the field transcripts either."""
    field = load_collection(REPO_ROOT / "corpus" / "field", CODEBOOK)
    text = " " + " ".join(" ".join(_words(d.text)) for d in field.documents.values()) + " "
    hits = [(doc_id, " ".join(words[i:i + 7])) for doc_id, document in quotes.documents.items()
            for words in [_words(document.text)] for i in range(max(0, len(words) - 6))
            if " " + " ".join(words[i:i + 7]) + " " in text]
    assert hits == []
