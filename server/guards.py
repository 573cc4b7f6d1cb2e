"""Request guards for the public API: rate limit and daily caps, body size and read deadline,
readable parse errors, and a time limit on every request.

They run as pure ASGI middleware in front of the routes, so an oversized, stalled, excess or
unparseable request is refused before FastAPI reads its body or a model is touched. Every
refusal is JSON with a ``detail`` sentence naming the cause, like every other client error of
the API (``server.openapi.ErrorResponse``).

Clients are told apart by ``scope["client"]``: the peer address, or, when the peer is a
trusted reverse proxy, the address uvicorn's ``ProxyHeadersMiddleware`` (installed by
``create_app`` with ``ADVISOR_TRUSTED_PROXIES``) took from ``X-Forwarded-For``.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from limits import RateLimitItem, RateLimitItemPerDay, parse_many
from limits.storage import MovingWindowSupport, storage_from_string
from limits.strategies import MovingWindowRateLimiter

__all__ = ["RequestDeadline", "RequestGuard", "parse_rate_limit"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Routes whose bodies are JSON for FastAPI to read; /api/teams reads its raw bytes itself
# (the signature covers them) and names its own parse errors.
RAW_BODY_PATHS = ("/api/teams",)
CHAT_PATHS = ("/api/chat", "/api/chat/stream")
_BODY_METHODS = {"POST", "PUT", "PATCH"}


def parse_rate_limit(value: str) -> list[RateLimitItem]:
    """``"30/minute;500/day"`` to rate limit items; ValueError with the offending text."""
    try:
        items = parse_many(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a rate limit such as '30/minute;500/day'") from exc
    if not items:
        raise ValueError(f"{value!r} names no rate limit")
    return list(items)


class Refusal(Exception):
    """A request the guard answers itself: status, the ``detail`` sentence, extra headers."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


