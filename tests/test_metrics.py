"""/metrics: what is counted, who may read it, and the sums over several workers of a real
``advisor serve --workers 2``."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from services import free_port, warm_caches

ROOT = Path(__file__).resolve().parents[1]
STAFF_TOKEN = "metrics-staff-token-0123456789"
TEAMS_SECRET = base64.b64encode(b"metrics-suite-teams-secret-32-by").decode()
LOOPBACK = ("127.0.0.1", 50_000)
QUESTION = "Was kostet ein Senior-Techniker im Jahr?"


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels``."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def _app_client(settings: Any, client: tuple[str, int] = LOOPBACK) -> Any:
    from fastapi.testclient import TestClient

    from server.app import create_app

    return TestClient(create_app(settings), client=client)


# --- who may read /metrics ----------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    ("host", "headers", "token", "expected"),
    [
        ("127.0.0.1", [], None, None),
        ("::1", [], None, None),
        ("127.0.0.2", [], STAFF_TOKEN, None),
        # a proxy on the same machine relays visitors from loopback: not local
        ("127.0.0.1", [(b"x-forwarded-for", b"203.0.113.9")], None, 404),
        ("127.0.0.1", [(b"forwarded", b"for=203.0.113.9")], STAFF_TOKEN, 403),
        ("203.0.113.9", [], None, 404),
        ("203.0.113.9", [], STAFF_TOKEN, 403),
        ("203.0.113.9", [(b"authorization", b"Bearer wrong-token-0123456789")], STAFF_TOKEN, 403),
        ("203.0.113.9", [(b"authorization", f"Bearer {STAFF_TOKEN}".encode())], STAFF_TOKEN, None),
        ("testclient", [], None, 404),
        (None, [], None, 404),
    ],
)
def test_who_may_scrape(
    host: str | None, headers: list[tuple[bytes, bytes]], token: str | None, expected: int | None
) -> None:
    from server.metrics import scrape_refusal

    refusal = scrape_refusal(host, headers, token)
    assert (refusal[0] if refusal else None) == expected


@pytest.mark.integration
def test_metrics_over_http_for_loopback_or_the_staff_token(settings: Any) -> None:
    with _app_client(settings) as local:
        response = local.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert "advisor_http_requests_total" in response.text
        assert local.get("/metrics", headers={"X-Forwarded-For": "198.51.100.7"}).status_code == 404
    with _app_client(settings, client=("198.51.100.7", 4000)) as remote:
        response = remote.get("/metrics")
        assert response.status_code == 404 and response.json() == {"detail": "Not Found"}
    staffed = settings.model_copy(update={"staff_token": SecretStr(STAFF_TOKEN)})
    with _app_client(staffed, client=("198.51.100.7", 4000)) as remote:
        refused = remote.get("/metrics")
        assert refused.status_code == 403
        assert "staff token" in refused.json()["detail"]
        wrong = remote.get("/metrics", headers={"Authorization": "Bearer not-the-token-at-all"})
        assert wrong.status_code == 403
        ok = remote.get("/metrics", headers={"Authorization": f"Bearer {STAFF_TOKEN}"})
        assert ok.status_code == 200 and "advisor_answers_total" in ok.text
        # an operator's endpoint: not in the public API's description
        assert "/metrics" not in remote.get("/openapi.json").json()["paths"]


# --- what is counted ----------------------------------------------------------------------------


@pytest.mark.integration
def test_requests_stages_modules_and_declines_are_counted(settings: Any) -> None:
    # curated answers off: every question goes the passage way, through the retrieval stage
    passages_only = settings.model_copy(update={"curated_answers": False})
    with _app_client(passages_only) as client:
        first = client.post("/api/chat", json={"message": QUESTION})
        assert first.status_code == 200
        session = first.json()["session_id"]
        assert (
            client.post(
                "/api/chat", json={"message": "Wir haben 45 PCs.", "session_id": session}
            ).status_code
            == 200
        )
        declined = client.post("/api/chat", json={"message": "Schreib mir ein Gedicht über Katzen"})
        assert declined.json()["outcome"] == "decline"
        stream = client.post("/api/chat/stream", json={"message": QUESTION})
        assert stream.status_code == 200 and "event: done" in stream.text
        assert client.get("/api/search", params={"q": "Backup"}).status_code == 200
        assert client.delete(f"/api/sessions/{'0' * 32}").status_code in (404, 422)
        assert client.delete(f"/api/sessions/{session}").status_code == 204
        text = client.get("/metrics").text

    assert value(text, "advisor_http_requests_total", route="/api/chat", status="2xx") == 3
    assert value(text, "advisor_http_requests_total", route="/api/chat/stream") == 1
    assert value(text, "advisor_http_requests_total", route="/api/search", method="GET") == 1
    # the template, never the id in the path
    assert value(text, "advisor_http_requests_total", route="/api/sessions/{session_id}") == 2
    assert session not in text and "Gedicht" not in text and "Backup" not in text
    assert value(text, "advisor_http_request_duration_seconds_count", route="/api/chat") == 3
    assert value(text, "advisor_http_request_duration_seconds_sum", route="/api/chat") > 0
    # four answers (three JSON, one streamed), each timed per stage
    assert value(text, "advisor_answers_total") == 4
    assert value(text, "advisor_answers_total", module="decline", outcome="decline") == 1
    assert value(text, "advisor_declines_total", reason="offtopic") == 1
    assert value(text, "advisor_router_labels_total") == 4
    for stage in ("understand", "embed", "route", "retrieve", "answer", "compose", "store"):
        assert value(text, "advisor_answer_stage_duration_seconds_count", stage=stage) == 4, stage
    assert value(text, "advisor_answer_stage_duration_seconds_sum", stage="retrieve") > 0
    assert value(text, "advisor_answer_stage_duration_seconds_count", stage="llm") == 0
    assert value(text, "advisor_degraded_answers_total") == 0
    assert value(text, "advisor_http_requests_in_progress") == 1  # the scrape itself


@pytest.mark.integration
def test_rate_limit_and_daily_cap_refusals_are_counted_by_limit(settings: Any) -> None:
    limited = settings.model_copy(
        update={"rate_limit": "3/minute", "global_daily_cap": 2, "session_daily_cap": 0}
    )
    with _app_client(limited) as client:
        statuses = [
            client.post("/api/chat", json={"message": QUESTION}).status_code for _ in range(4)
        ]
        text = client.get("/metrics").text  # not under /api/: never limited
    # two answered, the third over the day's cap, the fourth over the per-client limit
    assert statuses == [200, 200, 429, 429]
    assert value(text, "advisor_daily_cap_refusals_total", cap="global") == 1
    assert value(text, "advisor_daily_cap_refusals_total", cap="session") == 0
    assert value(text, "advisor_rate_limit_refusals_total", limit="3 per 1 minute") == 1
    assert value(text, "advisor_http_requests_total", route="/api/chat", status="4xx") == 2
    assert value(text, "advisor_answers_total") == 2


@pytest.mark.integration
def test_degraded_answers_and_teams_replays_are_counted(settings: Any) -> None:
    from server.chroma_guard import ChromaGuard, ChromaUnavailable

    # curated answers off: the answer needs the passage search, which Chroma's absence degrades
    teams = settings.model_copy(
        update={"teams_secret": SecretStr(TEAMS_SECRET), "curated_answers": False}
    )
    with _app_client(teams) as client:
        index = client.app.state.retriever.index
        normal = index.guard
        index.guard = ChromaGuard(failures=1, cooldown=3600)

        def broken() -> None:
            raise OSError("disk gone")

        with pytest.raises(ChromaUnavailable):
            index.guard.call("query", broken)
        try:
            answer = client.post("/api/chat", json={"message": QUESTION}).json()
        finally:
            index.guard = normal
        assert answer["degraded"] is True

        body = json.dumps(
            {
                "type": "message",
                "id": "activity-1",
                "text": "<at>Advisor</at> Was kostet ein Senior-Techniker?",
                "conversation": {"id": "conv-1"},
            }
        ).encode()
        key = base64.b64decode(TEAMS_SECRET)
        signature = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
        headers = {"Authorization": f"HMAC {signature}", "Content-Type": "application/json"}
        first = client.post("/api/teams", content=body, headers=headers)
        again = client.post("/api/teams", content=body, headers=headers)
        assert first.status_code == again.status_code == 200
        assert again.headers.get("Idempotent-Replayed") == "true"
        text = client.get("/metrics").text
    assert value(text, "advisor_degraded_answers_total") == 1
    assert value(text, "advisor_teams_replays_refused_total") == 1
    assert value(text, "advisor_answers_total") == 2  # the replay made no second turn


@pytest.mark.unit
def test_the_metrics_dir_of_a_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from server.serving import metrics_dir

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with metrics_dir(1) as none:
        assert none is None and "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    with metrics_dir(2) as made:
        assert made is not None and made.is_dir()
        assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(made)
        assert stat.S_IMODE(made.stat().st_mode) == 0o700  # private: other users read nothing
    assert not made.exists() and "PROMETHEUS_MULTIPROC_DIR" not in os.environ


@pytest.mark.unit
def test_a_killed_runs_metrics_dir_goes_at_the_next_start(monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    from server.serving import metrics_dir

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    orphan = Path(tempfile.mkdtemp(prefix=f"advisor-metrics-{gone.pid}-"))
    (orphan / "counter_1.db").write_bytes(b"")
    running = Path(tempfile.mkdtemp(prefix=f"advisor-metrics-{os.getpid()}-"))
    try:
        with metrics_dir(2) as made:
            assert made is not None and made.name.startswith(f"advisor-metrics-{os.getpid()}-")
        assert not orphan.exists(), "its process is gone"
        assert running.exists(), "its process still runs"
    finally:
        for path in (orphan, running):
            if path.exists():
                for item in path.iterdir():
                    item.unlink()
                path.rmdir()


@pytest.mark.unit
def test_a_preset_metrics_dir_is_emptied_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.serving import metrics_dir

    stale = tmp_path / "counter_4242.db"
    stale.write_bytes(b"a previous run")
    (tmp_path / "notes.txt").write_text("not ours")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    with metrics_dir(2) as path:
        assert path == tmp_path and not stale.exists()
    assert (tmp_path / "notes.txt").exists()


# --- several workers: the sums over all of them -------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found += [int(c) for c in children]
    return found


def _workers(pid: int) -> list[int]:
    """uvicorn's worker processes under ``pid`` (not multiprocessing's resource tracker)."""
    found = []
    for child in _children(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except FileNotFoundError:
            pass  # gone meanwhile
    return found


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    pairs = (item.decode(errors="replace").partition("=") for item in raw if item)
    return {k: v for k, _, v in pairs}


def _chat_count_per_worker(directory: Path) -> dict[int, float]:
    """Each worker's own count of answered /api/chat requests, from its file."""
    from prometheus_client.mmap_dict import MmapedDict

    counts: dict[int, float] = {}
    for path in directory.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        total = 0.0
        for key, number, _, _ in MmapedDict.read_all_values_from_file(str(path)):
            _, name, labels, _ = json.loads(key)
            if name == "advisor_http_requests_total" and labels.get("route") == "/api/chat":
                total += number
        counts[pid] = total
    return counts


