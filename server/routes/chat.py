"""Chat routes: POST /api/chat, POST /api/chat/stream (SSE), DELETE /api/sessions/{id}."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Path, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse

from server.chat import (
    Chatbot,
    ChatError,
    ChatEvent,
    ChatResponse,
    UnknownSessionError,
    collect,
    replay,
)
from server.chat import stream as chat_stream
from server.deps import ChatbotDep
from server.openapi import errors
from server.sessions import SESSION_ID_PATTERN

router = APIRouter(tags=["chat"])
SessionId = Annotated[
    str,
    Path(pattern=SESSION_ID_PATTERN, description="The session id returned by /api/chat."),
]


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    # min 1 and at most ADVISOR_MAX_MESSAGE_CHARS: checked in _start, stated by server.openapi
    message: str = Field(description="The visitor's question, German or English.")
    session_id: str | None = Field(
        None,
        pattern=SESSION_ID_PATTERN,
        description="Continue this conversation; null starts a new one.",
    )


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=r"^[A-Za-z0-9_.:-]{8,128}$",
        description="A retry with the same key gets the first answer again; no second turn.",
    ),
]
log = logging.getLogger("advisor.chat")


def _replay_key(key: str | None) -> str | None:
    return f"idem:{key}" if key else None


def _start(bot: Chatbot, request: ChatRequest, key: str | None) -> Iterator[ChatEvent]:
    """The answer's events; bad input fails here, before anything is sent."""
    limit = bot.settings.max_message_chars
    if len(request.message) > limit:
        # the raw length, as the schema states it (the chat itself measures the stripped text)
        raise HTTPException(
            status_code=422,
            detail=f"message is too long ({len(request.message)} characters; at most {limit})",
        )
    try:
        return chat_stream(bot, request.message, request.session_id, replay_key=_replay_key(key))
    except ChatError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    except UnknownSessionError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None


_UNKNOWN_SESSION = {404: "unknown or expired session id"}
# One event of the stream (what a client's EventSource hands over); ": ping" comments keep
# idle proxies from closing the connection and are no events.
_SSE_EVENT = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": ["meta", "delta", "citations", "done", "error"]},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "description": "A JSON object: meta (session_id, intent, outcome, language, "
            "profile, recommendation, asked, follow_up), delta (text), citations (citations), "
            "done, error (detail).",
        },
    },
}


@router.post(
    "/api/chat", response_model=ChatResponse, responses=errors(404, 422, why=_UNKNOWN_SESSION)
)
def post_chat(
    request: ChatRequest, bot: ChatbotDep, idempotency_key: IdempotencyKey = None
) -> Response | ChatResponse:
    stored = bot.sessions.recall(_replay_key(idempotency_key) or "") if idempotency_key else None
    if stored is not None:
        return JSONResponse(json.loads(stored), headers={"Idempotent-Replayed": "true"})
    return collect(_start(bot, request, idempotency_key))


@router.post(
    "/api/chat/stream",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "Server-Sent Events: meta, delta…, citations, done (or error); "
            "each event's data is a JSON object",
            "content": {"text/event-stream": {"schema": _SSE_EVENT}},
        },
        **errors(404, 422, why=_UNKNOWN_SESSION),
    },
)
def post_chat_stream(
    request: ChatRequest, bot: ChatbotDep, idempotency_key: IdempotencyKey = None
) -> EventSourceResponse:
    """The same answer as /api/chat, as Server-Sent Events: meta, delta…, citations, done;
    an ``error`` event if the answer fails after the stream began (then retry /api/chat with
    the same Idempotency-Key)."""
    stored = bot.sessions.recall(_replay_key(idempotency_key) or "") if idempotency_key else None
    events = replay(json.loads(stored)) if stored else _start(bot, request, idempotency_key)

    def sse() -> Iterator[dict[str, str]]:
        try:
            for event in events:
                yield {"event": event.event, "data": json.dumps(event.data, ensure_ascii=False)}
        except Exception:
            log.exception("the answer failed after the stream began")
            detail = {"detail": "the answer could not be completed; please send it again"}
            yield {"event": "error", "data": json.dumps(detail)}

    # proxies must pass the events on as they come
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return EventSourceResponse(sse(), ping=15, headers=headers)


@router.delete(
    "/api/sessions/{session_id}",
    status_code=204,
    responses=errors(404, why={404: "unknown or expired session id"}),
)
def delete_session(session_id: SessionId, bot: ChatbotDep) -> Response:
    if not bot.sessions.delete(session_id):
        raise HTTPException(status_code=404, detail=f"unknown session id {session_id}")
    return Response(status_code=204)
