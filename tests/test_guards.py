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

from server.guards import RequestGuard
from server.sessions import SessionState, SessionStore, new_session_id
from server.settings import Settings


def _app(rate_limit: str = "3/minute", max_body_bytes: int = 1_024, **kw: Any) -> FastAPI:
    app = FastAPI()

    @app.post("/api/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(
        RequestGuard, rate_limit=rate_limit, max_body_bytes=max_body_bytes, **kw
    )
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
    app = _app(rate_limit="1/minute", trust_forwarded=True)
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
    store._conn.execute("UPDATE sessions SET updated = ? WHERE id = ?", (time.time() - 120, old.id))
    assert store.get(old.id) is None, "expired: unknown to the user at once"
    assert store.get(fresh.id) is not None
    store.close()
    reopened = SessionStore(path, ttl_seconds=60)  # the next start purges it
    assert reopened.messages(old.id) == []
    assert len(reopened.messages(fresh.id)) == 2
    reopened.close()
