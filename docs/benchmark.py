"""Benchmark: full ingest, no-change re-ingest, search latency and (if present) chat latency.

Run with `make bench` (or `.venv/bin/python docs/benchmark.py`); results go to stdout as a
Markdown table that `docs/benchmarks.md` records. Everything runs in a fresh temp data dir.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
QUERIES = [
    "Ab wie vielen Mitarbeitern sollte man die IT extern betreuen lassen?",
    "Was kostet ein Senior-Techniker pro Jahr?",
    "Soll der Helpdesk intern oder extern sein?",
    "Should we outsource our backup?",
    "Welche Risiken hat Outsourcing?",
    "Was ist ein Key-User?",
    "Wie viele IT-Stellen sind in Deutschland unbesetzt?",
    "Wer sollte die IT-Strategie verantworten?",
]
# Recommendations: the intro streams before the cited task lines are looked up.
STREAM_QUERIES = [
    "Wir haben 50 PCs, 60 Mitarbeiter, keine eigene IT, aber einen Key-User",
    "Wir sind ein Maschinenbauer mit 45 PCs und einem Admin – was sollten wir auslagern?",
]
ROUNDS = 25


def _ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"median {statistics.median(values) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms"


def _teams(client: object, secret: str) -> tuple[str, str]:
    """Signed Teams activities, each a new question (no replay), timed end to end."""
    import base64
    import hashlib
    import hmac
    import json

    timings = []
    for i, q in enumerate(QUERIES * 3):
        body = json.dumps(
            {
                "type": "message",
                "id": f"bench-{i}",
                "text": f"<at>IT-Berater</at> {q}",
                "conversation": {"id": f"19:bench-{i}"},
            }
        ).encode()
        digest = hmac.new(base64.b64decode(secret), body, hashlib.sha256).digest()
        headers = {
            "authorization": "HMAC " + base64.b64encode(digest).decode(),
            "content-type": "application/json",
        }
        t = time.perf_counter()
        client.post("/api/teams", content=body, headers=headers).raise_for_status()  # type: ignore[attr-defined]
        timings.append(time.perf_counter() - t)
    return (f"POST /api/teams, signed activities ({len(timings)} requests)", _ms(timings))


def main() -> None:
    from fastapi.testclient import TestClient

    from ingest.index import ingest
    from server.app import create_app
    from server.index_config import index_config
    from server.retrieval import PassageIndex
    from server.settings import Settings

    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        # No rate limit: the benchmark sends hundreds of requests from one client.
        import base64
        import secrets

        teams_secret = base64.b64encode(secrets.token_bytes(32)).decode()
        settings = Settings(
            data_dir=Path(tmp),
            sessions_path=Path(tmp) / "s.sqlite3",
            rate_limit="",
            teams_secret=teams_secret,
        )
        config = index_config(settings)
        start = time.perf_counter()
        first = ingest(settings.knowledge_dir, config)
        rows.append(
            (
                "full ingest (5 documents, model load included)",
                f"{time.perf_counter() - start:.1f} s, {first.chunks} chunks embedded",
            )
        )
        start = time.perf_counter()
        again = ingest(settings.knowledge_dir, config)
        rows.append(
            (
                "no-change re-ingest",
                f"{(time.perf_counter() - start) * 1000:.0f} ms, {again.embedded} embedded",
            )
        )

        index = PassageIndex(config)
        index.search("warm-up", 5)
        timings = []
        for _ in range(ROUNDS):
            for q in QUERIES:
                t = time.perf_counter()
                index.search(q, 5)
                timings.append(time.perf_counter() - t)
        rows.append((f"search, in process ({len(timings)} queries)", _ms(timings)))

        with TestClient(create_app(settings)) as client:
            http = []
            for _ in range(ROUNDS):
                for q in QUERIES:
                    t = time.perf_counter()
                    client.get("/api/search", params={"q": q, "k": 5}).raise_for_status()
                    http.append(time.perf_counter() - t)
            rows.append((f"GET /api/search ({len(http)} requests)", _ms(http)))
            if "/api/chat" in client.get("/openapi.json").json()["paths"]:
                for kind, queries in (("questions", QUERIES), ("recommendations", STREAM_QUERIES)):
                    chat = []
                    for _ in range(ROUNDS // 5 or 1):
                        for q in queries:
                            t = time.perf_counter()
                            client.post("/api/chat", json={"message": q}).raise_for_status()
                            chat.append(time.perf_counter() - t)
                    rows.append(
                        (f"POST /api/chat, deterministic, {kind} ({len(chat)} requests)", _ms(chat))
                    )
                first, done = [], []
                for _ in range(ROUNDS // 5 or 1):
                    for q in STREAM_QUERIES:
                        t = time.perf_counter()
                        seen_delta = False
                        with client.stream("POST", "/api/chat/stream", json={"message": q}) as r:
                            for line in r.iter_lines():
                                if line == "event: delta" and not seen_delta:
                                    seen_delta = True
                                    first.append(time.perf_counter() - t)
                                elif line == "event: done":
                                    done.append(time.perf_counter() - t)
                rows.append(
                    (f"POST /api/chat/stream, first delta ({len(first)} streams)", _ms(first))
                )
                rows.append((f"POST /api/chat/stream, done ({len(done)} streams)", _ms(done)))
                rows.append(_teams(client, teams_secret))

    print(
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}\n"
    )
    print("| measurement | result |\n| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
