"""Load generator for `make bench`: N concurrent clients POST /api/chat for a fixed time.

Runs in its own process (docs/benchmark.py starts it), so its CPU time is not the server's
and the server is measured over real loopback HTTP. Each client keeps one keep-alive
connection and sends the questions in turn, starting at its own offset, each in a fresh
conversation. Prints one JSON object: latency percentiles of every response, throughput of
answered (2xx) chats, and counts by status.

    python docs/loadgen.py --url http://127.0.0.1:8000 --clients 8 --duration 15 \
        --questions questions.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from collections import Counter
from pathlib import Path

import httpx


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


async def _client(
    n: int,
    url: str,
    questions: list[str],
    stop_at: float,
    latencies: list[float],
    statuses: Counter[str],
) -> None:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        i = n * 7  # clients start at different questions
        while time.perf_counter() < stop_at:
            question = questions[i % len(questions)]
            i += 1
            started = time.perf_counter()
            try:
                response = await http.post("/api/chat", json={"message": question})
                await response.aread()
                status = str(response.status_code)
            except httpx.HTTPError as exc:
                status = type(exc).__name__  # a refused or dropped connection counts too
            latencies.append(time.perf_counter() - started)
            statuses[status] += 1


async def run(url: str, clients: int, duration: float, questions: list[str]) -> dict[str, object]:
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    started = time.perf_counter()
    stop_at = started + duration
    await asyncio.gather(
        *(_client(n, url, questions, stop_at, latencies, statuses) for n in range(clients))
    )
    elapsed = time.perf_counter() - started
    answered = sum(c for s, c in statuses.items() if s.startswith("2"))
    return {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "requests": len(latencies),
        "answered": answered,
        "answered_per_s": round(answered / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "max_ms": round(max(latencies, default=0.0) * 1000, 1),
        "status_5xx": sum(c for s, c in statuses.items() if s.startswith("5")),
        "not_2xx": len(latencies) - answered,
        "statuses": dict(statuses),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True, help="seconds")
    parser.add_argument("--questions", type=Path, required=True, help="a JSON list of strings")
    args = parser.parse_args(argv)
    questions = json.loads(args.questions.read_text(encoding="utf-8"))
    if not questions or not all(isinstance(q, str) and q for q in questions):
        print("--questions must hold a non-empty JSON list of strings", file=sys.stderr)
        return 2
    result = asyncio.run(run(args.url, args.clients, args.duration, questions))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
