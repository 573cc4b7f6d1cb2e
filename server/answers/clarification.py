"""A clarifying question when the router is unsure and there is no context: the likeliest
questions as buttons. Once per conversation topic, never twice in a row."""

from __future__ import annotations

from server.answers.base import AnswerContext, Draft

__all__ = ["answer"]


def answer(ctx: AnswerContext) -> Draft | None:
    matches = ctx.bot.curated.match(ctx.message, ctx.vector, k=3)
    options: list[str] = []
    for match in matches:
        for question in match.entry.questions:
            from server.understand import detect_language

            if detect_language(question) == ctx.language and question.endswith("?"):
                options.append(question)
                break
    if not options:
        return None
    return Draft(
        module="clarification",
        outcome="clarify",
        pieces=[ctx.templates.clarify],
        follow_up=options,
        context={"module": "clarification", "question": ctx.message, "clarified": True},
        trace={"options": [m.entry.id for m in matches]},
    )
