"""Translate typed Settings into the index contract owned by ``ingest`` and the guard in
front of Chroma."""

from __future__ import annotations

from ingest.index import IndexConfig
from server.chroma_guard import ChromaGuard
from server.settings import Settings


def index_config(settings: Settings) -> IndexConfig:
    return IndexConfig(
        index_dir=settings.index_dir,
        lexicon_path=settings.knowledge_dir / "lexicon.yaml",
        embedding_model=settings.embedding_model,
        collection_prefix=settings.collection,
        chroma_url=settings.chroma_url,
        generation_grace_seconds=settings.generation_grace_seconds,
    )


def chroma_guard(settings: Settings) -> ChromaGuard:
    return ChromaGuard(
        timeout=settings.chroma_timeout_seconds,
        failures=settings.chroma_breaker_failures,
        cooldown=settings.chroma_breaker_cooldown_seconds,
    )
