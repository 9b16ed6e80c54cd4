"""Speaker turns, timestamps and roles in plain transcripts (README, "Transcripts"), with inline data."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.core.documents import INTERVIEWER, OTHER, RESPONDENT, Turn
from pipeline.core.errors import InputError
from pipeline.ingest.turns import assign_roles, find_turns, load_conventions


def spans(text: str, *, roles: bool = True, interviewers: list[str] | None = None) -> list[tuple]:
    turns = find_turns(text)
    if roles:
        assign_roles(turns, text, interviewers=interviewers)
    for turn in turns:
        assert 0 <= turn.start < turn.end <= len(text)
    return [(t.speaker, t.role, text[t.start : t.end]) for t in turns]


@pytest.mark.parametrize(
    ("interviewer", "respondent"),
    [
        ("I", "R"),
        ("I", "B"),
        ("I1", "R2"),
        ("Interviewer", "Respondent 3"),
        ("Interviewster", "Respondent"),
        ("Int.", "Resp."),
        ("Onderzoeker", "Geïnterviewde"),
    ],
)
def test_fixed_markers(interviewer: str, respondent: str) -> None:
    text = f"{interviewer}: Wie beslist over het budget?\n{respondent}: Het college, na advies van het MAT.\n"
    assert spans(text) == [
        (interviewer, INTERVIEWER, "Wie beslist over het budget?"),
        (respondent, RESPONDENT, "Het college, na advies van het MAT."),
    ]


def test_marker_with_space_before_colon_and_no_space_after() -> None:
    assert spans("I :Vraag?\nR:Antwoord.") == [("I", INTERVIEWER, "Vraag?"), ("R", RESPONDENT, "Antwoord.")]


def test_lines_without_marker_continue_the_turn_and_blank_lines_stay_inside() -> None:
    text = "I: Vraag?\nR: Eerste regel\ntweede regel\n\nnieuwe alinea\n\nI: Dank.\n"
    assert spans(text) == [
        ("I", INTERVIEWER, "Vraag?"),
        ("R", RESPONDENT, "Eerste regel\ntweede regel\n\nnieuwe alinea"),
        ("I", INTERVIEWER, "Dank."),
    ]


def test_full_names_need_two_turns() -> None:
    text = (
        "Jan Peeters: Hoe ziet u de rol van de gemeente?\n"
        "Marie van der Berghe: Als regisseur.\n"
        "Jan Peeters: En de partners?\n"
        "Marie van der Berghe: Die doen mee.\n"
        "Opmerking: dit is geen spreker.\n"
    )
    assert spans(text) == [
        ("Jan Peeters", INTERVIEWER, "Hoe ziet u de rol van de gemeente?"),
        ("Marie van der Berghe", RESPONDENT, "Als regisseur."),
        ("Jan Peeters", INTERVIEWER, "En de partners?"),
        ("Marie van der Berghe", RESPONDENT, "Die doen mee.\nOpmerking: dit is geen spreker."),
    ]


def test_a_name_said_once_is_running_text() -> None:
    text = "Jan Peeters: Hallo\nen toen zei hij iets\n"
    assert spans(text) == [(None, RESPONDENT, "Jan Peeters: Hallo\nen toen zei hij iets")]


def test_names_up_to_63_characters() -> None:
    long = "Annemarie-Josephine Vandenbroucke-Dewulf van der Bossche-Claes"  # 62
    longest = long + "n"  # 63
    too_long = longest + "s"  # 64
    for name in (long, longest):
        text = f"{name}: Ja.\nInterviewer: Goed?\n{name}: Zeker.\n"
        assert [s for s, *_ in spans(text)] == [name, "Interviewer", name]
    text = f"{too_long}: Ja.\nInterviewer: Goed?\n{too_long}: Zeker.\n"
    assert spans(text) == [(None, OTHER, f"{too_long}: Ja."), ("Interviewer", INTERVIEWER, f"Goed?\n{too_long}: Zeker.")]


def test_bracketed_names() -> None:
    text = "[Interviewer] Hoe gaat het?\n[Naam]: Goed.\n[Interviewer] En verder?\n[Naam]: Ook goed.\n"
    assert spans(text) == [
        ("Interviewer", INTERVIEWER, "Hoe gaat het?"),
        ("Naam", RESPONDENT, "Goed."),
        ("Interviewer", INTERVIEWER, "En verder?"),
        ("Naam", RESPONDENT, "Ook goed."),
    ]


def test_anonymisation_brackets_and_omissions_are_text() -> None:
    text = "I: Waar werkt u?\nR: Bij [gemeente], samen met [naam] (...) en de school.\n"
    assert spans(text)[1] == ("R", RESPONDENT, "Bij [gemeente], samen met [naam] (...) en de school.")


@pytest.mark.parametrize("stamp", ["#00:01:23-4#", "#01:02:03.45#", "[00:12:34]", "[12:34]", "(00:12)", "(01:00:12)"])
def test_timestamps_are_metadata_not_text(stamp: str) -> None:
    trailing = f"I: Vraag? {stamp}\nR: Antwoord. {stamp}\n"
    leading = f"I: {stamp} Vraag?\nR: {stamp} Antwoord.\n"
    before_marker = f"{stamp} I: Vraag?\n{stamp} R: Antwoord.\n"
    for text in (trailing, leading, before_marker):
        turns = find_turns(text)
        assert [text[t.start : t.end] for t in turns] == ["Vraag?", "Antwoord."], text
        assert [t.timestamp for t in turns] == [stamp, stamp]


def test_f4_timestamp_on_its_own_paragraph_end() -> None:
    text = "I: Vraag?\nR: Eerste deel\nlaatste zin. #00:03:10-2#\nI: Volgende? #00:03:15-0#\n"
    turns = find_turns(text)
    assert [text[t.start : t.end] for t in turns] == ["Vraag?", "Eerste deel\nlaatste zin.", "Volgende?"]
    assert [t.timestamp for t in turns] == [None, "#00:03:10-2#", "#00:03:15-0#"]


def test_timestamp_inside_speech_stays() -> None:
    text = "R: Om [00:12] begon het. Dan (00:13) stopte het.\n"
    assert spans(text, roles=False)[0][2] == "Om [00:12] begon het. Dan (00:13) stopte het."


def test_no_markers_is_one_speaker_split_at_blank_lines() -> None:
    text = "\n\nEerste alinea,\nnog een regel.\n\n\n  Tweede alinea. #00:00:09-1#\n \nDerde.\n"
    turns = find_turns(text)
    assign_roles(turns, text)
    assert [(t.speaker, t.role, text[t.start : t.end]) for t in turns] == [
        (None, RESPONDENT, "Eerste alinea,\nnog een regel."),
        (None, RESPONDENT, "Tweede alinea."),
        (None, RESPONDENT, "Derde."),
    ]
    assert turns[1].timestamp == "#00:00:09-1#"


def test_header_before_first_marker_is_other_and_keeps_role() -> None:
    text = "Transcript gemeente Lier (...)\nDuur: 54 min\n\nI: Vraag?\nR: Antwoord.\n"
    result = spans(text)
    assert result[0] == (None, OTHER, "Transcript gemeente Lier (...)\nDuur: 54 min")
    assert [r for _, r, _ in result[1:]] == [INTERVIEWER, RESPONDENT]


def test_marker_without_text_is_dropped() -> None:
    assert spans("I:\nR: Antwoord.\nI: #00:00:05-0#\n") == [("R", RESPONDENT, "Antwoord.")]


def test_question_heuristic_finds_the_interviewer() -> None:
    text = "Pieter: Wat doet u?\nSofie: Ik coördineer.\nPieter: Met wie?\nSofie: Met scholen.\n"
    turns = find_turns(text)
    assert assign_roles(turns, text) == "question-heuristic"
    assert {t.speaker: t.role for t in turns} == {"Pieter": INTERVIEWER, "Sofie": RESPONDENT}


def test_question_heuristic_refuses_a_tie() -> None:
    text = "Pieter: Wat?\nSofie: Hoe?\nPieter: Ja.\nSofie: Nee.\n"
    turns = find_turns(text)
    assert assign_roles(turns, text) == "none"
    assert {t.role for t in turns} == {RESPONDENT}


def test_metadata_interviewers_win_over_patterns() -> None:
    text = "I: Ik vertel iets.\nR: Wat bedoelt u?\n"
    assert spans(text, interviewers=["R"]) == [("I", RESPONDENT, "Ik vertel iets."), ("R", INTERVIEWER, "Wat bedoelt u?")]


def test_metadata_naming_no_speaker_falls_back_to_patterns() -> None:
    turns = [Turn("I", RESPONDENT, 0, 1), Turn("R", RESPONDENT, 2, 3), Turn(None, OTHER, 4, 5)]
    assert assign_roles(turns, "a b c", interviewers=["Els"]) == "pattern"
    assert [t.role for t in turns] == [INTERVIEWER, RESPONDENT, OTHER]


def test_offsets_refer_to_the_given_text_with_unicode() -> None:
    text = "I: 👍 Hoe gaat het met de coördinatie?\nR: Prima 😀, één overleg. #00:00:01-0#\n"
    turns = find_turns(text)
    assert [text[t.start : t.end] for t in turns] == ["👍 Hoe gaat het met de coördinatie?", "Prima 😀, één overleg."]


# --- conventions as data ----------------------------------------------------------------------------------------

BASE_CONVENTIONS = """
speaker_markers: ['(?P<speaker>[IR]):']
name_markers: ['(?P<speaker>\\p{Lu}\\w*):']
name_marker_max_length: 63
name_marker_min_turns: 2
timestamps: ['\\[\\d\\d:\\d\\d\\]']
interviewer_speakers: ['I']
interviewer_question_share: 0.4
"""


def test_shipped_conventions_load() -> None:
    conventions = load_conventions()
    assert conventions.name_marker_max_length == 63
    assert conventions.speaker_markers


def test_custom_conventions(tmp_path: Path) -> None:
    path = tmp_path / "conv.yaml"
    path.write_text(BASE_CONVENTIONS, encoding="utf-8")
    conventions = load_conventions(path)
    text = "I: Vraag? [00:01]\nR: Antwoord. #00:00:01-0#\n"
    turns = find_turns(text, conventions)
    assert [(t.speaker, text[t.start : t.end], t.timestamp) for t in turns] == [
        ("I", "Vraag?", "[00:01]"),
        ("R", "Antwoord. #00:00:01-0#", None),
    ]


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        (("'(?P<speaker>[IR]):'", "'(?P<speaker>[IR):'"), "invalid pattern"),
        (("'(?P<speaker>[IR]):'", "'([IR]):'"), "named group 'speaker'"),
        (("interviewer_question_share: 0.4", ""), "missing key 'interviewer_question_share'"),
        (("speaker_markers:", "speaker_markers: ["), "not valid YAML"),
    ],
)
def test_broken_conventions(tmp_path: Path, replace: tuple[str, str], message: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BASE_CONVENTIONS.replace(*replace), encoding="utf-8")
    with pytest.raises(InputError, match=message) as info:
        load_conventions(path)
    assert info.value.path == str(path)
