"""Numbers in German and English text: number words to digits, and one comparable form.

Used wherever two texts must agree on a number: the chat reading "fünfundvierzig PCs", the
curated answers' check that a lead states no figure its quotes lack, and the evaluation's
check that an answer states a fact ("80.000 €" = "80,000 euros" = "80 000 Euro").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Final, Literal

from text_to_num import alpha2digit

__all__ = ["normalise_numbers", "numbers_in", "numbers_to_digits"]

Language = Literal["de", "en"]

# German articles are number words too ("ein Admin"), but hardly ever meant as a count.
_ARTICLES: Final = re.compile(r"(?<!\w)(ein(?:e[mnrs]?)?)(?!\w)", re.IGNORECASE)
_N_AND_A_HALF: Final = re.compile(
    r"(?<!\w)(?:(ein|zwei|drei|vier|fünf|fuenf|sechs|sieben|acht|neun|zehn)einhalb|anderthalb)"
    r"(?!\w)",
    re.IGNORECASE,
)
_HALF_VALUES: Final[Mapping[str, int]] = {
    "ein": 1, "zwei": 2, "drei": 3, "vier": 4, "fünf": 5, "fuenf": 5,
    "sechs": 6, "sieben": 7, "acht": 8, "neun": 9, "zehn": 10,
}  # fmt: skip
# text2num knows the umlaut spellings only: "fuenfundvierzig" must become "fünfundvierzig".
_ASCII_NUMBER_STEMS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile("fuenf", re.IGNORECASE), "fünf"),
    (re.compile("zwoelf", re.IGNORECASE), "zwölf"),
    (re.compile("dreissig", re.IGNORECASE), "dreißig"),
)


def _words_to_digits(text: str, language: Language) -> str:
    other: Language = "en" if language == "de" else "de"
    try:
        # threshold=0: "zwei Admins" must become "2 Admins" (the default keeps small numbers).
        text = alpha2digit(text, language, threshold=0)
        return str(alpha2digit(text, other, threshold=0))
    except Exception:  # a third-party parser on user input must never break a chat turn
        return text


def numbers_to_digits(text: str, language: Language = "de") -> str:
    """Number words to digits in both languages; German articles stay words ("ein
    Mitarbeiter" is not a count), "zweieinhalb" becomes "2,5"."""
    text = _N_AND_A_HALF.sub(
        lambda m: f"{_HALF_VALUES[m.group(1).lower()] if m.group(1) else 1},5", text
    )
    for pattern, replacement in _ASCII_NUMBER_STEMS:
        text = pattern.sub(replacement, text)
    pieces = _ARTICLES.split(text)
    # split() with one group alternates text, article, text, ...: convert the text parts only.
    return "".join(
        piece if index % 2 or not piece.strip() else _words_to_digits(piece, language)
        for index, piece in enumerate(pieces)
    )


# Thousands separators: a dot, comma, apostrophe or (narrow, no-break) space between a group
# of 1-3 digits and exactly three more; decimal commas become points afterwards.
_THOUSANDS: Final = re.compile(r"(?<![\d.,])(\d{1,3})(?:[.,'\u00a0\u202f\u2009 ](\d{3}))+(?![\d])")
_DECIMAL_COMMA: Final = re.compile(r"(?<=\d),(?=\d)")
_K: Final = re.compile(r"(?<![\w.,])(\d+(?:\.\d+)?)\s?(?:k|tsd\.?|tausend|thousand)(?!\w)")
_RANGE_WORDS: Final = re.compile(
    r"(?:zwischen|between|from|von)\s+(\d+(?:\.\d+)?)\s*(?:eur|%)?\s+(?:und|and|to|bis)\s+"
    r"(\d+(?:\.\d+)?)"
)
_RANGE: Final = re.compile(r"(\d+(?:\.\d+)?)\s*(?:[-‐‑–—]|bis|to)\s*(\d+(?:\.\d+)?)")
_UNITS: Final = (
    (re.compile(r"\s*(?:€|\beuros?\b|\beur\b)"), " eur"),
    (re.compile(r"\s*(?:%|\bprozent\b|\bpercent\b|\bper cent\b)"), " %"),
)


def _grouped(match: re.Match[str]) -> str:
    return re.sub(r"[.,'\u00a0\u202f\u2009 ]", "", match.group(0))


def normalise_numbers(text: str) -> str:
    """One comparable form of the numbers in ``text`` (expects casefolded text).

    "80.000 €", "80,000 euros", "80 000 Euro", "80k Euro" → "80000 eur"; "zwei bis drei",
    "2–3", "2 to 3", "zwischen 2 und 3" → "2-3"; "62 Prozent", "62%" → "62 %"; "2,5" → "2.5".
    """
    text = unicodedata.normalize("NFKC", text)
    text = numbers_to_digits(text, "de")
    text = _THOUSANDS.sub(_grouped, text)
    text = _DECIMAL_COMMA.sub(".", text)
    text = _K.sub(lambda m: _format(float(m.group(1)) * 1000), text)
    for pattern, unit in _UNITS:
        text = pattern.sub(unit, text)
    text = _RANGE_WORDS.sub(r"\1-\2", text)
    text = _RANGE.sub(r"\1-\2", text)
    return re.sub(r"\s+", " ", text).strip()


def _format(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:g}"


_NUMBER: Final = re.compile(r"\d+(?:\.\d+)?")
# "one" is as often a pronoun or article ("one person", "on the one side") as German "ein" is,
# which stays a word; so a stated figure must say more than "one".
_ONE: Final = re.compile(r"(?<!\w)one(?!\w)", re.IGNORECASE)
# Ordinals ("at first", "zunächst als erstes", "2nd-level") order things; they state no figure.
_ORDINALS: Final = re.compile(
    r"(?<!\w)(?:first|second|third|fourth|fifth|\d+(?:st|nd|rd|th)|erst|zweit|dritt|viert|"
    r"fünft)(?:e[mnrs]?|ens)?(?!\w)",
    re.IGNORECASE,
)


def numbers_in(text: str) -> set[float]:
    """The figures ``text`` states, in words or digits, in either language and format."""
    normal = normalise_numbers(_ORDINALS.sub("", _ONE.sub("", text)).casefold())
    return {float(n) for n in _NUMBER.findall(normal)}
