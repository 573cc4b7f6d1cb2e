"""Shared fixtures: isolated settings, and one real index of knowledge/ per test session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

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
