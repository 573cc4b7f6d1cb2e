"""Dependency wiring for routes: what the lifespan opened, as Annotated aliases.

Each getter answers 503 while the app has not finished starting (or failed to), instead of
an AttributeError deep inside a route.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from server.chat import Chatbot
from server.retrieval import HybridRetriever
from server.scoring import Rules
from server.settings import Settings


def _state(request: Request, name: str, kind: type, what: str) -> Any:
    value = getattr(request.app.state, name, None)
    if not isinstance(value, kind):
        raise HTTPException(status_code=503, detail=f"{what} not ready")
    return value


def get_settings(request: Request) -> Settings:
    settings: Settings = _state(request, "settings", Settings, "the settings are")
    return settings


def get_retriever(request: Request) -> HybridRetriever:
    retriever: HybridRetriever = _state(request, "retriever", HybridRetriever, "the index is")
    return retriever


def get_rules(request: Request) -> Rules:
    rules: Rules = _state(request, "rules", Rules, "the scoring rules are")
    return rules


def get_chatbot(request: Request) -> Chatbot:
    bot: Chatbot = _state(request, "chatbot", Chatbot, "the chat is")
    return bot


SettingsDep = Annotated[Settings, Depends(get_settings)]
RetrieverDep = Annotated[HybridRetriever, Depends(get_retriever)]
RulesDep = Annotated[Rules, Depends(get_rules)]
ChatbotDep = Annotated[Chatbot, Depends(get_chatbot)]
