"""Request guards for the public API: a rate limit per client and a cap on the body size.

Both run as one pure ASGI middleware in front of the routes, so an oversized or excess request
is refused before FastAPI reads its body or a model is touched. The refusals are JSON with a
``detail`` sentence, like every other client error of the API.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

__all__ = ["RequestGuard", "parse_rate_limit"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def parse_rate_limit(value: str) -> list[RateLimitItem]:
    """``"30/minute;500/day"`` to rate limit items; ValueError with the offending text."""
    try:
        items = parse_many(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a rate limit such as '30/minute;500/day'") from exc
    if not items:
        raise ValueError(f"{value!r} names no rate limit")
    return list(items)


class RequestGuard:
    """Refuse requests to ``prefixes`` over the rate limit (429) or the body cap (413).

    Clients are told apart by their address; behind a reverse proxy set ``trust_forwarded``
    so the first ``X-Forwarded-For`` address counts (only then: the header is forgeable).
    The limiter's memory store is per process, which fits the single-process server.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        rate_limit: str,
        max_body_bytes: int,
        prefixes: tuple[str, ...] = ("/api/",),
        trust_forwarded: bool = False,
    ) -> None:
        self.app = app
        self.limits = parse_rate_limit(rate_limit) if rate_limit else []
        self.max_body_bytes = max_body_bytes
        self.prefixes = prefixes
        self.trust_forwarded = trust_forwarded
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refused = self._over_limit(scope, headers)
        if refused is not None:
            await _json(send, 429, refused[0], {"retry-after": str(refused[1])})
            return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await _json(send, 413, self._too_large())
            return

        # The body is read here, up to the cap, and replayed to the app: a chunked upload
        # without Content-Length is refused as soon as it passes the cap, and the app never
        # sees a partial body.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away before sending its body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await _json(send, 413, self._too_large())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # later calls wait for the disconnect, as usual

        await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return f"request body too large (at most {self.max_body_bytes} bytes)"

    def _over_limit(self, scope: Scope, headers: dict[str, str]) -> tuple[str, int] | None:
        if not self.limits:
            return None
        client = scope.get("client")
        key = client[0] if client else "unknown"
        if self.trust_forwarded and headers.get("x-forwarded-for"):
            key = headers["x-forwarded-for"].split(",")[0].strip()
        for item in self.limits:
            if not self._limiter.hit(item, key):
                reset = self._limiter.get_window_stats(item, key).reset_time
                retry = max(1, math.ceil(reset - time.time()))
                return f"too many requests: at most {item} per client; try again later", retry
        return None


async def _json(send: Send, status: int, detail: str, extra: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
