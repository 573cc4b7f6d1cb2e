"""Two `advisor serve` processes sharing a Chroma server, PostgreSQL and Redis, all on
loopback: one conversation alternates between them while an `advisor ingest` runs through
the Chroma server, and stays whole; both switch to the new generation; turns sent at once to
both keep every fact; a retry at the other instance is answered from the store; the rate
limit counts across both.

Clients are told apart by X-Forwarded-For (the instances trust 127.0.0.1 as their proxy), so
each test counts against its own client's limit of 10 requests a minute.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from services import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
KNOWLEDGE = ROOT / "knowledge"
STAFF_TOKEN = "staff-" + "m" * 24
RATE_LIMIT = 10  # per minute and client, counted in Redis
NEW_WORD = "Zebrafinkenprotokoll"
# A first start in a test session trains the router and curated caches (minutes on a busy
# machine); later starts read them.
START_SECONDS = 900.0


@dataclass
class Cluster:
    urls: list[str]
    env: dict[str, str]
    database_url: str
    logs: list[Path]

    def chat(
        self,
        i: int,
        client: str,
        message: str,
        session_id: str | None = None,
        key: str | None = None,
    ) -> httpx.Response:
        """A turn at instance ``i % 2`` from ``client`` (optionally with an Idempotency-Key)."""
        headers = {"X-Forwarded-For": client}
        if key:
            headers["Idempotency-Key"] = key
        return httpx.post(
            f"{self.urls[i % 2]}/api/chat",
            json={"message": message, "session_id": session_id},
            headers=headers,
            timeout=60,
        )


def _advisor() -> str:
    program = shutil.which("advisor", path=str(Path(sys.executable).parent))
    assert program, "the advisor command is installed with the project (pip install -e .)"
    return program


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"advisor at {url} did not start: {log.read_text()[-3000:]}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def cluster(
    indexed_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    chroma_server: Any,
    postgres_server: Any,
    redis_server: Any,
) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("multi")
    database_url = postgres_server.create_database("multi_" + uuid.uuid4().hex[:8])
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADVISOR_")}
    env.update(
        PYTHONPATH=str(ROOT),  # this checkout's code, whatever is installed
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        ADVISOR_ENVIRONMENT="test",
        ADVISOR_CHROMA_URL=chroma_server.url,
        ADVISOR_COLLECTION="multi" + uuid.uuid4().hex[:8],  # apart from other tests' indexes
        ADVISOR_DATABASE_URL=database_url,
        ADVISOR_RATE_LIMIT_STORAGE=redis_server.url,
        ADVISOR_RATE_LIMIT=f"{RATE_LIMIT}/minute",
        ADVISOR_TRUSTED_PROXIES="127.0.0.1",
        ADVISOR_STAFF_TOKEN=STAFF_TOKEN,
    )
    ingest = subprocess.run(
        [_advisor(), "ingest", "--json"],
        env={**env, "ADVISOR_DATA_DIR": str(root / "ingest")},
        capture_output=True,
        timeout=600,
    )
    assert ingest.returncode == 0, ingest.stderr.decode()[-2000:]
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    logs: list[Path] = []
    try:
        for name in ("a", "b"):
            data = root / name
            data.mkdir()
            # the router and curated caches of the session's index: trained once per session
            (indexed_dir / "cache").mkdir(exist_ok=True)
            (data / "cache").symlink_to(indexed_dir / "cache", target_is_directory=True)
            port = free_port()
            log = root / f"{name}.log"
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    [_advisor(), "serve", "--port", str(port), "--no-staff-token"],
                    env={**env, "ADVISOR_DATA_DIR": str(data)},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            procs.append(proc)
            urls.append(f"http://127.0.0.1:{port}")
            logs.append(log)
            # one after the other: the second finds the caches the first may have written
            _wait_ready(urls[-1], proc, log)
        yield Cluster(urls, env, database_url, logs)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _generation(url: str) -> str | None:
    index = httpx.get(f"{url}/healthz", timeout=10).json().get("index") or {}
    generation: str | None = index.get("generation")
    return generation


def test_one_conversation_alternates_between_instances_while_an_ingest_runs(
    cluster: Cluster, tmp_path: Path
) -> None:
    client = "10.0.0.1"
    before = {_generation(url) for url in cluster.urls}
    assert len(before) == 1 and None not in before, "both serve the same generation"
    folder = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, folder)
    (folder / "neu.md").write_text(
        f"# Neu\n\n## Filialen\n\nDas {NEW_WORD} regelt die Datensicherung der Filialen.\n",
        encoding="utf-8",
    )
    turns = [
        "Wir haben 45 Mitarbeiter.",
        "Wir haben 40 PCs.",
        "Was kostet ein Senior-Techniker pro Jahr?",
        "Wir haben 3 Standorte.",
        "Wie oft sollte man Backups testen?",
        "Wir brauchen 24/7-Betrieb.",
        "Welche Vorteile hat Fernwartung?",
        "Wir wachsen stark.",
    ]
    facts = {
        "Wir haben 45 Mitarbeiter.": ("employees", 45),
        "Wir haben 40 PCs.": ("pcs", 40),
        "Wir haben 3 Standorte.": ("locations", 3),
        "Wir brauchen 24/7-Betrieb.": ("needs_24x7", True),
        "Wir wachsen stark.": ("growth", True),
    }
    session: str | None = None
    answers: list[str] = []
    known: dict[str, Any] = {}
    during_ingest = 0
    ingest: subprocess.Popen[bytes] | None = None
    try:
        for n, message in enumerate(turns):
            if n == 2:  # an ingest through the Chroma server, from a third machine
                ingest = subprocess.Popen(
                    [_advisor(), "ingest", str(folder), "--json"],
                    env={**cluster.env, "ADVISOR_DATA_DIR": str(tmp_path / "ingest")},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            running = ingest is not None and ingest.poll() is None
            response = cluster.chat(n, client, message, session)
            assert response.status_code == 200, (n, response.text)
            body = response.json()
            session = session or body["session_id"]
            assert body["session_id"] == session
            if message in facts:
                field, value = facts[message]
                known[field] = value
            # what was said at the other instance is known here
            assert {k: body["profile"].get(k) for k in known} == known, (n, body["profile"])
            answers.append(body["answer"])
            during_ingest += running and ingest is not None and ingest.poll() is None
        assert ingest is not None
        out, err = ingest.communicate(timeout=600)
        assert ingest.returncode == 0, err.decode()[-2000:]
        summary = json.loads(out)
        assert (summary["added"], summary["embedded"]) == (1, 1), "only the new passage"
    finally:
        if ingest is not None and ingest.poll() is None:
            ingest.kill()
            ingest.wait()
    assert during_ingest >= 1, "no turn was answered while the ingest ran"

    # both instances switch to the new generation and find the new document
    deadline = time.monotonic() + 30
    while len({_generation(url) for url in cluster.urls} - before) != 1 or len(
        {_generation(url) for url in cluster.urls}
    ) != 1:
        assert time.monotonic() < deadline, [_generation(url) for url in cluster.urls]
        time.sleep(0.5)
    for url in cluster.urls:
        found = httpx.get(
            f"{url}/api/search",
            params={"q": f"Was regelt das {NEW_WORD}?", "k": 3},
            headers={"X-Forwarded-For": "10.0.0.11"},
            timeout=30,
        )
        assert found.status_code == 200, found.text
        assert NEW_WORD in found.json()["passages"][0]["text"]

    # the conversation is whole, in order, as either instance tells it
    for i, url in enumerate(cluster.urls):
        stored = httpx.get(
            f"{url}/api/staff/conversations/{session}",
            headers={
                "Authorization": f"Bearer {STAFF_TOKEN}",
                "X-Forwarded-For": f"10.0.0.1{i + 2}",
            },
            timeout=30,
        )
        assert stored.status_code == 200, stored.text
        messages = stored.json()["messages"]
        assert [m["content"] for m in messages if m["role"] == "user"] == turns
        assert [m["content"] for m in messages if m["role"] == "assistant"] == answers
        assert {k: stored.json()["profile"].get(k) for k in known} == known


def test_turns_sent_at_once_to_both_instances_keep_every_fact(cluster: Cluster) -> None:
    from server.sessions import SessionStore

    client = "10.0.0.2"
    facts = {
        "Wir haben 45 Mitarbeiter.": ("employees", 45),
        "Wir haben 40 PCs.": ("pcs", 40),
        "Wir haben 3 Standorte.": ("locations", 3),
        "Wir haben einen Key-User.": ("key_user", True),
        "Wir brauchen 24/7-Betrieb.": ("needs_24x7", True),
        "Wir unterliegen der KRITIS-Regulierung.": ("regulated", True),
        "Wir wachsen stark.": ("growth", True),
        "Viele arbeiten im Homeoffice.": ("remote_work", True),
    }
    first = cluster.chat(0, client, "Hallo")
    assert first.status_code == 200, first.text
    session = first.json()["session_id"]
    messages = list(facts)
    with ThreadPoolExecutor(len(messages)) as pool:
        replies = list(
            pool.map(lambda i: cluster.chat(i, client, messages[i], session), range(len(messages)))
        )
    assert [r.status_code for r in replies] == [200] * len(messages)
    store = SessionStore(cluster.database_url)
    try:
        state = store.get(session)
        assert state is not None
        assert state.profile == dict(facts.values())
        users = [text for role, text in store.messages(session) if role == "user"]
        assert users[0] == "Hallo" and sorted(users[1:]) == sorted(messages)
    finally:
        store.close()


def test_a_retry_at_the_other_instance_is_answered_from_the_store(cluster: Cluster) -> None:
    from server.sessions import SessionStore

    client = "10.0.0.3"
    key = "retry-" + uuid.uuid4().hex
    first = cluster.chat(0, client, "Wie oft sollte man Backups testen?", key=key)
    assert first.status_code == 200, first.text
    retry = cluster.chat(1, client, "Wie oft sollte man Backups testen?", key=key)
    assert retry.status_code == 200 and retry.headers.get("idempotent-replayed") == "true"
    assert retry.json()["answer"] == first.json()["answer"]
    store = SessionStore(cluster.database_url)
    try:
        assert len(store.messages(first.json()["session_id"])) == 2, "stored once"
    finally:
        store.close()


def test_the_rate_limit_counts_across_both_instances(cluster: Cluster) -> None:
    """Twelve searches from one client, alternating: each instance sees six (under the
    limit on its own), the shared count refuses the eleventh and twelfth."""
    statuses = []
    for i in range(RATE_LIMIT + 2):
        response = httpx.get(
            f"{cluster.urls[i % 2]}/api/search",
            params={"q": "Backup", "k": 1},
            headers={"X-Forwarded-For": "10.0.0.4"},
            timeout=30,
        )
        statuses.append(response.status_code)
    assert statuses == [200] * RATE_LIMIT + [429, 429]
    other = httpx.get(
        f"{cluster.urls[0]}/api/search",
        params={"q": "Backup", "k": 1},
        headers={"X-Forwarded-For": "10.0.0.5"},
        timeout=30,
    )
    assert other.status_code == 200, "the limit is per client"
