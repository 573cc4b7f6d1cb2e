"""Curated answers: the matched entry's lead first, then its supporting sentences, cited."""

from __future__ import annotations

import re

from server.answers.base import AnswerContext, Draft
from server.answers.common import contact_offer, curated_sentences
from server.answers.subject import asked_part
from server.curated import CuratedAnswer
from server.curated_match import CuratedMatch

__all__ = ["answer", "answer_entry", "best_match", "without_verdict"]


# what the curated path serves; policy entries are chosen by the policy module's topic
SERVED = ("answer", "gap")


def best_match(ctx: AnswerContext, query: str | None = None) -> CuratedMatch | None:
    """The best answer entry for the message (or ``query``), whether accepted or not. The
    message's own ranking is computed once: the router's doubt, the knowledge path and the
    doubtful match all ask for it."""
    if query is not None:
        matches = ctx.bot.curated.match(query, None, kinds=SERVED)
    else:
        if ctx.curated_matches is None:
            ctx.curated_matches = ctx.bot.curated.match(ctx.message, ctx.vector, kinds=SERVED)
        matches = ctx.curated_matches
    return matches[0] if matches else None


# A lead's verdict answers a yes/no question; "Was versteht man unter selektivem
# Outsourcing?" is not answered "Ja: Beim selektiven Outsourcing …".
_VERDICT = re.compile(
    r"^(?:(?:oft|häufig|meist|meistens|in der regel|grundsätzlich|im prinzip|often|usually|"
    r"mostly|generally|in principle)\s+)?(?:ja|nein|yes|no|nicht|not)"
    r"(?:,\s*(?:oft|häufig|meist|nicht automatisch|often|usually|not automatically))?"
    r"\s*[:,–-]\s*",
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


# A verdict is right for the question the entry was written for. A negated or leading
# question flips what "Ja" means ("Sind wir nicht zu klein für einen MSP?", "pointless for
# us, right?"), and a loosely matched one may ask the opposite ("Kommt ein Ausfall aus
# heiterem Himmel?" matched to "Kündigt sich ein Ausfall an?"): the lead then opens with its
# statement, which answers either way.
_LEADING = re.compile(
    r"\b(?:nicht(?!\s+nur\b)|kein\w*|nie|niemals|nichts|ohne|sinnlos\w*|überflüssig\w*|"
    r"unnötig\w*|zwecklos\w*|übertrieben\w*|not(?!\s+only\b)|no|never|nothing|without|"
    r"pointless|useless|unnecessary|overkill|zu klein|too small|aus heiterem himmel|"
    r"ohne vorwarnung|out of the blue)\b|n't\b|"
    r"(?:\b(?:oder|right|stimmt(?:'?s)?|gell|ne|correct|isn't it)|,\s*nicht)\s*\?+\s*$",
    re.IGNORECASE,
)
# the learned ranking's probability above which the match is the entry's own question
SURE_VERDICT = 0.35


def without_verdict(lead: str) -> str:
    """``lead`` without an opening yes/no verdict ("Ja: …", "Oft nicht: …")."""
    rest = _VERDICT.sub("", lead, count=1)
    if rest == lead or not rest:
        return lead
    return rest[0].upper() + rest[1:]


def _lead_for(question: str, lead: str, match: CuratedMatch | None = None) -> str:
    """The lead without its yes/no verdict unless the question is the plain yes/no question
    the entry answers."""
    asked = asked_part(question)
    unsure = match is not None and match.probability < SURE_VERDICT and not match.agreed
    if not (_ASKS_WHAT.search(asked) or _LEADING.search(asked) or unsure):
        return lead
    return without_verdict(lead)


def answer_entry(
    ctx: AnswerContext,
    entry: CuratedAnswer,
    *,
    more: bool = True,
    trace: dict | None = None,
    match: CuratedMatch | None = None,
    sibling: CuratedAnswer | None = None,
) -> Draft | None:
    """``entry``'s answer: its lead, a ``sibling`` entry's lead, then its supporting
    sentences (``more``)."""
    values = ctx.bot.placeholders(ctx.language)
    lead = [_lead_for(ctx.message, getattr(entry.lead, ctx.language), match)]
    sentences = curated_sentences(ctx, entry, lead, values)
    if not sentences:
        return None
    supporting = [getattr(m, ctx.language) for m in entry.more] if more else []
    # the sibling's lead without its verdict (that answered its own question); after the
    # supporting sentences when the first of them continues the lead ("Dazu kommen …")
    late = bool(supporting) and bool(_CONTINUES.match(supporting[0]))
    if sibling is not None and not late:
        sentences += _sibling_sentences(ctx, sibling, values)
    sentences += curated_sentences(ctx, entry, supporting, values)
    if sibling is not None and late:
        sentences += _sibling_sentences(ctx, sibling, values)
    sentences = _without_repeats(sentences)
    follow_up = list(getattr(entry.follow_ups, ctx.language))
    if entry.kind == "gap":
        return _gap(ctx, entry, sentences, follow_up, trace)
    return Draft(
        module="curated",
        outcome="answer",
        pieces=[" ".join(sentences)],
        follow_up=follow_up,
        context={"module": "curated", "entry": entry.id, "question": ctx.message},
        trace={"entry": entry.id, **(trace or {})},
    )


_WORD = re.compile(r"\w{4,}")
# a sentence whose words are mostly in one sentence before it says the same again
REPEAT_SHARE = 0.7


def _without_repeats(sentences: list[str]) -> list[str]:
    """``sentences`` without one that repeats an earlier one: a sibling's lead or a supporting
    sentence often restates the lead from the same quote ("Selektives Outsourcing lagert
    einzelne Bereiche aus …" after "Beim selektiven Outsourcing werden nur einzelne Bereiche
    ausgelagert …"). Only a sentence whose citations the kept ones carry too is dropped, so
    every citation stays in use."""
    kept: list[str] = []
    kept_words: list[set[str]] = []
    carried: set[str] = set()  # the citation numbers the kept sentences carry
    for sentence in sentences:
        words = {w.casefold() for w in _WORD.findall(_MARKERS.sub("", sentence))}
        cited = set(_MARKERS.findall(sentence))
        repeats = bool(words) and any(
            len(words & earlier) >= REPEAT_SHARE * len(words) for earlier in kept_words
        )
        if repeats and cited <= carried:
            continue
        kept.append(sentence)
        kept_words.append(words)
        carried |= cited
    return kept


def _gap(
    ctx: AnswerContext,
    entry: CuratedAnswer,
    sentences: list[str],
    follow_up: list[str],
    trace: dict | None,
) -> Draft:
    """A known gap: what the documents do not give, named as asked, what they say nearest,
    and the contact offer, as the uncovered module answers."""
    offer = contact_offer(ctx)
    return Draft(
        module="uncovered",
        outcome="uncovered",
        pieces=[" ".join([*sentences, offer])],
        follow_up=follow_up or list(ctx.templates.follow_up_uncovered),
        context={"module": "uncovered", "entry": entry.id, "question": ctx.message},
        trace={"entry": entry.id, "gap": True, **(trace or {})},
    )


def answer(ctx: AnswerContext, siblings: bool = True) -> Draft | None:
    match = best_match(ctx)
    if match is None or not match.accepted():
        return None
    if match.entry.kind == "gap" and any(
        m.probability > match.probability for m in ctx.curated_matches or [] if m is not match
    ):
        # "Was kostet ein IT-Ausfall pro Stunde?": the outage entry is likelier than the gap
        # on hourly rates that the fusion ranked first; "not covered" needs the gap to be sure
        return None
    sibling = _sibling(match, ctx.curated_matches or []) if siblings else None
    trace = {"match": match.to_json(), **({"sibling": sibling.id} if sibling else {})}
    return answer_entry(ctx, match.entry, trace=trace, match=match, sibling=sibling)


# A sibling entry answers the same question from another angle or another document ("Was
# gehört in einen SLA?": what contract and SLAs should cover, and what an SLA regulates);
# its lead joins the answer when both similarity rankings put it next to the first and the
# learned ranking does not rule it out. On the tuning sets it added the asked fact to 16
# answers, took it from none, and joined 105 of 870 curated answers
# (docs/curated-matching.md).
SIBLING_LEXICAL_RANK = 2
SIBLING_DENSE_RANK = 1
SIBLING_PROBABILITY = 0.02
# a supporting sentence opening with one of these continues the lead it follows
_CONTINUES = re.compile(
    r"^(?:dazu|das|dies\w*|denn|deshalb|daher|damit|dabei|dadurch|darum|dafür|außerdem|"
    r"zudem|auch|sie|er|es|so|also|beides|this|that|these|they|it|so|therefore|also|both|"
    r"in addition)\b",
    re.IGNORECASE,
)
_MARKERS = re.compile(r"\[(\d+)\]")


def _sibling_sentences(
    ctx: AnswerContext, sibling: CuratedAnswer, values: dict[str, str]
) -> list[str]:
    return curated_sentences(
        ctx, sibling, [without_verdict(getattr(sibling.lead, ctx.language))], values
    )


def _lead_quotes(entry: CuratedAnswer) -> set[str]:
    """The quotes ``entry``'s lead cites."""
    cited = {int(k) for k in _MARKERS.findall(entry.lead.de)}
    return {q.text for k, q in enumerate(entry.quotes, 1) if k in cited}


def _sibling(first: CuratedMatch, matches: list[CuratedMatch]) -> CuratedAnswer | None:
    if first.entry.kind != "answer" or len(matches) < 2 or matches[0] is not first:
        return None
    second = matches[1]
    if _lead_quotes(second.entry) <= {q.text for q in first.entry.quotes}:
        return None  # its lead would say again what the first entry says
    if (
        second.entry.kind == "answer"
        and second.lexical_rank is not None
        and second.lexical_rank <= SIBLING_LEXICAL_RANK
        and second.dense_rank is not None
        and second.dense_rank <= SIBLING_DENSE_RANK
        and second.probability >= SIBLING_PROBABILITY
    ):
        return second.entry
    return None
