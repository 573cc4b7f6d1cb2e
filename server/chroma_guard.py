"""Every call to Chroma under a deadline and behind a circuit breaker.

Chroma's HTTP client waits forever (its httpx session has no timeout): one frozen server used
to hold every request thread until the whole service stopped answering. Here each call runs
on one of a few daemon threads of its own and the caller waits at most the deadline; after a
run of failures the breaker opens and calls fail at once (the caller answers from the lexical
index) until, after a cool-down, a single probe call finds the store answering again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Literal, TypeVar

from chromadb.errors import ChromaError

__all__ = ["BreakerState", "ChromaGuard", "ChromaUnavailable"]

T = TypeVar("T")
BreakerState = Literal["closed", "open", "half_open"]
log = logging.getLogger("advisor.chroma")


class ChromaUnavailable(Exception):
    """Chroma did not answer in time, could not be reached, or the breaker is open."""


class ChromaGuard:
    """Runs Chroma calls with a deadline; opens after ``failures`` failures in a row and lets
    one probe through every ``cooldown`` seconds while open.

    An error that Chroma itself answers with (a ``ChromaError``: unknown collection, bad
    argument) is passed on unchanged and does not count: the store answered. Timeouts,
    refused connections and anything else count.
    """

    def __init__(
        self,
        timeout: float = 1.5,
        failures: int = 3,
        cooldown: float = 5.0,
        max_waiting: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.failures = failures
        self.cooldown = cooldown
        self._clock = clock
        # At most this many threads can hang on a frozen server; one more call waits for a
        # free slot within its deadline, so request threads are never held longer.
        self._slots = threading.BoundedSemaphore(max_waiting)
        self._lock = threading.Lock()
        self._state: BreakerState = "closed"
        self._failed = 0
        self._opened_at = 0.0
        self._probing = False
        self.last_error: str | None = None

    @property
    def state(self) -> BreakerState:
        with self._lock:
            if self._state == "open" and self._clock() - self._opened_at >= self.cooldown:
                return "half_open"
            return self._state

    def call(self, what: str, fn: Callable[[], T], timeout: float | None = None) -> T:
        """``fn()`` within the deadline (``timeout`` overrides it for this call);
        ChromaUnavailable when it cannot be had."""
        probe = self._admit(what)
        started = self._clock()
        try:
            result = self._run(what, fn, timeout or self.timeout)
        except ChromaError:
            self._settle(probe, ok=True)  # Chroma answered, with an error of its own
            raise
        except ChromaUnavailable as exc:
            self._settle(probe, ok=False, error=str(exc))
            raise
        self._settle(probe, ok=True)
        if probe:
            log.warning(
                "Chroma answers again (%s in %.2f s); dense retrieval is back",
                what,
                self._clock() - started,
            )
        return result

    def _admit(self, what: str) -> bool:
        """Whether this call is the half-open probe; raises while the breaker is open."""
        with self._lock:
            if self._state == "closed":
                return False
            waited = self._clock() - self._opened_at
            if self._state == "open" and waited >= self.cooldown and not self._probing:
                self._probing = True
                return True
            raise ChromaUnavailable(
                f"circuit breaker open after {self._failed} failed calls "
                f"({self.last_error}); {what} not attempted"
            )

    def _settle(self, probe: bool, ok: bool, error: str | None = None) -> None:
        with self._lock:
            if probe:
                self._probing = False
            if ok:
                self._state, self._failed = "closed", 0
                return
            self._failed += 1
            self.last_error = error
            if probe or self._failed >= self.failures:
                if self._state != "open" or probe:
                    log.warning(
                        "Chroma breaker open for %.1f s after %d failed calls: %s",
                        self.cooldown,
                        self._failed,
                        error,
                    )
                self._state, self._opened_at = "open", self._clock()

    def _run(self, what: str, fn: Callable[[], T], timeout: float) -> T:
        deadline = self._clock() + timeout
        if not self._slots.acquire(timeout=timeout):
            raise ChromaUnavailable(f"{what}: every Chroma call slot is still waiting")
        future: Future[T] = Future()

        def work() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:  # a Rust panic in Chroma is a BaseException
                future.set_exception(exc)
            finally:
                self._slots.release()

        # A daemon thread: a call stuck on a frozen server must not keep the process alive.
        threading.Thread(target=work, name=f"chroma-{what}", daemon=True).start()
        try:
            return future.result(timeout=max(0.0, deadline - self._clock()))
        except FutureTimeout:
            raise ChromaUnavailable(f"{what}: no answer from Chroma within {timeout:g} s") from None
        except ChromaError:
            raise
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            raise ChromaUnavailable(f"{what}: {type(exc).__name__}: {exc}") from exc
