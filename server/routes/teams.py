"""POST /api/teams: the Microsoft Teams outgoing webhook (off without ADVISOR_TEAMS_SECRET)."""

from __future__ import annotations

import concurrent.futures
import contextvars
import json
import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from server.channels.teams import (
    ActivityError,
    SignatureError,
    card_reply,
    parse_activity,
    text_reply,
    verify,
)
from server.chat import ChatError, ChatResponse, collect, stream
from server.compose import AnswerCitation, CitationRegistry, find_span
from server.deps import ChatbotDep, SettingsDep
from server.openapi import errors

router = APIRouter(tags=["teams"])
log = logging.getLogger("advisor.teams")
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="teams")


@router.post(
    "/api/teams",
    summary="Microsoft Teams outgoing webhook",
    # the route reads the raw bytes (the signature covers exactly them); this documents them
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["type", "id", "text", "conversation"],
                        "properties": {
                            "type": {"const": "message"},
                            "id": {"type": "string", "minLength": 1, "maxLength": 200},
                            "text": {"type": "string", "description": "<at>mention</at> question"},
                            "conversation": {
                                "type": "object",
                                "required": ["id"],
                                "properties": {"id": {"type": "string"}},
                            },
                        },
                    }
                }
            },
        }
    },
    responses=errors(
        400,
        401,
        404,
        why={
            400: "not a usable message activity",
            401: "missing, malformed or wrong HMAC signature",
            404: "the Teams channel is off (no ADVISOR_TEAMS_SECRET)",
        },
    ),
)
async def post_teams(request: Request, settings: SettingsDep, bot: ChatbotDep) -> JSONResponse:
    if settings.teams_secret is None:
        raise HTTPException(status_code=404, detail="the Teams channel is off")
    body = await request.body()  # the raw bytes: the signature covers exactly these
    try:
        verify(settings.teams_secret.get_secret_value(), request.headers.get("authorization"), body)
    except SignatureError as exc:
        raise HTTPException(status_code=401, detail=str(exc)) from None
    try:
        activity = parse_activity(body, settings.max_message_chars)
    except ActivityError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    replay_key = f"teams:{activity.id}"
    stored = bot.sessions.recall(replay_key)
    if stored is not None:
        request.app.state.metrics.teams_replays.inc()  # no second turn for a resent activity
        return JSONResponse(json.loads(stored), headers={"Idempotent-Replayed": "true"})
    channel_key = f"teams:{activity.conversation_id}"
    session = bot.sessions.channel_session(channel_key)
    if session is not None and bot.sessions.get(session) is None:
        session = None  # expired or deleted: a new conversation

    def run() -> ChatResponse:
        # the activity id claims the turn inside its own transaction: two copies that both
        # missed the recall above (a retry racing the first delivery, on any instance) store
        # one turn
        return collect(stream(bot, activity.text, session, replay_key=f"teams-turn:{activity.id}"))

    # in this request's context, so the answer's facts reach its access line
    future = _pool.submit(contextvars.copy_context().run, run)
    try:
        response = future.result(timeout=settings.teams_deadline_seconds)
    except concurrent.futures.TimeoutError:
        log.warning(
            "Teams answer exceeded %.1f s; replying with passages", settings.teams_deadline_seconds
        )
        reply = _passages_reply(bot, activity.text)
        bot.sessions.remember(replay_key, json.dumps(reply, ensure_ascii=False))
        return JSONResponse(reply)
    except ChatError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    bot.sessions.bind_channel(channel_key, response.session_id)
    english = response.language == "en"
    if settings.public_url and settings.teams_cards:
        reply = card_reply(response.answer, response.citations, english, settings.public_url)
    else:
        reply = text_reply(response.answer, response.citations, english)
    bot.sessions.remember(replay_key, json.dumps(reply, ensure_ascii=False))
    return JSONResponse(reply)


def _passages_reply(bot: Any, question: str) -> dict[str, Any]:
    """Past the deadline: the best cited passages, each with its first sentences."""
    registry = CitationRegistry()
    lines = ["Die ausführliche Antwort dauert zu lange – das sagen die Unterlagen dazu:"]
    for passage in bot.retriever.retrieve(question, 2):
        text = " ".join(line for line in passage.text.splitlines() if not line.startswith("#"))
        snippet = " ".join(text.split())[:240]
        span = find_span(passage.text, snippet.split(" | ")[0][:120]) or passage.text[:120]
        n = registry.cite(passage, span)
        lines.append(f"- {snippet}… [{n}]")
    citations: list[AnswerCitation] = registry.citations
    return text_reply("\n".join(lines), citations, english=False)
