"""The FastAPI application factory: ``create_app(settings)``, no work at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from server.index_config import chroma_guard, index_config
from server.openapi import advisor_openapi
from server.retrieval import HybridRetriever, PassageIndex
from server.settings import Settings


def _validation_message(errors: list[Any]) -> str:
    parts = []
    for err in errors:
        where = [str(p) for p in err.get("loc", ())]
        loc = ".".join(p for p in where if p not in ("body", "query", "path", "header"))
        parts.append(f"{loc or (where[0] if where else 'request')}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the index, the model and the rules are opened in the lifespan."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from server.chat import open_chatbot

        app.state.settings = settings
        from server.serving import limit_compute_threads

        limit_compute_threads(settings)
        # Fails fast (IndexMissingError / ModelMismatchError) instead of serving nonsense.
        index = PassageIndex(
            index_config(settings),
            dense_weight_=settings.dense_weight,
            guard=chroma_guard(settings),
        )
        index.embeddings.embed_query("warm-up")  # first request should not pay the model load
        app.state.retriever = HybridRetriever(index, k=settings.search_k_default)
        app.state.chatbot = open_chatbot(settings, app.state.retriever, metrics=metrics)
        app.state.rules = app.state.chatbot.rules
        app.state.sessions = app.state.chatbot.sessions
        try:
            yield
        finally:
            app.state.sessions.close()
            metrics.worker_exit()

    app = FastAPI(
        title="IT-Outsourcing-Berater",
        description="Answers from five German source documents, with citations.",
        version="0.1.0",
        lifespan=lifespan,
        # /docs is served by server.routes.docs from local files under the pages' CSP;
        # ReDoc needs inline styles, so there is none
        docs_url=None,
        redoc_url=None,
    )
    from server.metrics import AdvisorMetrics, RequestObserver

    # made here, not in the lifespan: the middleware below reports to it
    metrics = app.state.metrics = AdvisorMetrics()
    app.openapi = lambda: advisor_openapi(app, settings)  # type: ignore[method-assign]

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # One readable sentence naming the field, plus the structured details.
        errors = list(exc.errors())
        return JSONResponse(
            status_code=422,
            content={"detail": _validation_message(errors), "errors": _jsonable(errors)},
        )

    @app.exception_handler(Exception)
    async def _failed(request: Request, exc: Exception) -> JSONResponse:
        # Still logged by Starlette. This answer is sent outside every middleware, so it
        # carries the security headers itself.
        from server.security import security_headers

        headers = dict(security_headers(request.url.path))
        return JSONResponse(status_code=500, content={"detail": "internal error"}, headers=headers)

    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from server.guards import RequestDeadline, RequestGuard

    # add_middleware wraps: the last added runs first. Innermost the guards, then the
    # time limit around them, CORS (preflights are never counted), the security headers on
    # every response (refusals included), and outermost the trusted proxies' rewrite of
    # the client address, which the rate limit counts.
    app.add_middleware(
        RequestGuard,
        rate_limit=settings.rate_limit,
        max_body_bytes=settings.max_body_bytes,
        storage=settings.rate_limit_storage,
        session_daily_cap=settings.session_daily_cap,
        global_daily_cap=settings.global_daily_cap,
        body_timeout=settings.body_timeout_seconds,
        on_refusal=metrics.refused,
    )
    app.add_middleware(
        RequestDeadline,
        seconds=settings.request_timeout_seconds,
        longer={"/api/staff/": settings.staff_request_timeout_seconds},
    )

    from fastapi.middleware.cors import CORSMiddleware

    from server.security import SecurityHeaders, cors_origins

    app.add_middleware(
        CORSMiddleware,
        allow_origins=cors_origins(settings.allowed_origins, settings.public_url),
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["Content-Type", "Accept", "Idempotency-Key"],
        expose_headers=["Retry-After"],
        allow_credentials=False,
        max_age=600,
    )
    app.add_middleware(SecurityHeaders)
    # every request timed and counted, refusals included, with the real client address
    app.add_middleware(
        RequestObserver,
        metrics=metrics,
        routes=lambda: app.router.routes,
        log_client_ip=settings.log_client_ip,
    )
    if settings.trusted_proxies:
        # The client is the right-most X-Forwarded-For entry that is not a trusted proxy
        # (uvicorn's rule; idempotent when uvicorn applied it already, see server.serving).
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)

    from server.routes import chat, docs, recommend, search, staff, teams, web
    from server.routes import metrics as metrics_route

    app.include_router(search.router)
    app.include_router(recommend.router)
    app.include_router(chat.router)
    app.include_router(teams.router)
    app.include_router(staff.router)
    app.include_router(docs.router)
    app.include_router(metrics_route.router)
    app.include_router(web.router)  # last: its /{name} must not shadow the API
    return app


def _jsonable(errors: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in errors
    ]
