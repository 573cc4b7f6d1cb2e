"""Sentence stage: every sentence of a document, in reading order, with where it stands.

The sentence table (``knowledge/sentences/``), the curated answers' coverage report and the
passage answers all read documents through this one segmentation, so a sentence has the same
text and id everywhere. A sentence's text is the document's own, with Markdown emphasis and
line breaks folded (:func:`ingest.clean.fold`); table rows are one unit, cells joined by
`` | ``; footnote definitions are sentences of their own (role ``footnote`` in the table).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.clean import fold
from ingest.load import SourceDocument

__all__ = ["DocSentence", "document_sentences", "sentence_prefix", "split_text"]

_HEADING_RE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_TABLE_SEPARATOR_RE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_BULLET_RE = re.compile(r"^\s*(?:[-*+]\s+|\d+[.)]\s+)")
_FOOTNOTE_DEF_RE = re.compile(r"^\[\^[^\]]+\]:")
# A sentence ends at . ! ? (optionally followed by emphasis or a closing quote) before white
# space and a capital, digit or opening quote.
_END_RE = re.compile(r"(?<=[.!?])(?:\*\*|__)?[\"“”»]?\s+(?=[\"„“«A-ZÄÖÜ0-9(*])")
_ABBREVIATIONS = (
    "z. B.",
    "z.B.",
    "u. a.",
    "u.a.",
    "d. h.",
    "d.h.",
    "ggf.",
    "bzw.",
    "ca.",
    "inkl.",
    "vgl.",
    "etc.",
    "usw.",
    "evtl.",
    "S.",
    "Nr.",
    "Dr.",
    "e.g.",
    "i.e.",
)
# Short ids per document, so sentence ids read well in reports ("wp-041").
_PREFIXES = {
    "whitepaper-it-im-mittelstand": "wp",
    "it-outsourcing-mittelstand": "om",
    "das-bisschen-it": "bi",
    "interne-vs-externe-it-services": "ie",
    "it-outsourcing-glossar": "gl",
}


@dataclass(frozen=True)
class DocSentence:
    """One sentence (or table row, or list label) of a document."""

    id: str
    doc_id: str
    text: str
    kind: str  # paragraph | bullet | table_row | label | footnote
    heading: str


def sentence_prefix(doc_id: str) -> str:
    """The short id prefix of a document's sentences."""
    return _PREFIXES.get(doc_id) or "".join(p[0] for p in doc_id.split("-") if p)[:4]


# A point after a short number, a single letter or "vs" ends no sentence: "2. Intern vs.
# extern", "z. B", a single initial ("S."). The chunker (ingest.split) uses it too, so a
# chunk never ends where a sentence does not.
NOT_AN_END = re.compile(r"(?:\b\d{1,2}|(?<![\w.])[A-Za-z]|\bvs)\.$")


def split_text(text: str) -> list[str]:
    """A paragraph or list item cut into sentences, abbreviations and numbers kept whole."""
    pieces: list[str] = []
    start = 0
    for match in _END_RE.finditer(text):
        before = text[start : match.start()].rstrip('*_"“”» ')
        if any(before.endswith(a) for a in _ABBREVIATIONS) or NOT_AN_END.search(before):
            continue
        piece = text[start : match.end()].strip()
        if piece:
            pieces.append(piece)
        start = match.end()
    rest = text[start:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def document_sentences(document: SourceDocument) -> list[DocSentence]:
    """Every sentence of ``document`` in reading order; headings and table headers left out."""
    prefix = sentence_prefix(document.doc_id)
    out: list[DocSentence] = []
    heading = ""
    lines = document.text.split("\n")

    def add(text: str, kind: str) -> None:
        text = fold(text)
        if text:
            out.append(
                DocSentence(
                    id=f"{prefix}-{len(out) + 1:03d}",
                    doc_id=document.doc_id,
                    text=text,
                    kind=kind,
                    heading=heading,
                )
            )

    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line or _TABLE_SEPARATOR_RE.match(line):
            continue
        match = _HEADING_RE.match(line)
        if match:
            heading = fold(match.group(2)).strip('"')
            continue
        if _FOOTNOTE_DEF_RE.match(line):
            add(line, "footnote")
            continue
        if line.startswith("|"):
            following = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if _TABLE_SEPARATOR_RE.match(following):
                continue  # the header row names the columns; it states nothing
            add(" | ".join(c.strip() for c in line.strip("|").split("|")), "table_row")
            continue
        bullet = _BULLET_RE.match(line)
        body = _BULLET_RE.sub("", line) if bullet else line
        if body.endswith(":") and len(body) <= 60 and not bullet:
            add(body, "label")
            continue
        for sentence in split_text(body):
            add(sentence, "bullet" if bullet else "paragraph")
    return out
