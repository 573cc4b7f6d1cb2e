"""Policy answers: no provider names (the documents' selection criteria instead), no legal
advice (what the documents say, and a pointer to a lawyer or data-protection officer), no
guarantees, what the advisor and its sources are, and how to reach a person."""

from __future__ import annotations

from server.answers import curated
from server.answers.base import AnswerContext, Draft
from server.answers.common import contact_offer, curated_sentences

__all__ = ["TOPICS", "answer"]

# router label -> the policy entries' topic
TOPICS = {
    "provider": "provider",
    "legal": "legal",
    "guarantee": "guarantee",
    "about": "about",
    "contact": "contact",
}
# A documented answer this close to a legal or provider question is added to the policy text.
DOCUMENTED_DENSE = 0.7


def answer(ctx: AnswerContext, label: str, prefer: str | None = None) -> Draft | None:
    """The policy answer of ``label``'s topic: the entry ``prefer`` when given and present,
    else the topic's entry that matches the message best."""
    bot = ctx.bot
    topic = TOPICS[label]
    entries = bot.curated.policy_entries(topic)
    if not entries:
        return None
    preferred = [e for e in entries if e.id == prefer]
    if preferred:
        entries = preferred
    elif len(entries) > 1:
        ranked = bot.curated.match(
            ctx.message, ctx.vector, kinds=("policy",), k=len(bot.curated.entries)
        )
        order = [m.entry.id for m in ranked]
        entries.sort(key=lambda e: order.index(e.id) if e.id in order else len(order))
    entry = entries[0]
    values = bot.placeholders(ctx.language)
    texts = [getattr(entry.lead, ctx.language)]
    if topic == "contact" and (ctx.understanding.facts or ctx.state.profile):
        # "ein Angebot für 25 Arbeitsplätze": not asked again to describe the company
        texts = [ctx.templates.contact_known]
    trace: dict = {"entry": entry.id}
    documented = None
    if topic in ("legal", "provider", "guarantee"):
        match = curated.best_match(ctx)
        if (
            match is not None
            and match.entry.kind == "answer"  # "the documents do not say" documents nothing
            and match.accepted()
            and match.dense >= DOCUMENTED_DENSE
        ):
            documented = match.entry
            trace["documented"] = match.to_json()
    sentences = curated_sentences(ctx, entry, texts, values)
    if documented is not None:
        # after "Rechtsberatung kann ich nicht geben", a "Ja:" would read as the legal verdict
        lead = curated.without_verdict(getattr(documented.lead, ctx.language))
        extra = curated_sentences(ctx, documented, [lead], values)
        if extra:
            sentences.append(ctx.templates.policy_documents + " " + " ".join(extra))
    else:
        sentences += curated_sentences(
            ctx, entry, [getattr(m, ctx.language) for m in entry.more], values
        )
    if entry.contact:
        sentences.append(contact_offer(ctx))
    return Draft(
        module="policy",
        outcome="policy",
        pieces=[" ".join(sentences)],
        follow_up=list(getattr(entry.follow_ups, ctx.language)),
        context={"module": "policy", "entry": entry.id, "question": ctx.message},
        trace=trace,
    )
