"""Conversation memory: messages and the profile gathered across turns, in SQLite."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "SESSION_ID_PATTERN",
    "SessionState",
    "SessionStore",
    "new_session_id",
    "valid_session_id",
]

# uuid4 hex: 32 lower-case hex digits. Anything else is refused before it reaches SQL.
SESSION_ID_PATTERN = r"^[0-9a-f]{32}$"
_ID_RE = re.compile(SESSION_ID_PATTERN)
PURGE_EVERY_SECONDS = 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    profile TEXT NOT NULL DEFAULT '{}',
    asked TEXT NOT NULL DEFAULT '[]',
    expecting TEXT,
    language TEXT,
    context TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content TEXT NOT NULL,
    intent TEXT,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_session ON messages(session_id, id);
-- Replies already given, by idempotency key or Teams activity id: a retried request gets the
-- first reply again and stores no second turn.
CREATE TABLE IF NOT EXISTS replays (
    key TEXT PRIMARY KEY,
    reply TEXT NOT NULL,
    created REAL NOT NULL
);
-- Which advisor conversation a Teams conversation (or another channel's id) continues.
CREATE TABLE IF NOT EXISTS channel_sessions (
    channel_key TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    author TEXT NOT NULL,
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    answer TEXT NOT NULL,
    module TEXT,
    session_id TEXT
);
-- Staff edits of curated answers: the newest row per entry id overrides the shipped file.
CREATE TABLE IF NOT EXISTS curated_edits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id TEXT NOT NULL,
    entry TEXT NOT NULL,
    author TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS curated_edits_entry ON curated_edits(entry_id, id);
"""
REPLAY_SECONDS = 24 * 3600.0


def new_session_id() -> str:
    return uuid.uuid4().hex


def valid_session_id(session_id: str) -> bool:
    return bool(_ID_RE.match(session_id))


@dataclass
class SessionState:
    """What the advisor remembers of one conversation."""

    id: str
    profile: dict[str, Any] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)  # profile fields already asked for
    expecting: str | None = None  # the field the last answer asked for
    language: str | None = None  # "de" or "en": the language of the last answer
    turns: int = 0
    # what the last answer was about, for follow-ups ("warum?", "und das Backup?")
    context: dict[str, Any] = field(default_factory=dict)


