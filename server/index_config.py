"""Translate typed Settings into the index contract owned by ``ingest``."""

from __future__ import annotations

from ingest.index import IndexConfig
from server.settings import Settings


def index_config(settings: Settings) -> IndexConfig:
    return IndexConfig(
        index_dir=settings.index_dir,
        lexicon_path=settings.knowledge_dir / "lexicon.yaml",
        embedding_model=settings.embedding_model,
        collection_prefix=settings.collection,
        chroma_url=settings.chroma_url,
    )
