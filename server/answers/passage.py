"""Passage answers: when no curated answer fits, the one document sentence that answers the
question leads, then at most two supporting sentences from other passages.

Sentences come from the sentence table, so an intro, a rhetorical question, an example's
set-up or a footnote never leads; a list item or a line introducing a list brings its list.
A question for an amount, a number or a duration leads with a sentence that states one. An
English question gets the English renderings (marked as translations); the German sentence
is what the citation quotes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.clean import fold
from ingest.lexical import fold_umlauts
from server.answers.base import AnswerContext, Draft
from server.answers.common import cite_quote
from server.answers.subject import subject_of
from server.sentence_index import ScoredSentence
from server.sentence_table import Sentence

__all__ = [
    "FIGURE",
    "HAS_NUMBER",
    "answer",
    "asks_figure_or_price",
    "nearest",
    "select",
    "wants_number",
]

# Confidence: the best sentence must share words with the question or be close in meaning.
MIN_LEXICAL = 3.0
MIN_DENSE = 0.55
SUPPORT_RATIO = 0.75  # a supporting sentence scores at least this share of the lead's
MAX_SUPPORT = 2
MAX_LIST_ITEMS = 8
MAX_NEAREST_WORDS = 45  # a "closest statement" is one sentence, not a section
_NUMBER_QUESTION = re.compile(
    r"\b(wie ?viele?|wieviel|wie hoch|wie teuer|was kostet|was kosten|how (?:much|many)|"
    r"what (?:does|do|would|will|might|could) .* cost|was (?:würde|wuerde|wurde|wird) .* kosten|"
    r"what (?:\w+ ){0,2}(?:do|does|would|will) .* charges? (?:for|per)|how much .* charges?|"
    r"was verdient|wie viel verdient|how much does .* (?:earn|make)|what does .* earn|"
    r"welche[nr]? anteil|wie viel prozent|what percentage|what share|"
    r"ab wann|ab wie vielen|wie lange|how long|"
    # a unit the answer must be given in ("in Minuten", "in hours", "12 oder 36 Monate?")
    r"in (?:minuten|stunden|tagen|wochen|monaten|jahren|prozent|euro)|"
    r"in (?:minutes|hours|days|weeks|months|years|percent|euros)|"
    r"\d+ (?:oder|or|bis|to) \d+ (?:minuten|stunden|tage|wochen|monate|jahre|prozent|%|euro|"
    r"minutes|hours|days|weeks|months|years|percent|euros))\b"
)
_PRICE_QUESTION = re.compile(r"(kost|preis|stundensatz|\bcost|\bprice|\brate\b)", re.I)
_NUMBER_WORDS = r"\b(?:zwei|drei|vier|fünf|zehn|hälfte|two|three|half|\w*stellig\w*|\w*-digit)\b"
HAS_NUMBER = re.compile(rf"\d|{_NUMBER_WORDS}", re.I)
# A figure of its own: a number standing alone ("80.000 Euro", "2–3", "62 %") or in words;
# not a digit inside a name ("1st-Level", "Microsoft-365-Administration", "24/7-Bereitschaft").
FIGURE = re.compile(rf"(?<![\w/-])\d[\d.,]*(?![\w/]|-[^\W\d])|{_NUMBER_WORDS}", re.I)


@dataclass
class Selection:
    lead: ScoredSentence
    support: list[ScoredSentence]
    candidates: list[ScoredSentence]


def wants_number(question: str) -> bool:
    return bool(_NUMBER_QUESTION.search(fold_umlauts(question.lower())))


def asks_figure_or_price(question: str) -> bool:
    """A number asked for, or a price named ("Preisniveau", "cost"): a "not covered" answer
    then points to a figure, never to a statement without one."""
    return wants_number(question) or bool(_PRICE_QUESTION.search(question))


def select(ctx: AnswerContext) -> Selection | None:
    """The lead and supporting sentences for the message, or None when none is confident."""
    passages = ctx.passages(5)
    ranked = ctx.bot.sentence_index.rank(ctx.message, ctx.vector, [p.text for p in passages], k=12)
    if not ranked:
        return None
    if wants_number(ctx.message):
        # "Wie viele …?", "Was kostet …?": among the close candidates, one that states a number
        close = [s for s in ranked[:4] if s.fused >= ranked[0].fused * 0.7]
        numeric = [s for s in close if HAS_NUMBER.search(s.sentence.de)]
        if numeric:
            ranked = [numeric[0]] + [s for s in ranked if s is not numeric[0]]
    lead = ranked[0]
    if lead.lexical < MIN_LEXICAL and lead.dense < MIN_DENSE and not lead.phrase:
        return None
    support: list[ScoredSentence] = []
    used = {lead.passage_rank}
    for candidate in ranked[1:]:
        if len(support) >= MAX_SUPPORT or candidate.fused < lead.fused * SUPPORT_RATIO:
            break
        if candidate.passage_rank in used and candidate.passage_rank is not None:
            continue  # supporting sentences come from other passages
        if candidate.sentence.heading == lead.sentence.heading and _adjacent(lead, candidate):
            continue
        support.append(candidate)
        used.add(candidate.passage_rank)
    return Selection(lead, support, ranked)


def _adjacent(a: ScoredSentence, b: ScoredSentence) -> bool:
    return (
        a.sentence.doc_id == b.sentence.doc_id
        and abs(a.sentence.position - b.sentence.position) <= 1
    )


def _list_of(ctx: AnswerContext, sentence: Sentence) -> tuple[Sentence | None, list[Sentence]]:
    """The line introducing ``sentence``'s list (if it is an item or the intro) and the items."""
    doc = ctx.bot.sentence_table.by_doc(sentence.doc_id)
    i = sentence.position
    if sentence.kind in ("bullet", "table_row"):
        start = i
        while (
            start > 0
            and doc[start - 1].kind == sentence.kind
            and doc[start - 1].heading == sentence.heading
        ):
            start -= 1
        intro = doc[start - 1] if start > 0 and doc[start - 1].de.endswith(":") else None
    elif sentence.de.endswith(":"):
        intro, start = sentence, i + 1
    else:
        return None, []
    items = []
    j = start
    while (
        j < len(doc)
        and doc[j].kind in ("bullet", "table_row")
        and doc[j].heading == sentence.heading
    ):
        items.append(doc[j])
        j += 1
    return intro, items[:MAX_LIST_ITEMS]