class RequestGuard:
    """Refuse requests to ``prefixes`` over the rate limit or a daily cap (429), over the
    body cap (413), whose body stalls (408), or whose JSON body cannot be read (400, 415).

    The limiter counts in ``storage`` (a `limits` URI); ``memory://`` is per process, so with
    several workers each one counts on its own.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        rate_limit: str,
        max_body_bytes: int,
        prefixes: tuple[str, ...] = ("/api/",),
        storage: str = "memory://",
        session_daily_cap: int = 0,
        global_daily_cap: int = 0,
        body_timeout: float = 10.0,
        raw_body_paths: tuple[str, ...] = RAW_BODY_PATHS,
        on_refusal: Callable[[str, str], None] | None = None,
    ) -> None:
        self.app = app
        self.limits = parse_rate_limit(rate_limit) if rate_limit else []
        self.max_body_bytes = max_body_bytes
        self.prefixes = prefixes
        self.session_cap = RateLimitItemPerDay(session_daily_cap) if session_daily_cap else None
        self.global_cap = RateLimitItemPerDay(global_daily_cap) if global_daily_cap else None
        self.body_timeout = body_timeout
        self.raw_body_paths = raw_body_paths
        # told of every 429 (for the metrics): ("rate_limit", the limit) or ("daily_cap",
        # "global" / "session")
        self.on_refusal = on_refusal
        backend = storage_from_string(storage)
        if not isinstance(backend, MovingWindowSupport):
            raise ValueError(f"the limits storage {storage!r} cannot count a moving window")
        self._limiter = MovingWindowRateLimiter(backend)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        try:
            self._count_client(scope)
            length = headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
                raise self._too_large()
            try:
                async with asyncio.timeout(self.body_timeout):
                    body = await self._read_body(receive)
            except TimeoutError:
                raise Refusal(
                    408,
                    f"the request body did not arrive within {self.body_timeout:g} s",
                    {"connection": "close"},
                ) from None
            if body is None:
                return  # the client went away before sending its body
            document = self._json_body(scope, headers, body)
            self._count_chat(scope, document)
        except Refusal as refusal:
            await _json(send, refusal.status, refusal.detail, refusal.headers)
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # later calls wait for the disconnect, as usual

        await self.app(scope, replay, send)

    async def _read_body(self, receive: Receive) -> bytes | None:
        # Read here, up to the cap, and replayed to the app: a chunked upload without
        # Content-Length is refused as soon as it passes the cap, and the app never sees a
        # partial body.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _too_large(self) -> Refusal:
        return Refusal(413, f"request body too large (at most {self.max_body_bytes} bytes)")

    def _json_body(self, scope: Scope, headers: dict[str, str], body: bytes) -> Any:
        """The parsed JSON body of an API call, or a refusal naming what is wrong with it
        (FastAPI would say only 'There was an error parsing the body')."""
        path = str(scope.get("path", ""))
        if not body or scope.get("method") not in _BODY_METHODS or path in self.raw_body_paths:
            return None
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        # no Content-Type at all: FastAPI reads the body as JSON, so do we
        if media_type and media_type != "application/json" and not media_type.endswith("+json"):
            raise Refusal(415, f"the body must be application/json, not {media_type[:80]!r}")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Refusal(
                400,
                f"the body is not valid UTF-8 (byte 0x{body[exc.start]:02x} at position "
                f"{exc.start})",
            ) from None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            raise Refusal(400, f"the body is not valid JSON: {exc.msg} ({where})") from None
        except RecursionError:
            raise Refusal(400, "the body's JSON is nested too deeply") from None

    def _count_client(self, scope: Scope) -> None:
        if not self.limits:
            return
        client = scope.get("client")
        key = client[0] if client else "unknown"
        for item in self.limits:
            if not self._limiter.hit(item, "client", key):
                if self.on_refusal is not None:
                    self.on_refusal("rate_limit", str(item))
                raise Refusal(
                    429,
                    f"too many requests: at most {item} per client; try again later",
                    {"retry-after": str(self._retry_after(item, "client", key))},
                )

    def _count_chat(self, scope: Scope, document: Any) -> None:
        """The daily caps of the chat: the whole advisor's and the conversation's."""
        if scope.get("path") not in CHAT_PATHS or scope.get("method") != "POST":
            return
        session = document.get("session_id") if isinstance(document, dict) else None
        counted: list[tuple[RateLimitItem, tuple[str, ...]]] = []
        if self.global_cap is not None:
            counted.append((self.global_cap, ("global",)))
        if self.session_cap is not None and isinstance(session, str) and session:
            counted.append((self.session_cap, ("session", session[:64])))
        # test all before counting any: a refused message uses up no cap
        for item, keys in counted:
            if not self._limiter.test(item, *keys):
                if self.on_refusal is not None:
                    self.on_refusal("daily_cap", keys[0])
                what = (
                    f"the advisor's daily limit of {item.amount} chat messages is reached"
                    if keys[0] == "global"
                    else f"this conversation reached its daily limit of {item.amount} messages"
                )
                raise Refusal(
                    429,
                    f"{what}; try again later",
                    {"retry-after": str(self._retry_after(item, *keys))},
                )
        for item, keys in counted:
            self._limiter.hit(item, *keys)

    def _retry_after(self, item: RateLimitItem, *keys: str) -> int:
        reset = self._limiter.get_window_stats(item, *keys).reset_time
        return max(1, math.ceil(reset - time.time()))


class RequestDeadline:
    """A time limit on every request: past ``seconds`` without a response the client gets a
    503 (and the connection is closed if the response had already begun, such as a stream).

    A synchronous route keeps its worker thread until it returns; the limit frees the client,
    not the thread.
    """

    def __init__(
        self, app: ASGIApp, *, seconds: float, longer: dict[str, float] | None = None
    ) -> None:
        self.app = app
        self.seconds = seconds
        self.longer = longer or {}  # path prefix: its own limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        seconds = next((s for p, s in self.longer.items() if path.startswith(p)), self.seconds)
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        deadline = asyncio.timeout(seconds)
        try:
            async with deadline:
                await self.app(scope, receive, tracked)
        except TimeoutError:
            if not deadline.expired():
                raise  # a timeout of the app's own, not this limit
            if not started:
                await _json(
                    send,
                    503,
                    f"the request took longer than {seconds:g} s; please try again",
                    {"retry-after": "5", "connection": "close"},
                )


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for k, v in scope["headers"]:
        name = k.decode("latin-1").lower()
        value = v.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


async def _json(send: Send, status: int, detail: str, extra: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
