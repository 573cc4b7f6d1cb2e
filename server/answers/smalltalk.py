"""Small talk: greetings, thanks and goodbyes, each with the reply that fits."""

from __future__ import annotations

from ingest.clean import fold
from server.answers.base import AnswerContext, Draft

__all__ = ["answer"]


def answer(ctx: AnswerContext) -> Draft:
    t = ctx.templates
    template = {"thanks": t.smalltalk_thanks, "farewell": t.smalltalk_farewell}.get(
        ctx.understanding.smalltalk or "", t.smalltalk
    )
    return Draft(
        module="smalltalk",
        outcome="smalltalk",
        pieces=[fold(template.format(topics=fold(t.topics)))],
        follow_up=list(t.follow_up_decline),
    )
