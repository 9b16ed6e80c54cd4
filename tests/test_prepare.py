"""The prepare stage: interview-grouped seeded splits, gold collections, labels and counts."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core.codebook import load_codebook
from pipeline.core.errors import InputError
from pipeline.corpus.loading import load_corpus_dir
from pipeline.prepare import prepare, prepare_collection, split_documents

FRACTIONS = {"train": 0.7, "validation": 0.15, "test": 0.15}

PARAMS = """
segment:
  max_fragment_tokens: 80
prepare:
  seed: 13
  min_fragment_share: 0.5
  min_span_share: 0.5
  split_fractions: {train: 0.7, validation: 0.15, test: 0.15}
"""


def interview(n: int) -> str:
    return (
        f"Interview {n}\n\n"
        "I: Hoe werkt het MAT samen met de diensten?\n"
        f"R: Elke week is er overleg over dossier {n}. De algemeen directeur zit het voor.\n"
        "I: En met de scholen?\n"
        "R: Daar maken we een meerjarenplan mee.\n"
    )


def make_collection(root: Path, name: str, n_docs: int, *, use: str = "train", prefix: str = "d") -> Path:
    (root / "transcripts").mkdir(parents=True)
    (root / "collection.yaml").write_text(f"name: {name}\nsynthetic: {use == 'train'}\nuse: {use}\n", encoding="utf-8")
    metadata, codings = [], []
    for n in range(n_docs):
        doc_id = f"{prefix}{n:02d}"
        text = interview(n)
        (root / "transcripts" / f"{doc_id}.txt").write_text(text, encoding="utf-8")
        metadata.append({"document": doc_id, "file": f"transcripts/{doc_id}.txt"})
        start = text.index("Elke week")
        end = text.index("voor.") + len("voor.")
        codings.append({"document": doc_id, "start": start, "end": end, "code": "Interne capaciteit", "coder": "A"})
        codings.append({"document": doc_id, "start": 0, "end": 9, "code": "intern", "coder": "A"})  # "Interview"
        codings.append({"document": doc_id, "start": start, "end": end, "code": "Financiën", "coder": "B"})
    (root / "metadata.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metadata), encoding="utf-8")
    (root / "codings.jsonl").write_text("".join(json.dumps(c) + "\n" for c in codings), encoding="utf-8")
    return root


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --- split_documents ------------------------------------------------------------------------------------------


def test_same_seed_same_split_regardless_of_order() -> None:
    ids = [f"doc{i}" for i in range(20)]
    first = split_documents(ids, fractions=FRACTIONS, seed=13)
    assert first == split_documents(list(reversed(ids)), fractions=FRACTIONS, seed=13)
    assert set(first) == set(ids)
    counts = {s: sum(v == s for v in first.values()) for s in ("train", "validation", "test")}
    assert counts == {"train": 14, "validation": 3, "test": 3}
    others = [split_documents(ids, fractions=FRACTIONS, seed=seed) for seed in range(1, 6)]
    assert any(other != first for other in others)


@pytest.mark.parametrize(("n", "expected"), [(0, {}), (1, {"train": 1}), (2, {"train": 2}),
                                             (3, {"train": 1, "validation": 1, "test": 1}),
                                             (4, {"train": 2, "validation": 1, "test": 1})])
def test_small_collections(n: int, expected: dict[str, int]) -> None:
    split = split_documents([f"d{i}" for i in range(n)], fractions=FRACTIONS, seed=1)
    assert {s: list(split.values()).count(s) for s in set(split.values())} == expected


def test_zero_fraction_split_stays_empty() -> None:
    split = split_documents([f"d{i}" for i in range(6)], fractions={"train": 0.8, "test": 0.2}, seed=1)
    assert "validation" not in split.values()


def test_fractions_must_add_up_to_one() -> None:
    with pytest.raises(ValueError, match="add up to 1"):
        split_documents(["a", "b"], fractions={"train": 0.7, "test": 0.2}, seed=1)


@settings(max_examples=60, deadline=None)
@given(ids=st.sets(st.text(min_size=1, max_size=8), max_size=40), seed=st.integers(0, 2**31))
def test_split_is_a_deterministic_partition(ids: set[str], seed: int) -> None:
    split = split_documents(list(ids), fractions=FRACTIONS, seed=seed)
    assert set(split) == ids
    assert set(split.values()) <= {"train", "validation", "test"}
    assert split == split_documents(sorted(ids, reverse=True), fractions=FRACTIONS, seed=seed)
    if len(ids) >= 3:
        assert set(split.values()) == {"train", "validation", "test"}


# --- prepare_collection and the stage ---------------------------------------------------------------------------


def test_prepare_collection_groups_fragments_by_interview(tmp_path: Path) -> None:
    codebook = load_codebook()
    collection = load_corpus_dir(make_collection(tmp_path / "syn", "syn", 10), codebook)
    records, counts = prepare_collection(
        collection, codebook, max_fragment_tokens=80, min_fragment_share=0.5, min_span_share=0.5,
        fractions=FRACTIONS, seed=13,
    )
    splits_of: dict[str, set[str]] = defaultdict(set)
    for record in records:
        splits_of[record.document].add(record.split)
        assert record.collection == "syn" and record.synthetic is True
    assert all(len(s) == 1 for s in splits_of.values()), "an interview is in two splits"
    assert counts["documents_per_split"] == {"train": 6, "validation": 2, "test": 2}  # round(1.5) == 2
    assert counts["n_documents"] == 10 and counts["n_fragments"] == len(records) == 50
    assert counts["n_codable_fragments"] == 20
    # every span aligns (the header span onto the "other" fragment); B's code is not in the codebook
    assert counts["alignment"]["n_codings"] == 20 and counts["alignment"]["n_unaligned"] == 0
    assert counts["unmapped_codes"] == {"Financiën": 10}
    answer = next(r for r in records if r.document == "d00" and r.text.startswith("Elke week"))
    assert answer.labels == {"A": {"intern": 1, "extern": 0, "beleid": 0, "beheer": 0, "strategisch": 0,
                                      "operationeel": 0}}
    assert answer.codable is True and answer.role == "respondent"
    again, _ = prepare_collection(
        collection, codebook, max_fragment_tokens=80, min_fragment_share=0.5, min_span_share=0.5,
        fractions=FRACTIONS, seed=13,
    )
    assert [(r.id, r.split) for r in again] == [(r.id, r.split) for r in records]


def write_params(tmp_path: Path, text: str = PARAMS) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_prepare_stage_writes_outputs_and_evaluation_goes_to_gold(tmp_path: Path) -> None:
    train = make_collection(tmp_path / "syn", "syn", 8)
    gold = make_collection(tmp_path / "quotes", "quotes", 3, use="evaluation", prefix="q")
    out = tmp_path / "prepared"
    report = prepare(collections=[train, gold], output_dir=out, params_path=write_params(tmp_path))
    fragments = read_jsonl(out / "fragments.jsonl")
    documents = read_jsonl(out / "documents.jsonl")
    assert json.loads((out / "prepare_report.json").read_text(encoding="utf-8")) == report
    assert {r["split"] for r in fragments if r["collection"] == "quotes"} == {"gold"}
    assert "gold" not in {r["split"] for r in fragments if r["collection"] == "syn"}
    split_of_document: dict[str, set[str]] = defaultdict(set)
    for record in fragments:
        split_of_document[record["document"]].add(record["split"])
        assert record["text"] == next(d["text"] for d in documents if d["id"] == record["document"])[
            record["start"] : record["end"]]
    assert all(len(s) == 1 for s in split_of_document.values())
    assert len(documents) == 11 and {d["collection"] for d in documents} == {"syn", "quotes"}
    assert report["collections"]["quotes"]["documents_per_split"] == {"gold": 3}
    assert report["collections"]["syn"]["unmapped_codes"] == {"Financiën": 8}
    assert report["codebook"] == load_codebook().fingerprint()
    # seeded: a second run gives the same files
    prepare(collections=[train, gold], output_dir=tmp_path / "again", params_path=write_params(tmp_path))
    assert (tmp_path / "again" / "fragments.jsonl").read_text() == (out / "fragments.jsonl").read_text()


def test_prepare_counts_spans_that_hit_no_fragment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_collection(tmp_path / "syn", "syn", 3)
    text = interview(0)
    gap = text.index("\n\nI:")  # the blank line between the header and the first turn
    with (root / "codings.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"document": "d00", "start": gap, "end": gap + 2, "code": "beleid", "coder": "A"}) + "\n")
    report = prepare(collections=[root], output_dir=tmp_path / "out", params_path=write_params(tmp_path))
    alignment = report["collections"]["syn"]["alignment"]
    assert alignment["n_unaligned"] == 1
    assert alignment["unaligned"] == [{"document": "d00", "start": gap, "end": gap + 2, "code": "beleid", "coder": "A"}]
    err = capsys.readouterr().err
    assert "1 spans hit no fragment" in err and "3 codings of codes not in the codebook" in err


def test_duplicate_document_ids_across_collections(tmp_path: Path) -> None:
    one = make_collection(tmp_path / "one", "one", 2)
    two = make_collection(tmp_path / "two", "two", 2)
    out = tmp_path / "out"
    with pytest.raises(InputError, match="document id 'd00' also occurs in"):
        prepare(collections=[one, two], output_dir=out, params_path=write_params(tmp_path))
    assert not out.exists()


def test_bad_collection_leaves_no_output(tmp_path: Path) -> None:
    good = make_collection(tmp_path / "good", "good", 2)
    bad = make_collection(tmp_path / "bad", "bad", 2, prefix="b")
    with (bad / "codings.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"document": "b00", "start": 0, "end": 10_000, "code": "intern", "coder": "A"}) + "\n")
    out = tmp_path / "out"
    with pytest.raises(InputError, match="outside document 'b00'"):
        prepare(collections=[good, bad], output_dir=out, params_path=write_params(tmp_path))
    assert not out.exists()


def test_params_without_a_section(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="has no section 'prepare'"):
        prepare(collections=[], output_dir=tmp_path / "out",
                params_path=write_params(tmp_path, "segment:\n  max_fragment_tokens: 80\n"))


def test_multi_coded_interviews_are_held_out_first():
    from pipeline.prepare import split_documents

    ids = [f"d{i:02d}" for i in range(20)]
    double = {"d03", "d07", "d11"}
    splits = split_documents(ids, fractions={"train": 0.7, "validation": 0.15, "test": 0.15}, seed=5,
                             hold_out_first=double)
    assert {d for d, s in splits.items() if s == "test"} == double
    again = split_documents(list(reversed(ids)), fractions={"train": 0.7, "validation": 0.15, "test": 0.15},
                            seed=5, hold_out_first=double)
    assert again == splits
    many = split_documents(ids, fractions={"train": 0.7, "validation": 0.15, "test": 0.15}, seed=5,
                           hold_out_first=set(ids[:8]))
    test = [d for d, s in many.items() if s == "test"]
    assert len(test) == 3 and set(test) <= set(ids[:8])
