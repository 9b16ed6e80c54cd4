"""`capcode next`: distances to the decision rule, the balanced k-center batch, and the command on a tiny model."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from lxml import etree

from pipeline.core.codebook import load_codebook
from pipeline.ingest.reader import read_document
from pipeline.model.decision import apply_decision, axis_category, threshold_rule
from pipeline.model.selection import boundary_distances, interview_doubt, select_batch
from pipeline.next import rank_next
from pipeline.qdpx.writer import Suggestion, write_qdpx
from pipeline.report.selection import NEXT_SET_NAME
from tests.tiny_model import write_mini_corpus

CODEBOOK = load_codebook()
CODES = CODEBOOK.code_ids
AXES = [axis.id for axis in CODEBOOK.axes]
NS = "{urn:QDA-XML:project:1.0}"
XSD = Path(__file__).resolve().parents[2] / "shared" / "refi-qda" / "Project-mrt2019.xsd"


def axis_rule(**switches: bool) -> dict:
    return {"kind": "axis", "thresholds": dict.fromkeys(CODES, 0.5),
            "axes": {axis: {"min_evidence": 0.5, **switches} for axis in AXES}}


# --------------------------------------------------------------------------- distances to the decision rule


def test_threshold_rule_distance_is_the_nearest_threshold() -> None:
    rng = np.random.default_rng(0)
    p = rng.random((200, 6))
    thresholds = [0.3, 0.6, 0.5, 0.45, 0.5, 0.7]
    doubt = boundary_distances(p, threshold_rule(CODES, thresholds), CODES, CODEBOOK)
    expected = np.stack([np.minimum(abs(p[:, 2 * a] - thresholds[2 * a]), abs(p[:, 2 * a + 1] - thresholds[2 * a + 1]))
                         for a in range(3)], axis=1)
    assert np.allclose(doubt.distances, expected)
    assert doubt.reason(0, 0).endswith(")") and "threshold" in doubt.reason(0, 0)


def test_a_switch_makes_the_pole_swap_the_nearest_boundary() -> None:
    # both poles well above their thresholds, nearly level: under "one pole only" the decision flips when the
    # margins swap (half their gap away), far before either threshold
    p = np.array([[0.9, 0.86, 0.1, 0.1, 0.1, 0.1]])
    exclusive = boundary_distances(p, axis_rule(exclusive=True, at_least_one=False), CODES, CODEBOOK)
    plain = boundary_distances(p, axis_rule(exclusive=False, at_least_one=False), CODES, CODEBOOK)
    assert exclusive.distances[0, 0] == pytest.approx(0.02)
    assert plain.distances[0, 0] == pytest.approx(0.36)
    assert "keeps the pole" in exclusive.reason(0, 0) and "now: only intern" in exclusive.reason(0, 0)


def test_no_move_shorter_than_the_distance_changes_the_category() -> None:
    """Brute force on a grid of moves of one or both scores of an axis (L-infinity): nothing closer than the
    reported distance changes the axis's category under an axis rule with both switches and an evidence floor."""
    rng = np.random.default_rng(1)
    rule = axis_rule(exclusive=True, at_least_one=True)
    p = rng.random((60, 6))
    doubt = boundary_distances(p, rule, CODES, CODEBOOK)
    now = apply_decision(p, rule, CODES, CODEBOOK)
    steps = np.linspace(-1, 1, 81)
    for row in range(len(p)):
        for a in range(3):
            i, j = 2 * a, 2 * a + 1
            before = axis_category(now[row:row + 1, i].astype(float), now[row:row + 1, j].astype(float))[0]
            moved = np.repeat(p[row:row + 1], len(steps) ** 2, axis=0)
            di, dj = np.meshgrid(steps, steps)
            moved[:, i] = np.clip(p[row, i] + di.ravel(), 0, 1)
            moved[:, j] = np.clip(p[row, j] + dj.ravel(), 0, 1)
            size = np.maximum(abs(moved[:, i] - p[row, i]), abs(moved[:, j] - p[row, j]))
            labels = apply_decision(moved, rule, CODES, CODEBOOK)
            after = axis_category(labels[:, i].astype(float), labels[:, j].astype(float))
            changed = size[after != before]
            if len(changed):
                assert changed.min() >= doubt.distances[row, a] - 1e-6


