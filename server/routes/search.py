"""Search and health routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from server.deps import RetrieverDep, SettingsDep
from server.retrieval import Passage

router = APIRouter(tags=["search"])


class SearchResponse(BaseModel):
    passages: list[Passage]


@router.get("/api/search", response_model=SearchResponse)
def search(
    retriever: RetrieverDep,
    settings: SettingsDep,
    q: Annotated[str, Query(description="the question, German or English")],
    k: Annotated[int, Query(ge=1, le=50, description="how many passages")] = 5,
) -> SearchResponse:
    # the raw length, as the schema states it (server.openapi)
    if len(q) > settings.max_query_chars:
        raise HTTPException(
            422,
            detail=f"query 'q' is too long ({len(q)} characters, "
            f"at most {settings.max_query_chars})",
        )
    query = q.strip()
    if not query:
        raise HTTPException(422, detail="query 'q' is empty")
    return SearchResponse(passages=retriever.retrieve(query, k))


@router.get("/healthz", tags=["health"])
def healthz(retriever: RetrieverDep) -> dict[str, object]:
    manifest = retriever.index.refresh().manifest
    return {
        "status": "ok",
        "index": {
            "generation": manifest.generation,
            "chunks": manifest.chunks,
            "documents": len(manifest.documents),
            "embedding_model": manifest.embedding_model,
        },
    }
