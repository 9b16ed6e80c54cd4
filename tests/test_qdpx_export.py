"""Writing pre-coded REFI-QDA projects, and reading them back: import(export(x)) == x."""

from __future__ import annotations

import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from pipeline.benchmarks.qdpx import FixtureSelection, write_dialect_project
from pipeline.core.codebook import load_codebook
from pipeline.core.documents import Document
from pipeline.ingest.textnorm import normalise_text
from pipeline.qdpx.importer import read_project, read_qdpx_collection
from pipeline.qdpx.writer import Suggestion, build_project_xml, write_qdpx

REPO = Path(__file__).resolve().parents[1]
XSD = next((p for p in (REPO / "shared/refi-qda/Project-mrt2019.xsd", REPO.parent / "shared/refi-qda/Project-mrt2019.xsd") if p.is_file()), None)
SAMPLES = XSD.parent / "samples" if XSD else None
CREATED = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
CODEBOOK = load_codebook()
MODEL = "capcode default 0.1.0"


@pytest.fixture(scope="module")
def schema():
    if XSD is None:
        pytest.skip("shared/refi-qda/Project-mrt2019.xsd not present in this checkout")
    return etree.XMLSchema(etree.parse(str(XSD)))


def assert_valid(path: Path, schema) -> None:
    document = etree.fromstring(zipfile.ZipFile(path).read("project.qde"))
    assert schema.validate(document), schema.error_log


def _doc(doc_id: str, text: str) -> Document:
    return Document(id=doc_id, text=normalise_text(text), source=f"{doc_id}.txt")


DOCS = [
    _doc("int01", "I: Hoe werkt u samen? 😀\nR: Met de scholen en het OCMW, elke week.\n"),
    _doc("int02", "I: Wat is de visie?\r\nR: Het meerjarenplan café-stijl 𝔘 uitwerken.\r\n"),
]


def _suggestions() -> list[Suggestion]:
    first, second = DOCS[0].text, DOCS[1].text
    a = first.index("Met")
    b = second.index("Het")
    return [
        Suggestion("int01", a, len(first) - 1, "extern", 0.91),
        Suggestion("int01", a, len(first) - 1, "operationeel", 0.66),
        Suggestion("int02", b, len(second) - 1, "strategisch", 0.8),
        Suggestion("int02", b, len(second) - 1, "beleid", 0.75),
    ]


def test_export_validates_and_reads_back(tmp_path, schema):
    out = write_qdpx(tmp_path / "pre.qdpx", documents=DOCS, suggestions=_suggestions(), codebook=CODEBOOK, model_user=MODEL, created=CREATED)
    assert_valid(out, schema)
    names = zipfile.ZipFile(out).namelist()
    assert names[0] == "project.qde" and all(n.startswith("sources/") and n.endswith(".txt") for n in names[1:])
    project = read_project(out)
    assert project.origin.startswith("capcode ") and project.dialect == "codepoint"
    assert [s.text for s in project.sources.values()] == [d.text for d in DOCS]
    folders = project.root_codes
    assert [f.name for f in folders] == [a.label for a in CODEBOOK.axes] and not any(f.codable for f in folders)
    assert [[project.codes[c].name for c in f.children] for f in folders] == [[CODEBOOK.code(p).label for p in a.poles] for a in CODEBOOK.axes]
    assert all(project.codes[c].colour == CODEBOOK.code(CODEBOOK.resolve(project.codes[c].name)).colour for f in folders for c in f.children)
    assert list(project.users.values()) == [MODEL]
    assert len(project.selections) == 2  # one selection per fragment, one coding per suggested code
    first = project.selections[0]
    assert "extern 0.910" in first.description and "operationeel 0.660" in first.description
    collection = read_qdpx_collection(out, CODEBOOK)
    got = {(c.document, collection.documents[c.document].text[c.start : c.end], c.code, c.coder) for c in collection.codings}
    assert got == {
        ("int01", "Met de scholen en het OCMW, elke week.", "extern", MODEL),
        ("int01", "Met de scholen en het OCMW, elke week.", "operationeel", MODEL),
        ("int02", "Het meerjarenplan café-stijl 𝔘 uitwerken.", "strategisch", MODEL),
        ("int02", "Het meerjarenplan café-stijl 𝔘 uitwerken.", "beleid", MODEL),
    }
    for document in DOCS:  # written as UTF-8, LF, no BOM
        raw = zipfile.ZipFile(out).read(f"sources/{next(s.guid for s in project.sources.values() if s.text == document.text)}.txt")
        assert raw == document.text.encode("utf-8")


