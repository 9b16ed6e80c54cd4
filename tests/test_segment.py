"""Segmentation: token budget, sentence cuts, stable ids and exact offsets (hypothesis on random transcripts)."""

from __future__ import annotations

import codecs
import tempfile
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.core.documents import INTERVIEWER, OTHER, RESPONDENT, Document, Fragment, Turn
from pipeline.ingest.reader import read_document
from pipeline.ingest.segmentation import dutch_sentencizer, segment_document, segment_documents
from pipeline.ingest.textnorm import normalise_text
from pipeline.ingest.turns import assign_roles, find_turns


def document(text: str, turns: list[Turn], doc_id: str = "d1") -> Document:
    doc = Document(id=doc_id, text=text, source="inline", turns=turns)
    doc.check_offsets()
    return doc


def read_turns_doc(text: str, doc_id: str = "d1") -> Document:
    turns = find_turns(text)
    assign_roles(turns, text)
    return document(text, turns, doc_id)


def n_tokens(text: str) -> int:
    return sum(1 for token in dutch_sentencizer()(text) if not token.is_space)


def assert_fragments_exact(doc: Document, fragments: list[Fragment]) -> None:
    """The invariants every fragment of every document must satisfy."""
    assert len({f.id for f in fragments}) == len(fragments)
    previous_end = 0
    for fragment in fragments:
        assert fragment.text == doc.text[fragment.start : fragment.end]
        assert fragment.text and fragment.text == fragment.text.strip()
        assert fragment.id == f"{doc.id}@{fragment.start}-{fragment.end}"
        assert fragment.document == doc.id
        assert fragment.start >= previous_end, "fragments overlap or are out of order"
        previous_end = fragment.end
        turn = doc.turns[fragment.turn]
        assert turn.start <= fragment.start < fragment.end <= turn.end
        assert (fragment.speaker, fragment.role, fragment.timestamp) == (turn.speaker, turn.role, turn.timestamp)
        assert fragment.codable == (fragment.role == RESPONDENT)
    for index, turn in enumerate(doc.turns):
        # no spoken text is lost: the fragments of a turn hold all its non-space characters
        own = "".join(f.text for f in fragments if f.turn == index)
        assert "".join(own.split()) == "".join(doc.text[turn.start : turn.end].split())


LONG_TURN = (
    "We hebben o.a. een meerjarenplan opgesteld met de diensten. Dat was veel werk. "
    "Het MAT heeft bv. elke maand overlegd met de schepenen en de scholen. "
    "Daarna volgde de evaluatie. Die was positief!"
)


def test_short_turn_is_one_fragment() -> None:
    text = "I: Hoe gaat het?\nR: Goed, dank u."
    doc = document(text, [Turn("I", INTERVIEWER, 3, 16), Turn("R", RESPONDENT, 20, 33, "#00:00:03-1#")])
    fragments = segment_document(doc, max_fragment_tokens=80)
    assert [(f.text, f.turn, f.role, f.codable) for f in fragments] == [
        ("Hoe gaat het?", 0, INTERVIEWER, False),
        ("Goed, dank u.", 1, RESPONDENT, True),
    ]
    assert fragments[1].id == "d1@20-33"
    assert fragments[1].timestamp == "#00:00:03-1#"
    assert fragments[1].to_dict()["codable"] is True
    assert_fragments_exact(doc, fragments)


def test_turn_within_budget_is_not_cut_even_with_several_sentences() -> None:
    doc = document(LONG_TURN, [Turn("R", RESPONDENT, 0, len(LONG_TURN))])
    fragments = segment_document(doc, max_fragment_tokens=n_tokens(LONG_TURN))
    assert [f.text for f in fragments] == [LONG_TURN]


def test_long_turn_is_cut_at_sentence_boundaries_within_the_budget() -> None:
    doc = document(LONG_TURN, [Turn("R", RESPONDENT, 0, len(LONG_TURN))])
    fragments = segment_document(doc, max_fragment_tokens=14)
    assert [f.text for f in fragments] == [
        "We hebben o.a. een meerjarenplan opgesteld met de diensten.",
        "Dat was veel werk.",
        "Het MAT heeft bv. elke maand overlegd met de schepenen en de scholen.",
        "Daarna volgde de evaluatie. Die was positief!",
    ]
    assert all(n_tokens(f.text) <= 14 for f in fragments)
    assert_fragments_exact(doc, fragments)


def test_abbreviations_do_not_end_sentences() -> None:
    text = "We doen o.a. overleg met bv. scholen e.d. en dat werkt. Ja."
    doc = document(text, [Turn("R", RESPONDENT, 0, len(text))])
    assert [f.text for f in segment_document(doc, max_fragment_tokens=1)] == [
        "We doen o.a. overleg met bv. scholen e.d. en dat werkt.",
        "Ja.",
    ]


