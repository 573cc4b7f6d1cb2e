"""Chat orchestration: understand → profile merge → retrieve / recommend → compose → remember.

``stream()`` yields the answer as events (meta, delta…, citations, done); ``answer()`` collects
the same events into one :class:`ChatResponse`, so the JSON route, the SSE route and
``advisor eval`` share one code path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from ingest.clean import fold
from ingest.lexical import Lexicon
from server import llm
from server.compose import (
    AnswerCitation,
    CitationRegistry,
    Vocabulary,
    compose_costs,
    compose_facts,
    compose_recommendation,
    find_span,
    select_fact_sentences,
)
from server.profile import Profile
from server.prompts import AnswerTemplates, Prompts
from server.retrieval import HybridRetriever, Passage
from server.scoring import Recommendation, Rules, recommend
from server.sessions import SessionState, SessionStore, new_session_id
from server.settings import Settings

__all__ = [
    "ChatError",
    "ChatEvent",
    "ChatResponse",
    "Chatbot",
    "UnknownSessionError",
    "answer",
    "collect",
    "open_chatbot",
    "stream",
]

Intent = Literal["recommend", "fact", "smalltalk", "out_of_scope"]
# What the visitor got, in the evaluation's terms: an answer from the documents, a "the
# documents do not cover this" answer, a policy answer, a decline, a clarifying question,
# or small talk.
Outcome = Literal["answer", "uncovered", "policy", "decline", "clarify", "smalltalk"]
_OUTCOME_OF_INTENT: dict[str, Outcome] = {
    "recommend": "answer",
    "fact": "answer",
    "smalltalk": "smalltalk",
    "out_of_scope": "decline",
}
FACT_K = 5


class ChatError(ValueError):
    """The message cannot be answered as sent (empty, too long); the text says why."""


class UnknownSessionError(LookupError):
    """No conversation with that id (never created, or deleted)."""


class ChatResponse(BaseModel):
    session_id: str
    answer: str = Field(description="Markdown with [n] markers.")
    citations: list[AnswerCitation]
    intent: Intent
    outcome: Outcome = Field(description="What kind of answer this is.")
    language: Literal["de", "en"]
    recommendation: Recommendation | None = None
    profile: dict[str, Any] = Field(description="What the advisor understood so far.")
    asked: list[str] = Field(
        default_factory=list, description="Profile facts the answer asks the visitor for."
    )
    follow_up: list[str]


@dataclass
class ChatEvent:
    event: Literal["meta", "delta", "citations", "done"]
    data: dict[str, Any]


@dataclass
class Chatbot:
    """Everything one answer needs, opened once in the lifespan."""

    settings: Settings
    retriever: HybridRetriever
    rules: Rules
    sessions: SessionStore
    prompts: Prompts
    _lexicon: Lexicon | None = field(default=None, init=False)
    _vocabulary: tuple[float, Vocabulary] | None = field(default=None, init=False)

    @property
    def lexicon(self) -> Lexicon | None:
        if self._lexicon is None:
            try:
                self._lexicon = Lexicon.load(self.retriever.index.config.lexicon_path)
            except Exception:
                return None
        return self._lexicon

    @property
    def vocabulary(self) -> Vocabulary:
        generation = self.retriever.index.refresh()
        if self._vocabulary is None or self._vocabulary[0] != generation.manifest_mtime:
            self._vocabulary = (
                generation.manifest_mtime,
                Vocabulary.build(list(generation.texts.values())),
            )
        return self._vocabulary[1]

    def find_quote(self, quote: str) -> tuple[Passage, str] | None:
        """The passage that holds ``quote`` verbatim, and the span in its text."""
        for passage in self.retriever.index.containing(quote):
            span = find_span(passage.text, quote)
            if span is not None:
                return passage, span
        return None


def open_chatbot(
    settings: Settings, retriever: HybridRetriever, sessions_path: Path | None = None
) -> Chatbot:
    """Everything a chat needs, as the app's lifespan and ``advisor eval`` open it.

    RulesError / PromptError stop here: a broken rules or template file stops the start,
    not an answer.
    """
    from server.prompts import load_prompts
    from server.scoring import load_rules

    assert settings.rules_path is not None and settings.sessions_path is not None
    rules = load_rules(settings.rules_path, settings.knowledge_dir)
    prompts = load_prompts(settings.prompts_dir)
    sessions = SessionStore(
        sessions_path or settings.sessions_path, ttl_seconds=settings.session_ttl_days * 86_400
    )
    return Chatbot(settings, retriever, rules, sessions, prompts)


# --------------------------------------------------------------------------------------


def _check_message(message: Any, settings: Settings) -> str:
    if not isinstance(message, str):
        raise ChatError("message must be a string")
    text = message.strip()
    if not text:
        raise ChatError("message is empty")
    if len(text) > settings.max_message_chars:
        raise ChatError(
            f"message is too long ({len(text)} characters; at most {settings.max_message_chars})"
        )
    return text


def _merge(profile: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    """The profile with the new facts; a fact that makes the profile impossible is dropped."""
    merged = dict(profile)
    for key, value in facts.items():
        if key not in Profile.model_fields:
            continue
        candidate = {**merged, key: value}
        try:
            Profile.model_validate(candidate)
        except ValidationError:
            continue
        merged = candidate
    return merged


def _follow_up(templates: AnswerTemplates, intent: str, question: str | None) -> list[str]:
    if intent == "recommend":
        base = list(templates.follow_up_recommend)
    elif intent == "fact":
        base = list(templates.follow_up_fact)
    else:
        base = list(templates.follow_up_decline)
    return ([question] if question else []) + base


def _citation_check(text: str, citations: list[AnswerCitation]) -> None:
    # An internal guarantee, not a user error: markers and citations must match exactly.
    used = {int(m) for m in re.findall(r"\[(\d+)\]", text)}
    assert used == {c.n for c in citations}, (used, [c.n for c in citations])


def stream(bot: Chatbot, message: Any, session_id: str | None) -> Iterator[ChatEvent]:
    """Validate at once (raising ChatError / UnknownSessionError), then return the events."""
    text = _check_message(message, bot.settings)
    if session_id is not None:
        state = bot.sessions.get(session_id)
        if state is None:
            raise UnknownSessionError(f"unknown session id {session_id}")
    else:
        state = SessionState(id=new_session_id())
    return _events(bot, text, state)


def _events(bot: Chatbot, message: str, state: SessionState) -> Iterator[ChatEvent]:
    from server.understand import FACT_FIELDS, understand

    expecting = state.expecting if state.expecting in FACT_FIELDS else None
    understanding = understand(message, has_profile=bool(state.profile), expecting=expecting)
    # "45" or "OK" tell no language: they continue in the conversation's
    spoken = understanding.language if understanding.language_sure else state.language
    language: Literal["de", "en"] = "en" if (spoken or understanding.language) == "en" else "de"
    state.language = language
    templates = bot.prompts.for_language(language)
    intent: Intent = understanding.intent
    injection = understanding.injection
    if injection:
        intent = "out_of_scope"
    else:
        state.profile = _merge(state.profile, understanding.facts)
    state.expecting = None

    registry = CitationRegistry()
    recommendation: Recommendation | None = None
    question: str | None = None
    pieces: Iterator[str]
    passages: list[Passage] = []

    if intent == "recommend":
        recommendation = recommend(Profile.model_validate(state.profile), bot.rules)
        focus = list(understanding.focus)
        costs = understanding.costs
        if costs and state.profile.get("external_price_per_user_month_eur") is None:
            # The cost answer ends by asking for an offer: a bare "60 Euro" answers it.
            state.expecting = "external_price_per_user_month_eur"
        for missing in [] if costs else recommendation.missing:
            if missing.field in state.asked:
                continue
            if focus and not set(missing.tasks) & set(focus):
                continue
            question = missing.question_en if language == "en" else missing.question_de
            state.asked.append(missing.field)
            state.expecting = missing.field
            break
        if costs:
            # "Was würde uns das kosten?": the cost comparison, not the task list again.
            pieces = compose_costs(
                recommendation, state.profile, templates, registry, bot.find_quote
            )
        else:
            pieces = compose_recommendation(
                recommendation, state.profile, focus, question, templates, registry, bot.find_quote
            )
    elif intent == "fact":
        passages = bot.retriever.retrieve(message, FACT_K)
        selection = select_fact_sentences(message, passages, bot.vocabulary, bot.lexicon)
        if selection is None:
            intent = "out_of_scope"
            pieces = iter([templates.decline.format(topics=fold(templates.topics))])
        else:
            pieces = compose_facts(selection, templates, registry)
    elif intent == "smalltalk":
        template = {
            "thanks": templates.smalltalk_thanks,
            "farewell": templates.smalltalk_farewell,
        }.get(understanding.smalltalk or "", templates.smalltalk)
        pieces = iter([template.format(topics=fold(templates.topics))])
    else:
        intent = "out_of_scope"
        if injection:
            template = templates.refuse_internals
        elif understanding.urgent:
            template = templates.urgent
        else:
            template = templates.decline
        pieces = iter([template.format(topics=fold(templates.topics))])

    citations_override: list[AnswerCitation] | None = None
    if bot.settings.llm_base_url and intent in ("recommend", "fact"):
        # The deterministic answer is built first: it is the fallback and, for a
        # recommendation, the scoring result the model has to put into words.
        fallback = list(pieces)
        candidates = list(registry.passages)
        if intent == "fact":
            candidates += [p for p in passages if p.id not in {c.id for c in candidates}]
        generated = llm.generate(bot.settings, templates, message, candidates, "".join(fallback))
        if generated is not None:
            pieces = iter([generated.answer])
            citations_override = generated.citations
        else:
            pieces = iter(fallback)

    follow_up = _follow_up(templates, intent, question)
    asked = [state.expecting] if state.expecting else []
    if intent == "recommend" and understanding.costs:
        asked = [
            f
            for f in ("internal_cost_per_it_staff_eur", "external_price_per_user_month_eur")
            if state.profile.get(f) is None
        ]
    yield ChatEvent(
        "meta",
        {
            "session_id": state.id,
            "intent": intent,
            "outcome": _OUTCOME_OF_INTENT[intent],
            "language": language,
            "profile": dict(state.profile),
            "recommendation": recommendation.model_dump() if recommendation else None,
            "asked": asked,
            "follow_up": follow_up,
        },
    )
    parts: list[str] = []
    for piece in pieces:
        parts.append(piece)
        yield ChatEvent("delta", {"text": piece})
    answer_text = "".join(parts)
    citations = registry.citations if citations_override is None else citations_override
    _citation_check(answer_text, citations)
    yield ChatEvent("citations", {"citations": [c.model_dump() for c in citations]})
    bot.sessions.save_turn(state, message, answer_text, intent)
    yield ChatEvent("done", {"session_id": state.id})


def answer(bot: Chatbot, message: Any, session_id: str | None) -> ChatResponse:
    """The whole answer at once; the same events as :func:`stream`, collected."""
    return collect(stream(bot, message, session_id))


def collect(events: Iterator[ChatEvent]) -> ChatResponse:
    """One :class:`ChatResponse` from the events of :func:`stream`."""
    meta: dict[str, Any] = {}
    parts: list[str] = []
    citations: list[dict[str, Any]] = []
    for event in events:
        if event.event == "meta":
            meta = event.data
        elif event.event == "delta":
            parts.append(event.data["text"])
        elif event.event == "citations":
            citations = event.data["citations"]
    return ChatResponse(
        session_id=meta["session_id"],
        answer="".join(parts),
        citations=[AnswerCitation.model_validate(c) for c in citations],
        intent=meta["intent"],
        outcome=meta["outcome"],
        language=meta["language"],
        recommendation=(
            Recommendation.model_validate(meta["recommendation"])
            if meta["recommendation"]
            else None
        ),
        profile=meta["profile"],
        asked=meta["asked"],
        follow_up=meta["follow_up"],
    )