def test_all_scores_go_into_the_description(tmp_path):
    s = _suggestions()[0]
    scores = {(s.document, s.start, s.end): {c: 0.1 for c in CODEBOOK.code_ids} | {"extern": 0.91}}
    xml, _ = build_project_xml(documents=DOCS[:1], suggestions=[s], codebook=CODEBOOK, model_user=MODEL, scores=scores, created=CREATED)
    description = etree.fromstring(xml).find(".//{*}PlainTextSelection/{*}Description").text
    assert "all scores: beheer 0.100, beleid 0.100, extern 0.910" in description


def test_output_is_reproducible_and_atomic(tmp_path):
    kwargs = dict(documents=DOCS, suggestions=_suggestions(), codebook=CODEBOOK, model_user=MODEL, created=CREATED)
    one = write_qdpx(tmp_path / "one.qdpx", **kwargs).read_bytes()
    two = write_qdpx(tmp_path / "two.qdpx", **kwargs).read_bytes()
    assert one == two
    with pytest.raises(ValueError, match="outside document"):
        write_qdpx(tmp_path / "bad.qdpx", **{**kwargs, "suggestions": [Suggestion("int01", 0, 10_000, "intern", 0.5)]})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.qdpx", "two.qdpx"]  # no partial file, no temp


def test_export_beside_a_coded_project_keeps_it(tmp_path, schema):
    """A QualCoder-style project (BOM, CRLF, code points on LF) with human codings, pre-coded and read back."""
    text = "I: Wie beslist?\nR: Het college 😀 beslist, na advies van het MAT.\nR: De raad keurt het meerjarenplan goed.\n"
    words = ["college", "MAT", "meerjarenplan"]
    human = [FixtureSelection(0, text.index(w), text.index(w) + len(w), (code,), "Coder B") for w, code in zip(words, ["Interne capaciteit", "Intern", "Strategische capaciteit"])]
    base_path = write_dialect_project(
        tmp_path / "base.qdpx", texts=[("Interview B", text)], selections=human, dialect="codepoint-lf", crlf=True, bom=True,
        origin="QualCoder 3.5", folders={"Mijn codes": ["Interne capaciteit", "Intern", "Strategische capaciteit"]},
    )
    base = read_project(base_path)
    documents = list(read_qdpx_collection(base_path, CODEBOOK).documents.values())
    line = text.index("R: De raad") + 3
    suggestions = [Suggestion(documents[0].id, line, len(text) - 1, code, 0.7) for code in ("intern", "strategisch", "beleid")]
    out = write_qdpx(tmp_path / "pre.qdpx", documents=documents, suggestions=suggestions, codebook=CODEBOOK, model_user=MODEL, base_project=base, created=CREATED)
    assert_valid(out, schema)
    again = read_project(out)
    assert again.name == base.name and set(base.users.items()) < set(again.users.items())
    assert {g: c.name for g, c in base.codes.items()}.items() <= {g: c.name for g, c in again.codes.items()}.items()
    # intern and strategisch map onto the project's own codes; the other four get capcode's folders
    new_codes = [c.name for g, c in again.codes.items() if g not in base.codes]
    assert sorted(new_codes) == sorted(["Intern / extern", "Extern", "Beleid / beheer", "Beleid", "Beheer", "Strategisch / operationeel", "Operationeel"])
    source = next(iter(again.sources.values()))
    assert source.guid == next(iter(base.sources)) and source.text == text
    human_again = [s for s in again.selections if s.guid in {h.guid for h in base.selections}]
    assert [source.text[s.start : s.end] for s in human_again] == words
    model_user = next(g for g, n in again.users.items() if n == MODEL)
    [model] = [s for s in again.selections if s.user == model_user]
    assert source.text[model.start : model.end] == "De raad keurt het meerjarenplan goed."
    coded = {again.codes[c].name for c in model.code_guids}
    assert coded == {"Intern", "Strategische capaciteit", "Beleid"}
    # pre-coding the pre-coded project again replaces the model's earlier suggestions
    third = write_qdpx(tmp_path / "third.qdpx", documents=documents, suggestions=suggestions, codebook=CODEBOOK, model_user=MODEL, base_project=again, created=CREATED)
    assert len(read_project(third).selections) == len(again.selections)
    assert third.read_bytes() == out.read_bytes()