# --------------------------------------------------------------------------- the batch


def _doubt(distances: np.ndarray):
    """A doubt whose per-axis distances are given (probabilities made to match under a 0.5 threshold rule)."""
    p = np.zeros((len(distances), 6))
    for a in range(3):
        p[:, 2 * a] = 0.5 + distances[:, a]  # pole 1 above its threshold by the distance, pole 2 at 0 (0.5 below)
    return boundary_distances(p, threshold_rule(CODES, [0.5] * 6), CODES, CODEBOOK)


def test_batch_takes_turns_over_the_axes_and_spreads_over_clusters() -> None:
    rng = np.random.default_rng(2)
    n = 120
    distances = np.full((n, 3), 0.4)
    distances[:60, 0] = rng.random(60) * 0.05  # the model doubts intern/extern most, on the first 60 fragments
    distances[60:90, 1] = 0.1 + rng.random(30) * 0.05
    distances[90:, 2] = 0.1 + rng.random(30) * 0.05
    centres = rng.normal(size=(4, 16)) * 5
    x = centres[np.arange(n) % 4] + rng.normal(size=(n, 16))  # four clusters, no two points near-duplicates
    batch = select_batch(x, _doubt(distances), 6, shortlist_factor=4, near_duplicate_cosine=0.99, axis_ids=AXES)
    assert sorted(batch.axis) == sorted(AXES * 2)  # two picks per axis, not six for the most doubted one
    assert len(set(batch.chosen)) == 6
    first_axis = [c for c, axis in zip(batch.chosen, batch.axis) if axis == AXES[0]]
    assert len({c % 4 for c in first_axis}) == 2  # k-center: the two intern/extern picks in different clusters
    only_uncertainty = select_batch(x, _doubt(distances), 6, shortlist_factor=1, near_duplicate_cosine=0.99,
                                    axis_ids=AXES)
    assert sorted(only_uncertainty.axis) == sorted(AXES * 2)


def test_no_near_duplicates_in_a_batch_or_of_coded_fragments() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 8))
    x[1] = x[0] * 1.001  # a near-duplicate of fragment 0
    x[3] = x[2]
    distances = np.full((40, 3), 0.3)
    distances[:4] = 0.0  # the duplicates are the most uncertain
    doubt = _doubt(distances)
    batch = select_batch(x, doubt, 5, coded=x[2:3] + 1e-4, shortlist_factor=4, near_duplicate_cosine=0.98,
                         axis_ids=AXES)
    chosen = set(batch.chosen)
    assert not {0, 1} <= chosen  # never both of a pair
    assert not chosen & {2, 3}  # never a duplicate of a coded fragment
    assert all(s >= 0.02 for s in batch.spread)
    # when nothing else is left, near-duplicates fill the batch rather than leaving it short
    assert len(select_batch(x[:4], _doubt(distances[:4]), 4, shortlist_factor=1, near_duplicate_cosine=0.98,
                            axis_ids=AXES).chosen) == 4


def test_interview_doubt_is_the_mean_over_its_fragments() -> None:
    distances = np.array([[0.0, 0.5, 0.25], [0.5, 0.5, 0.25], [0.1, 0.1, 0.1]])
    per = interview_doubt(_doubt(distances), ["a", "a", "b"])
    assert per.names == ["a", "b"]
    assert np.allclose(per.uncertainty()[0], [0.5, 0.0, 0.5]) and np.allclose(per.uncertainty()[1], [0.8] * 3)
    assert "1 of them within 0.10" in per.reason(0, 0)


# --------------------------------------------------------------------------- the command


