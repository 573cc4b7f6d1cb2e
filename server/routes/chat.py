"""Chat routes: POST /api/chat, POST /api/chat/stream (SSE), DELETE /api/sessions/{id}."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse

from server.chat import (
    Chatbot,
    ChatError,
    ChatEvent,
    ChatResponse,
    UnknownSessionError,
    collect,
)
from server.chat import stream as chat_stream
from server.deps import ChatbotDep
from server.sessions import SESSION_ID_PATTERN

router = APIRouter(tags=["chat"])
SessionId = Annotated[
    str,
    Path(pattern=SESSION_ID_PATTERN, description="The session id returned by /api/chat."),
]


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    message: str = Field(description="The visitor's question, German or English.")
    session_id: str | None = Field(
        None,
        pattern=SESSION_ID_PATTERN,
        description="Continue this conversation; null starts a new one.",
    )


def _start(bot: Chatbot, request: ChatRequest) -> Iterator[ChatEvent]:
    """The answer's events; bad input fails here, before anything is sent."""
    try:
        return chat_stream(bot, request.message, request.session_id)
    except ChatError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    except UnknownSessionError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None


@router.post("/api/chat", response_model=ChatResponse)
def post_chat(request: ChatRequest, bot: ChatbotDep) -> ChatResponse:
    return collect(_start(bot, request))


@router.post("/api/chat/stream")
def post_chat_stream(request: ChatRequest, bot: ChatbotDep) -> EventSourceResponse:
    """The same answer as /api/chat, as Server-Sent Events: meta, delta…, citations, done."""
    events = _start(bot, request)  # bad input fails here, before the stream starts

    def sse() -> Iterator[dict[str, str]]:
        for event in events:
            yield {"event": event.event, "data": json.dumps(event.data, ensure_ascii=False)}

    return EventSourceResponse(sse(), ping=15)


@router.delete("/api/sessions/{session_id}", status_code=204)
def delete_session(session_id: SessionId, bot: ChatbotDep) -> Response:
    if not bot.sessions.delete(session_id):
        raise HTTPException(status_code=404, detail=f"unknown session id {session_id}")
    return Response(status_code=204)