def test_single_sentence_over_budget_stays_whole() -> None:
    text = "Een heel lange zin zonder enig leesteken die veel meer woorden heeft dan het budget toelaat"
    doc = document(text, [Turn("R", RESPONDENT, 0, len(text))])
    assert [f.text for f in segment_document(doc, max_fragment_tokens=3)] == [text]


def test_offsets_in_a_document_with_emoji_accents_and_newlines() -> None:
    text = "I: 👍 Vraag?\nR: Één café 😀. Tweede zin\nover twee regels.\n\nDerde alinea…  Vierde!"
    doc = read_turns_doc(text)
    fragments = segment_document(doc, max_fragment_tokens=4)
    assert [f.text for f in fragments] == [
        "👍 Vraag?",
        "Één café 😀.",
        "Tweede zin\nover twee regels.",
        "Derde alinea…  Vierde!",
    ]
    assert_fragments_exact(doc, fragments)


def test_ids_are_stable_across_runs_and_distinct_across_documents() -> None:
    first = segment_document(read_turns_doc("I: Vraag?\nR: " + LONG_TURN), max_fragment_tokens=10)
    again = segment_document(read_turns_doc("I: Vraag?\nR: " + LONG_TURN), max_fragment_tokens=10)
    assert [f.id for f in first] == [f.id for f in again]
    other = segment_document(read_turns_doc("I: Vraag?\nR: " + LONG_TURN, "d2"), max_fragment_tokens=10)
    assert not {f.id for f in first} & {f.id for f in other}


def test_other_role_is_not_codable() -> None:
    doc = read_turns_doc("Kopregel\nI: Vraag?\nR: Antwoord.")
    fragments = segment_document(doc, max_fragment_tokens=80)
    assert [(f.role, f.codable) for f in fragments] == [(OTHER, False), (INTERVIEWER, False), (RESPONDENT, True)]


def test_segment_documents_keeps_document_order() -> None:
    docs = [read_turns_doc("R: Een.", "a"), read_turns_doc("R: Twee. Drie.", "b")]
    assert [(f.document, f.text) for f in segment_documents(docs, max_fragment_tokens=1)] == [
        ("a", "Een."), ("b", "Twee."), ("b", "Drie."),
    ]


def test_budget_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_fragment_tokens"):
        segment_document(read_turns_doc("R: Een."), max_fragment_tokens=0)


def test_document_without_turns_has_no_fragments() -> None:
    assert segment_document(document("", []), max_fragment_tokens=5) == []


# --- property: random transcripts, every fragment and every turn exact ---------------------------------------

WORDS = [
    "de", "het", "een", "gemeente", "dienst", "schepen", "overleg", "beleid", "beheer", "visie", "één", "café",
    "coördinatie", "financiële", "meerjarenplan", "o.a.", "bv.", "e.d.", "’t", "zo'n", "12", "2024", "ocmw",
    "cafe\u0301", "e\u0301e\u0301n", "naïef", "ruïne", "👍", "😀", "🇧🇪", "[naam]", "[gemeente]", "(...)",
    "samenwerking", "vrijwilligers", "ja", "nee", "euh", "zeg", "maar", "ß", "ĳs", "Œuvre".lower(),
]
ENDINGS = [".", "?", "!", "…", "", ",", ". ..."]
STAMPS = ["#00:01:23-4#", "[00:12:34]", "(00:12)", "#01:02:03-0#"]
STYLES = {
    "IR": ("I", "R"),
    "IB": ("I", "B"),
    "long": ("Interviewer", "Respondent 3"),
    "names": ("Jan Peeters", "Marie-Louise van den Broeck"),
    "brackets": ("[Interviewer]", "[Naam]"),
    "none": (None, None),
}


@st.composite
def sentences(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=14))
    return " ".join(words) + draw(st.sampled_from(ENDINGS))


@st.composite
def utterances(draw: st.DrawFn) -> str:
    lines = draw(st.lists(st.lists(sentences(), min_size=1, max_size=4).map(" ".join), min_size=1, max_size=3))
    return "\n".join(lines)


