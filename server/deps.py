"""Dependency wiring for routes: what the lifespan opened, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from server.retrieval import HybridRetriever
from server.settings import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_retriever(request: Request) -> HybridRetriever:
    retriever: HybridRetriever = request.app.state.retriever
    return retriever


def get_rules(request: Request) -> Any:
    return request.app.state.rules


SettingsDep = Annotated[Settings, Depends(get_settings)]
RetrieverDep = Annotated[HybridRetriever, Depends(get_retriever)]
