"""What a question is about: the words that name its subject, and whether a text names them.

An answer that names none of what was asked answers another question: "Was kostet eine
Firewall?" is not answered by the managed-service price per user, nor "Gibt es
Förderprogramme vom Staat?" by "Outsourcing bedeutet heute, Verantwortung zu teilen".
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence

from ingest.lexical import fold_umlauts, is_stopword, stem, stems_of, words

__all__ = ["Subject", "asked_part", "stems_of", "subject_of"]

# Words of a figure question that name no subject ("Was kostet das ungefähr pro Monat?").
_FIGURE_WORDS = frozenset(
    re.split(
        r"\s+",
        "kost kosten kostet preis preise teuer euro eur monat monatlich jahr jährlich jahrlich pro "
        "ungefahr ungefähr etwa circa ca durchschnitt durchschnittlich schnitt typisch "
        "typischerweise "
        "normal normalerweise üblich ublich grob rund viel viele wieviel hoch lange dauer dauert "
        "prozent anteil cost costs price much many long average typical roughly usually per month "
        "year percent share euros typically normally generally approximately "
        "we uns unser unsere our firma unternehmen company mitarbeiter "
        "leute employees staff ab wann "
        # fillers of casual questions name nothing either
        "sowas sowat sone sonen eigentlich denn halt mal eben ganz gerade bitte kind sort stuff "
        "grunde prinzip "
        "thing things basically actually "
        # general English verbs and pronouns of a figure question ("How long does it take to
        # fill an open position?", "… if you hire one yourself?"): the translated sentences
        # that answer it rarely repeat them
        "take takes taking fill filled filling open hire hiring hired yourself ourselves get "
        "getting need needs make keep find stay stays",
    )
)


# A head count in any form ("mit 30 Leuten", "Mitarbeitern") says how big, not what about.
_HEAD_COUNT = ("leute", "mitarbeiter", "mitarbeitende", "personen", "beschäftigte", "employees")


@functools.cache
def _head_count_stems() -> frozenset[str]:
    return frozenset(stem(w) for w in _HEAD_COUNT)


_COMMON_ACRONYMS = frozenset(
    {"IT", "PC", "PCS", "EDV", "EU", "EUR", "KMU", "MSP", "SLA", "OK", "CEO"}
)


class Subject:
    """The subject words of a question, and which of them a set of texts names."""

    def __init__(
        self,
        parts: list[str],
        acronyms: list[str],
        synonyms: Mapping[str, Sequence[str]] | None = None,
        named_by_nouns: bool = False,
        heads: Sequence[str] = (),
    ) -> None:
        self.parts = parts
        self.acronyms = acronyms
        # the thing a "Welche …?" or "Was für …?" question asks for ("Welche
        # Kündigungsfristen …?"): when the documents never name it, a text that does not
        # name it answers another question
        self.heads = [h for h in heads if h in parts]
        # a German question whose capitalised nouns are its subject
        self.named_by_nouns = named_by_nouns
        # a part is named by its synonyms too: "Handy" by "Smartphone", "Laptop" by "Notebook"
        self._names = {
            part: {stem(part)}
            | {stem(t) for t in (synonyms or {}).get(part, ()) if " " not in t and "-" not in t}
            for part in parts
        }

    def missing(self, texts: Iterable[str]) -> list[str]:
        """The subject words none of ``texts`` names (a word sharing its first six letters
        names it too: "Verträge", "Vertragsgestaltung")."""
        return self.missing_from(stems_of(texts))

    def missing_from(self, known: set[str]) -> list[str]:
        """:meth:`missing`, given the stems of the texts."""

        def named(root: str) -> bool:
            # only by a word at least as long: "Besprechungen" does not name the
            # "Besprechungsräume" asked about (the compound's head is what is asked)
            return root in known or (
                len(root) >= 6
                and any(k.startswith(root[:6]) and len(k) >= len(root) for k in known)
            )

        return [part for part in self.parts if not any(named(r) for r in self._names[part])]

    def unanswered(
        self, texts: Iterable[str], most: bool = False, corpus: set[str] | None = None
    ) -> list[str]:
        """The missing subject words when they make the texts answer another question: an
        unknown acronym, a thing asked for by name that the documents (``corpus``: the
        stems of all their words) never name, or half of the subject (one unknown word
        among several is a paraphrase); with ``most``, more than half."""
        texts = list(texts)
        missing = self.missing(texts)
        if any(a in missing for a in self.acronyms):
            return missing
        if corpus is not None:
            # "Welche Kündigungsfristen …?": the documents never name them, and a text
            # naming only a synonym the search expands them to ("Vertrag") answers another
            # question; a head the documents do name ("Welche Rolle …?") is left to the share
            unknown = Subject(self.heads, []).missing_from(corpus)
            strict = Subject(unknown, []).missing(texts)
            if strict:
                return missing or strict
        share = len(missing) * 2 - (1 if most else 0)
        return missing if self.parts and share >= len(self.parts) else []


def subject_of(
    message: str,
    language: str,
    synonyms: Mapping[str, Sequence[str]] | None = None,
    domain: frozenset[str] = frozenset(),
) -> Subject:
    """The words of the asking part of ``message`` that name what it is about (without the
    ``domain`` words, which name the field rather than the question)."""
    asked = asked_part(message)
    # the subject is what the question names: German nouns where the visitor capitalises them
    capitalised = re.findall(r"(?<![.!?]\s)(?<!^)\b[A-ZÄÖÜ][\w-]+", asked)
    # as the tokenizer splits them: "Microsoft-365-Business-Lizenz" is "microsoft", "365",
    # "business-lizenz"
    nouns = set(words(" ".join(capitalised)))
    # a short acronym names the subject as much as a noun does ("CIO", "ISO", "VPN"), and the
    # thing asked about when the texts never name it
    acronyms = [a.lower() for a in re.findall(r"\b[A-Z]{2,4}\b", asked)]
    acronyms = [a for a in acronyms if a.upper() not in _COMMON_ACRONYMS]
    parts: list[str] = list(acronyms)
    domain_stems = {stem(d) for d in domain}  # "Outsourcings" is "Outsourcing"
    for w in words(asked):
        if language == "de" and nouns and w not in nouns:
            continue
        for part in w.split("-"):
            folded = fold_umlauts(part)
            if len(part) < 4 or part.isdigit() or is_stopword(part) or folded in _FIGURE_WORDS:
                continue
            if part in _FIGURE_WORDS or w in domain or stem(part) in domain_stems:
                continue
            if stem(part) in _head_count_stems():  # "Leuten", "Mitarbeitern"
                continue
            parts.append(part)
    heads = _heads(asked) if language == "de" else []
    return Subject(
        parts, acronyms, synonyms, named_by_nouns=language == "de" and bool(nouns), heads=heads
    )


# the determiner, an optional lower-case adjective ("Welche typischen Kosten …"), the noun
_ASKED_HEAD = re.compile(
    r"\b(?:[Ww]elche[nmrs]?|[Ww]as für(?: eine?[nmrs]?)?|[Ww]ie ?viele)\s+"
    r"(?:[a-zäöüß]+(?:e|en|er|es|em)\s+)?([\w-]+)"
)


def _heads(asked: str) -> list[str]:
    """The nouns a German question asks for by name ("Welche Kündigungsfristen …?", "Was für
    eine Förderung …?"), each compound part as :func:`subject_of` splits it."""
    out: list[str] = []
    for m in _ASKED_HEAD.finditer(asked):
        word = m.group(1)
        if not word[:1].isupper():
            continue  # "welche sind …", "was für ein" + verb: no noun named
        out += [p.lower() for p in word.split("-") if p]
    return out


def asked_part(message: str) -> str:
    """The sentences of ``message`` that ask (end in "?"), or all of it: in "Wir sind ein
    Großhandel mit 45 PCs. Wie viele IT-Mitarbeiter bräuchten wir?" the company's words are
    not the subject the answer must name."""
    questions = [s for s in re.split(r"(?<=[.!?])\s+", message.strip()) if s.endswith("?")]
    return " ".join(questions) if questions else message
