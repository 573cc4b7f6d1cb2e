"""Search and health routes: /api/search, /healthz (liveness), /readyz (readiness)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ingest.index import Manifest
from server.deps import RetrieverDep, SettingsDep
from server.retrieval import Passage, Readiness, noting_retrieval

router = APIRouter(tags=["search"])


class SearchResponse(BaseModel):
    passages: list[Passage]
    degraded: bool = Field(
        False,
        description="True when Chroma was unavailable: the passages are ranked by the "
        "lexical index alone (their dense scores are 0).",
    )


class IndexSummary(BaseModel):
    generation: str
    chunks: int
    documents: int
    embedding_model: str


class Health(BaseModel):
    status: str = Field(description="Always ok: the process serves.")
    index: IndexSummary | None = Field(description="The index generation being served.")


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
    with noting_retrieval() as retrieval:
        passages = retriever.retrieve(query, k)
    return SearchResponse(passages=passages, degraded=retrieval.degraded)


@router.get("/healthz", tags=["health"], response_model=Health)
def healthz(retriever: RetrieverDep) -> Health:
    """Liveness: 200 whenever the process serves, whatever Chroma does (see /readyz)."""
    manifest: Manifest | None
    try:
        manifest = retriever.index.refresh().manifest  # a stat, or a switch after an ingest
    except Exception:
        # liveness does not depend on the disk: the generation being served
        manifest = retriever.index.loaded
    if manifest is None:
        return Health(status="ok", index=None)
    summary = IndexSummary(
        generation=manifest.generation,
        chunks=manifest.chunks,
        documents=len(manifest.documents),
        embedding_model=manifest.embedding_model,
    )
    return Health(status="ok", index=summary)


@router.get(
    "/readyz",
    tags=["health"],
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Degraded or unavailable."}},
)
def readyz(retriever: RetrieverDep) -> JSONResponse:
    """Readiness: 200 when the index is readable and Chroma answers; 503 with what is wrong
    (``status`` degraded: answers come from the lexical index alone; unavailable: the index
    cannot be read)."""
    readiness = retriever.index.readiness()
    code = 200 if readiness.status == "ready" else 503
    return JSONResponse(readiness.model_dump(), status_code=code)