@pytest.mark.skipif(SAMPLES is None or not (SAMPLES / "nvivo-win-12.6-small.qdpx").is_file(), reason="NVivo samples not present")
def test_export_beside_a_real_nvivo_project(tmp_path, schema):
    base = read_project(SAMPLES / "nvivo-win-12.6-small.qdpx")
    documents = list(read_qdpx_collection(SAMPLES / "nvivo-win-12.6-small.qdpx", CODEBOOK).documents.values())
    suggestions = [Suggestion(documents[0].id, 0, 50, "intern", 0.9)]
    out = write_qdpx(tmp_path / "nvivo-pre.qdpx", documents=documents, suggestions=suggestions, codebook=CODEBOOK, model_user=MODEL, base_project=base)
    assert_valid(out, schema)
    again = read_project(out)
    assert len(again.selections) == len(base.selections) + 1
    old = {s.guid: s for s in base.selections}
    text = next(iter(base.sources.values())).text
    for selection in again.selections:
        if selection.guid in old:
            assert text[selection.start : selection.end] == text[old[selection.guid].start : old[selection.guid].end]
            assert selection.codings == old[selection.guid].codings


# --- import(export(x)) == x for generated projects ---------------------------------------------------------

PIECES = st.sampled_from(list("abcdefghij  ,.?") + ["\n", "\r\n", "😀", "👍🏽", "𝔘", "é", "e\u0301", "ï", "ñ", "日本", "Ā"])


@st.composite
def projects(draw):
    n_docs = draw(st.integers(1, 3))
    documents = []
    for k in range(n_docs):
        text = normalise_text("".join(draw(st.lists(PIECES, min_size=1, max_size=80))))
        documents.append(Document(id=f"doc{k}", text=text, source="generated"))
    suggestions = []
    for document in documents:
        for _ in range(draw(st.integers(0, 6))):
            start = draw(st.integers(0, len(document.text) - 1))
            end = draw(st.integers(start + 1, len(document.text)))
            code = draw(st.sampled_from(CODEBOOK.code_ids))
            suggestions.append(Suggestion(document.id, start, end, code, draw(st.floats(0, 1))))
    return documents, suggestions


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(project=projects())
def test_generated_projects_round_trip(tmp_path, schema, project):
    documents, suggestions = project
    out = write_qdpx(tmp_path / "gen.qdpx", documents=documents, suggestions=suggestions, codebook=CODEBOOK, model_user=MODEL, created=CREATED)
    assert_valid(out, schema)
    back = read_project(out)
    assert [s.text for s in back.sources.values()] == [d.text for d in documents]
    doc_of = {s.guid: d.id for s, d in zip(back.sources.values(), documents)}
    got = {(doc_of[s.source], s.start, s.end, CODEBOOK.resolve(back.codes[c].name)) for s in back.selections for c in s.code_guids}
    assert got == {(s.document, s.start, s.end, s.code) for s in suggestions}
