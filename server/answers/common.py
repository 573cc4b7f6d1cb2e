"""Pieces several kinds of answer share: the contact offer, citing a quote, and turning a
curated entry's ``[k]`` markers into the answer's citation numbers."""

from __future__ import annotations

import re

from ingest.sentences import split_text
from server.answers.base import AnswerContext
from server.curated import CuratedAnswer
from server.prompts import AnswerTemplates
from server.settings import Settings

__all__ = ["cite_quote", "contact", "contact_offer", "contact_text", "curated_sentences", "fill"]

_MARKER = re.compile(r"\s*\[(\d+)\]")
_AFTER_MARKER = re.compile(r"(?<=\])\s+")


def contact(ctx: AnswerContext) -> str:
    """How to reach a person, in the answer's language."""
    return contact_text(ctx.bot.settings, ctx.templates)


def contact_offer(ctx: AnswerContext) -> str:
    """The sentence that ends a policy, "not covered" or known-gap answer."""
    return ctx.templates.contact_offer.format(contact=contact(ctx))


def contact_text(settings: Settings, templates: AnswerTemplates) -> str:
    """How to reach a person, from the settings (``ADVISOR_CONTACT_*``); the website's
    contact form when nothing is configured."""
    labels = templates.contact_labels
    parts = [p for p in (settings.contact_name,) if p]
    for key, value in (
        ("phone", settings.contact_phone),
        ("email", settings.contact_email),
        ("url", settings.contact_url),
    ):
        if value:
            parts.append(labels[key].format(value=value))
    return ", ".join(parts) if parts else templates.contact_default


def cite_quote(ctx: AnswerContext, quote: str) -> int | None:
    """The citation number of the passage holding ``quote`` verbatim (None if no passage
    does: then the sentence resting on it is not stated)."""
    found = ctx.bot.find_quote(quote)
    if found is None:
        return None
    passage, span = found
    return ctx.registry.cite(passage, span)


def fill(text: str, values: dict[str, str]) -> str:
    """Known ``{name}`` placeholders filled; other braces stay as they are."""
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


def curated_sentences(
    ctx: AnswerContext, entry: CuratedAnswer, texts: list[str], values: dict[str, str]
) -> list[str]:
    """``texts`` of ``entry`` with each ``[k]`` turned into the answer's ``[n]``.

    A sentence whose quotes cannot all be located in the index loses them; a sentence left
    without any citation (in an answer entry) is dropped rather than stated unsourced.
    """
    out: list[str] = []
    for text in texts:
        # a marker ends its sentence: "… Vorfall. [1] Dazu kommen … [2]"
        pieces = [s for chunk in _AFTER_MARKER.split(fill(text, values)) for s in split_text(chunk)]
        for sentence in pieces:
            numbers: list[int] = []
            for k in (int(m) for m in _MARKER.findall(sentence)):
                n = (
                    cite_quote(ctx, entry.quotes[k - 1].text)
                    if 1 <= k <= len(entry.quotes)
                    else None
                )
                if n is not None and n not in numbers:
                    numbers.append(n)
            bare = _MARKER.sub("", sentence).strip()
            if not numbers and (entry.kind == "answer" or _MARKER.search(sentence)):
                continue  # it rested on a quote it can no longer cite
            out.append(bare + "".join(f" [{n}]" for n in numbers))
    return out
