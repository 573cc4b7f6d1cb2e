"""Channels over HTTP: the Teams webhook (signed exactly as Teams signs), the pages and source
pages, CORS for the widget, the stream's headers, idempotent retries, and the staff API."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

STAFF_TOKEN = "staff-" + "x" * 24


@pytest.fixture
def teams_secret() -> str:
    # what Teams shows when the outgoing webhook is created: base64 of random bytes
    return base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def app_client(indexed_dir: Path, tmp_path: Path, teams_secret: str) -> Iterator[TestClient]:
    from server.app import create_app
    from server.settings import Settings

    settings = Settings(
        data_dir=indexed_dir,
        sessions_path=tmp_path / "sessions.sqlite3",
        environment="test",
        rate_limit="",
        teams_secret=teams_secret,
        staff_token=STAFF_TOKEN,
        allowed_origins=["http://127.0.0.1:9101"],
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _sign(secret: str, body: bytes) -> str:
    digest = hmac.new(base64.b64decode(secret), body, hashlib.sha256).digest()
    return "HMAC " + base64.b64encode(digest).decode()


def _activity(text: str, ident: str = "1", conversation: str = "19:abc@thread.skype") -> bytes:
    return json.dumps(
        {
            "type": "message",
            "id": ident,
            "text": text,
            "from": {"id": "29:user", "name": "Erika"},
            "conversation": {"id": conversation},
        }
    ).encode()


def _teams(client: TestClient, secret: str, body: bytes, signature: str | None = None) -> Any:
    headers = {"content-type": "application/json"}
    auth = _sign(secret, body) if signature is None else signature
    if auth:
        headers["authorization"] = auth
    return client.post("/api/teams", content=body, headers=headers)


# --- Teams ------------------------------------------------------------------------------------


def test_teams_answers_a_signed_mention_as_markdown_with_sources(
    app_client: TestClient, teams_secret: str
) -> None:
    body = _activity("<at>IT-Berater</at> Was kostet ein ungeplanter IT-Ausfall im Schnitt?")
    response = _teams(app_client, teams_secret, body)
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["type"] == "message"
    assert "80.000 Euro" in reply["text"]
    assert "**Quellen:**" in reply["text"] and "IT-Berater" not in reply["text"]


@pytest.mark.parametrize(
    ("case", "signature"),
    [
        ("missing", ""),
        ("malformed", "Bearer abc"),
        ("not base64", "HMAC !!!"),
        ("wrong secret", "other"),
        ("tampered body", "tampered"),
    ],
)
def test_teams_refuses_every_bad_signature(
    app_client: TestClient, teams_secret: str, case: str, signature: str
) -> None:
    body = _activity("<at>Bot</at> Hallo")
    if signature == "other":
        signature = _sign(base64.b64encode(b"another secret of thirty-two b").decode(), body)
    elif signature == "tampered":
        signature = _sign(teams_secret, body)
        body = body.replace(b"Hallo", b"Hallo!")
    response = _teams(app_client, teams_secret, body, signature)
    assert response.status_code == 401, case
    assert response.json()["detail"]


def test_teams_replays_a_repeated_activity_without_a_second_turn(
    app_client: TestClient, teams_secret: str
) -> None:
    body = _activity("<at>Bot</at> Sollte die IT-Strategie intern bleiben?", ident="act-7")
    first = _teams(app_client, teams_secret, body)
    again = _teams(app_client, teams_secret, body)
    assert first.json() == again.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    bot = app_client.app.state.chatbot  # type: ignore[attr-defined]
    session = bot.sessions.channel_session("teams:19:abc@thread.skype")
    assert session is not None
    assert len(bot.sessions.transcript(session)) == 2, "one question, one answer"


def test_a_teams_retry_racing_its_first_delivery_stores_one_turn(
    app_client: TestClient, teams_secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # both copies miss the stored reply (the first has not finished when the second comes)
    bot = app_client.app.state.chatbot  # type: ignore[attr-defined]
    monkeypatch.setattr(bot.sessions, "recall", lambda key: None)
    conversation = "19:race@thread.skype"
    body = _activity("<at>Bot</at> Wer sollte das Backup betreuen?", "act-race", conversation)
    assert _teams(app_client, teams_secret, body).status_code == 200
    assert _teams(app_client, teams_secret, body).status_code == 200
    session = bot.sessions.channel_session(f"teams:{conversation}")
    assert session is not None
    assert len(bot.sessions.transcript(session)) == 2, "one question, one answer"


def test_teams_remembers_each_conversation(app_client: TestClient, teams_secret: str) -> None:
    _teams(app_client, teams_secret, _activity("<at>Bot</at> Wir haben 45 PCs und keine IT", "a1"))
    second = _teams(app_client, teams_secret, _activity("<at>Bot</at> Und das Backup?", "a2"))
    assert "Backup" in second.json()["text"]
    other = _teams(
        app_client, teams_secret, _activity("<at>Bot</at> Und das Backup?", "a3", "19:other")
    )
    assert other.json()["text"] != second.json()["text"], "another channel, another memory"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"type": "invoke", "id": "1"}).encode(), "type 'message'"),
        (
            json.dumps(
                {"type": "message", "id": "1", "text": "<at>Bot</at>", "conversation": {"id": "c"}}
            ).encode(),
            "empty",
        ),
        (
            json.dumps(
                {"type": "message", "id": "1", "text": "x" * 70_000, "conversation": {"id": "c"}}
            ).encode(),
            "too large",
        ),
    ],
)
def test_teams_refuses_malformed_activities_with_a_reason(
    app_client: TestClient, teams_secret: str, body: bytes, expected: str
) -> None:
    response = _teams(app_client, teams_secret, body)
    assert response.status_code in (400, 413)
    assert expected in response.json()["detail"]


def test_teams_is_off_without_a_secret(client: TestClient) -> None:
    response = client.post("/api/teams", content=_activity("Hallo"))
    assert response.status_code == 404


def test_teams_sends_a_card_with_source_links_when_configured(
    indexed_dir: Path, tmp_path: Path, teams_secret: str
) -> None:
    from server.app import create_app
    from server.settings import Settings

    settings = Settings(
        data_dir=indexed_dir,
        sessions_path=tmp_path / "s.sqlite3",
        environment="test",
        teams_secret=teams_secret,
        public_url="https://advisor.example",
    )
    with TestClient(create_app(settings)) as client:
        body = _activity("<at>Bot</at> Was kostet ein Senior-Techniker im Jahr?")
        card = _teams(client, teams_secret, body).json()
    attachment = card["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    actions = attachment["content"]["actions"]
    assert actions and all(a["type"] == "Action.OpenUrl" for a in actions)
    assert actions[0]["url"].startswith("https://advisor.example/sources/")


def test_teams_past_its_deadline_replies_with_passages(
    app_client: TestClient, teams_secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.routes import teams as route

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(1.0)
        raise AssertionError("too late")

    monkeypatch.setattr(route, "collect", slow)
    settings = app_client.app.state.settings  # type: ignore[attr-defined]
    monkeypatch.setattr(settings, "teams_deadline_seconds", 0.2)
    body = _activity("<at>Bot</at> Welche Risiken hat IT-Outsourcing?", "slow-1")
    started = time.perf_counter()
    reply = _teams(app_client, teams_secret, body).json()
    assert time.perf_counter() - started < 1.0
    assert reply["text"].startswith("Die ausführliche Antwort dauert zu lange")
    assert "[1]" in reply["text"] and "**Quellen:**" in reply["text"]


# --- pages, CORS, stream, idempotency --------------------------------------------------------


def test_the_demo_page_and_the_widget_are_served_under_a_strict_csp(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and 'src="/widget.js"' in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    script = client.get("/widget.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]


def test_the_widget_and_the_playground_share_one_renderer_and_stay_one_file_each(
    client: TestClient,
) -> None:
    shared = (Path(__file__).resolve().parents[1] / "web" / "markdown.js").read_text()
    for name in ("widget.js", "playground.js"):
        script = client.get(f"/{name}").text
        assert shared in script, f"{name} carries the shared Markdown renderer"
        assert "/* @include" not in script, f"{name} is served with its includes put in"
    assert client.get("/markdown.js").status_code == 404, "only the assembled scripts are served"


def test_source_pages_escape_the_document_and_mark_the_passage(client: TestClient) -> None:
    body = client.post("/api/chat", json={"message": "Was kostet ein Senior-Techniker?"}).json()
    citation = body["citations"][0]
    page = client.get(f"/sources/{citation['doc_id']}", params={"passage": citation["passage_id"]})
    assert page.status_code == 200
    assert '<section class="passage" id="passage"><mark>' in page.text
    assert "<script" not in page.text


@pytest.mark.parametrize(
    "path",
    ["/sources/no-such-doc", "/sources/..%2F..%2Fetc%2Fpasswd", "/sources/%2e%2e", "/nope.js"],
)
def test_unknown_pages_and_traversal_are_4xx(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert 400 <= response.status_code < 500
    assert "root:" not in response.text


def test_cors_answers_only_the_allowed_origins(app_client: TestClient) -> None:
    allowed = app_client.options(
        "/api/chat/stream",
        headers={
            "Origin": "http://127.0.0.1:9101",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, idempotency-key",
        },
    )
    assert allowed.headers["access-control-allow-origin"] == "http://127.0.0.1:9101"
    simple = app_client.post(
        "/api/chat", json={"message": "Hallo"}, headers={"Origin": "http://127.0.0.1:9101"}
    )
    assert "retry-after" in simple.headers["access-control-expose-headers"].lower()
    refused = app_client.options(
        "/api/chat",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in refused.headers


def test_the_stream_tells_proxies_not_to_buffer(client: TestClient) -> None:
    with client.stream("POST", "/api/chat/stream", json={"message": "Was ist ein Key-User?"}) as r:
        assert r.headers["cache-control"] == "no-cache"
        assert r.headers["x-accel-buffering"] == "no"
        text = "".join(r.iter_text())
    assert "event: done" in text


def test_a_retry_with_the_same_idempotency_key_stores_one_turn(client: TestClient) -> None:
    key = "k-" + secrets.token_hex(8)
    headers = {"Idempotency-Key": key}
    with client.stream(
        "POST", "/api/chat/stream", json={"message": "Was ist Outtasking?"}, headers=headers
    ) as r:
        streamed = "".join(r.iter_text())
    session = json.loads(streamed.split("event: done")[1].split("data: ")[1].split("\n")[0])[
        "session_id"
    ]
    retry = client.post("/api/chat", json={"message": "Was ist Outtasking?"}, headers=headers)
    assert retry.status_code == 200 and retry.headers.get("Idempotent-Replayed") == "true"
    assert retry.json()["session_id"] == session
    bot = client.app.state.chatbot  # type: ignore[attr-defined]
    assert len(bot.sessions.transcript(session)) == 2
    bad = client.post("/api/chat", json={"message": "x"}, headers={"Idempotency-Key": "<bad>"})
    assert bad.status_code == 422


# --- staff API --------------------------------------------------------------------------------


def _staff(client: TestClient, method: str, path: str, **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {STAFF_TOKEN}"}
    return client.request(method, f"/api/staff{path}", headers=headers, **kwargs)


def test_the_staff_api_needs_the_token(app_client: TestClient, client: TestClient) -> None:
    assert client.post("/api/staff/ask", json={"message": "x"}).status_code == 404  # off
    assert client.get("/playground").status_code == 404
    assert app_client.post("/api/staff/ask", json={"message": "x"}).status_code == 401
    wrong = app_client.post(
        "/api/staff/ask", json={"message": "x"}, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    assert app_client.get("/playground").status_code in (200, 404)  # the page itself is public


def test_staff_ask_shows_the_route_scores_and_timings(app_client: TestClient) -> None:
    result = _staff(app_client, "POST", "/ask", json={"message": "Was kostet ein IT-Ausfall?"})
    assert result.status_code == 200
    trace = result.json()["trace"]
    assert trace["module"] in ("curated", "passage")
    assert {"label", "confidence", "ranked"} <= set(trace["route"])
    assert trace["passages"] and {"dense", "lexical", "fused", "cited"} <= set(trace["passages"][0])
    assert trace["candidates"] and "probability" in trace["candidates"][0]
    assert trace["timings_ms"]["total"] > 0 and "scoring" in trace
    without = _staff(
        app_client, "POST", "/ask", json={"message": "Was kostet ein IT-Ausfall?", "curated": False}
    )
    assert without.json()["trace"]["module"] != "curated"


def test_feedback_is_stored_and_exported(app_client: TestClient) -> None:
    row = {
        "message": "Frage",
        "answer": "Antwort",
        "rating": "down",
        "reason": "zu lang",
        "author": "Erika",
        "module": "passage",
    }
    assert _staff(app_client, "POST", "/feedback", json=row).status_code == 200
    assert _staff(app_client, "POST", "/feedback", json={**row, "rating": "meh"}).status_code == 422
    csv_text = _staff(app_client, "GET", "/feedback.csv").text
    assert "rating" in csv_text.splitlines()[0] and "zu lang" in csv_text


def test_a_curated_edit_is_validated_and_live_at_once(app_client: TestClient) -> None:
    answers = _staff(app_client, "GET", "/answers").json()["answers"]
    entry = next(a for a in answers if a["kind"] == "answer")
    form = {
        k: entry[k]
        for k in (
            "kind",
            "topic",
            "questions",
            "lead",
            "more",
            "quotes",
            "follow_ups",
            "contact",
            "disabled",
        )
    }
    bad = {**form, "lead": {"de": "Etwa 123.456 Euro. [1]", "en": "About 123,456 euros. [1]"}}
    refused = _staff(
        app_client, "PUT", f"/answers/{entry['id']}", json={"entry": bad, "author": "Erika"}
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["lead", "de"]
    phrasing = "Welche Farbe hat das Einhorn im Serverraum unserer Firma?"
    good = {**form, "questions": [*form["questions"], phrasing]}
    saved = _staff(
        app_client, "PUT", f"/answers/{entry['id']}", json={"entry": good, "author": "Erika"}
    )
    assert saved.status_code == 200
    asked = _staff(app_client, "POST", "/ask", json={"message": phrasing}).json()
    assert asked["trace"].get("entry") == entry["id"], "the edit answers at once"
    listed = _staff(app_client, "GET", "/answers").json()["answers"]
    assert next(a for a in listed if a["id"] == entry["id"])["edited_by"] == "Erika"
    assert phrasing in _staff(app_client, "GET", "/answers.yaml").text


def test_conversations_can_be_reviewed_and_promoted(app_client: TestClient) -> None:
    body = app_client.post("/api/chat", json={"message": "Was ist ein Key-User?"}).json()
    listed = _staff(app_client, "GET", "/conversations").json()["conversations"]
    assert any(c["id"] == body["session_id"] for c in listed)
    detail = _staff(app_client, "GET", f"/conversations/{body['session_id']}").json()
    assert detail["messages"][0]["content"] == "Was ist ein Key-User?"
    promoted = _staff(
        app_client,
        "POST",
        "/promote",
        json={"kind": "eval", "message": "Was ist ein Key-User?", "author": "E"},
    )
    assert promoted.json()["ok"]
