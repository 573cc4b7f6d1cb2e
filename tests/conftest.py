"""Shared fixtures: isolated settings, and one real index of knowledge/ per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
KNOWLEDGE = ROOT / "knowledge"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ADVISOR_* variable of the developer's shell leaks into a test."""
    for key in list(os.environ):
        if key.startswith("ADVISOR_"):
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def indexed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with knowledge/ ingested by the real packaged model into embedded Chroma."""
    from ingest.index import ingest
    from server.index_config import index_config
    from server.settings import Settings

    data_dir = tmp_path_factory.mktemp("data")
    settings = Settings(data_dir=data_dir, environment="test")
    report = ingest(KNOWLEDGE, index_config(settings))
    assert report.errors == []
    return data_dir


@pytest.fixture
def settings(indexed_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    from server.settings import Settings

    return Settings(
        data_dir=indexed_dir, sessions_path=tmp_path / "sessions.sqlite3", environment="test"
    )


@pytest.fixture
def client(settings) -> Iterator:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from server.app import create_app

    with TestClient(create_app(settings)) as test_client:
        yield test_client


# --- real servers on loopback (tests/services.py), each started once per test session ---------


@pytest.fixture(scope="session")
def start_chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Start a `chroma run` server (in a fresh folder unless given one); all are stopped at
    the end of the session. A test that freezes or kills its server gets its own."""
    from services import ChromaServer

    started: list[ChromaServer] = []

    def start(path: Path | None = None) -> ChromaServer:
        server = ChromaServer(path or tmp_path_factory.mktemp("chroma-server"))
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def chroma_server(start_chroma: Any) -> Any:
    """One `chroma run` server shared by the tests that only read and write it."""
    return start_chroma()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """Debian's PostgreSQL in a fresh cluster on loopback."""
    from services import PostgresServer

    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: Any, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database of the session's PostgreSQL for this test."""
    import re
    import uuid

    name = re.sub(r"[^a-z0-9]", "_", request.node.name.lower())[:40] + uuid.uuid4().hex[:8]
    url: str = postgres_server.create_database(name)
    return url


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Any]:
    """Debian's redis-server on loopback, in memory only."""
    from services import RedisServer

    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()
