"""Recommendations: intern / extern / hybrid per task for the visitor's company, each with
its cited reason, and the one question whose answer would change it most; and, for a
follow-up ("warum nicht intern?", "und das Backup?"), the reasons behind one task."""

from __future__ import annotations

from server.answers.base import AnswerContext, Draft
from server.compose import _after_label, _reasons_for_label, compose_recommendation
from server.profile import Profile
from server.scoring import Recommendation, recommend

__all__ = ["answer", "explain", "scored"]

MAX_REASONS = 3


def scored(ctx: AnswerContext) -> Recommendation:
    return recommend(Profile.model_validate(ctx.state.profile), ctx.bot.rules)


def _question(
    ctx: AnswerContext, recommendation: Recommendation, focus: list[str]
) -> tuple[str | None, str | None]:
    """The first missing fact not asked for yet (limited to the focus tasks)."""
    for missing in recommendation.missing:
        if missing.field in ctx.state.asked or ctx.state.profile.get(missing.field) is not None:
            continue
        if focus and not set(missing.tasks) & set(focus):
            continue
        return missing.field, (missing.question_en if ctx.english else missing.question_de)
    return None, None


def answer(ctx: AnswerContext, focus: list[str] | None = None) -> Draft:
    recommendation = scored(ctx)
    focus = list(ctx.understanding.focus if focus is None else focus)
    field, question = _question(ctx, recommendation, focus)
    pieces = compose_recommendation(
        recommendation,
        ctx.state.profile,
        focus,
        question,
        ctx.templates,
        ctx.registry,
        ctx.bot.find_quote,
    )
    return Draft(
        module="recommendation",
        outcome="answer",
        pieces=pieces,
        follow_up=([question] if question else []) + list(ctx.templates.follow_up_recommend),
        recommendation=recommendation,
        asked=[field] if field else [],
        context={"module": "recommendation", "tasks": focus, "question": ctx.message},
        trace={"focus": focus, "labels": {t.task: t.label for t in recommendation.tasks}},
    )


def explain(ctx: AnswerContext, tasks: list[str]) -> Draft | None:
    """Why each task gets its label: the reasons that fired for this profile, cited."""
    recommendation = scored(ctx)
    chosen = [t for t in recommendation.tasks if t.task in tasks] or []
    if not chosen:
        return None
    lines: list[str] = []
    for task in chosen:
        title = task.title_en if ctx.english else task.title
        display = task.display_en if ctx.english else task.display
        reasons: list[str] = []
        for reason in _reasons_for_label(task)[:MAX_REASONS]:
            found = ctx.bot.find_quote(reason.citation.quote)
            if found is None:
                continue
            n = ctx.registry.cite(*found)
            text = (reason.text_en if ctx.english else reason.text).strip().rstrip(".")
            if reason.rule.startswith("task:"):
                text = _after_label(text)
            reasons.append(f"- {text}. [{n}]")
        if not reasons:
            continue
        lines.append(f"**{title}: {display}**\n" + "\n".join(reasons))
    if not lines:
        return None
    return Draft(
        module="recommendation",
        outcome="answer",
        pieces=["\n\n".join(lines)],
        follow_up=list(ctx.templates.follow_up_recommend),
        recommendation=recommendation,
        context={
            "module": "recommendation",
            "tasks": [t.task for t in chosen],
            "question": ctx.message,
        },
        trace={"explained": [t.task for t in chosen]},
    )
