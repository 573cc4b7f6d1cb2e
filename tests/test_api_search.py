"""The search API: passages with scores, and clear 422s for bad input."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_search_returns_scored_passages(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/search", params={"q": "Was ist ein Key-User?", "k": 3})
    assert response.status_code == 200
    passages = response.json()["passages"]
    assert len(passages) == 3
    first = passages[0]
    assert set(first) == {"id", "doc_id", "title", "heading", "text", "scores"}
    assert set(first["scores"]) == {"dense", "lexical", "fused"}
    assert any("Key-User" in p["text"] for p in passages)
    fused = [p["scores"]["fused"] for p in passages]
    assert fused == sorted(fused, reverse=True)


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"q": "Backup", "k": 0}, "k"),
        ({"q": "Backup", "k": 51}, "k"),
        ({"q": "Backup", "k": "viele"}, "k"),
        ({"q": "   "}, "empty"),
        ({"q": "x" * 501}, "too long"),
        ({}, "q"),
    ],
)
def test_bad_search_input_is_a_422_with_a_message(client, params, needle) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/api/search", params=params)
    assert response.status_code == 422
    assert needle in response.json()["detail"]


def test_healthz(client) -> None:  # type: ignore[no-untyped-def]
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["index"]["documents"] == 5 and body["index"]["chunks"] > 50


def test_openapi_docs(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/docs").status_code == 200
    assert "/api/search" in client.get("/openapi.json").json()["paths"]
