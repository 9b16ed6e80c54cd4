"""Benchmark of `capcode segment`: ingest + segment of one long interview, end to end from a file.

A typical transcript of the study is an hour of talk, about 15,000 words. The benchmark writes a realistic
one (I:/R: turns, short questions, answers of very different length, a few long monologues that exceed the
token budget and must be cut at sentence boundaries) to a temporary directory and times `segment_files`,
the library function behind `capcode segment`: read, decode, normalise, find turns, segment, write JSONL.
Target: under 2 s on a 2-core machine.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_SECONDS = 2.0

_WORDS = (
    "de het een en van in op met voor dat is niet we ze er ook wel maar als dan nog bij om naar door over "
    "gemeente dienst diensten schepen schepenen burgemeester college gemeenteraad directeur algemeen MAT "
    "OCMW personeel budget meerjarenplan beleid beheer visie strategie prioriteiten doelstellingen overleg "
    "samenwerking partners verenigingen scholen vrijwilligers doelgroep nieuwkomers integratie inburgering "
    "coördinatie regie afstemming opvolging evaluatie projecten acties middelen capaciteit organisatie "
    "structuur cultuur financiële één café beleidsplan omgevingsanalyse zelforganisaties Vlaanderen "
    "provincie welzijn onderwijs jeugd sport cultuurdienst armoede huisvesting taal Nederlands belangrijk "
    "moeilijk eigenlijk natuurlijk misschien echt vooral soms altijd vaak nu toen later vroeger samen"
).split()
_FILLERS = ("euh", "ja", "zeg maar", "hè", "weet je", "enfin")
_ABBREVIATIONS = ("o.a.", "bv.", "e.d.", "m.a.w.", "t.o.v.")
_QUESTIONS = (
    "Hoe verloopt de samenwerking met {}?",
    "Wie neemt daar het initiatief in de {}?",
    "Kunt u een voorbeeld geven van {}?",
    "Wat is de rol van het MAT bij {}?",
    "En hoe zit het met de {}?",
)


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(4, 24))]
    if rng.random() < 0.25:
        words.insert(rng.randrange(len(words)), rng.choice(_ABBREVIATIONS))
    if rng.random() < 0.2:
        words.insert(rng.randrange(len(words)), rng.choice(_FILLERS) + ",")
    words[0] = words[0][:1].upper() + words[0][1:]
    return " ".join(words) + rng.choice(".......?!…")


def _answer(rng: random.Random, n_words: int) -> str:
    sentences: list[str] = []
    count = 0
    while count < n_words:
        sentence = _sentence(rng)
        sentences.append(sentence)
        count += len(sentence.split())
        if rng.random() < 0.05:
            sentences.append("\n")  # a new paragraph inside a long answer
    return " ".join(sentences).replace(" \n ", "\n")


def build_transcript(n_words: int = 15_000, seed: int = 7) -> tuple[str, int]:
    """A realistic interview of about `n_words` words; return the text and its exact word count."""
    rng = random.Random(seed)
    lines = ["Interview gemeente Lindemeer, 14 maart", "Duur: 62 minuten", ""]
    words = 0
    minute = 0
    while words < n_words:
        question = rng.choice(_QUESTIONS).format(rng.choice(_WORDS))
        minute += rng.randint(1, 3)
        lines.append(f"I: {question}")
        # mostly short to medium answers, now and then a monologue far over the token budget
        length = rng.choice([15, 40, 80, 120, 200]) if rng.random() > 0.1 else rng.randint(500, 900)
        answer = _answer(rng, length)
        stamp = f" #{minute // 60:02d}:{minute % 60:02d}:{rng.randint(0, 59):02d}-{rng.randint(0, 9)}#"
        lines.append(f"R: {answer}{stamp if rng.random() < 0.5 else ''}")
        lines.append("")
        words += len(question.split()) + len(answer.split())
    text = "\n".join(lines) + "\n"
    return text, words


def bench_segment(n_words: int = 15_000, repeats: int = 7) -> dict[str, Any]:
    """Time ingest + segment of a `n_words` transcript read from a file; figures in seconds.

    The first run (which builds the spaCy pipeline) is reported apart as `cold_s`; `median_s` and `min_s`
    are over `repeats` further runs.
    """
    from pipeline.segment import segment_files

    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    text, words = build_transcript(n_words)
    with tempfile.TemporaryDirectory(prefix="capcode-bench-") as tmp:
        source = Path(tmp) / "interview.txt"
        source.write_text(text, encoding="utf-8")
        output = Path(tmp) / "fragments.jsonl"

        def run() -> tuple[float, int]:
            started = time.perf_counter()
            _, n_fragments = segment_files(inputs=[source], output=output)
            return time.perf_counter() - started, n_fragments

        cold, n_fragments = run()
        times = [run()[0] for _ in range(repeats)]
    median = statistics.median(times)
    return {
        "n_words": words,
        "n_chars": len(text),
        "n_fragments": n_fragments,
        "repeats": repeats,
        "cold_s": round(cold, 4),
        "median_s": round(median, 4),
        "min_s": round(min(times), 4),
        "words_per_s": round(words / median),
        "target_s": TARGET_SECONDS,
        "within_target": median < TARGET_SECONDS,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(bench_segment(), indent=2))