class SessionStore:
    """Thread-safe SQLite store; one connection guarded by a lock (requests run in threads)."""

    def __init__(self, path: Path, ttl_seconds: float | None = None) -> None:
        self.ttl_seconds = ttl_seconds
        self._purged_at = time.time()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.executescript(_SCHEMA)
            # Stores written before the language column existed get it added in place.
            columns = {row[1] for row in self._conn.execute("PRAGMA table_info(sessions)")}
            if "language" not in columns:
                self._conn.execute("ALTER TABLE sessions ADD COLUMN language TEXT")
            if "context" not in columns:
                self._conn.execute(
                    "ALTER TABLE sessions ADD COLUMN context TEXT NOT NULL DEFAULT '{}'"
                )
        self.purge_expired()

    def purge_expired(self) -> int:
        """Delete conversations idle for longer than the retention time; how many went."""
        if self.ttl_seconds is None:
            return 0
        cutoff = time.time() - self.ttl_seconds
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    "DELETE FROM messages WHERE session_id IN "
                    "(SELECT id FROM sessions WHERE updated < ?)",
                    (cutoff,),
                )
                cur = self._conn.execute("DELETE FROM sessions WHERE updated < ?", (cutoff,))
                self._conn.execute(
                    "DELETE FROM replays WHERE created < ?", (time.time() - REPLAY_SECONDS,)
                )
                self._conn.execute("DELETE FROM channel_sessions WHERE updated < ?", (cutoff,))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return cur.rowcount

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def get(self, session_id: str) -> SessionState | None:
        if not valid_session_id(session_id):
            return None
        with self._lock:
            row = self._conn.execute(
                "SELECT profile, asked, expecting, updated, language, context FROM sessions "
                "WHERE id = ?",
                (session_id,),
            ).fetchone()
            if row is None:
                return None
            if self.ttl_seconds is not None and row[3] < time.time() - self.ttl_seconds:
                return None  # expired: gone for the user, purged at the next start
            (turns,) = self._conn.execute(
                "SELECT COUNT(*) FROM messages WHERE session_id = ? AND role = 'user'",
                (session_id,),
            ).fetchone()
        return SessionState(
            id=session_id,
            profile=json.loads(row[0]),
            asked=list(json.loads(row[1])),
            expecting=row[2],
            language=row[4],
            turns=int(turns),
            context=dict(json.loads(row[5] or "{}")),
        )

    def messages(self, session_id: str) -> list[tuple[str, str]]:
        """(role, content) of every message of the session, oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT role, content FROM messages WHERE session_id = ? ORDER BY id",
                (session_id,),
            ).fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]

    def save_turn(
        self,
        state: SessionState,
        message: str,
        answer: str,
        intent: str,
        replay: tuple[str, str] | None = None,
    ) -> None:
        """Store one question and its answer with the updated state, all or nothing; with
        ``replay`` (key, reply) the reply is remembered in the same transaction, so a retry
        with that key is answered from it and never stores the turn twice."""
        now = time.time()
        if now - self._purged_at > PURGE_EVERY_SECONDS:
            self._purged_at = now  # a long-running server forgets old conversations too
            self.purge_expired()
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute(
                    "INSERT INTO sessions (id, created, updated, profile, asked, expecting, "
                    "language, context) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO "
                    "UPDATE SET updated = excluded.updated, profile = excluded.profile, "
                    "asked = excluded.asked, expecting = excluded.expecting, "
                    "language = excluded.language, context = excluded.context",
                    (
                        state.id,
                        now,
                        now,
                        json.dumps(state.profile, sort_keys=True),
                        json.dumps(state.asked),
                        state.expecting,
                        state.language,
                        json.dumps(state.context, sort_keys=True),
                    ),
                )
                self._conn.executemany(
                    "INSERT INTO messages (session_id, role, content, intent, created) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [
                        (state.id, "user", message, intent, now),
                        (state.id, "assistant", answer, intent, now),
                    ],
                )
                if replay is not None:
                    self._conn.execute(
                        "INSERT OR REPLACE INTO replays (key, reply, created) VALUES (?, ?, ?)",
                        (replay[0], replay[1], now),
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    # --- replies already given ---------------------------------------------------------------

    def recall(self, key: str) -> str | None:
        """The reply stored under ``key`` within the replay window, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT reply, created FROM replays WHERE key = ?", (key,)
            ).fetchone()
        if row is None or row[1] < time.time() - REPLAY_SECONDS:
            return None
        return str(row[0])

    def remember(self, key: str, reply: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO replays (key, reply, created) VALUES (?, ?, ?)",
                (key, reply, time.time()),
            )

    def channel_session(self, channel_key: str) -> str | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT session_id FROM channel_sessions WHERE channel_key = ?", (channel_key,)
            ).fetchone()
        return str(row[0]) if row else None

    def bind_channel(self, channel_key: str, session_id: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO channel_sessions (channel_key, session_id, updated) "
                "VALUES (?, ?, ?)",
                (channel_key, session_id, time.time()),
            )

    # --- staff: feedback, curated edits, recent conversations ---------------------------------

    def add_feedback(self, row: dict[str, Any]) -> int:
        with self._lock:
            cur = self._conn.execute(
                "INSERT INTO feedback (created, author, rating, reason, message, answer, module, "
                "session_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time(),
                    row["author"],
                    row["rating"],
                    row["reason"],
                    row["message"],
                    row["answer"],
                    row.get("module"),
                    row.get("session_id"),
                ),
            )
            return int(cur.lastrowid or 0)

    def feedback(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, created, author, rating, reason, message, answer, module, session_id "
                "FROM feedback ORDER BY id"
            ).fetchall()
        keys = ("id", "created", "author", "rating", "reason", "message", "answer", "module",
                "session_id")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def add_curated_edit(self, entry_id: str, entry_json: str, author: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO curated_edits (entry_id, entry, author, created) VALUES (?, ?, ?, ?)",
                (entry_id, entry_json, author, time.time()),
            )

    def curated_edits(self) -> tuple[int, list[tuple[str, str, str, float]]]:
        """(version, newest edit per entry as (entry id, entry JSON, author, time))."""
        with self._lock:
            (version,) = self._conn.execute(
                "SELECT COALESCE(MAX(id), 0) FROM curated_edits"
            ).fetchone()
            rows = self._conn.execute(
                "SELECT entry_id, entry, author, created FROM curated_edits WHERE id IN "
                "(SELECT MAX(id) FROM curated_edits GROUP BY entry_id) ORDER BY entry_id"
            ).fetchall()
        return int(version), [(str(a), str(b), str(c), float(d)) for a, b, c, d in rows]

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest conversations within the retention period, newest first."""
        cutoff = time.time() - self.ttl_seconds if self.ttl_seconds is not None else 0.0
        with self._lock:
            rows = self._conn.execute(
                "SELECT s.id, s.updated, s.language, "
                "(SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id AND m.role = 'user'), "
                "(SELECT content FROM messages m WHERE m.session_id = s.id AND m.role = 'user' "
                "ORDER BY m.id LIMIT 1) FROM sessions s WHERE s.updated >= ? "
                "ORDER BY s.updated DESC LIMIT ?",
                (cutoff, limit),
            ).fetchall()
        return [
            {"id": r[0], "updated": r[1], "language": r[2], "turns": r[3], "first_message": r[4]}
            for r in rows
        ]

    def transcript(self, session_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT role, content, created FROM messages WHERE session_id = ? ORDER BY id",
                (session_id,),
            ).fetchall()
        return [{"role": r[0], "content": r[1], "created": r[2]} for r in rows]

    def delete(self, session_id: str) -> bool:
        """Remove a conversation and its messages; False when there was none."""
        if not valid_session_id(session_id):
            return False
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))
                cur = self._conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return cur.rowcount > 0
