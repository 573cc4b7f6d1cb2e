"""What the visitor reads: the lead of an answer, and whether it states an expected fact.

The lead is the first three sentences of the answer text (citation markers and a trailing
source list removed), so an answer that pastes many document sentences earns nothing for the
fourth. A fact matches when its normalised form occurs in the normalised lead: case, umlauts,
hyphens, emphasis and number formats folded ("80.000 €" = "80,000 euros" = "80 000 Euro";
"zwei bis drei" = "2–3").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Final

from ingest.lexical import fold_umlauts
from ingest.sentences import split_text
from server.numbers import normalise_numbers

__all__ = ["LEAD_SENTENCES", "fact_hit", "lead", "lead_sentences", "normalise"]

LEAD_SENTENCES: Final = 3
_MARKER: Final = re.compile(r"\s*\[\d+\]")
_SOURCES_HEADING: Final = re.compile(
    r"^\s*(?:\*\*|__)?(?:quellen|sources|belege)(?:\*\*|__)?\s*:?\s*(?:\*\*|__)?\s*$",
    re.IGNORECASE,
)
_TABLE_SEPARATOR: Final = re.compile(r"^\|?\s*:?-{3,}")
_LINE_MARKUP: Final = re.compile(r"^\s*(?:#{1,6}\s+|[-*+]\s+|\d+[.)]\s+|>\s*)+")
_QUOTES: Final = re.compile(r"[\"„“”‚‘’«»`]")
_EMPHASIS: Final = re.compile(r"\*\*|__|(?<!\w)[*_](?=\w)|(?<=\w)[*_](?!\w)")


def lead_sentences(answer: str, n: int = LEAD_SENTENCES) -> list[str]:
    """The first ``n`` sentences a reader sees; a list item or table row is one sentence."""
    out: list[str] = []
    lines = answer.splitlines()
    for i, raw in enumerate(lines):
        if _SOURCES_HEADING.match(raw):
            break  # the citation list is not the answer
        line = _MARKER.sub("", raw).strip()
        following = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if not line or _TABLE_SEPARATOR.match(line):
            continue
        if line.startswith("|") and _TABLE_SEPARATOR.match(following):
            continue  # a table's header row names columns; it states nothing
        line = _LINE_MARKUP.sub("", line).strip()
        if line.startswith("|"):
            pieces = [" – ".join(c.strip() for c in line.strip("|").split("|") if c.strip())]
        else:
            pieces = split_text(line)
        for piece in pieces:
            if piece.strip():
                out.append(piece.strip())
                if len(out) >= n:
                    return out
    return out


def lead(answer: str, n: int = LEAD_SENTENCES) -> str:
    """The lead as one string."""
    return " ".join(lead_sentences(answer, n))


def normalise(text: str) -> str:
    """The comparison form of an answer or a fact."""
    text = unicodedata.normalize("NFKC", text)
    text = _EMPHASIS.sub("", text)
    text = _QUOTES.sub("", text)
    text = normalise_numbers(text.casefold())
    # "Key-User" = "Key User"; a range keeps its "-" ("2-3")
    text = re.sub(r"(?<=[^\W\d])[‐‑–—-]+|[‐‑–—-]+(?=[^\W\d])", " ", text)
    # "Prüfung" = "Pruefung" = "Prufung": both sides are folded the same way
    text = fold_umlauts(text)
    text = re.sub(r"([aou])e", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


def _pattern(fact: str) -> re.Pattern[str]:
    body = re.escape(normalise(fact))
    # Every word of a fact may carry an inflection ending, not only the last one: "An
    # liegengebliebenen Tickets" states "liegengebliebene Tickets", "support stays internal"
    # states "stay internal". Two letters of German and English endings at most, and only
    # on a word of four letters or more that is not "nicht": "the" is not "these", "nicht"
    # not "nichts".
    body = re.sub(r"(?<!\w)(?!nicht\\)([^\W\d]{4,})\\ ", r"\1[emnrs]{0,2}\\s+", body)
    body = body.replace(r"\ ", r"\s+")
    # A number must not continue another number ("10" is not in "100" or "2010"); a word may
    # be inflected at its end ("10 Mitarbeitern" states "10 Mitarbeiter") but starts a word.
    return re.compile(rf"(?<![\w.]){body}(?![\d])")


def fact_hit(facts: Sequence[str | Sequence[str]], text: str) -> bool:
    """Whether ``text`` states any of ``facts``; a fact given as a list needs all its parts."""
    normal = normalise(text)
    for fact in facts:
        parts = [fact] if isinstance(fact, str) else list(fact)
        if parts and all(_pattern(part).search(normal) for part in parts):
            return True
    return False