def capcode(*args: str) -> subprocess.CompletedProcess:
    env = {"CAPCODE_PROGRESS": "0", "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def transcripts(tmp_path_factory) -> list[Path]:
    corpus = write_mini_corpus(tmp_path_factory.mktemp("next") / "corpus", n_documents=3, turns=8, seed=5)
    return sorted((corpus / "transcripts").glob("*.txt"))


def respondent_lines(text: str) -> list[tuple[int, int]]:
    """[start, end) of every line that opens with "R: " (the same line may occur twice)."""
    spans, start = [], 0
    for line in text.split("\n"):
        if line.startswith("R: "):
            spans.append((start, start + len(line)))
        start += len(line) + 1
    return spans


@pytest.fixture(scope="module")
def reviewed_project(transcripts, tmp_path_factory) -> Path:
    """A project in which a human user ('anna') coded every respondent turn of the first interview, and capcode's
    model user suggested codes in the second (suggestions are no human coding)."""
    documents = [read_document(p, document_id=p.stem) for p in transcripts]
    first, second = documents[0], documents[1]
    human = [Suggestion(first.id, start + 3, end, "intern", 1.0) for start, end in respondent_lines(first.text)]
    model = [Suggestion(second.id, start + 3, end, "beleid", 0.8) for start, end in respondent_lines(second.text)]
    path = tmp_path_factory.mktemp("project") / "anna.qdpx"
    write_qdpx(path, documents=documents, suggestions=human, codebook=CODEBOOK, model_user="anna")
    staged = path.with_name("reviewed.qdpx")
    from pipeline.qdpx.importer import read_project, read_qdpx_collection

    imported = {d.metadata.get("qdpx_name"): d for d in read_qdpx_collection(path, CODEBOOK).documents.values()}
    model = [Suggestion(imported[s.document].id, s.start, s.end, s.code, s.score) for s in model]
    write_qdpx(staged, documents=list(imported.values()), suggestions=model, codebook=CODEBOOK,
               model_user="capcode model tiny", base_project=read_project(path))
    return staged


def test_next_ranks_uncoded_fragments_in_every_format(tiny_trained, transcripts, tmp_path) -> None:
    out = tmp_path / "next.jsonl"
    result = capcode("next", *map(str, transcripts), "--model", str(tiny_trained.model_dir), "-n", "5", "-o", str(out),
                     "--params", str(tiny_trained.params))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5] and len({r["id"] for r in rows}) == 5
    for row in rows:
        assert set(row["axes"]) == set(AXES) and 0 <= row["score"] <= 1
        assert row["score"] == pytest.approx(max(a["uncertainty"] for a in row["axes"].values()))
        assert all("now:" in a["reason"] for a in row["axes"].values())
        assert row["text"] and row["document"] in {p.stem for p in transcripts}
    assert {r["chosen_for"] for r in rows} <= set(AXES)  # balance itself: test_batch_takes_turns_over_the_axes
    for suffix in (".csv", ".html"):  # in-process: the command line is covered above
        rank_next(inputs=transcripts, model_dir=tiny_trained.model_dir, k=5, output=tmp_path / f"next{suffix}",
                  params_path=tiny_trained.params)
    table = list(csv.DictReader((tmp_path / "next.csv").open(encoding="utf-8")))
    assert [r["id"] for r in table] == [r["id"] for r in rows]  # the same ranking, deterministic
    assert {f"reason_{a}" for a in AXES} <= set(table[0])
    page = (tmp_path / "next.html").read_text(encoding="utf-8")
    assert "What to code next" in page and "#5" in page and "<blockquote>" in page


