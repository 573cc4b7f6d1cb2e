"""The PostgreSQL backend (``ADVISOR_DATABASE_URL``): a psycopg 3 connection pool shared by
the request threads; every instance of the advisor reads and writes the same rows."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from server.store import Cursor, Dialect, StoreError, Transaction

__all__ = ["PostgresDatabase"]

T = TypeVar("T")
log = logging.getLogger("advisor.store")

# Connections per instance: the request threads share them; a turn holds one for a few
# milliseconds (its reads, then its one write transaction).
POOL_MIN = 1
POOL_MAX = 10
CONNECT_SECONDS = 10.0
RETRIES = 8
# Schema changes by several instances starting at once are serialised on this advisory lock.
SCHEMA_LOCK = 0x61647669  # "advi"


class _Tx:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        # the shared SQL uses ? placeholders (sqlite3's); psycopg's are %s
        cursor: Cursor = self._conn.execute(sql.replace("?", "%s"), tuple(params))
        return cursor


class PostgresDatabase:
    dialect: Dialect = "postgresql"
    lock_rows = " FOR UPDATE"

    def __init__(self, url: str) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool

        self._errors = psycopg.errors
        self._pool = ConnectionPool(
            url,
            min_size=POOL_MIN,
            max_size=POOL_MAX,
            open=False,
            timeout=CONNECT_SECONDS,
            check=ConnectionPool.check_connection,  # a connection the server dropped is replaced
            name="advisor",
        )
        try:
            self._pool.open(wait=True, timeout=CONNECT_SECONDS)
        except Exception as exc:
            self._pool.close()
            # the URL may carry a password: name the host only
            from urllib.parse import urlparse

            where = urlparse(url)
            raise StoreError(
                f"cannot reach the PostgreSQL server at {where.hostname}:{where.port or 5432} "
                f"(ADVISOR_DATABASE_URL): {type(exc).__name__}"
            ) from None

    def run(self, work: Callable[[Transaction], T], *, write: bool = True) -> T:
        errors = self._errors
        for attempt in range(RETRIES):
            try:
                with self._pool.connection() as conn, conn.transaction():
                    return work(_Tx(conn))
            except (errors.SerializationFailure, errors.DeadlockDetected) as exc:
                if attempt == RETRIES - 1:
                    raise
                log.info("session store conflict (%s); trying again", type(exc).__name__)
                time.sleep(0.01 * 2**attempt * (1 + random.random()))
        raise AssertionError("unreachable")

    def script(self, statements: str) -> None:
        def work(tx: Transaction) -> None:
            tx.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))
            for statement in statements.split(";"):
                if statement.strip():
                    tx.execute(statement)

        self.run(work)

    def close(self) -> None:
        self._pool.close()
