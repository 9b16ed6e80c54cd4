"""Recurring themes of a cell: key terms by class-based TF-IDF (c-TF-IDF).

The method is BERTopic's c-TF-IDF (Grootendorst 2022, "BERTopic: neural topic modeling with a class-based
TF-IDF procedure"), without the embeddings and clustering: each *class* (here: one coder's one cell of one
case) is the concatenation of its fragments, and a term scores

    tf(t, class) * log(1 + A / f(t))

with tf the term's frequency in the class over the class's total term count, A the average number of terms
per class and f(t) the term's frequency over all classes. Terms that are frequent in one cell and rare
elsewhere score high; words that every cell uses score low. Terms are words of three or more letters and
their bigrams after removing Dutch function words and interview fillers; a term must occur in at least
``min_fragments`` fragments of the class to count as recurring (one long fragment cannot make a theme).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

K = TypeVar("K", bound=Hashable)

METHOD = ("c-TF-IDF (class-based TF-IDF, Grootendorst 2022): one class per coder x case x cell; terms are words of 3+ "
          "letters and bigrams of adjacent words within a clause, Dutch function words and fillers removed; a theme "
          "must recur in at least "
          "{min_fragments} fragments of the cell")

# Dutch function words, pronouns, auxiliaries and spoken-language fillers: they carry no theme.
DUTCH_STOP_WORDS = frozenset("""
aan al alle alles allez als alsof altijd ander andere anders bij binnen daar daarin daarmee daarna daarom daarvan
dan dat de den der des deze die dit doch doen door dus echt een eens eigenlijk en enfin er ergens euh ge geen
geweest gij goed graag haar had heb hebben hebt heeft hem hen het hier hij hoe hun iemand iets ik in is ja
jaja je jij juist kan kon kunnen kunt maar me meer men met mij mijn misschien moet moeten mogen na naar natuurlijk
nee neen niet niets nog nu of om omdat ons onze ook op over pas precies reeds sommige soms toch toen tot tussen
twee uit uw van veel vele voor vooral waar waarom wanneer want was waren wat we weer wel welke werd werden
weten wie wij wil willen worden wordt zal ze zei zeker zelf zich zij zijn zo zoals zou zouden zullen hé hè
awel bon amai oké okay dus mm mmm hm hmm ah oh ehm uhm zeg zegt zeggen gezegd dinges zowat beetje heel erg
gewoon ding dingen keer soort iets wat vind vinden denk denken weet eens alleen ten ter hun hen dien dees
ie da ge gij wa nen ne ee zoiets zowel waarbij waardoor wanneer terwijl zodat
ben bent zit zitten zitte staat staan gaat gaan ga komt komen kom krijgen krijgt kregen laten laat maken maakt
gemaakt gebeurt gebeuren doet deed gedaan moest moesten konden bijvoorbeeld daarnaast via per mee
eigen zoveel zulke elk elke iedereen niks nooit één drie vier vijf zes half paar eerst eerste nou
""".split())


_CLAUSE = re.compile(r"[.!?;:,()\[\]\"“”‘’\n]+|\s[-–]\s")
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


def terms_of(text: str, ngram_range: Sequence[int] = (1, 2)) -> list[str]:
    """The terms of a text: words of 3+ letters that are not function words, and n-grams of such words that
    stand next to each other within one clause (no n-gram across punctuation or a dropped function word)."""
    low, high = ngram_range[0], ngram_range[1]
    terms: list[str] = []
    for clause in _CLAUSE.split(text.lower()):
        run: list[str] = []
        for word in [*_WORD.findall(clause), ""]:
            if len(word) >= 3 and word not in DUTCH_STOP_WORDS:
                run.append(word)
                continue
            for n in range(low, high + 1):
                terms.extend(" ".join(run[i:i + n]) for i in range(len(run) - n + 1))
            run = []
    return terms


def cell_themes(
    fragments: Sequence[str],
    classes: Mapping[K, Sequence[int]],
    *,
    top_n: int,
    ngram_range: Sequence[int] = (1, 2),
    min_fragments: int = 2,
) -> dict[K, list[dict[str, Any]]]:
    """The `top_n` c-TF-IDF terms of every class.

    fragments: the texts; classes: {class key: indices into `fragments`} (a fragment may be in several
    classes). Returns {class key: [{"term", "score", "fragments"}]}, best first; empty lists where a class
    has no recurring term (or `top_n` is 0).
    """
    from sklearn.feature_extraction.text import CountVectorizer

    keys = list(classes)
    result: dict[K, list[dict[str, Any]]] = {key: [] for key in keys}
    used = sorted({i for key in keys for i in classes[key]})
    if top_n <= 0 or not used:
        return result
    vectorizer = CountVectorizer(analyzer=lambda text: terms_of(text, ngram_range))
    try:
        counts = vectorizer.fit_transform([fragments[i] for i in used]).tocsr()
    except ValueError:  # no term at all (only stop words)
        return result
    position = {index: row for row, index in enumerate(used)}
    terms = vectorizer.get_feature_names_out()
    class_counts = np.vstack([np.asarray(counts[[position[i] for i in classes[key]]].sum(axis=0)).ravel()
                              if classes[key] else np.zeros(len(terms)) for key in keys])
    presence = counts.copy()
    presence.data = np.ones_like(presence.data)
    totals = class_counts.sum(axis=1, keepdims=True)
    average = float(totals[totals > 0].mean()) if np.any(totals > 0) else 0.0
    frequency = class_counts.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        tf = np.where(totals > 0, class_counts / np.where(totals > 0, totals, 1), 0.0)
        idf = np.log(1.0 + average / np.where(frequency > 0, frequency, 1))
    scores = tf * idf
    for k, key in enumerate(keys):
        if not classes[key]:
            continue
        in_fragments = np.asarray(presence[[position[i] for i in classes[key]]].sum(axis=0)).ravel()
        eligible = np.where(in_fragments >= min_fragments, scores[k], 0.0)
        chosen: list[dict[str, Any]] = []
        for j in np.argsort(-eligible, kind="mergesort"):
            if eligible[j] <= 0 or len(chosen) >= top_n:
                break
            term = str(terms[j])
            if any(term in c["term"].split() or c["term"] in term.split() for c in chosen):
                continue  # "integratiedienst" and "kleine integratiedienst" say one thing
            chosen.append({"term": term, "score": round(float(eligible[j]), 4), "fragments": int(in_fragments[j])})
        result[key] = chosen
    return result
