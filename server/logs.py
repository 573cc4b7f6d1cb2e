"""Structured logs: one JSON object (or one readable line) per event, saying what happened and
never what was written.

The advisor's own events are logged with :func:`log_event`: the message is a short event name
(``request``, ``answer``, ``llm_fallback``) and the facts are fields (route, status,
duration_ms, module, outcome, degraded, a hash of the session id). Visitors' messages, answers
and query strings never become fields; the client address only with
``ADVISOR_LOG_CLIENT_IP=true``. Exceptions are logged by type and stack frames without their
message, since a message can quote its input (pydantic's errors do).

Everything logged while a request is handled carries that request's ``request_id``, so the
``answer`` event and the access line of one request can be joined.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import secrets
import sys
import traceback
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from server.settings import Settings

__all__ = [
    "JsonFormatter",
    "StderrHandler",
    "TextFormatter",
    "log_event",
    "log_format",
    "logging_config",
    "note_request",
    "request_context",
    "session_hash",
]

_FIELDS = "advisor_fields"
# The fields of the request being handled: the observer (server.metrics) opens it, the chat
# adds what it decided, and the access line at the end carries them all. Route handlers run
# in threads that copy the context, so they share the dict, not a copy of it.
_request: ContextVar[dict[str, Any] | None] = ContextVar("advisor_request", default=None)


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log ``event`` with ``fields``; None values are left out."""
    if logger.isEnabledFor(level):
        kept = {k: v for k, v in fields.items() if v is not None}
        logger.log(level, event, extra={_FIELDS: kept})


def session_hash(session_id: str | None) -> str | None:
    """A stable stand-in for a session id: the id itself reads and deletes the conversation,
    so it stays out of the logs; the hash still joins one conversation's events."""
    if not session_id:
        return None
    return hashlib.sha256(session_id.encode()).hexdigest()[:16]


@contextlib.contextmanager
def request_context() -> Iterator[dict[str, Any]]:
    """The fields of one request, open while it is handled."""
    fields: dict[str, Any] = {"request_id": secrets.token_hex(6)}
    token = _request.set(fields)
    try:
        yield fields
    finally:
        _request.reset(token)


def note_request(**fields: Any) -> None:
    """Add facts to the current request's access line (nothing outside a request)."""
    current = _request.get()
    if current is not None:
        current.update({k: v for k, v in fields.items() if v is not None})


def _record_fields(record: logging.LogRecord) -> dict[str, Any]:
    at = datetime.fromtimestamp(record.created, UTC)
    out: dict[str, Any] = {
        "time": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z",
        "level": record.levelname.lower(),
        "logger": record.name,
        "event": record.getMessage(),
    }
    current = _request.get()
    if current is not None:
        out["request_id"] = current["request_id"]
    out.update(getattr(record, _FIELDS, None) or {})
    if record.exc_info and record.exc_info[0] is not None:
        exc_type, _, tb = record.exc_info
        out["error"] = exc_type.__name__
        # where it failed, not what it said: frames only
        out["stack"] = [
            f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in traceback.extract_tb(tb)
        ]
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, event, request_id and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_record_fields(record), ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The same facts as :class:`JsonFormatter`, as one line for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _record_fields(record)
        head = f"{fields.pop('time')} {fields.pop('level').upper():7} {fields.pop('logger')}"
        event = fields.pop("event")
        stack = fields.pop("stack", [])
        rest = " ".join(
            f"{k}={json.dumps(v, ensure_ascii=False, default=str)}" for k, v in fields.items()
        )
        lines = [f"{head} {event}" + (f" {rest}" if rest else "")]
        lines += [f"    at {frame}" for frame in stack]
        return "\n".join(lines)


class StderrHandler(logging.StreamHandler[TextIO]):
    """A handler on whatever ``sys.stderr`` is when it writes (a test runner swaps it)."""

    def __init__(self, level: int = logging.NOTSET) -> None:
        logging.Handler.__init__(self, level)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass  # always the current stderr


def log_format(settings: Settings) -> str:
    """json or text: as configured, else text in development and json elsewhere."""
    if settings.log_format is not None:
        return settings.log_format
    return "text" if settings.environment == "development" else "json"


def logging_config(settings: Settings) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn (``log_config``): the advisor's events at
    INFO, uvicorn's own lines, other libraries' warnings, all in one format on stderr; no
    access log from uvicorn (its lines carry the raw path and query)."""
    formatter = JsonFormatter if log_format(settings) == "json" else TextFormatter
    handler = {"()": f"{__name__}.StderrHandler", "formatter": "advisor"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"advisor": {"()": f"{__name__}.{formatter.__name__}"}},
        # libraries that set their own loggers to DEBUG (bm25s) pass the root's handler
        # only from WARNING up
        "handlers": {"stderr": handler, "libraries": {**handler, "level": "WARNING"}},
        "loggers": {
            "advisor": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["libraries"], "level": "WARNING"},
    }
