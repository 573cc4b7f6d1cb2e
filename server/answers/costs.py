"""Costs for the visitor's company: the documents' cited figures, totals computed from the
visitor's own prices (with the computation shown), and what is still needed for a total."""

from __future__ import annotations

from server.answers.base import AnswerContext, Draft
from server.answers.recommendation import scored
from server.compose import compose_costs

__all__ = ["USER_PRICES", "answer"]

# the visitor's own prices, from which the totals are computed
USER_PRICES = ("internal_cost_per_it_staff_eur", "external_price_per_user_month_eur")


def answer(ctx: AnswerContext) -> Draft:
    recommendation = scored(ctx)
    pieces = compose_costs(
        recommendation, ctx.state.profile, ctx.templates, ctx.registry, ctx.bot.find_quote
    )
    asked = [f for f in USER_PRICES if ctx.state.profile.get(f) is None]
    return Draft(
        module="costs",
        outcome="answer",
        pieces=pieces,
        follow_up=list(ctx.templates.follow_up_recommend),
        recommendation=recommendation,
        # a bare "60 Euro" next answers the price question
        asked=asked,
        context={"module": "costs", "question": ctx.message},
    )
