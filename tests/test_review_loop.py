"""The review loop on a real NVivo project: predict into it, review (simulated), adapt on the reviewed project.

The round runs on `nvivo-mac-12.7.qdpx` from shared/refi-qda/samples (two text sources, UTF-16 positions):
the tiny test model pre-codes it, `tests.qdpx_review.simulate_review` plays the reviewer (accepts some
suggestions, rejects others, adds a code, puts the first source into the Set `capcode: reviewed`, and codes
one fragment of the second source without marking it reviewed), and `capcode adapt` learns from it.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pipeline.agreement import agreement
from pipeline.core.codebook import load_codebook
from pipeline.core.errors import InputError
from pipeline.core.params import load_params
from pipeline.corpus.review import read_reviewed
from pipeline.model.adaptation import team_fragments
from pipeline.qdpx.importer import read_project
from tests.qdpx_review import SimulatedReview, rewrite_project_xml, simulate_review
from tests.test_adapt import capcode, fast_params
from tests.test_agreement_own_codes import SAMPLES, needs_samples

CODEBOOK = load_codebook()
SAMPLE = SAMPLES / "nvivo-mac-12.7.qdpx"
pytestmark = needs_samples


@pytest.fixture(scope="module")
def round_one(tiny_trained, tmp_path_factory) -> tuple[Path, Path, SimulatedReview]:
    """(pre-coded project, reviewed project, what the review did).

    The tiny model's scores on the sample's English text hover around its thresholds, so which codes it
    suggests is an accident of its random weights (it once suggested every code on every fragment, leaving the
    reviewer nothing to add). The round's model is the tiny one with two thresholds pinned instead: Extern on
    every fragment (every fragment gets a suggestion to accept or reject), Intern on none (the reviewer's
    added code). The other four codes stay the model's own decision.
    """
    from pipeline.predict import predict

    def pin_intern_and_extern(meta: dict) -> None:
        assert meta["decision"] is None  # the thresholds are the whole rule
        meta["thresholds"].update(intern=1.0, extern=0.0)

    folder = tmp_path_factory.mktemp("review")
    model = _model_copy(tiny_trained.model_dir, folder / "round-one-model", pin_intern_and_extern)
    predicted = folder / "precoded.qdpx"
    predict(inputs=[SAMPLE], model_dir=model, output=predicted, params_path=tiny_trained.params)
    reviewed = folder / "reviewed.qdpx"
    return predicted, reviewed, simulate_review(predicted, reviewed)


def _model_copy(model_dir: Path, target: Path, edit: Callable[[dict], None]) -> Path:
    """A copy of `model_dir` at `target` whose capcode_model.json `edit` changed in place."""
    shutil.copytree(model_dir, target)
    metadata = target / "capcode_model.json"
    meta = json.loads(metadata.read_text())
    edit(meta)
    metadata.write_text(json.dumps(meta))
    return target


def _outcomes(expected: dict[str, Counter]) -> dict[str, dict[str, int]]:
    by_id = {CODEBOOK.resolve(name): counts for name, counts in expected.items()}
    return {code: {k: by_id.get(code, Counter())[k] for k in ("accepted", "rejected", "added")}
            for code in CODEBOOK.code_ids}


def test_the_suggestions_user_records_the_model_and_its_codebook(round_one) -> None:
    predicted, _, review = round_one
    assert review.suggester.startswith("capcode model ")
    assert review.suggester.endswith(f" codebook {CODEBOOK.fingerprint()[:8]}")
    assert read_project(predicted).dialect == read_project(SAMPLE).dialect == "utf16"


def test_adapt_learns_from_the_reviewed_interview_only(tiny_trained, round_one, tmp_path) -> None:
    _, reviewed, review = round_one
    out = tmp_path / "adapted"
    params = fast_params(tmp_path / "params.yaml")
    result = capcode("adapt", str(reviewed), "--coder", "Reviewer", "--model", str(tiny_trained.model_dir),
                     "-o", str(out), "--params", str(params))
    assert result.returncode == 0, result.stderr
    adapted = json.loads((out / "capcode_model.json").read_text())["adapted"]
    [summary] = adapted["review"].values()
    assert summary["documents"] == ["videos-selection"] and summary["n_interviews_in_project"] == 2
    assert summary["marked_by"] == "set" and summary["suggesters"] == [review.suggester]
    assert adapted["documents"] == ["videos-selection"]  # not the second source, where the reviewer also coded
    outcomes = summary["outcomes"][review.suggester]
    assert outcomes == _outcomes(review.expected)
    assert sum(n["accepted"] for n in outcomes.values()) > 0 and sum(n["rejected"] for n in outcomes.values()) > 0
    assert review.added_span[2] == "Intern"  # the round's model never suggests Intern (`round_one`)
    assert outcomes["intern"] == {"accepted": 0, "rejected": 0, "added": 1}
    assert sum(n["added"] for n in outcomes.values()) == 1
    assert outcomes["extern"]["accepted"] > 0 and outcomes["extern"]["rejected"] > 0  # on every fragment
    assert "intern accepted" in result.stderr and "1 of 2 interviews reviewed by 'Reviewer'" in result.stderr


def test_the_reviewer_is_the_truth_and_the_suggestions_never_are(tiny_trained, round_one) -> None:
    from pipeline.corpus.team import team_records

    _, reviewed, review = round_one
    params = load_params(tiny_trained.params)
    records, _ = team_records([reviewed], CODEBOOK, coders=["Reviewer"],
                              max_fragment_tokens=params.segment.max_fragment_tokens,
                              min_fragment_share=params.prepare.min_fragment_share,
                              min_span_share=params.prepare.min_span_share, group_by="case")
    team = team_fragments(records, coders=["Reviewer"], codebook=CODEBOOK, group_by="group")
    codable = [r for r in records if r["codable"]]
    assert set(team.documents) == {"videos-selection"} and len(team) == len(codable)
    assert not np.isnan(team.labels).any()  # the reviewer reviewed every axis of the interview
    project = read_project(reviewed)
    source = next(s for s in project.sources.values() if s.name == review.reviewed_source)
    by_raw = {(s.raw_start, s.raw_end): (s.start, s.end) for s in project.selections if s.source == source.guid}
    row_of = {(r["start"], r["end"]): k for k, r in enumerate(codable)}
    for raw_start, raw_end, name in review.rejected_spans[:50]:
        row = row_of[by_raw[(raw_start, raw_end)]]
        assert team.labels[row, CODEBOOK.code_ids.index(CODEBOOK.resolve(name))] == 0  # rejected: truth 0
    suggested = sum(n for c in review.expected.values() for k, n in c.items() if k != "added")
    assert team.labels.sum() < suggested  # not the suggestions' labels


def test_without_the_set_every_interview_the_reviewer_coded_counts(round_one, tmp_path) -> None:
    predicted, _, _ = round_one
    no_set = tmp_path / "no-set.qdpx"
    simulate_review(predicted, no_set, set_name=None)
    reviewed = read_reviewed(read_project(no_set), CODEBOOK, reviewer="Reviewer")
    assert reviewed.marked_by == "coding" and sorted(reviewed.collection.documents) == ["videos-10-selected",
                                                                                        "videos-selection"]
    assert {c.coder for c in reviewed.collection.codings} == {"Reviewer", reviewed.suggesters[0]}


def test_agreement_compares_the_suggestions_with_the_reviewer(round_one, tmp_path) -> None:
    _, reviewed, review = round_one
    report = agreement(inputs=[reviewed], output=tmp_path / "agreement.html", reviewer="Reviewer", n_boot=0)
    assert report["coders"] == sorted(["Reviewer", review.suggester])
    assert report["data"]["n_documents"] == 1
    assert report["review"]["outcomes"][review.suggester] == _outcomes(review.expected)
    html = (tmp_path / "agreement.html").read_text()
    assert "Reviewed suggestions" in html and "Share accepted" in html


def test_the_next_round_keeps_the_set_and_adds_a_second_suggestions_user(tiny_trained, round_one, tmp_path) -> None:
    from pipeline.predict import predict

    _, reviewed, review = round_one
    def another_identity(meta: dict) -> None:  # the model of the next round
        meta["training_data_sha256"] = "f" * 64

    model = _model_copy(tiny_trained.model_dir, tmp_path / "other-model", another_identity)
    again = tmp_path / "round-two.qdpx"
    predict(inputs=[reviewed], model_dir=model, output=again, params_path=tiny_trained.params)
    project = read_project(again)
    assert [(s.name, [project.sources[g].name for g in s.sources]) for s in project.sets] == [
        ("capcode: reviewed", [review.reviewed_source])]
    second = read_reviewed(project, CODEBOOK, reviewer="Reviewer")
    assert len(second.suggesters) == 2 and review.suggester in second.suggesters
    assert sorted(second.collection.documents) == ["videos-selection"]


@pytest.mark.parametrize("case, message", [
    ("nobody", "no user 'nobody' in the project"),
    ("no review", "no reviewed interview"),
    ("suggestions user", "is capcode's own suggestions user"),
    ("other codebook", "came from a model with another codebook"),
    ("unknown code", "which is not in the codebook"),
])
def test_bad_reviewed_projects_are_one_line_and_write_nothing(tiny_trained, round_one, tmp_path, case,
                                                              message) -> None:
    predicted, reviewed, review = round_one
    coder, project = "Reviewer", reviewed
    if case == "nobody":
        coder = "nobody"
    elif case == "no review":
        coder, project = "Gergo", predicted  # a user of the sample who coded nothing, and no Set
    elif case == "suggestions user":
        coder = review.suggester
    elif case == "other codebook":
        project = rewrite_project_xml(reviewed, tmp_path / "other.qdpx", f"codebook {CODEBOOK.fingerprint()[:8]}\"",
                                      "codebook 0badc0de\"")
    else:
        project = rewrite_project_xml(reviewed, tmp_path / "unknown.qdpx", 'name="Beheer"', 'name="Innovatie"')
    out = tmp_path / "adapted"
    result = capcode("adapt", str(project), "--coder", coder, "--model", str(tiny_trained.model_dir), "-o", str(out))
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not out.exists()
    with pytest.raises(InputError, match=message.split("'")[0]):
        read_reviewed(read_project(project), CODEBOOK, reviewer=coder)


def test_the_review_simulator_adds_another_code_when_the_model_suggested_intern_everywhere() -> None:
    from tests.qdpx_review import _code_to_add

    guid_of = {"Intern": "i", "Extern": "e", "Beleid": "b", "Own code of the project": "o"}
    assert _code_to_add("Intern", [["i"], ["i", "e"]], guid_of) == "Extern"
    assert _code_to_add("Intern", [["i"], ["e"]], guid_of) == "Intern"
    with pytest.raises(AssertionError):  # the project's own code is no candidate
        _code_to_add("Intern", [["i", "e", "b"]], guid_of)
