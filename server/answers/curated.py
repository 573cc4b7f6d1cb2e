"""Curated answers: the matched entry's lead first, then its supporting sentences, cited."""

from __future__ import annotations

from server.answers.base import AnswerContext, Draft
from server.answers.common import curated_sentences
from server.curated import CuratedAnswer
from server.curated_match import CuratedMatch

__all__ = ["answer", "answer_entry", "best_match"]


def best_match(ctx: AnswerContext, query: str | None = None) -> CuratedMatch | None:
    """The best answer entry for the message (or ``query``), whether accepted or not."""
    matches = ctx.bot.curated.match(query or ctx.message, ctx.vector if query is None else None)
    return matches[0] if matches else None


def answer_entry(
    ctx: AnswerContext, entry: CuratedAnswer, *, more: bool = True, trace: dict | None = None
) -> Draft | None:
    texts = [getattr(entry.lead, ctx.language)]
    if more:
        texts += [getattr(m, ctx.language) for m in entry.more]
    values = ctx.bot.placeholders(ctx.language)
    sentences = curated_sentences(ctx, entry, texts, values)
    if not sentences:
        return None
    follow_up = list(getattr(entry.follow_ups, ctx.language))
    return Draft(
        module="curated",
        outcome="answer",
        pieces=[" ".join(sentences)],
        follow_up=follow_up,
        context={"module": "curated", "entry": entry.id, "question": ctx.message},
        trace={"entry": entry.id, **(trace or {})},
    )


def answer(ctx: AnswerContext) -> Draft | None:
    match = best_match(ctx)
    if match is None or not match.accepted():
        return None
    return answer_entry(ctx, match.entry, trace={"match": match.to_json()})
