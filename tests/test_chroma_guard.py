"""The guard in front of Chroma: a deadline on every call, a circuit breaker, bounded threads."""

from __future__ import annotations

import threading
import time

import pytest
from chromadb.errors import NotFoundError

from server.chroma_guard import ChromaGuard, ChromaUnavailable

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _refused() -> int:
    raise ConnectionRefusedError("connection refused")


def test_a_call_that_hangs_costs_the_deadline_and_no_more() -> None:
    guard = ChromaGuard(timeout=0.2)
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(ChromaUnavailable, match=r"within 0\.2 s"):
        guard.call("query", lambda: release.wait(30))
    assert time.monotonic() - started < 1.0
    release.set()


def test_the_breaker_opens_after_failures_in_a_row_and_then_calls_nothing() -> None:
    clock = Clock()
    guard = ChromaGuard(timeout=1, failures=3, cooldown=5, clock=clock)
    for _ in range(3):
        with pytest.raises(ChromaUnavailable, match="ConnectionRefusedError"):
            guard.call("query", _refused)
    assert guard.state == "open"
    calls = []
    with pytest.raises(ChromaUnavailable, match="circuit breaker open"):
        guard.call("query", lambda: calls.append(1))
    assert calls == [], "an open breaker does not touch Chroma"


def test_a_success_resets_the_count_of_failures() -> None:
    guard = ChromaGuard(timeout=1, failures=2)
    with pytest.raises(ChromaUnavailable):
        guard.call("query", _refused)
    assert guard.call("query", lambda: 7) == 7
    with pytest.raises(ChromaUnavailable):
        guard.call("query", _refused)
    assert guard.state == "closed"


def test_after_the_cool_down_one_probe_decides() -> None:
    clock = Clock()
    guard = ChromaGuard(timeout=1, failures=1, cooldown=5, clock=clock)
    with pytest.raises(ChromaUnavailable):
        guard.call("query", _refused)
    clock.now += 5
    assert guard.state == "half_open"
    with pytest.raises(ChromaUnavailable):
        guard.call("query", _refused)  # the probe fails: open for another cool-down
    assert guard.state == "open"
    clock.now += 4.9
    with pytest.raises(ChromaUnavailable, match="circuit breaker open"):
        guard.call("query", lambda: 1)
    clock.now += 0.1
    assert guard.call("heartbeat", lambda: 42) == 42  # the probe answers: closed again
    assert guard.state == "closed"
    assert guard.call("query", lambda: 1) == 1


def test_only_one_probe_at_a_time() -> None:
    clock = Clock()
    guard = ChromaGuard(timeout=2, failures=1, cooldown=1, clock=clock)
    with pytest.raises(ChromaUnavailable):
        guard.call("query", _refused)
    clock.now += 1
    inside, release = threading.Event(), threading.Event()

    def slow_probe() -> int:
        inside.set()
        release.wait(5)
        return 1

    probe = threading.Thread(target=lambda: guard.call("query", slow_probe))
    probe.start()
    assert inside.wait(5)
    with pytest.raises(ChromaUnavailable, match="circuit breaker open"):
        guard.call("query", lambda: 2)  # a second caller does not pile onto the probe
    release.set()
    probe.join(5)
    assert guard.state == "closed"


def test_an_error_chroma_answers_with_passes_through_and_does_not_count() -> None:
    guard = ChromaGuard(timeout=1, failures=1)

    def unknown() -> None:
        raise NotFoundError("collection advisor-x does not exist")

    with pytest.raises(NotFoundError):
        guard.call("open the collection", unknown)
    assert guard.state == "closed"


def test_hanging_calls_hold_a_bounded_number_of_threads() -> None:
    guard = ChromaGuard(timeout=0.2, failures=100, max_waiting=2)
    release = threading.Event()
    before = threading.active_count()
    for _ in range(6):
        with pytest.raises(ChromaUnavailable):
            guard.call("query", lambda: release.wait(30))
    assert threading.active_count() - before <= 2
    release.set()
