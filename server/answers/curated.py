"""Curated answers: the matched entry's lead first, then its supporting sentences, cited."""

from __future__ import annotations

import re

from server.answers.base import AnswerContext, Draft
from server.answers.common import curated_sentences
from server.answers.subject import asked_part
from server.curated import CuratedAnswer
from server.curated_match import CuratedMatch

__all__ = ["answer", "answer_entry", "best_match"]


def best_match(ctx: AnswerContext, query: str | None = None) -> CuratedMatch | None:
    """The best answer entry for the message (or ``query``), whether accepted or not. The
    message's own ranking is computed once: the router's doubt, the knowledge path and the
    doubtful match all ask for it."""
    if query is not None:
        matches = ctx.bot.curated.match(query, None)
    else:
        if ctx.curated_matches is None:
            ctx.curated_matches = ctx.bot.curated.match(ctx.message, ctx.vector)
        matches = ctx.curated_matches
    return matches[0] if matches else None


# A lead's verdict answers a yes/no question; "Was versteht man unter selektivem
# Outsourcing?" is not answered "Ja: Beim selektiven Outsourcing …".
_VERDICT = re.compile(
    r"^(?:(?:oft|häufig|meist|meistens|in der regel|grundsätzlich|often|usually|mostly|"
    r"generally|in principle)\s+)?(?:ja|nein|yes|no)\s*[:,–-]\s*",
    re.IGNORECASE,
)
_ASKS_WHAT = re.compile(
    r"^(?:(?:hallo|hi|hey|moin|servus|guten (?:tag|morgen|abend)|kurze frage|frage|also|ok|"
    r"okay|und|hello|quick question|so|and)\W+)*"
    r"(?:wie|was|wer|wen|wem|wessen|wo|woran|worauf|wozu|wofür|wann|warum|weshalb|wieso|"
    r"welche\w*|how|what|who|whom|whose|where|when|why|which)\b"
    # "Was meinen Sie?", "what do you think?" ask for the verdict
    r"(?!\s+(?:meinen|denken|sagen|halten) sie|\s+meinst du|\s+do you (?:think|say|reckon))",
    re.IGNORECASE,
)


def _lead_for(question: str, lead: str) -> str:
    """The lead without its yes/no verdict when the question asks what, how or why."""
    asked = asked_part(question)
    if not _ASKS_WHAT.search(asked):
        return lead
    rest = _VERDICT.sub("", lead, count=1)
    if rest == lead or not rest:
        return lead
    return rest[0].upper() + rest[1:]


def answer_entry(
    ctx: AnswerContext, entry: CuratedAnswer, *, more: bool = True, trace: dict | None = None
) -> Draft | None:
    texts = [_lead_for(ctx.message, getattr(entry.lead, ctx.language))]
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
