"""Chat orchestration: understand → profile merge → retrieve / recommend → compose → remember.

``stream()`` yields the answer as events (meta, delta…, citations, done); ``answer()`` collects
the same events into one :class:`ChatResponse`, so the JSON route, the SSE route and
``advisor eval`` share one code path.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from server import llm
from server.compose import AnswerCitation, find_span
from server.curated_match import CuratedStore
from server.metrics import AdvisorMetrics, AnswerRecord, record_answer
from server.profile import Profile
from server.prompts import Prompts
from server.rates import Rates, load_rates
from server.retrieval import HybridRetriever, Passage, noting_retrieval
from server.router import Router
from server.scoring import Recommendation, Rules
from server.sentence_index import SentenceIndex
from server.sentence_table import SentenceTable
from server.sessions import SessionState, SessionStore, new_session_id, open_sessions
from server.settings import Settings
from server.understand import Understanding

__all__ = [
    "ChatError",
    "ChatEvent",
    "ChatResponse",
    "Chatbot",
    "UnknownSessionError",
    "answer",
    "collect",
    "open_chatbot",
    "replay",
    "stream",
]

Intent = Literal["recommend", "fact", "smalltalk", "out_of_scope"]
# What the visitor got, in the evaluation's terms: an answer from the documents, a "the
# documents do not cover this" answer, a policy answer, a decline, a clarifying question,
# or small talk.
Outcome = Literal["answer", "uncovered", "policy", "decline", "clarify", "smalltalk"]
# The earlier intent names, kept in the response for existing clients.
_INTENT_OF_MODULE: dict[str, Intent] = {
    "recommendation": "recommend",
    "costs": "recommend",
    "smalltalk": "smalltalk",
    "decline": "out_of_scope",
}


class ChatError(ValueError):
    """The message cannot be answered as sent (empty, too long); the text says why."""


class UnknownSessionError(LookupError):
    """No conversation with that id (never created, or deleted)."""


class ChatResponse(BaseModel):
    session_id: str
    answer: str = Field(description="Markdown with [n] markers.")
    citations: list[AnswerCitation]
    intent: Intent = Field(description="recommend, fact, smalltalk or out_of_scope.")
    outcome: Outcome = Field(description="What kind of answer this is.")
    language: Literal["de", "en"]
    recommendation: Recommendation | None = None
    profile: dict[str, Any] = Field(description="What the advisor understood so far.")
    asked: list[str] = Field(
        default_factory=list, description="Profile facts the answer asks the visitor for."
    )
    follow_up: list[str]
    trace: dict[str, Any] | None = Field(
        default=None, description="How the answer was chosen (staff and eval only)."
    )
    degraded: bool = Field(
        default=False,
        description="True when Chroma was unavailable for this answer's passage search: the "
        "passages were ranked by the lexical index alone.",
    )


@dataclass
class ChatEvent:
    event: Literal["meta", "delta", "citations", "done", "error"]
    data: dict[str, Any]


@dataclass
class Chatbot:
    """Everything one answer needs, opened once in the lifespan."""

    settings: Settings
    retriever: HybridRetriever
    rules: Rules
    sessions: SessionStore
    prompts: Prompts
    router: Router
    curated: CuratedStore
    sentence_table: SentenceTable
    sentence_index: SentenceIndex
    titles: dict[str, str] = field(default_factory=dict)
    titles_en: dict[str, str] = field(default_factory=dict)  # translated, where given
    curated_enabled: bool = True
    # the app's metrics (None in advisor eval) and LLM mode's daily token budget
    metrics: AdvisorMetrics | None = None
    llm_budget: llm.TokenBudget | None = None
    # document figures the visitor's own number scales (knowledge/rates.yaml)
    rates: Rates = field(default_factory=Rates)

    def find_quote(self, quote: str) -> tuple[Passage, str] | None:
        """The passage that holds ``quote`` verbatim, and the span in its text."""
        for passage in self.retriever.index.containing(quote):
            span = find_span(passage.text, quote)
            if span is not None:
                return passage, span
        return None

    def embed(self, text: str) -> np.ndarray:
        return self.retriever.index.embed(text)

    def placeholders(self, language: str) -> dict[str, str]:
        """Values for ``{contact}``, ``{sources}``, ``{retention_days}`` in policy answers."""
        from server.answers.common import contact_text

        titles = self.titles if language == "de" else {**self.titles, **self.titles_en}
        sources = "; ".join(f"„{t}“" if language == "de" else f'"{t}"' for t in titles.values())
        return {
            "contact": contact_text(self.settings, self.prompts.for_language(language)),
            "sources": sources,
            "retention_days": f"{self.settings.session_ttl_days:g}",
        }


def open_chatbot(
    settings: Settings,
    retriever: HybridRetriever,
    sessions_path: Path | None = None,
    metrics: AdvisorMetrics | None = None,
) -> Chatbot:
    """Everything a chat needs, as the app's lifespan and ``advisor eval`` open it.

    RulesError, PromptError, CuratedError, SentenceTableError, RouterError and RatesError
    stop here: a broken data file stops the start, not an answer.
    """
    from ingest.lexical import Lexicon
    from ingest.load import load_folder
    from server.prompts import load_prompts
    from server.scoring import load_rules

    assert settings.rules_path is not None and settings.sessions_path is not None
    rules = load_rules(settings.rules_path, settings.knowledge_dir)
    prompts = load_prompts(settings.prompts_dir)
    index = retriever.index
    embeddings = index.embeddings
    model = index.config.embedding_model

    def embed_many(texts: Any) -> np.ndarray:
        return np.asarray(embeddings.embed_documents(list(texts)), dtype=np.float32)

    documents = load_folder(settings.knowledge_dir).documents
    texts = [d.text for d in documents]
    lexicon = Lexicon.load(index.config.lexicon_path)
    cache = settings.data_dir / "cache"
    assert settings.router_examples_path is not None
    router = Router.load_or_train(settings.router_examples_path, cache, model, embed_many)
    sessions = open_sessions(settings, sessions_path)
    from server.staff import edited_entries

    curated = CuratedStore(
        settings.knowledge_dir / "answers",
        settings.knowledge_dir,
        lexicon,
        embed_many,
        index.embed,
        cache,
        model,
        texts,
        overrides=lambda: edited_entries(sessions),  # staff edits, live at once
    )
    table = SentenceTable.load(settings.knowledge_dir)
    rates = load_rates(
        settings.knowledge_dir / "rates.yaml",
        documents,
        {e.id: {q.text for q in e.quotes} for e in curated.entries},
    )
    sentence_index = SentenceIndex(table, lexicon, embed_many, cache, model, texts)
    return Chatbot(
        settings,
        retriever,
        rules,
        sessions,
        prompts,
        router,
        curated,
        table,
        sentence_index,
        titles={d.doc_id: d.title for d in documents},
        titles_en={d.doc_id: d.title_en for d in documents if d.title_en},
        curated_enabled=settings.curated_answers,
        metrics=metrics,
        llm_budget=llm.open_budget(settings),
        rates=rates,
    )


# --------------------------------------------------------------------------------------


def _check_message(message: Any, settings: Settings) -> str:
    if not isinstance(message, str):
        raise ChatError("message must be a string")
    try:
        message.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ChatError(
            f"message contains an invalid character at position {exc.start} "
            "(a lone surrogate, not valid Unicode text)"
        ) from None
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


def _citation_check(text: str, citations: list[AnswerCitation]) -> None:
    # An internal guarantee, not a user error: markers and citations must match exactly.
    used = {int(m) for m in re.findall(r"\[(\d+)\]", text)}
    assert used == {c.n for c in citations}, (used, [c.n for c in citations])


def stream(
    bot: Chatbot,
    message: Any,
    session_id: str | None,
    *,
    trace: bool = False,
    replay_key: str | None = None,
) -> Iterator[ChatEvent]:
    """Validate at once (raising ChatError / UnknownSessionError), then return the events.

    With ``replay_key`` the whole response is stored with the turn (one transaction), so a
    retry with that key is answered from it (:func:`replay`) instead of a second turn."""
    text = _check_message(message, bot.settings)
    if session_id is not None:
        state = bot.sessions.get(session_id)
        if state is None:
            raise UnknownSessionError(f"unknown session id {session_id}")
    else:
        state = SessionState(id=new_session_id())
    return _events(bot, text, state, trace, replay_key)


def _understand(bot: Chatbot, message: str, state: SessionState) -> Understanding:
    from server.understand import FACT_FIELDS, extract_facts, understand

    expecting = state.expecting if state.expecting in FACT_FIELDS else None
    understanding = understand(message, has_profile=bool(state.profile), expecting=expecting)
    if understanding.intent == "out_of_scope" and not understanding.injection:
        # the router decides what is out of scope now; the facts still count
        understanding = replace(understanding, facts=extract_facts(message, expecting=expecting))
    return understanding


def _events(
    bot: Chatbot,
    message: str,
    state: SessionState,
    with_trace: bool,
    replay_key: str | None = None,
) -> Iterator[ChatEvent]:
    from server.answers.base import AnswerContext
    from server.answers.dispatch import choose

    started = time.perf_counter()
    timings: dict[str, float] = {}
    understanding = _understand(bot, message, state)
    timings["understand"] = time.perf_counter()
    # "45" or "OK" tell no language: they continue in the conversation's
    spoken = understanding.language if understanding.language_sure else state.language
    language: Literal["de", "en"] = "en" if (spoken or understanding.language) == "en" else "de"
    state.language = language
    if not understanding.injection:
        state.profile = _merge(state.profile, understanding.facts)
    vector = bot.embed(message)  # one embedding: router, curated matcher, retrieval
    timings["embed"] = time.perf_counter()
    route = bot.router.classify(message, vector)
    timings["route"] = time.perf_counter()
    ctx = AnswerContext(
        bot=bot,
        message=message,
        language=language,
        templates=bot.prompts.for_language(language),
        understanding=understanding,
        route=route,
        vector=vector,
        state=state,
        previous=dict(state.context),
    )
    with noting_retrieval() as retrieval:
        draft = choose(ctx)
    timings["answer"] = time.perf_counter()
    # Seconds per stage for the metrics; the retrieval inside the answer module counted on
    # its own, and the time this generator waits at a yield (the client reading) left out.
    stages = {
        "understand": timings["understand"] - started,
        "embed": timings["embed"] - timings["understand"],
        "route": timings["route"] - timings["embed"],
        "retrieve": retrieval.seconds,
        "answer": max(0.0, timings["answer"] - timings["route"] - retrieval.seconds),
    }
    waited = 0.0
    used_llm: bool | None = None
    state.expecting = None
    if draft.asked:
        state.asked += [f for f in draft.asked if f not in state.asked]
        price = "external_price_per_user_month_eur"
        state.expecting = (
            price if price in draft.asked and draft.module == "costs" else draft.asked[0]
        )
    pieces: Iterable[str] = draft.pieces
    registry = ctx.registry
    citations_override: list[AnswerCitation] | None = None
    if bot.settings.llm_base_url and draft.outcome == "answer":
        # The deterministic answer is built first: it is the fallback and, for a
        # recommendation, the scoring result the model has to put into words.
        fallback = list(pieces)
        candidates = list(registry.passages)
        candidates += [p for p in draft.candidates if p.id not in {c.id for c in candidates}]
        asked_at = time.perf_counter()
        generated = llm.generate(
            bot.settings,
            ctx.templates,
            message,
            candidates,
            "".join(fallback),
            budget=bot.llm_budget,
            metrics=bot.metrics,
        )
        stages["llm"] = time.perf_counter() - asked_at
        used_llm = generated is not None
        if generated is not None:
            pieces = [generated.answer]
            citations_override = generated.citations
        else:
            pieces = fallback
    intent: Intent = _INTENT_OF_MODULE.get(draft.module, "fact")
    trace = {**draft.trace, "module": draft.module}
    meta: dict[str, Any] = {
        "session_id": state.id,
        "intent": intent,
        "outcome": draft.outcome,
        "language": language,
        "profile": dict(state.profile),
        "recommendation": draft.recommendation.model_dump() if draft.recommendation else None,
        "asked": list(draft.asked),
        "follow_up": _unique(draft.follow_up)[:4],
    }
    paused = time.perf_counter()
    yield ChatEvent("meta", meta)
    waited += time.perf_counter() - paused
    parts: list[str] = []
    for piece in pieces:
        parts.append(piece)
        paused = time.perf_counter()
        yield ChatEvent("delta", {"text": piece})
        waited += time.perf_counter() - paused
    answer_text = "".join(parts)
    citations = registry.citations if citations_override is None else citations_override
    _citation_check(answer_text, citations)
    paused = time.perf_counter()
    yield ChatEvent("citations", {"citations": [c.model_dump() for c in citations]})
    waited += time.perf_counter() - paused
    state.context = {**draft.context, "clarified": bool(draft.context.get("clarified"))}
    stored: tuple[str, str] | None = None
    if replay_key is not None:
        response = {
            **meta,
            "answer": answer_text,
            "citations": [c.model_dump() for c in citations],
            "degraded": retrieval.degraded,
        }
        stored = (replay_key, json.dumps(response, ensure_ascii=False))
    storing = time.perf_counter()
    stages["compose"] = max(0.0, storing - timings["answer"] - stages.get("llm", 0.0) - waited)
    bot.sessions.save_turn(state, message, answer_text, intent, replay=stored)
    stages["store"] = time.perf_counter() - storing
    record_answer(
        bot.metrics,
        AnswerRecord(
            session_id=state.id,
            module=draft.module,
            outcome=draft.outcome,
            label=route.label,
            language=language,
            degraded=retrieval.degraded,
            decline_reason=draft.trace.get("reason") if draft.outcome == "decline" else None,
            llm=used_llm,
            stages=stages,
        ),
    )
    done: dict[str, Any] = {"session_id": state.id, "degraded": retrieval.degraded}
    if with_trace:
        marks, previous = {}, started
        for stage, at in timings.items():
            marks[stage] = round((at - previous) * 1000, 1)
            previous = at
        marks["total"] = round((time.perf_counter() - started) * 1000, 1)
        trace["timings_ms"] = marks
        done["trace"] = trace
    yield ChatEvent("done", done)


def replay(response: dict[str, Any]) -> Iterator[ChatEvent]:
    """A stored response as the events of a stream (a retry with the same key)."""
    skip = ("answer", "citations", "trace", "degraded")
    meta = {k: v for k, v in response.items() if k not in skip}
    yield ChatEvent("meta", meta)
    yield ChatEvent("delta", {"text": response["answer"]})
    yield ChatEvent("citations", {"citations": response["citations"]})
    done = {"session_id": response["session_id"], "degraded": response.get("degraded", False)}
    yield ChatEvent("done", done)


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def answer(
    bot: Chatbot, message: Any, session_id: str | None, *, trace: bool = False
) -> ChatResponse:
    """The whole answer at once; the same events as :func:`stream`, collected."""
    return collect(stream(bot, message, session_id, trace=trace))


def collect(events: Iterator[ChatEvent]) -> ChatResponse:
    """One :class:`ChatResponse` from the events of :func:`stream`."""
    meta: dict[str, Any] = {}
    parts: list[str] = []
    citations: list[dict[str, Any]] = []
    trace: dict[str, Any] | None = None
    degraded = False
    for event in events:
        if event.event == "meta":
            meta = event.data
        elif event.event == "delta":
            parts.append(event.data["text"])
        elif event.event == "citations":
            citations = event.data["citations"]
        elif event.event == "done":
            trace = event.data.get("trace")
            degraded = bool(event.data.get("degraded"))
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
        trace=trace,
        degraded=degraded,
    )
