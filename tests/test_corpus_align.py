"""The corpus contract (a tiny collection built in tmp_path) and span-to-fragment alignment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.core.codebook import load_codebook
from pipeline.core.documents import RESPONDENT, Fragment, SpanCoding
from pipeline.core.errors import InputError
from pipeline.core.io_utils import read_jsonl
from pipeline.corpus.align import align_codings, label_vectors, overlap
from pipeline.corpus.loading import load_collection, load_corpus_dir

DOC_A = (
    "I: Hoe werkt het MAT samen met de diensten?\n"
    "R: Elke week is er overleg. De algemeen directeur zit het voor.\n"
    "I: En met de scholen?\n"
    "R: Daar maken we een meerjarenplan mee.\n"
)
DOC_B = "I: Wat is de visie?\nR: Een inclusieve gemeente.\n"


def span(text: str, part: str) -> tuple[int, int]:
    start = text.index(part)
    return start, start + len(part)


def coding(document: str, text: str, part: str, code: str, coder: str = "A") -> dict[str, Any]:
    start, end = span(text, part)
    return {"document": document, "start": start, "end": end, "code": code, "coder": coder}


def make_collection(
    root: Path,
    *,
    documents: dict[str, str] | None = None,
    codings: list[dict[str, Any]] | None = None,
    info: str = "name: mini\nsynthetic: true\nuse: train\n",
    metadata: list[dict[str, Any]] | None = None,
) -> Path:
    documents = {"a": DOC_A, "b": DOC_B} if documents is None else documents
    root.mkdir(parents=True, exist_ok=True)
    (root / "transcripts").mkdir(exist_ok=True)
    (root / "collection.yaml").write_text(info, encoding="utf-8")
    for doc_id, text in documents.items():
        (root / "transcripts" / f"{doc_id}.txt").write_text(text, encoding="utf-8")
    if metadata is None:
        metadata = [{"document": d, "file": f"transcripts/{d}.txt", "municipality": "Lier"} for d in documents]
    (root / "metadata.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metadata), encoding="utf-8")
    if codings is not None:
        (root / "codings.jsonl").write_text("".join(json.dumps(c) + "\n" for c in codings), encoding="utf-8")
    return root


def default_codings() -> list[dict[str, Any]]:
    return [
        coding("a", DOC_A, "Elke week is er overleg.", "Beheerscapaciteit"),
        coding("a", DOC_A, "Elke week is er overleg. De algemeen directeur zit het voor.", "intern"),
        coding("a", DOC_A, "Daar maken we een meerjarenplan mee.", "strategisch", coder="B"),
        coding("a", DOC_A, "meerjarenplan", "Financiën"),
        coding("b", DOC_B, "Een inclusieve gemeente.", "Financiën", coder="B"),
        coding("b", DOC_B, "Een inclusieve gemeente.", "Beleid", coder="B"),
    ]


# --- corpus loading -------------------------------------------------------------------------------------------


def test_load_corpus_dir(tmp_path: Path) -> None:
    root = make_collection(
        tmp_path / "mini",
        codings=default_codings(),
        info="name: mini\nsynthetic: true\nuse: train\ncoder_axes:\n  B: [strategisch_operationeel, beleid_beheer]\n",
    )
    collection = load_corpus_dir(root, load_codebook())
    assert collection.name == "mini" and collection.synthetic and collection.use == "train"
    assert list(collection.documents) == ["a", "b"]
    assert collection.documents["a"].text == DOC_A
    assert collection.documents["a"].metadata["municipality"] == "Lier"
    assert [(c.document, c.code, c.coder) for c in collection.codings] == [
        ("a", "beheer", "A"), ("a", "intern", "A"), ("a", "strategisch", "B"), ("b", "beleid", "B"),
    ]
    assert collection.unmapped_codes == {"Financiën": 2}
    assert collection.coders == ["A", "B"]
    assert collection.coders_of("b") == ["B"]
    assert collection.axes_of("B", load_codebook()) == ["strategisch_operationeel", "beleid_beheer"]
    assert collection.axes_of("A", load_codebook()) == ["intern_extern", "beleid_beheer", "strategisch_operationeel"]
    assert load_collection(root, load_codebook()).codings == collection.codings


def test_coders_listed_in_metadata_and_no_codings_file(tmp_path: Path) -> None:
    metadata = [{"document": "a", "file": "transcripts/a.txt", "coders": ["A", "B"], "interviewers": ["R"]}]
    root = make_collection(tmp_path / "c", documents={"a": DOC_A}, metadata=metadata)
    collection = load_corpus_dir(root, load_codebook())
    assert collection.codings == [] and collection.unmapped_codes == {}
    assert collection.coders_of("a") == ["A", "B"]
    assert collection.use == "train"
    # the corpus names the interviewer; the pattern for "I" is not used
    assert {t.speaker: t.role for t in collection.documents["a"].turns} == {"I": RESPONDENT, "R": "interviewer"}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"start": 0, "end": len(DOC_A) + 1}, "outside document 'a' \\(length"),
        ({"start": -1, "end": 5}, "outside document"),
        ({"start": 7, "end": 7}, "outside document"),
        ({"start": 9, "end": 4}, "outside document"),
        ({"document": "zz"}, "names document 'zz', which is not in the collection"),
        ({"start": "3"}, "start and end must be integers"),
        ({"end": True}, "start and end must be integers"),
        ({"coder": None}, "coding 1 lacks coder; expected document, start, end, code, coder"),
    ],
)
def test_invalid_codings(tmp_path: Path, bad: dict[str, Any], message: str) -> None:
    record = {"document": "a", "start": 3, "end": 20, "code": "intern", "coder": "A", **bad}
    record = {key: value for key, value in record.items() if value is not None}  # None: leave the field out
    root = make_collection(tmp_path / "c", codings=[record])
    with pytest.raises(InputError, match=message) as info:
        load_corpus_dir(root, load_codebook())
    assert info.value.path == str(root / "codings.jsonl")


def test_overlapping_codings_of_one_code_by_one_coder(tmp_path: Path) -> None:
    codings = [
        {"document": "a", "start": 10, "end": 40, "code": "intern", "coder": "A"},
        {"document": "a", "start": 30, "end": 60, "code": "Interne capaciteit", "coder": "A"},
    ]
    root = make_collection(tmp_path / "c", codings=codings)
    with pytest.raises(InputError, match=r"overlapping codings of 'intern' by coder 'A' in 'a': \[10, 40\) and \[30, 60\)"):
        load_corpus_dir(root, load_codebook())


def test_overlap_across_coders_codes_or_touching_is_fine(tmp_path: Path) -> None:
    codings = [
        {"document": "a", "start": 10, "end": 40, "code": "intern", "coder": "A"},
        {"document": "a", "start": 40, "end": 60, "code": "intern", "coder": "A"},
        {"document": "a", "start": 30, "end": 60, "code": "intern", "coder": "B"},
        {"document": "a", "start": 30, "end": 60, "code": "beheer", "coder": "A"},
    ]
    assert len(load_corpus_dir(make_collection(tmp_path / "c", codings=codings), load_codebook()).codings) == 4


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"document": "a"\n', "line 1 is not valid JSON"),
        ('\n[1, 2]\n', "line 2: expected a JSON object, found list"),
    ],
)
def test_malformed_jsonl(tmp_path: Path, content: str, message: str) -> None:
    root = make_collection(tmp_path / "c", codings=[])
    (root / "codings.jsonl").write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        load_corpus_dir(root, load_codebook())


def test_jsonl_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": "caf\xe9"}\n')
    with pytest.raises(InputError, match="not UTF-8"):
        read_jsonl(path)
    with pytest.raises(InputError, match="not found"):
        read_jsonl(tmp_path / "weg.jsonl")


@pytest.mark.parametrize(
    ("info", "metadata", "message"),
    [
        ("name: c\nuse: test\n", None, "use must be 'train' or 'evaluation'"),
        ("name: c\n", [{"document": "a"}], "needs 'document' and 'file'"),
        ("name: c\n", [{"document": "a", "file": "transcripts/a.txt"}] * 2, "document 'a' is listed twice"),
        ("name: c\n", [{"document": "a", "file": "transcripts/weg.txt"}], "file not found"),
        ("name: c\n", [{"document": "a", "file": "transcripts"}], "is a directory"),
    ],
)
def test_invalid_collection(tmp_path: Path, info: str, metadata: list | None, message: str) -> None:
    root = make_collection(tmp_path / "c", documents={"a": DOC_A}, info=info, metadata=metadata)
    with pytest.raises(InputError, match=message):
        load_corpus_dir(root, load_codebook())


def test_bad_transcript_inside_a_collection_names_the_transcript(tmp_path: Path) -> None:
    root = make_collection(tmp_path / "c", documents={"a": DOC_A})
    (root / "transcripts" / "a.txt").write_bytes(b"")
    with pytest.raises(InputError, match="empty") as info:
        load_corpus_dir(root, load_codebook())
    assert info.value.path == str(root / "transcripts" / "a.txt")


def test_not_a_collection(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no collection.yaml"):
        load_collection(tmp_path, load_codebook())
    with pytest.raises(InputError, match="not found"):
        load_collection(tmp_path / "weg", load_codebook())
    (tmp_path / "x.txt").write_text("R: hallo", encoding="utf-8")
    with pytest.raises(InputError, match="expected a corpus directory"):
        load_collection(tmp_path / "x.txt", load_codebook())


# --- alignment --------------------------------------------------------------------------------------------------


def frag(doc: str, start: int, end: int) -> Fragment:
    return Fragment(id=f"{doc}@{start}-{end}", document=doc, speaker="R", role=RESPONDENT, start=start, end=end,
                    text="x" * (end - start), turn=0)


FRAGMENTS = [frag("a", 0, 100), frag("a", 110, 200), frag("a", 200, 220), frag("b", 0, 50)]


def align(codings: list[SpanCoding], fragment_share: float = 0.5, span_share: float = 0.5):
    return align_codings(FRAGMENTS, codings, min_fragment_share=fragment_share, min_span_share=span_share)


def test_overlap() -> None:
    assert overlap(0, 10, 5, 20) == 5
    assert overlap(0, 10, 10, 20) == 0
    assert overlap(0, 10, 20, 30) == 0
    assert overlap(5, 6, 0, 100) == 1


def test_span_inside_a_fragment_aligns_by_span_share() -> None:
    labels, report = align([SpanCoding("a", 10, 20, "intern", "A")])
    assert labels == {"a@0-100": {"A": {"intern"}}}
    assert (report.n_codings, report.n_aligned, report.unaligned) == (1, 1, [])


def test_span_covering_several_fragments_aligns_by_fragment_share() -> None:
    labels, report = align([SpanCoding("a", 40, 215, "beleid", "B")])
    # 60/100 of the first, all of the second, 15/20 of the third; the span share is small for each
    assert set(labels) == {"a@0-100", "a@110-200", "a@200-220"}
    assert report.n_aligned == 1


@pytest.mark.parametrize(
    ("start", "end", "fragment_share", "span_share", "hits"),
    [
        # [80, 125) covers 20/100 of the first fragment and 15/90 of the second: 20/45 and 15/45 of the span
        (80, 125, 0.5, 0.5, []),
        (80, 125, 0.2, 0.9, ["a@0-100"]),  # exactly at the fragment-share threshold
        (80, 125, 0.16, 0.9, ["a@0-100", "a@110-200"]),
        (80, 125, 0.21, 0.44, ["a@0-100"]),  # by the span share
        (80, 125, 0.21, 0.45, []),
        (100, 110, 0.5, 0.5, []),  # only the gap between fragments
        (195, 205, 0.5, 0.5, ["a@110-200", "a@200-220"]),  # half of the span in each
    ],
)
def test_thresholds(start: int, end: int, fragment_share: float, span_share: float, hits: list[str]) -> None:
    labels, report = align([SpanCoding("a", start, end, "extern", "A")], fragment_share, span_share)
    assert sorted(labels) == hits
    assert report.n_aligned == (1 if hits else 0)
    assert len(report.unaligned) == (0 if hits else 1)


def test_unaligned_spans_are_counted_with_their_details() -> None:
    codings = [
        SpanCoding("a", 100, 110, "intern", "A"),  # in the gap
        SpanCoding("zz", 0, 10, "intern", "A"),  # document without fragments
        SpanCoding("b", 0, 50, "beheer", "B"),
    ]
    labels, report = align(codings)
    assert labels == {"b@0-50": {"B": {"beheer"}}}
    summary = report.to_dict()
    assert (summary["n_codings"], summary["n_aligned"], summary["n_unaligned"]) == (3, 1, 2)
    assert summary["unaligned"] == [codings[0].to_dict(), codings[1].to_dict()]


def test_fragments_in_any_order_and_codes_accumulate_per_coder() -> None:
    codings = [SpanCoding("a", 0, 100, "intern", "A"), SpanCoding("a", 0, 100, "beleid", "A"),
               SpanCoding("a", 0, 100, "extern", "B")]
    labels, _ = align_codings(list(reversed(FRAGMENTS)), codings, min_fragment_share=0.5, min_span_share=0.5)
    assert labels == {"a@0-100": {"A": {"intern", "beleid"}, "B": {"extern"}}}


def test_label_vectors_cover_the_axes_each_coder_coded() -> None:
    codebook = load_codebook()
    vectors = label_vectors({"A": {"intern", "beleid"}}, ["A", "report"], codebook,
                            {"report": ["strategisch_operationeel"]})
    assert vectors == {
        "A": {"intern": 1, "extern": 0, "beleid": 1, "beheer": 0, "strategisch": 0, "operationeel": 0},
        "report": {"strategisch": 0, "operationeel": 0},
    }


def test_alignment_of_a_real_collection(tmp_path: Path) -> None:
    from pipeline.ingest.segmentation import segment_document

    collection = load_corpus_dir(make_collection(tmp_path / "c", codings=default_codings()), load_codebook())
    fragments = [f for d in collection.documents.values() for f in segment_document(d, max_fragment_tokens=80)]
    labels, report = align_codings(fragments, collection.codings, min_fragment_share=0.5, min_span_share=0.5)
    by_text = {f.text: labels.get(f.id, {}) for f in fragments}
    assert by_text["Elke week is er overleg. De algemeen directeur zit het voor."] == {"A": {"beheer", "intern"}}
    assert by_text["Daar maken we een meerjarenplan mee."] == {"B": {"strategisch"}}
    assert by_text["Een inclusieve gemeente."] == {"B": {"beleid"}}
    assert by_text["Hoe werkt het MAT samen met de diensten?"] == {}
    assert report.n_aligned == report.n_codings == 4
