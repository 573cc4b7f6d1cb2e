"""Follow-ups: a short message that refers back ("warum nicht intern?", "und das Backup?",
"was heißt das für uns?") is answered from what the previous answer was about."""

from __future__ import annotations

import re

from ingest.lexical import fold_umlauts
from server.answers import costs, curated, recommendation
from server.answers.base import AnswerContext, Draft

__all__ = ["answer", "asks_why"]

_WHY = re.compile(
    r"\b(warum|wieso|weshalb|why|begrund|grund|reason|genauer|erklar|explain|details?)\w*"
)
_COSTS = re.compile(r"\b(kost|preis|teuer|cost|price|budget)\w*")


def asks_why(message: str) -> bool:
    return bool(_WHY.search(fold_umlauts(message.lower())))


def answer(ctx: AnswerContext) -> Draft | None:
    previous = ctx.previous
    module = previous.get("module")
    tasks = list(ctx.understanding.tasks)
    text = fold_umlauts(ctx.message.lower())
    if module in ("recommendation", "costs") or (ctx.state.profile and not module):
        if _COSTS.search(text) and not tasks:
            return costs.answer(ctx)
        if tasks or asks_why(ctx.message):
            explained = recommendation.explain(
                ctx, tasks or list(previous.get("tasks") or []) or _all(ctx)
            )
            if explained is not None:
                return explained
        return recommendation.answer(ctx, focus=tasks)
    if (
        module in ("curated", "policy")
        and previous.get("entry")
        and not tasks
        and asks_why(ctx.message)
    ):
        entry = ctx.bot.curated.by_id(previous["entry"])
        if entry is not None and entry.more:
            draft = curated.answer_entry(ctx, entry, more=True)
            if draft is not None:
                draft.trace["followup"] = "more of the previous answer"
                return draft
    question = str(previous.get("question") or "")
    if not question:
        return None
    # "und das Backup?" after "Soll der Helpdesk intern oder extern sein?": ask again with
    # the new subject in the previous question's frame
    combined = f"{question} {ctx.message}"
    match = curated.best_match(ctx, combined)
    if match is not None and match.accepted() and match.entry.id != previous.get("entry"):
        draft = curated.answer_entry(
            ctx, match.entry, trace={"followup": combined, "match": match.to_json()}, match=match
        )
        if draft is not None:
            return draft
    return None


def _all(ctx: AnswerContext) -> list[str]:
    return [t.task for t in recommendation.scored(ctx).tasks]
