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


def test_readyz_says_ready_and_both_probes_are_documented(client) -> None:  # type: ignore[no-untyped-def]
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and ready.json()["chroma"] == "reachable"
    assert client.get("/api/search", params={"q": "Backup"}).json()["degraded"] is False
    paths = client.get("/openapi.json").json()["paths"]
    assert "/healthz" in paths
    assert {"200", "503"} <= set(paths["/readyz"]["get"]["responses"])


def test_without_the_embedded_store_answers_come_from_the_lexical_index(client) -> None:  # type: ignore[no-untyped-def]
    """The embedded store goes through the same guard: once its breaker is open, search and
    chat answer from the lexical index, marked degraded, and /readyz says so."""
    from server.chroma_guard import ChromaGuard, ChromaUnavailable

    index = client.app.state.retriever.index
    normal = index.guard
    index.guard = ChromaGuard(failures=1, cooldown=3600)

    def broken() -> None:
        raise OSError("disk gone")

    with pytest.raises(ChromaUnavailable):
        index.guard.call("query", broken)
    try:
        search = client.get("/api/search", params={"q": "Was kostet ein Senior-Techniker?"})
        assert search.status_code == 200 and search.json()["degraded"] is True
        passages = search.json()["passages"]
        assert any("70.000 und 100.000 Euro" in p["text"] for p in passages)
        assert all(p["scores"]["dense"] == 0.0 for p in passages)
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() | {"detail": None} == {
            "status": "degraded",
            "index": "ok",
            "chroma": "unreachable",
            "breaker": "open",
            "generation": index.loaded.generation,
            "detail": None,
        }
        assert "disk gone" in ready.json()["detail"]
        assert client.get("/healthz").status_code == 200
    finally:
        index.guard = normal
    assert client.get("/readyz").status_code == 200
