"""Browser security headers on every response, and the CORS policy for the widget.

The advisor's own pages load nothing from elsewhere and nothing inline, so one strict policy
fits them all; FastAPI's /docs loads Swagger UI from a CDN and keeps its own defaults.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from server.routes.web import PAGE_CSP

__all__ = ["SecurityHeaders", "cors_origins"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]
_DOCS = ("/docs", "/redoc", "/openapi.json")


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"strict-origin-when-cross-origin"),
                ]
                if not path.startswith(_DOCS):
                    extra.append((b"content-security-policy", PAGE_CSP.encode()))
                if path.startswith("/api/"):
                    extra.append((b"cache-control", b"no-store"))
                headers += [(k, v) for k, v in extra if k not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def cors_origins(allowed: list[str], public_url: str | None) -> list[str]:
    """The origins that may call the API from a browser: the configured ones and the
    advisor's own public origin (its own pages need no CORS when served from it)."""
    origins = [o.rstrip("/") for o in allowed]
    if public_url:
        origin = "/".join(public_url.rstrip("/").split("/")[:3])
        if origin not in origins:
            origins.append(origin)
    return origins
