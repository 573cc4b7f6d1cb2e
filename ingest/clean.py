"""Clean stage: normalise extracted text so that splitting and matching see stable text."""

from __future__ import annotations

import re
import unicodedata

# Extraction leaves no-break, narrow and zero-width spaces; matching must not depend on them.
_SPACE_RE = re.compile(r"[\s\u00a0\u202f\u2009\u200b\ufeff]+")
_EMPHASIS_RE = re.compile(r"\*\*|__")


def fold_whitespace(text: str) -> str:
    """Collapse every run of white space (including no-break spaces) to one space."""
    return _SPACE_RE.sub(" ", text).strip()


def fold(text: str) -> str:
    """The comparison form of a text: NFC, no Markdown emphasis, white space folded.

    Quotes, eval strings and passages are compared in this form, so that a bold marker or a
    repaired line break in the knowledge base never hides a verbatim sentence.
    """
    text = unicodedata.normalize("NFC", text)
    text = _EMPHASIS_RE.sub("", text)
    return fold_whitespace(text)


def contains_folded(haystack: str, needle: str) -> bool:
    """Case-insensitive containment in the comparison form."""
    return fold(needle).casefold() in fold(haystack).casefold()


def clean_text(text: str) -> str:
    """Normalise a loaded document body: NFC, unified line ends, no trailing blanks."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\ufeff", "").replace("\u200b", "")
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