SHORT_LEAD_WORDS = 14


def _continuation(ctx: AnswerContext, sentence: Sentence) -> Sentence | None:
    """The next sentence of a short lead's paragraph, when it can answer too: "Die interne IT
    wird dadurch nicht überflüssig – sie verändert ihre Rolle." says that it changes, the
    sentence after it says how."""
    if sentence.kind != "paragraph" or len(sentence.de.split()) >= SHORT_LEAD_WORDS:
        return None
    doc = ctx.bot.sentence_table.by_doc(sentence.doc_id)
    following = sentence.position + 1
    if following >= len(doc):
        return None
    nxt = doc[following]
    if nxt.kind != "paragraph" or nxt.heading != sentence.heading or not nxt.answers:
        return None
    return nxt


def _show(ctx: AnswerContext, sentence: Sentence) -> str:
    text = sentence.en if ctx.english else sentence.de
    return fold(text).replace(" | ", " – ")


def _render(ctx: AnswerContext, sentence: Sentence) -> str | None:
    """The sentence (or its list) with its citation; None if it cannot be cited."""
    intro, items = (
        _list_of(ctx, sentence)
        if sentence.kind in ("bullet", "table_row") or sentence.de.endswith(":")
        else (None, [])
    )
    if items and len(items) > 1:
        n = cite_quote(ctx, items[0].de)
        numbers = {cite_quote(ctx, item.de) for item in items} | {n}
        if intro is not None:
            numbers.add(cite_quote(ctx, intro.de))
        numbers.discard(None)
        if not numbers:
            return None
        head = _show(ctx, intro).rstrip(":") + ":" if intro is not None else ""
        listed = "; ".join(_show(ctx, item).rstrip(".") for item in items)
        marks = "".join(f" [{m}]" for m in sorted(numbers))  # type: ignore[type-var]
        return f"{head} {listed}.{marks}".strip()
    n = cite_quote(ctx, sentence.de)
    if n is None:
        return None
    return f"{_show(ctx, sentence)} [{n}]"