def test_next_leaves_out_human_coding_and_writes_a_set_and_notes(tiny_trained, reviewed_project, tmp_path) -> None:
    out = tmp_path / "next.qdpx"
    rank_next(inputs=[reviewed_project], model_dir=tiny_trained.model_dir, k=3, output=out,
              params_path=tiny_trained.params)
    root = etree.fromstring(zipfile.ZipFile(out).read("project.qde"))
    if XSD.is_file():
        schema = etree.XMLSchema(etree.parse(str(XSD)))
        assert schema.validate(root), schema.error_log
    sources = {s.get("guid"): s.get("name") for s in root.iter(f"{NS}TextSource")}
    (next_set,) = [s for s in root.iter(f"{NS}Set") if s.get("name") == NEXT_SET_NAME]
    members = [sources[m.get("targetGUID")] for m in next_set.iter(f"{NS}MemberSource")]
    assert members and "d0" not in members  # anna coded d0: none of its fragments is proposed
    notes = {n.get("guid"): n for n in root.iter(f"{NS}Note")}
    refs = [r.get("targetGUID") for r in root.iter(f"{NS}NoteRef")]
    assert len(notes) == 3 and sorted(refs) == sorted(notes)
    assert all(n.findtext(f"{NS}PlainTextContent").startswith(f"{NEXT_SET_NAME} #") for n in notes.values())
    users = {u.get("name") for u in root.iter(f"{NS}User")}
    assert {"anna", "capcode model tiny"} <= users  # the project's coders and an earlier round's suggestions stay
    interviews = tmp_path / "interviews.jsonl"
    summary = rank_next(inputs=[reviewed_project], model_dir=tiny_trained.model_dir, k=5, output=interviews,
                        unit="interview", params_path=tiny_trained.params)
    assert summary["candidates"] == 2 and summary["chosen"] == 2
    rows = [json.loads(line) for line in interviews.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["id"] for r in rows) == ["d1", "d2"]  # the uncoded interviews only (d1: suggestions only)
    assert all(r["unit"] == "interview" and r["examples"] for r in rows)


@pytest.mark.parametrize("extra, message", [
    (["-n", "0"], "-n 0: expected at least 1"),
    (["-n", "2", "--unit", "case"], "--unit case: expected fragment or interview"),
    (["-n", "2", "-o", "out.txt"], "unsupported output type '.txt'"),
])
def test_next_bad_usage_is_one_line(tiny_trained, transcripts, tmp_path, extra, message) -> None:
    args = ["next", str(transcripts[0]), "--model", str(tiny_trained.model_dir), "--params", str(tiny_trained.params)]
    if "-o" not in extra:
        extra = [*extra, "-o", str(tmp_path / "out.jsonl")]
    result = capcode(*args, *[str(tmp_path / e) if e == "out.txt" else e for e in extra])
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_next_bad_input_writes_nothing(tiny_trained, tmp_path) -> None:
    coded = tmp_path / "coded.jsonl"
    coded.write_text(json.dumps({"id": "f1", "text": "Het budget is beperkt.", "document": "d",
                                 "labels": {"A": dict.fromkeys(CODES, 0)}}) + "\n", encoding="utf-8")
    out = tmp_path / "next.jsonl"
    result = capcode("next", str(coded), "--model", str(tiny_trained.model_dir), "-n", "2", "-o", str(out),
                     "--params", str(tiny_trained.params))
    assert result.returncode == 2 and "no uncoded respondent fragment to rank" in result.stderr
    assert "coders: A" in result.stderr and not out.exists()
    project = tmp_path / "next.qdpx"
    result = capcode("next", str(coded), "--model", str(tiny_trained.model_dir), "-n", "2", "-o", str(project),
                     "--params", str(tiny_trained.params))
    assert result.returncode == 2 and "needs the full transcripts" in result.stderr and not project.exists()
    broken = tmp_path / "broken.qdpx"
    broken.write_bytes(b"not a zip")
    result = capcode("next", str(broken), "--model", str(tiny_trained.model_dir), "-n", "2", "-o", str(out),
                     "--params", str(tiny_trained.params))
    assert result.returncode == 2 and str(broken) in result.stderr and not out.exists()
    assert len(result.stderr.strip().splitlines()) == 1

