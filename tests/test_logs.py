"""Structured logs: what happened, never what was written, and no client address unless
configured; checked on the stderr of a real ``advisor serve``."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from services import free_port, warm_caches

ROOT = Path(__file__).resolve().parents[1]
SECRET = "Geheimprojekt Zebra 4711"
# what must never be in a log line, in every spelling a request can carry it
FORBIDDEN = ("geheimprojekt", "zebra")
CLIENT = "127.0.0.2"  # the client's own loopback address: the server's is 127.0.0.1


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# --- the formats --------------------------------------------------------------------------------


@pytest.mark.unit
def test_an_exception_is_logged_by_type_and_frames_without_its_message() -> None:
    from server.logs import JsonFormatter, TextFormatter, log_event

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("advisor.test-logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        log_event(logger, "answer", module="passage", degraded=False, reason=None)
        try:
            raise ValueError(f"input_value={SECRET!r}")  # what pydantic's errors look like
        except ValueError:
            logger.exception("the answer failed")
    finally:
        logger.removeHandler(handler)
    event, failure = _lines(stream.getvalue())
    assert set(event) == {"time", "level", "logger", "event", "module", "degraded"}
    assert event["event"] == "answer" and event["level"] == "info"
    assert event["time"].endswith("Z") and event["logger"] == "advisor.test-logs"
    assert failure["error"] == "ValueError" and failure["event"] == "the answer failed"
    assert any("test_logs.py" in frame for frame in failure["stack"])
    assert "Zebra" not in stream.getvalue()

    record = logging.LogRecord("advisor.chat", logging.INFO, __file__, 1, "answer", None, None)
    record.advisor_fields = {"module": "costs", "stages_ms": {"route": 1.5}}
    line = TextFormatter().format(record)
    assert line.endswith('INFO    advisor.chat answer module="costs" stages_ms={"route": 1.5}')


@pytest.mark.unit
def test_the_format_follows_the_environment_unless_set() -> None:
    from server.logs import JsonFormatter, TextFormatter, log_format, logging_config
    from server.serving import uvicorn_options
    from server.settings import Settings

    assert log_format(Settings(environment="development")) == "text"
    assert log_format(Settings(environment="production")) == "json"
    assert log_format(Settings(environment="development", log_format="json")) == "json"
    config = uvicorn_options(Settings(environment="production"))["log_config"]
    assert config["formatters"]["advisor"]["()"].endswith(JsonFormatter.__name__)
    text = logging_config(Settings(log_format="text"))
    assert text["formatters"]["advisor"]["()"].endswith(TextFormatter.__name__)
    assert config["loggers"]["uvicorn.access"]["handlers"] == []  # its lines carry the raw path


# --- in process: the client address only when configured ---------------------------------------


@pytest.fixture
def advisor_log() -> Iterator[io.StringIO]:
    from server.logs import JsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("advisor")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.mark.integration
@pytest.mark.parametrize("log_ip", [False, True])
def test_the_client_address_is_logged_only_when_configured(
    settings: Any, advisor_log: io.StringIO, log_ip: bool
) -> None:
    from fastapi.testclient import TestClient

    from server.app import create_app

    configured = settings.model_copy(update={"log_client_ip": log_ip})
    with TestClient(create_app(configured), client=(CLIENT, 5000)) as client:
        response = client.post("/api/chat", json={"message": SECRET})
        assert response.status_code == 200
    lines = _lines(advisor_log.getvalue())
    access = [line for line in lines if line["event"] == "request"]
    assert [a["route"] for a in access] == ["/api/chat"]
    assert (CLIENT in advisor_log.getvalue()) is log_ip
    assert access[0].get("client") == (CLIENT if log_ip else None)
    assert "Zebra" not in advisor_log.getvalue()


# --- a real advisor serve -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def served_logs(indexed_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """``advisor serve`` in production mode, sent the secret every way a request can carry
    it; yields its output once it has stopped, and what the requests returned."""
    tmp = tmp_path_factory.mktemp("logs")
    warm_caches(indexed_dir, tmp)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADVISOR_")}
    env.update(
        PYTHONPATH=str(ROOT),
        ADVISOR_DATA_DIR=str(indexed_dir),
        ADVISOR_SESSIONS_PATH=str(tmp / "sessions.sqlite3"),
        ADVISOR_ENVIRONMENT="production",
        ADVISOR_RATE_LIMIT="",
    )
    stdout, stderr = tmp / "stdout.log", tmp / "stderr.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port), "--no-staff-token"],
        cwd=ROOT,
        env=env,
        stdout=stdout.open("w"),
        stderr=stderr.open("w"),
    )
    url = f"http://127.0.0.1:{port}"
    seen: dict[str, Any] = {}
    try:
        deadline = time.time() + 900  # the model load takes minutes on a busy machine
        ready = False
        while not ready and time.time() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(f"{url}/healthz", timeout=5).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.5)
        assert ready and proc.poll() is None, stderr.read_text()[-3000:]
        transport = httpx.HTTPTransport(local_address=CLIENT)
        with httpx.Client(base_url=url, transport=transport, timeout=60) as client:
            first = client.post("/api/chat", json={"message": SECRET})
            session = first.json()["session_id"]
            second = client.post(
                "/api/chat", json={"message": f"{SECRET}: wir haben 45 PCs", "session_id": session}
            )
            stream = client.post("/api/chat/stream", json={"message": SECRET})
            search = client.get("/api/search", params={"q": SECRET})
            too_long = client.post("/api/chat", json={"message": SECRET * 200})
            broken = client.post(
                "/api/chat",
                content=f'{{"message": "{SECRET}"'.encode(),
                headers={"content-type": "application/json"},
            )
            unknown = client.post("/api/chat", json={"message": SECRET, "session_id": "f" * 32})
            page = client.get(f"/{SECRET.replace(' ', '-')}")
            deleted = client.delete(f"/api/sessions/{session}")
        seen.update(
            session=session,
            statuses=[
                r.status_code
                for r in (first, second, stream, search, too_long, broken, unknown, page, deleted)
            ],
        )
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    seen.update(stdout=stdout.read_text(), stderr=stderr.read_text())
    yield seen


@pytest.mark.integration
@pytest.mark.slow
def test_logs_say_what_happened_never_what_was_written(served_logs: Any) -> None:
    from server.logs import session_hash

    assert served_logs["statuses"] == [200, 200, 200, 200, 422, 400, 404, 404, 204]
    output = served_logs["stdout"] + served_logs["stderr"]
    lowered = output.casefold()
    for word in FORBIDDEN:
        assert word not in lowered, f"{word!r} was logged"
    assert CLIENT not in output, "the client address is logged only when configured"
    session = served_logs["session"]
    assert session not in output, "the session id itself reads the conversation"

    lines = _lines(served_logs["stderr"])  # every line one JSON object
    for line in lines:
        assert {"time", "level", "logger", "event"} <= set(line)
    assert any(line["event"].startswith("Started server process") for line in lines)

    access = [line for line in lines if line["event"] == "request"]
    by_route = {(a["route"], a["status"]) for a in access}
    assert {
        ("/api/chat", 200),
        ("/api/chat/stream", 200),
        ("/api/search", 200),
        ("/api/chat", 422),
        ("/api/chat", 400),
        ("/api/chat", 404),
        ("/{name}", 404),
        ("/api/sessions/{session_id}", 204),
    } <= by_route
    for line in access:
        assert isinstance(line["duration_ms"], float)
        assert line["method"] in ("GET", "POST", "DELETE")
        assert "client" not in line
    hashed = session_hash(session)
    chats = [a for a in access if a["route"] == "/api/chat" and a["status"] == 200]
    assert len(chats) == 2 and all(a["session"] == hashed for a in chats)
    assert all({"module", "outcome", "degraded"} <= set(a) for a in chats)
    deleted = [a for a in access if a["route"] == "/api/sessions/{session_id}"]
    assert deleted[0]["session"] == hashed

    answers = [line for line in lines if line["event"] == "answer"]
    assert len(answers) == 3  # two JSON answers, one streamed
    for answer in answers:
        assert {"module", "outcome", "label", "language", "degraded", "stages_ms"} <= set(answer)
        assert {"understand", "route", "answer", "compose", "store"} <= set(answer["stages_ms"])
    # one request's answer and access line share its request id
    assert {a["request_id"] for a in answers} <= {a["request_id"] for a in access}
