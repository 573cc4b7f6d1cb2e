"""Not covered: the question is about IT sourcing, but the documents are silent. Say so, give
what they say that comes nearest (cited), and offer a contact."""

from __future__ import annotations

from ingest.clean import fold
from server.answers import passage
from server.answers.base import AnswerContext, Draft
from server.answers.common import contact_offer

__all__ = ["answer"]


def answer(ctx: AnswerContext, trace: dict | None = None) -> Draft:
    t = ctx.templates
    parts = [fold(t.uncovered)]
    nearest = passage.nearest(ctx)
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
