"""A document figure scaled by the visitor's own number, with the computation shown.

"Wir hatten 3 größere Ausfälle – was wär das mit eurem Durchschnittswert zusammen?" gets
"Mit Ihrer Zahl gerechnet: 3 × über 80.000 Euro pro Vorfall = über 240.000 Euro. [1]" and then
the curated answer stating the figure. The rates and what each counts are data
(``knowledge/rates.yaml``, ``server.rates``); the result is the only figure not quoted, and
its working is in the same sentence.
"""

from __future__ import annotations

from server.answers import curated
from server.answers.base import AnswerContext, Draft
from server.answers.common import cite_quote
from server.rates import Scaled
from server.scoring import format_number

__all__ = ["answer"]


def _amount(
    value: float, high: float | None, bound: str | None, unit: str, ctx: AnswerContext
) -> str:
    lang = ctx.language
    text = format_number(value, lang)
    if high is not None:
        text = f"{text}–{format_number(high, lang)}"
    if bound is not None:
        words = {"over": ctx.templates.computed_over, "at_least": ctx.templates.computed_at_least}
        text = f"{words[bound]} {text}"
    return f"{text} {unit}".strip()


def sentence(ctx: AnswerContext, scaled: Scaled) -> str:
    """The computation in the answer's language, without its citation."""
    rate, lang = scaled.rate, ctx.language
    count = format_number(scaled.count, lang)
    if rate.kind == "share":
        assert rate.counted_unit is not None
        counted_unit = getattr(rate.counted_unit, lang)
        return ctx.templates.computed_share.format(
            share=_amount(rate.low, rate.high, rate.bound, "%", ctx),
            amount=f"{count} {counted_unit}",
            result=_amount(scaled.low, scaled.high, rate.bound, counted_unit, ctx),
        )
    assert rate.unit is not None and rate.per is not None
    unit = getattr(rate.unit, lang)
    if rate.kind == "ratio":
        assert rate.counted_unit is not None and rate.result_unit is not None
        return ctx.templates.computed_ratio.format(
            figure=_amount(rate.low, rate.high, rate.bound, unit, ctx),
            per=getattr(rate.per, lang),
            amount=f"{count} {getattr(rate.counted_unit, lang)}",
            result=_amount(
                scaled.low, scaled.high, rate.bound, getattr(rate.result_unit, lang), ctx
            ),
        )
    after = f" {getattr(rate.after, lang)}" if rate.after is not None else ""
    return ctx.templates.computed_product.format(
        count=count,
        figure=_amount(rate.low, rate.high, rate.bound, unit, ctx),
        per=getattr(rate.per, lang),
        result=_amount(scaled.low, scaled.high, rate.bound, unit, ctx) + after,
    )


def answer(ctx: AnswerContext) -> Draft | None:
    """The computation the message asks for and the curated answer stating the figure; None
    when the message scales no rate (or the rate's quote cannot be cited)."""
    found = ctx.bot.rates.scaled(ctx.message)
    if not found:
        return None
    scaled = found[0]
    n = cite_quote(ctx, scaled.rate.quote)
    if n is None:
        return None  # never a result without the figure's source
    computed = f"{sentence(ctx, scaled)} [{n}]"
    entry = ctx.bot.curated.by_id(scaled.rate.entry) if ctx.bot.curated_enabled else None
    stated = curated.answer_entry(ctx, entry, more=False) if entry is not None else None
    rest = "".join(stated.pieces) if stated is not None else ""
    return Draft(
        module="computed",
        outcome="answer",
        pieces=[f"{computed} {rest}".strip()],
        follow_up=list(stated.follow_up) if stated is not None else [],
        # follow-ups continue from the entry, as after its curated answer
        context={"module": "curated", "entry": scaled.rate.entry, "question": ctx.message},
        trace={"rate": scaled.rate.id, "count": scaled.count, "entry": scaled.rate.entry},
    )
