"""Where the advisor keeps what it must remember across turns and instances: one small SQL
interface with two backends, SQLite (one file, the default) and PostgreSQL (shared by every
instance, with ``ADVISOR_DATABASE_URL``).

:mod:`server.sessions` writes its SQL once, with ``?`` placeholders, against
:class:`Database`; each backend runs a unit of work in one transaction and runs it again
from the start when the database asks for that (SQLite busy or locked, a PostgreSQL
serialization failure or deadlock), so a contended write is delayed, never lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

__all__ = ["Cursor", "Database", "Dialect", "StoreError", "Transaction", "open_database"]

T = TypeVar("T")
Dialect = Literal["sqlite", "postgresql"]


class StoreError(Exception):
    """The store cannot be opened or used as configured; the text says what to do."""


class Cursor(Protocol):
    """What a statement gives back: both sqlite3's and psycopg's cursors fit."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Transaction(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...


class Database(Protocol):
    dialect: Dialect
    # appended to a SELECT that reads a row this transaction will rewrite: PostgreSQL's row
    # lock; SQLite's write transactions are serialised already (BEGIN IMMEDIATE)
    lock_rows: str

    def run(self, work: Callable[[Transaction], T], *, write: bool = True) -> T:
        """``work`` in one transaction, committed when it returns; run again from the start
        on a transient conflict, so it must not have effects outside the transaction."""
        ...

    def script(self, statements: str) -> None:
        """Schema statements (``;``-separated), in one transaction."""
        ...

    def close(self) -> None: ...


def open_database(where: Path | str) -> Database:
    """PostgreSQL for a ``postgresql://`` URL, else the SQLite file at ``where``."""
    text = str(where)
    if text.startswith(("postgresql://", "postgres://")):
        from server.store.postgres import PostgresDatabase

        return PostgresDatabase(text)
    from server.store.sqlite import SqliteDatabase

    return SqliteDatabase(Path(where))