@st.composite
def transcripts(draw: st.DrawFn) -> tuple[str, list[tuple[str | None, str, str | None]]]:
    """Raw transcript text and the expected (speaker, spoken text, timestamp) of each turn."""
    style = draw(st.sampled_from(sorted(STYLES)))
    interviewer, respondent = STYLES[style]
    n_turns = draw(st.integers(min_value=4 if style in ("names", "brackets") else 1, max_value=8))
    expected, blocks = [], []
    for index in range(n_turns):
        spoken = draw(utterances())
        stamp = draw(st.one_of(st.none(), st.sampled_from(STAMPS)))
        body = spoken + (draw(st.sampled_from([" ", "  ", "\t"])) + stamp if stamp else "")
        if style == "none":
            blocks.append(body)
            expected.append((None, spoken, stamp))
            continue
        label = interviewer if index % 2 == 0 else respondent
        separator = " " if style == "brackets" else draw(st.sampled_from([": ", ":", " : ", ":  "]))
        blocks.append(f"{label}{separator}{body}")
        expected.append((label.strip("[]"), spoken, stamp))
    joiner = "\n\n" if style == "none" else draw(st.sampled_from(["\n", "\n\n"]))
    return joiner.join(blocks) + draw(st.sampled_from(["", "\n", "\n\n"])), expected


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sample=transcripts(),
    crlf=st.booleans(),
    bom=st.booleans(),
    budget=st.sampled_from([1, 3, 8, 25, 80]),
)
def test_random_transcripts_have_exact_turns_and_fragments(sample, crlf: bool, bom: bool, budget: int) -> None:
    raw, expected = sample
    if crlf:
        raw = raw.replace("\n", "\r\n")
    data = (codecs.BOM_UTF8 if bom else b"") + raw.encode("utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "interview.txt"
        path.write_bytes(data)
        doc = read_document(path)
    assert doc.text == normalise_text(raw)
    assert unicodedata.is_normalized("NFC", doc.text) and "\r" not in doc.text and "\ufeff" not in doc.text
    doc.check_offsets()
    got = [(t.speaker, doc.text[t.start : t.end], t.timestamp) for t in doc.turns]
    assert got == [(speaker, normalise_text(spoken), stamp) for speaker, spoken, stamp in expected]
    if expected[0][0] in ("I", "Interviewer"):  # labels the conventions know; names need the heuristic
        assert {t.role for t in doc.turns[0::2]} == {INTERVIEWER}
        assert {t.role for t in doc.turns[1::2]} <= {RESPONDENT}
    fragments = segment_document(doc, max_fragment_tokens=budget)
    assert_fragments_exact(doc, fragments)
    assert [f.id for f in segment_document(doc, max_fragment_tokens=budget)] == [f.id for f in fragments]


@st.composite
def captions(draw: st.DrawFn) -> tuple[str, list[tuple[str | None, str]]]:
    speakers = draw(st.sampled_from([["Jan Janssens", "Els Peeters"], [None]]))
    n = draw(st.integers(min_value=1, max_value=10))
    blocks, cues = ["WEBVTT", ""], []
    for index in range(n):
        speaker = draw(st.sampled_from(speakers))
        text = draw(st.lists(sentences(), min_size=1, max_size=3).map(" ".join))
        payload = f"<v {speaker}>{text}</v>" if speaker else text
        blocks += [str(index + 1), f"00:00:{index:02d}.000 --> 00:00:{index + 1:02d}.000", payload, ""]
        cues.append((speaker, text))
    return "\n".join(blocks), cues


@settings(max_examples=60, deadline=None)
@given(sample=captions(), budget=st.sampled_from([2, 10, 80]))
def test_random_captions_have_exact_turns_and_fragments(sample, budget: int) -> None:
    raw, cues = sample
    merged: list[list] = []
    for speaker, text in cues:
        if merged and merged[-1][0] == speaker:
            merged[-1][1] += " " + text
        else:
            merged.append([speaker, text])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "call.vtt"
        path.write_text(raw, encoding="utf-8")
        doc = read_document(path)
    doc.check_offsets()
    assert [(t.speaker, doc.text[t.start : t.end]) for t in doc.turns] == [
        (speaker, normalise_text(text)) for speaker, text in merged
    ]
    assert "-->" not in doc.text
    assert_fragments_exact(doc, segment_document(doc, max_fragment_tokens=budget))


def test_segment_bench_runs_on_a_small_transcript() -> None:
    from pipeline.benchmarks.segment import bench_segment, build_transcript

    text, words = build_transcript(2_000)
    assert words >= 2_000 and text.startswith("Interview") and "\nR: " in text
    assert build_transcript(2_000) == (text, words)  # seeded
    result = bench_segment(n_words=600, repeats=2)
    assert result["n_words"] >= 600 and result["n_fragments"] > 0 and result["repeats"] == 2
    assert 0 < result["min_s"] <= result["median_s"]
    with pytest.raises(ValueError, match="repeats"):
        bench_segment(n_words=100, repeats=0)