def answer(ctx: AnswerContext) -> Draft | None:
    selection = select(ctx)
    if selection is None:
        return None
    lead = _render(ctx, selection.lead.sentence)
    if lead is None:
        return None
    parts = [lead]
    follower = _continuation(ctx, selection.lead.sentence)
    if follower is not None:
        rendered = _render(ctx, follower)
        if rendered:
            parts.append(rendered)
    for s in selection.support:
        rendered = _render(ctx, s.sentence)
        if rendered and rendered not in parts:
            parts.append(rendered)
    text = " ".join(parts)
    if ctx.english and ctx.templates.translated_note:
        text += f"\n\n{ctx.templates.translated_note}"
    return Draft(
        module="passage",
        outcome="answer",
        pieces=[text],
        follow_up=list(ctx.templates.follow_up_fact),
        context={
            "module": "passage",
            "question": ctx.message,
            "sentence": selection.lead.sentence.id,
        },
        trace={
            "lead": selection.lead.sentence.id,
            "support": [s.sentence.id for s in selection.support],
            "scores": [
                {
                    "id": s.sentence.id,
                    "lexical": round(s.lexical, 2),
                    "dense": round(s.dense, 3),
                    "fused": round(s.fused, 4),
                    "passage_rank": s.passage_rank,
                }
                for s in selection.candidates[:6]
            ],
        },
        candidates=ctx.passages(5),
    )


def nearest(ctx: AnswerContext) -> str | None:
    """The closest relevant document sentence, cited, for a "not covered" answer.

    It must name what the question names: the graders' complaint about "not covered" answers
    was an unrelated sentence, or a whole task list, offered as the closest; saying plainly
    that the documents are silent is better. A list item comes alone, not with its list."""
    passages = ctx.passages(5)
    ranked = ctx.bot.sentence_index.rank(ctx.message, ctx.vector, [p.text for p in passages], k=5)
    if asks_figure_or_price(ctx.message):
        # for a figure the documents lack, the nearest figure they give is the useful pointer
        numeric = [s for s in ranked if HAS_NUMBER.search(s.sentence.de)]
        ranked = numeric + [s for s in ranked if s not in numeric]
    lexicon = ctx.bot.sentence_index.lexicon
    subject = subject_of(ctx.message, ctx.language, lexicon.synonyms, lexicon.domain)
    close = [
        c
        for c in ranked[:3]
        if (c.lexical >= MIN_LEXICAL / 2 or c.dense >= MIN_DENSE - 0.1)
        and c.sentence.answers
        and not c.sentence.de.endswith(":")
        and len(c.sentence.de.split()) <= MAX_NEAREST_WORDS
    ]
    if subject.parts and not ctx.english:
        # it names at least half of what was asked, else it is no pointer at all ("Start" in
        # a question about a set-up fee does not make "Immer noch starten einige …" one)
        # (an English question's subject is every content word, which a translation rarely
        # repeats, so it goes unchecked); a sentence close in both words and meaning ("Einer
        # ist keiner") is one anyway
        misses = {id(c): len(subject.missing([c.sentence.de, c.sentence.en])) for c in close}
        allowed = len(subject.parts) // 2
        close = sorted(
            (
                c
                for c in close
                if misses[id(c)] <= allowed or (c.lexical >= MIN_LEXICAL and c.dense >= MIN_DENSE)
            ),
            key=lambda c: misses[id(c)],
        )
    for candidate in close:
        n = cite_quote(ctx, candidate.sentence.de)
        if n is not None:
            return f"{_show(ctx, candidate.sentence)} [{n}]"
    return None
