"""The SQLite backend: one file, WAL journal, a busy timeout, and whole transactions retried
while another process holds the write lock."""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from server.store import Cursor, Dialect, StoreError, Transaction

__all__ = ["SqliteDatabase"]

T = TypeVar("T")
log = logging.getLogger("advisor.store")

# SQLite itself waits this long for a lock held by another connection (another worker or
# instance on the same file) before it reports "database is locked"...
BUSY_TIMEOUT_MS = 5_000
# ...and then the whole unit of work is run again, with a growing pause, for at most this
# long: a turn waits through a long checkpoint or a burst of writers instead of failing.
RETRY_SECONDS = 30.0


def _transient(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class _Tx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self._conn.execute(sql, tuple(params))


class SqliteDatabase:
    """One connection per store, guarded by a lock (requests run in threads); other
    processes on the same file are kept apart by SQLite's locks."""

    dialect: Dialect = "sqlite"
    lock_rows = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                str(path),
                check_same_thread=False,
                isolation_level=None,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the session store {path}: {exc}") from None
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            # WAL: readers never wait for the writer, and a killed process leaves every
            # committed transaction in the file (the log is replayed at the next open).
            self._retry(lambda: self._conn.execute("PRAGMA journal_mode = WAL"))

    def _retry(self, attempt: Callable[[], T]) -> T:
        deadline = time.monotonic() + RETRY_SECONDS
        pause = 0.01
        while True:
            try:
                return attempt()
            except sqlite3.OperationalError as exc:
                if not _transient(exc) or time.monotonic() > deadline:
                    raise
                log.info("session store busy (%s); trying again", exc)
                time.sleep(pause * (1 + random.random()))
                pause = min(pause * 2, 0.5)

    def run(self, work: Callable[[Transaction], T], *, write: bool = True) -> T:
        def attempt() -> T:
            with self._lock:
                # IMMEDIATE takes the write lock at the start: a read-then-write unit cannot
                # fail half-way on a lock upgrade, and turns on one session are serialised.
                self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    result = work(_Tx(self._conn))
                    self._conn.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
                return result

        return self._retry(attempt)

    def script(self, statements: str) -> None:
        def work(tx: Transaction) -> None:
            for statement in statements.split(";"):
                if statement.strip():
                    tx.execute(statement)

        self.run(work)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
