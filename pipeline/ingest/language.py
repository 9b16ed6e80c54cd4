"""Is this transcript Dutch? A stop-word test per document, so capcode can warn before coding other languages.

capcode's model and coding scheme are for Dutch (and Flemish) interviews; text in another language still
gets scores, which mean little. Function words are the most frequent words of a language and differ between
languages, so the share of a text's words found in each language's short list of them tells the language
of any text of a few dozen words, without a model or a new dependency. Too little text (or text of no
listed language) gives no verdict rather than a false alarm.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

# Function words per language (lowercase). Words shared between languages count for each; the decision
# compares whole lists, so a shared "de" or "in" does not decide anything on its own.
STOP_WORDS: dict[str, frozenset[str]] = {
    "nl": frozenset("""de het een en van ik je jij u dat die in is op te zijn niet met voor er maar om ook als dan
        bij of uit nog wat naar wel ze we wij hij zij wordt worden heeft hebben hadden was waren kan kunnen zou
        moet moeten door over tot deze dit geen al meer hoe waar zo ja nee euh allez hé ons onze jullie mijn hun
        hem haar omdat want dus toch eigenlijk heel veel gewoon gaan gaat doen echt daar hier nu even iets
        niets wie waarom welke zich zelf alles elke ook nog wordt werd ben bent heb hebt""".split()),
    "en": frozenset("""the and of to a in is that it for you was with on as have be at this are not but they from
        or by we an there what so if about which would their has do can all he she his her will my were been one
        our your them who when how because just like very really think know""".split()),
    "de": frozenset("""der die und das ist nicht ich sie es mit den zu auf ein eine sich auch dem des von wir wie
        aber noch nur oder wenn schon mehr doch kann sind war hat haben werden wird bei nach um aus man also
        dass ja nein sehr""".split()),
    "fr": frozenset("""le la les et est des un une que qui dans pour pas ne sur ce il elle nous vous avec au du
        plus mais ou sont été cette je son sa ses leur y en on tout très bien aussi comme""".split()),
    "hu": frozenset("""a az és hogy nem is egy meg van ez de csak már mint még vagy mert volt ami aki el ha kell
        lesz nincs azt ezt én te mi ők sem nagyon itt ott most akkor minden majd lehet vannak volna""".split()),
    "es": frozenset("""el la los las y es en que de un una por con para no se lo su más pero como muy ya este
        esta son está al del""".split()),
    "it": frozenset("""il la di che e è un una per non con sono della del le gli ma anche questo come più ci si
        nel alla dei""".split()),
}
NAMES = {"nl": "Dutch", "en": "English", "de": "German", "fr": "French", "hu": "Hungarian", "es": "Spanish",
         "it": "Italian"}
_WORD = regex.compile(r"\p{L}+(?:['’]\p{L}+)?")
MIN_WORDS = 30  # fewer words than this: no verdict
MIN_SHARE = 0.08  # the best language's function words must make up at least this share of the words
SAMPLE_CHARS = 200_000  # enough for a verdict; a long transcript is sampled at its start, middle and end


@dataclass(frozen=True)
class LanguageGuess:
    language: str | None  # ISO 639-1 code of the best-matching listed language; None: no verdict
    shares: dict[str, float]  # share of the words that are function words of each language
    n_words: int

    @property
    def dutch(self) -> bool | None:
        """True or False when there is a verdict, None when the text is too short or of no listed language."""
        return None if self.language is None else self.language == "nl"

    @property
    def name(self) -> str:
        return NAMES.get(self.language or "", "unknown")


def _sample(text: str) -> str:
    if len(text) <= SAMPLE_CHARS:
        return text
    third = SAMPLE_CHARS // 3
    middle = len(text) // 2 - third // 2
    return " ".join((text[:third], text[middle : middle + third], text[-third:]))


def guess_language(text: str) -> LanguageGuess:
    """The listed language whose function words make up the largest share of `text`'s words."""
    words = [w.casefold() for w in _WORD.findall(_sample(text))]
    if not words:
        return LanguageGuess(None, {}, 0)
    shares = {lang: sum(w in stop for w in words) / len(words) for lang, stop in STOP_WORDS.items()}
    best = max(shares, key=lambda lang: shares[lang])
    verdict = best if len(words) >= MIN_WORDS and shares[best] >= MIN_SHARE else None
    return LanguageGuess(verdict, shares, len(words))


def not_dutch_warning(text: str) -> str | None:
    """A one-line warning when `text` is clearly not Dutch; None when it is Dutch or there is no verdict."""
    guess = guess_language(text)
    if guess.dutch is not False:
        return None
    return (f"does not look Dutch but {guess.name} ({guess.shares[guess.language or '']:.0%} of its words are common "
            f"{guess.name} words, {guess.shares['nl']:.0%} common Dutch ones); capcode's model and codes are for "
            "Dutch interviews, so its suggestions here mean little")