@pytest.fixture(scope="module")
def two_workers(indexed_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("workers")
    warm_caches(indexed_dir, tmp)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADVISOR_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(
        PYTHONPATH=str(ROOT),
        ADVISOR_DATA_DIR=str(indexed_dir),
        ADVISOR_SESSIONS_PATH=str(tmp / "sessions.sqlite3"),
        ADVISOR_ENVIRONMENT="test",
        ADVISOR_RATE_LIMIT="",
    )
    command = [sys.executable, "-m", "server.cli", "serve", "--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(
        [*command, "--no-staff-token"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "stderr.log").open("w"),
    )
    url = f"http://127.0.0.1:{port}"

    served = SimpleNamespace(url=url, proc=proc)
    workers: list[int] = []
    ready = False
    try:
        deadline = time.time() + 900  # each worker loads the model (minutes on a busy machine)
        while not ready and time.time() < deadline and proc.poll() is None:
            time.sleep(0.5)
            # both workers up: each says so once its lifespan has started
            ready = (tmp / "stderr.log").read_text().count("Application startup complete") == 2
        workers = _workers(proc.pid)
        assert ready and proc.poll() is None, (tmp / "stderr.log").read_text()[-3000:]
        assert httpx.get(f"{url}/healthz", timeout=30).status_code == 200
        assert len(workers) == 2, workers
        served.workers = workers
        served.directory = Path(_environ(workers[0])["PROMETHEUS_MULTIPROC_DIR"])
        yield served
    finally:
        workers = _workers(proc.pid) if proc.poll() is None else workers
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _kill_leftovers(workers)


def _kill_leftovers(pids: list[int]) -> None:
    """A worker still loading the model does not react to SIGTERM until it is done (minutes
    on a busy machine) and outlives its parent: no test leaves one behind."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _chat(url: str, n: int) -> list[int]:
    """``n`` chats at once, each on a connection of its own (so either worker may take it)."""
    statuses: list[int] = []
    lock = threading.Lock()

    def one() -> None:
        with httpx.Client(timeout=60) as client:
            status = client.post(f"{url}/api/chat", json={"message": QUESTION}).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


@pytest.mark.integration
@pytest.mark.slow
def test_two_workers_report_the_sum_through_either_worker(two_workers: Any) -> None:
    url, directory = two_workers.url, two_workers.directory
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert directory.name.startswith("advisor-metrics-")

    sent = 0
    # until both workers have answered some (the kernel hands connections to either)
    for _ in range(12):
        statuses = _chat(url, 6)
        assert statuses == [200] * 6
        sent += 6
        per_worker = _chat_count_per_worker(directory)
        if len([n for n in per_worker.values() if n > 0]) == 2:
            break
    # a worker counts a request once its last byte is handed on, so the client may read the
    # answer a moment before that worker's count moves: wait for it, briefly
    deadline = time.time() + 10
    per_worker = _chat_count_per_worker(directory)
    while sum(per_worker.values()) < sent and time.time() < deadline:
        time.sleep(0.05)
        per_worker = _chat_count_per_worker(directory)
    assert sorted(per_worker) == sorted(two_workers.workers)
    assert all(n > 0 for n in per_worker.values()), per_worker
    assert sum(per_worker.values()) == sent

    # every scrape, whichever worker serves it, shows the sum over both
    scraped_by: set[int] = set()
    for _ in range(40):
        before = {pid: _scrapes(directory, pid) for pid in two_workers.workers}
        text = httpx.get(f"{url}/metrics", timeout=30).text
        assert value(text, "advisor_http_requests_total", route="/api/chat") == sent
        assert value(text, "advisor_answers_total") == sent
        assert value(text, "advisor_answer_stage_duration_seconds_count", stage="route") == sent
        scraped_by |= {p for p in before if _scrapes(directory, p) > before[p]}
        if len(scraped_by) == 2:
            break
    assert scraped_by == set(two_workers.workers), "both workers served a scrape"

    # a worker killed outright: its counts stay in the sums, its live gauge is dropped
    victim = two_workers.workers[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.time() + 30
    while Path(f"/proc/{victim}").exists() and time.time() < deadline:
        time.sleep(0.1)
    assert (directory / f"gauge_livesum_{victim}.db").exists()
    text = httpx.get(f"{url}/metrics", timeout=30).text
    assert value(text, "advisor_http_requests_total", route="/api/chat") == sent
    assert value(text, "advisor_http_requests_in_progress") == 1  # the scrape itself
    assert not (directory / f"gauge_livesum_{victim}.db").exists()

    # uvicorn starts a replacement, which would finish loading the model before it obeyed
    # the stop: not waited for
    replacement = [p for p in _workers(two_workers.proc.pid) if p not in two_workers.workers]
    two_workers.proc.send_signal(signal.SIGINT)
    time.sleep(1)
    _kill_leftovers(replacement)
    two_workers.proc.wait(timeout=120)
    assert not directory.exists(), "the run's metrics dir is removed at the end"


def _scrapes(directory: Path, pid: int) -> float:
    from prometheus_client.mmap_dict import MmapedDict

    path = directory / f"counter_{pid}.db"
    if not path.exists():
        return 0.0
    total = 0.0
    for key, number, _, _ in MmapedDict.read_all_values_from_file(str(path)):
        _, name, labels, _ = json.loads(key)
        if name == "advisor_http_requests_total" and labels.get("route") == "/metrics":
            total += number
    return total
