"""capcode warns when a document is not Dutch (issue 14, item 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.corpus.inputs import read_inputs
from pipeline.ingest.language import guess_language, not_dutch_warning

SAMPLES = Path("/work/shared/refi-qda/samples")
if not SAMPLES.is_dir():
    SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "refi-qda" / "samples"
DUTCH = ("I: Hoe is de samenwerking met de scholen en de vrijwilligers gegroeid?\n"
         "R: Dat is eigenlijk heel geleidelijk gegaan. In het begin hadden we geen structuur, en toen hebben we "
         "met het college beslist om een integratiedienst op te richten. Die dienst overlegt nu elke maand met de "
         "scholen, en ook met het OCMW, want anders weet je niet wat er leeft bij de mensen.\n")
TEXTS = {
    "en": "I: How did the cooperation with the schools grow? R: It was really a gradual thing. At the start we had "
          "no structure at all, and then the council decided that we should set up an integration service. That "
          "service now meets the schools every month, because otherwise you do not know what people need.",
    "de": "I: Wie ist die Zusammenarbeit mit den Schulen gewachsen? R: Das ist eigentlich ganz allmählich gegangen. "
          "Am Anfang hatten wir keine Struktur, und dann hat der Rat beschlossen, einen Integrationsdienst "
          "einzurichten. Der Dienst trifft sich jetzt jeden Monat mit den Schulen, weil man sonst nicht weiß, was "
          "die Leute brauchen, und das ist auch für uns sehr wichtig.",
    "hu": "Na mi van? Nem mertétek kötelezővé tenni? Adtam volna a harminc centis pengével egyből két oltást is. "
          "Egyet szívre, egyet meg nyakon. Akkor biztos, hogy nem haltok meg, de ez csak egy vélemény, és már "
          "mindenki tudja, hogy a kormány nem fog semmit tenni, mert nincs rá szükség, és most itt van ez is.",
}


def test_dutch_interview_is_dutch():
    assert guess_language(DUTCH).language == "nl"
    assert not_dutch_warning(DUTCH) is None


@pytest.mark.parametrize("language", sorted(TEXTS))
def test_other_languages_are_named(language):
    assert guess_language(TEXTS[language]).language == language
    assert "does not look Dutch" in not_dutch_warning(TEXTS[language])


def test_short_text_gets_no_verdict():
    assert guess_language("R: Ja, dat klopt.").language is None
    assert not_dutch_warning("R: Yes, that is right.") is None


def test_hungarian_nvivo_sample_is_warned_about(capsys):
    documents = read_inputs([SAMPLES / "nvivo-mac-12.7.qdpx"])
    err = capsys.readouterr().err
    assert len(documents) == 2
    assert err.count("does not look Dutch but Hungarian") == 2 and "videos_selection" in err


def test_dutch_transcript_reads_without_warning(tmp_path, capsys):
    path = tmp_path / "interview.txt"
    path.write_text(DUTCH, encoding="utf-8")
    read_inputs([path])
    assert "Dutch" not in capsys.readouterr().err
