"""The QDA round trip through the pipeline: a coded .qdpx feeds prepare, and predict writes a .qdpx back."""

from __future__ import annotations

import json

from pipeline.benchmarks.qdpx import FixtureSelection, write_dialect_project
from pipeline.prepare import prepare
from pipeline.qdpx.importer import read_project

TEXTS = [
    (f"Interview {n}", f"I: Hoe loopt de regie? 🙂\n\nR: Het managementteam bespreekt het budget {n}.\n\n"
                       f"I: En buiten het huis?\n\nR: Met de scholen en de vrijwilligers werken we samen.\n")
    for n in range(6)
]


def _project(tmp_path, dialect="utf16", crlf=True, bom=True):
    selections = []
    for source, (_, text) in enumerate(TEXTS):
        first = text.index("Het managementteam")
        second = text.index("Met de scholen")
        selections += [
            FixtureSelection(source, first, text.index("\n", first), ("Interne capaciteit", "Beheerscapaciteit"), "Jan"),
            FixtureSelection(source, second, text.index("\n", second), ("Extern",), "Jan"),
            FixtureSelection(source, second, text.index("\n", second), ("Extern", "Operationeel"), "Els"),
        ]
    return write_dialect_project(tmp_path / "project.qdpx", texts=TEXTS, selections=selections, dialect=dialect,
                                 crlf=crlf, bom=bom, origin="NVivo 12")


def test_prepare_reads_a_qdpx_collection(tmp_path):
    project = _project(tmp_path)
    report = prepare(collections=[project], output_dir=tmp_path / "prepared")
    counts = next(iter(report["collections"].values()))
    assert counts["n_documents"] == 6 and counts["alignment"]["n_unaligned"] == 0
    assert counts["coders"] == ["Els", "Jan"]
    records = [json.loads(line) for line in (tmp_path / "prepared" / "fragments.jsonl").read_text().splitlines()]
    budget = next(r for r in records if r["text"].startswith("Het managementteam"))
    assert budget["labels"]["Jan"]["intern"] == 1 and budget["labels"]["Jan"]["beheer"] == 1
    assert budget["labels"]["Jan"]["extern"] == 0
    schools = next(r for r in records if r["text"].startswith("Met de scholen"))
    assert schools["labels"]["Els"]["operationeel"] == 1 and schools["labels"]["Jan"]["operationeel"] == 0
    assert {r["split"] for r in records} == {"train", "validation", "test"}


def test_predict_writes_a_project_with_the_model_as_a_user(tiny_model, tmp_path):
    from pipeline.predict import predict

    project = _project(tmp_path)
    output = tmp_path / "precoded.qdpx"
    summary = predict(inputs=[project], model_dir=tiny_model, output=output)
    assert summary["coded"] == 12  # two respondent turns in each of six interviews
    before, after = read_project(project), read_project(output)
    model_users = set(after.users.values()) - set(before.users.values())
    assert len(model_users) == 1 and next(iter(model_users)).startswith("capcode model")
    assert set(before.users.values()) <= set(after.users.values())  # the human coders stay
    human = [s for s in after.selections if after.users.get(s.user) in ("Jan", "Els")]
    assert len(human) == len(before.selections)
    texts = {s.name: s.text for s in after.sources.values()}
    for selection in after.selections:
        source = after.sources[selection.source]
        assert 0 <= selection.start < selection.end <= len(source.text)
    assert texts == {s.name: s.text for s in before.sources.values()}
