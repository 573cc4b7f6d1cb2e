"""Browser security headers on every response, and the CORS policy for the widget.

The advisor's pages, /docs included (Swagger UI from local files, see server.routes.docs),
load nothing from elsewhere and nothing inline, so one strict policy fits every response:
pages, static files, JSON answers and refusals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from server.routes.web import PAGE_CSP

__all__ = ["SecurityHeaders", "cors_origins", "security_headers"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]


def security_headers(path: str) -> list[tuple[str, str]]:
    """The headers every response to ``path`` carries."""
    headers = [
        ("content-security-policy", PAGE_CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
        ("x-frame-options", "DENY"),  # frame-ancestors for browsers that predate CSP 2
    ]
    if path.startswith("/api/"):
        headers.append(("cache-control", "no-store"))
    return headers


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [(k.encode(), v.encode()) for k, v in security_headers(str(scope.get("path", "")))]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                message["headers"] = headers + [(k, v) for k, v in extra if k not in present]
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
