"""Public API guards: rate limit per client, body size cap, session retention."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import ValidationError
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from server.guards import RequestDeadline, RequestGuard
from server.sessions import SessionState, SessionStore, new_session_id
from server.settings import Settings


def _app(
    rate_limit: str = "3/minute",
    max_body_bytes: int = 1_024,
    proxies: list[str] | None = None,
    **kw: Any,
) -> FastAPI:
    app = FastAPI()

    @app.post("/api/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    # /api/echo takes any bytes (as /api/teams does), unless a test asks for JSON
    kw.setdefault("raw_body_paths", ("/api/echo",))
    app.add_middleware(RequestGuard, rate_limit=rate_limit, max_body_bytes=max_body_bytes, **kw)
    if proxies:
        # as create_app does with ADVISOR_TRUSTED_PROXIES; TestClient's peer is "testclient"
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=proxies)
    return app


@pytest.mark.unit
def test_rate_limit_answers_429_with_a_message_and_retry_after() -> None:
    client = TestClient(_app())
    for _ in range(3):
        assert client.post("/api/echo", content=b"x").json() == {"received": 1}
    refused = client.post("/api/echo", content=b"x")
    assert refused.status_code == 429
    assert "too many requests" in refused.json()["detail"]
    assert int(refused.headers["retry-after"]) >= 1
    # only the API is limited: health checks and pages keep working
    assert client.get("/healthz").status_code == 200


@pytest.mark.unit
def test_rate_limit_is_per_client() -> None:
    app = _app(rate_limit="1/minute", proxies=["testclient"])
    client = TestClient(app)
    first = client.post("/api/echo", content=b"x", headers={"x-forwarded-for": "10.0.0.1"})
    other = client.post("/api/echo", content=b"x", headers={"x-forwarded-for": "10.0.0.2"})
    again = client.post("/api/echo", content=b"x", headers={"x-forwarded-for": "10.0.0.1"})
    assert (first.status_code, other.status_code, again.status_code) == (200, 200, 429)


@pytest.mark.unit
def test_forwarded_header_is_ignored_unless_trusted() -> None:
    client = TestClient(_app(rate_limit="1/minute"))
    client.post("/api/echo", content=b"x", headers={"x-forwarded-for": "10.0.0.1"})
    forged = client.post("/api/echo", content=b"x", headers={"x-forwarded-for": "10.0.0.9"})
    assert forged.status_code == 429


@pytest.mark.unit
def test_oversized_body_is_refused_with_413() -> None:
    client = TestClient(_app(rate_limit=""))
    assert client.post("/api/echo", content=b"x" * 1_024).json() == {"received": 1_024}
    refused = client.post("/api/echo", content=b"x" * 1_025)
    assert refused.status_code == 413
    assert refused.json()["detail"] == "request body too large (at most 1024 bytes)"


@pytest.mark.unit
def test_chunked_body_without_length_is_counted() -> None:
    client = TestClient(_app(rate_limit=""))

    def chunks(n: int) -> Iterator[bytes]:
        for _ in range(n):
            yield b"y" * 512

    assert client.post("/api/echo", content=chunks(2)).json() == {"received": 1_024}
    refused = client.post("/api/echo", content=chunks(3))
    assert refused.status_code == 413


@pytest.mark.unit
def test_bad_rate_limit_setting_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="rate limit"):
        Settings(rate_limit="lots")
    assert Settings(rate_limit="").rate_limit == ""


@pytest.mark.integration
def test_the_chat_is_rate_limited(settings: Settings) -> None:
    limited = settings.model_copy(update={"rate_limit": "2/minute"})
    from server.app import create_app

    with TestClient(create_app(limited)) as client:
        codes = [
            client.post("/api/chat", json={"message": "Was ist ein Key-User?"}).status_code
            for _ in range(3)
        ]
        assert codes == [200, 200, 429]
        big = client.post("/api/chat", content=b"{" + b" " * 40_000 + b"}")
        assert big.status_code in (413, 429)


@pytest.mark.unit
def test_expired_sessions_are_gone(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = SessionStore(path, ttl_seconds=60)
    old, fresh = SessionState(id=new_session_id()), SessionState(id=new_session_id())
    store.save_turn(old, "frage", "antwort", "fact")
    store.save_turn(fresh, "frage", "antwort", "fact")
    # age the first conversation beyond the retention time
    store.db.run(
        lambda tx: tx.execute(
            "UPDATE sessions SET updated = ? WHERE id = ?", (time.time() - 120, old.id)
        )
    )
    assert store.get(old.id) is None, "expired: unknown to the user at once"
    assert store.get(fresh.id) is not None
    store.close()
    reopened = SessionStore(path, ttl_seconds=60)  # the next start purges it
    assert reopened.messages(old.id) == []
    assert len(reopened.messages(fresh.id)) == 2
    reopened.close()


# --- trusted proxies ---------------------------------------------------------------------


@pytest.mark.unit
def test_behind_trusted_proxies_the_right_most_untrusted_address_counts() -> None:
    # the peer and 10.0.0.0/8 are our proxies; whatever the client wrote comes first
    client = TestClient(_app(rate_limit="2/minute", proxies=["testclient", "10.0.0.0/8"]))
    codes = [
        client.post(
            "/api/echo",
            content=b"x",
            headers={"x-forwarded-for": f"198.51.100.{n}, 203.0.113.7, 10.0.0.3"},
        ).status_code
        for n in range(4)
    ]
    assert codes == [200, 200, 429, 429], "a forged first entry never makes a new client"
    other = client.post("/api/echo", content=b"x", headers={"x-forwarded-for": "203.0.113.8"})
    assert other.status_code == 200, "another client behind the proxy has its own count"


@pytest.mark.unit
def test_trusted_proxies_setting() -> None:
    assert Settings(trusted_proxies="10.0.0.5, 10.1.0.0/16").trusted_proxies == [
        "10.0.0.5",
        "10.1.0.0/16",
    ]
    assert Settings().trusted_proxies == []
    # the deprecated switch means: a proxy on this machine
    assert Settings(trust_forwarded_for=True).trusted_proxies == ["127.0.0.1", "::1"]
    with pytest.raises(ValidationError, match="not an IP address"):
        Settings(trusted_proxies="proxy.example")


@pytest.mark.unit
def test_uvicorn_trusts_forwarded_headers_only_from_configured_proxies() -> None:
    from server.serving import uvicorn_options, worker_warning

    plain = uvicorn_options(Settings())
    assert plain["proxy_headers"] is False and plain["forwarded_allow_ips"] is None
    proxied = uvicorn_options(Settings(trusted_proxies="10.0.0.5,10.1.0.0/16"))
    assert proxied["proxy_headers"] is True
    assert proxied["forwarded_allow_ips"] == "10.0.0.5,10.1.0.0/16"
    assert plain["timeout_keep_alive"] == 5
    assert worker_warning(Settings(), 1) is None
    assert "per worker" in (worker_warning(Settings(), 4) or "")
    assert worker_warning(Settings(rate_limit_storage="redis://127.0.0.1:6379"), 4) is None
    with pytest.raises(ValidationError, match="limits storage"):
        Settings(rate_limit_storage="postgres://x")


# --- parse errors name their cause ---------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    ("body", "content_type", "status", "cause"),
    [
        (b'{"message": "\xff\xfe"}', "application/json", 400, "not valid UTF-8 (byte 0xff"),
        (b"[" * 5_000 + b"]" * 5_000, "application/json", 400, "nested too deeply"),
        (b'{"message": ', "application/json", 400, "not valid JSON: Expecting value"),
        (b'{"message": "hi"}', "text/plain", 415, "must be application/json, not 'text/plain'"),
        (b"message=hi", "application/x-www-form-urlencoded", 415, "must be application/json"),
    ],
)
def test_unreadable_bodies_are_refused_naming_the_cause(
    body: bytes, content_type: str, status: int, cause: str
) -> None:
    client = TestClient(_app(rate_limit="", max_body_bytes=20_000, raw_body_paths=()))
    refused = client.post("/api/echo", content=body, headers={"content-type": content_type})
    assert refused.status_code == status
    assert cause in refused.json()["detail"]


@pytest.mark.unit
def test_json_bodies_pass() -> None:
    client = TestClient(_app(rate_limit="", raw_body_paths=()))
    assert client.post("/api/echo", json={"a": [1, {"b": None}]}).json() == {"received": 20}
    merged = client.post(
        "/api/echo", content=b"{}", headers={"content-type": "application/merge-patch+json"}
    )
    assert merged.status_code == 200


# --- daily caps ------------------------------------------------------------------------------


def _chat_app(**kw: Any) -> FastAPI:
    app = FastAPI()

    @app.post("/api/chat")
    async def chat(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    app.add_middleware(RequestGuard, rate_limit="", max_body_bytes=1_024, **kw)
    return app


@pytest.mark.unit
def test_a_conversation_has_a_daily_cap() -> None:
    client = TestClient(_chat_app(session_daily_cap=2))
    turn = {"message": "Hallo", "session_id": "a" * 32}
    codes = [client.post("/api/chat", json=turn).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    refused = client.post("/api/chat", json=turn)
    assert "this conversation reached its daily limit of 2 messages" in refused.json()["detail"]
    assert int(refused.headers["retry-after"]) > 3_600
    # another conversation, and a new one (no session id yet), still get answers
    assert client.post("/api/chat", json={**turn, "session_id": "b" * 32}).status_code == 200
    assert client.post("/api/chat", json={"message": "Hallo"}).status_code == 200


@pytest.mark.unit
def test_the_advisor_has_a_global_daily_cap() -> None:
    client = TestClient(_chat_app(global_daily_cap=3, session_daily_cap=100))
    codes = [
        client.post("/api/chat", json={"message": "Hallo", "session_id": f"{n:032x}"}).status_code
        for n in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    refused = client.post("/api/chat", json={"message": "Hallo"})
    assert "the advisor's daily limit of 3 chat messages is reached" in refused.json()["detail"]


# --- time limits -----------------------------------------------------------------------------


async def _call(app: Any, messages: list[Any]) -> tuple[int, dict[str, Any]]:
    """Drive an ASGI app with a scripted client: each entry a message or a pause."""
    import asyncio
    import json

    script = list(messages)
    sent: list[Any] = []

    async def receive() -> Any:
        while script:
            item = script.pop(0)
            if isinstance(item, float):
                await asyncio.sleep(item)
                continue
            return item
        await asyncio.sleep(3_600)  # a client that stalls for good
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/echo",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 5555),
    }
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body)


@pytest.mark.unit
def test_a_stalled_body_is_answered_408_in_time() -> None:
    import asyncio

    async def never_called(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the app must not see a partial body")

    guard = RequestGuard(never_called, rate_limit="", max_body_bytes=1_024, body_timeout=0.3)
    started = time.monotonic()
    status, body = asyncio.run(
        _call(guard, [{"type": "http.request", "body": b'{"mess', "more_body": True}])
    )
    assert (status, body) == (408, {"detail": "the request body did not arrive within 0.3 s"})
    assert time.monotonic() - started < 2


@pytest.mark.unit
def test_a_slow_request_is_answered_503() -> None:
    import asyncio

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(5)

    status, body = asyncio.run(_call(RequestDeadline(slow, seconds=0.2), []))
    assert status == 503
    assert body == {"detail": "the request took longer than 0.2 s; please try again"}


@pytest.mark.unit
def test_the_staff_api_has_a_longer_time_limit() -> None:
    import asyncio

    async def takes_half_a_second(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(0.5)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    deadline = RequestDeadline(takes_half_a_second, seconds=0.1, longer={"/api/echo": 2.0})
    assert asyncio.run(_call(deadline, [])) == (200, {})
