"""A real `chroma run` server frozen (SIGSTOP) and killed (SIGKILL) under a served advisor.

Answers go on from the lexical index, flagged degraded; /healthz stays 200, /readyz says 503;
when the server is back the answers are full again without a restart of the advisor.
Curated answers are off, so every fact question goes through passage retrieval.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from services import ChromaServer, free_port

ROOT = Path(__file__).resolve().parents[1]
KNOWLEDGE = ROOT / "knowledge"
DEADLINE = 1.0  # ADVISOR_CHROMA_TIMEOUT_SECONDS for these tests
COOLDOWN = 1.0
# Time a request may take beyond the deadline on a busy test machine (embedding, BM25); a
# burst of 45 at once shares the CPUs. Without the deadline they would wait for as long as
# Chroma stays frozen.
MARGIN = 4.0
BURST_MARGIN = 8.0
QUESTIONS = [
    "Wie oft sollte man Backups testen?",
    "Was kostet ein Senior-Techniker pro Jahr?",
    "Was steht im Glossar zu SLA?",
    "Wie hoch sind die Kosten eines IT-Ausfalls?",
    "Welche Aufgaben übernimmt ein Key-User?",
    "Welche Vorteile hat Fernwartung?",
]

pytestmark = pytest.mark.integration


@dataclass
class Served:
    url: str
    chroma: ChromaServer
    app: Any


@pytest.fixture(scope="module")
def served(
    indexed_dir: Path, tmp_path_factory: pytest.TempPathFactory, start_chroma: Any
) -> Iterator[Served]:
    """The advisor (uvicorn on loopback) over an index in a real Chroma server."""
    import uvicorn

    from ingest.index import ingest
    from server.app import create_app
    from server.index_config import index_config
    from server.settings import Settings

    root = tmp_path_factory.mktemp("faults")
    chroma = start_chroma(root / "chroma")  # its own: these tests freeze and kill it
    data = root / "data"
    data.mkdir()
    # the router and curated caches of the session's index: trained once per test session
    (indexed_dir / "cache").mkdir(exist_ok=True)
    (data / "cache").symlink_to(indexed_dir / "cache", target_is_directory=True)
    settings = Settings(
        data_dir=data,
        chroma_url=chroma.url,
        environment="test",
        rate_limit="",
        curated_answers=False,
        chroma_timeout_seconds=DEADLINE,
        chroma_breaker_failures=2,
        chroma_breaker_cooldown_seconds=COOLDOWN,
    )
    assert ingest(KNOWLEDGE, index_config(settings)).errors == []
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 300
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            chroma.stop()
            raise RuntimeError("the advisor did not start")
        time.sleep(0.1)
    try:
        yield Served(f"http://127.0.0.1:{port}", chroma, app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        chroma.stop()


def _sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line.removeprefix("event:").strip()
            elif line.startswith("data:"):
                data.append(line.removeprefix("data:").strip())
        if name:
            events.append((name, json.loads("\n".join(data))))
    return events


def _chat(url: str, message: str, session_id: str | None = None) -> dict[str, Any]:
    response = httpx.post(
        f"{url}/api/chat",
        json={"message": message, "session_id": session_id},
        timeout=DEADLINE + 30,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _chat_stream(url: str, message: str, session_id: str | None = None) -> dict[str, Any]:
    """The streamed answer collected; the stream must end with its done event."""
    response = httpx.post(
        f"{url}/api/chat/stream",
        json={"message": message, "session_id": session_id},
        timeout=DEADLINE + 30,
    )
    assert response.status_code == 200, response.text
    events = _sse(response.text)
    names = [name for name, _ in events]
    assert names[0] == "meta" and names[-1] == "done", names
    data = {name: payload for name, payload in events}
    return {
        **data["meta"],
        "answer": "".join(p["text"] for n, p in events if n == "delta"),
        "citations": data["citations"]["citations"],
        "degraded": data["done"]["degraded"],
    }


def _full_answer(answer: dict[str, Any]) -> None:
    """Content, not only a status: an answer from the documents with its citations."""
    assert answer["answer"].strip()
    assert answer["citations"], answer["answer"]
    assert all(c["doc_id"] and c["quote"] for c in answer["citations"])
    assert "[1]" in answer["answer"]


def _wait_until_ready(url: str, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while httpx.get(f"{url}/readyz", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "the advisor did not become ready again"
        time.sleep(0.2)


def test_a_frozen_chroma_costs_each_request_at_most_the_deadline(served: Served) -> None:
    url = served.url
    _wait_until_ready(url)
    before = _chat(url, QUESTIONS[0])
    _full_answer(before)
    assert before["degraded"] is False

    served.chroma.signal(signal.SIGSTOP)
    try:
        # more requests at once than the server has threads: none may wait on Chroma
        def timed(i: int) -> tuple[float, httpx.Response]:
            started = time.monotonic()
            q = QUESTIONS[i % len(QUESTIONS)]
            r = httpx.get(f"{url}/api/search", params={"q": q, "k": 3}, timeout=60)
            return time.monotonic() - started, r

        with ThreadPoolExecutor(max_workers=45) as pool:
            burst = [pool.submit(timed, i) for i in range(45)]
            time.sleep(0.2)
            # liveness while the burst is in flight (the issue: it timed out here)
            health_started = time.monotonic()
            health = httpx.get(f"{url}/healthz", timeout=30)
            health_seconds = time.monotonic() - health_started
            searches = [future.result() for future in burst]
        for seconds, response in searches:
            assert response.status_code == 200
            assert seconds < DEADLINE + BURST_MARGIN, seconds
            body = response.json()
            assert body["degraded"] is True and body["passages"]
            assert all(p["scores"]["dense"] == 0.0 for p in body["passages"])
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert health_seconds < DEADLINE + MARGIN, health_seconds

        ready = httpx.get(f"{url}/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["status"] == "degraded" and ready.json()["chroma"] == "unreachable"

        for ask in (_chat, _chat_stream):
            started = time.monotonic()
            answer = ask(url, QUESTIONS[1])
            assert time.monotonic() - started < DEADLINE + MARGIN
            _full_answer(answer)
            assert answer["degraded"] is True
            assert "70.000 und 100.000 Euro" in answer["answer"]
    finally:
        served.chroma.signal(signal.SIGCONT)

    # back by itself: the breaker's probe finds Chroma answering, no restart of the advisor
    deadline = time.monotonic() + 15
    while _chat(url, QUESTIONS[2])["degraded"]:
        assert time.monotonic() < deadline, "answers stayed degraded after Chroma came back"
        time.sleep(0.3)
    _wait_until_ready(url, within=5)
    assert httpx.get(f"{url}/readyz", timeout=10).json()["status"] == "ready"


def test_a_killed_chroma_loses_no_request_and_no_turn(served: Served) -> None:
    """One visitor keeps talking while the Chroma server is killed and started again."""
    url = served.url
    _wait_until_ready(url)
    answers: list[dict[str, Any]] = []
    sent: list[str] = []
    failures: list[str] = []
    stop = threading.Event()
    session: dict[str, str] = {}

    def visitor() -> None:
        turn = 0
        while not stop.is_set():
            message = QUESTIONS[turn % len(QUESTIONS)]
            ask = _chat_stream if turn % 2 else _chat  # both routes, one conversation
            try:
                answer = ask(url, message, session.get("id"))
            except BaseException as exc:  # every failure is the finding
                failures.append(f"turn {turn}: {exc!r}")
                return
            session.setdefault("id", answer["session_id"])
            sent.append(message)
            answers.append(answer)
            turn += 1

    def wait_for(condition: Any, within: float, what: str) -> None:
        deadline = time.monotonic() + within
        while not condition():
            assert not failures, failures
            assert time.monotonic() < deadline, what
            time.sleep(0.05)

    client = threading.Thread(target=visitor, daemon=True)
    client.start()
    try:
        wait_for(lambda: len(answers) >= 2, 30, "no answers before the kill")
        served.chroma.kill()
        killed_at = len(answers)
        wait_for(lambda: sum(a["degraded"] for a in answers) >= 4, 30, "no degraded answers")
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        ready = httpx.get(f"{url}/readyz", timeout=10)
        assert ready.status_code == 503 and ready.json()["chroma"] == "unreachable"

        served.chroma.start()
        restarted_at = len(answers)
        _wait_until_ready(url, within=30)  # the breaker's probe found Chroma back
        recovered_at = len(answers)
        # a whole round of questions after that; whether a turn searches depends on the
        # conversation (a follow-up may not), so no single answer proves the recovery
        wait_for(lambda: len(answers) >= recovered_at + len(QUESTIONS) + 1, 30, "no answers")
    finally:
        stop.set()
        client.join(timeout=60)
    assert not failures, failures

    for answer in answers:
        _full_answer(answer)
    assert not any(a["degraded"] for a in answers[:2])
    assert sum(a["degraded"] for a in answers[killed_at:restarted_at]) >= 4
    # the first one may have started before the breaker closed
    assert not any(a["degraded"] for a in answers[recovered_at + 1 :])
    assert len({a["session_id"] for a in answers}) == 1
    # no lost turn: the conversation holds every question and every answer, in order
    history = served.app.state.sessions.messages(session["id"])
    assert [text for role, text in history if role == "user"] == sent
    assert [text for role, text in history if role == "assistant"] == [a["answer"] for a in answers]
    assert httpx.get(f"{url}/readyz", timeout=10).json()["status"] == "ready"
