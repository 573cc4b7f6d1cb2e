"""Declines: off-topic requests, attacks and hands-on IT support; polite, short, uncited."""

from __future__ import annotations

from typing import Literal

from ingest.clean import fold
from server.answers.base import AnswerContext, Draft
from server.answers.common import contact

__all__ = ["answer"]

Reason = Literal["offtopic", "attack", "support", "urgent"]


def answer(ctx: AnswerContext, reason: Reason) -> Draft:
    t = ctx.templates
    topics = fold(t.topics)
    if reason == "attack":
        text = t.refuse_internals.format(topics=topics)
    elif reason == "urgent":
        text = t.urgent.format(topics=topics)
    elif reason == "support":
        text = t.decline_support.format(topics=topics, contact=contact(ctx))
    else:
        text = t.decline.format(topics=topics)
    return Draft(
        module="decline",
        outcome="decline",
        pieces=[fold(text)],
        follow_up=list(t.follow_up_decline),
        trace={"reason": reason},
    )
