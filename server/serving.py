"""How uvicorn runs the advisor: the options ``advisor serve`` passes, in one place so the
tests start the server exactly as production does."""

from __future__ import annotations

import functools
import importlib.util
import inspect
from typing import Any

import uvicorn

from server.settings import Settings

__all__ = ["APP_FACTORY", "uvicorn_options", "worker_warning"]

# Workers are separate processes: each imports this factory and reads its settings from the
# environment (advisor serve puts what it changed there).
APP_FACTORY = "server.app:create_app"


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config`` besides the app."""
    proxies = settings.trusted_proxies
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info",
        "access_log": False,  # query strings carry user questions: keep them out of logs
        # uvicorn trusts X-Forwarded-For from 127.0.0.1 unless told otherwise, and then a
        # client behind no proxy could pick its own address: only the configured proxies.
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": ",".join(proxies) if proxies else None,
        "timeout_keep_alive": settings.keep_alive_seconds,
        "server_header": False,
    }
    if "timeout_worker_healthcheck" in inspect.signature(uvicorn.Config).parameters:
        # A worker imports torch and loads the model before it can answer the supervisor's
        # ping; uvicorn's 5 s default kills and restarts it, again and again, on a busy machine.
        options["timeout_worker_healthcheck"] = 60
    if importlib.util.find_spec("httptools") is not None:  # uvicorn's default parser
        from server.head_deadline import HeadDeadlineProtocol

        # a partial of a module-level class: workers get it pickled, by name
        options["http"] = functools.partial(
            HeadDeadlineProtocol, head_timeout=settings.header_timeout_seconds
        )
    return options


def worker_warning(settings: Settings, workers: int) -> str | None:
    """One line for the start-up when the limits do not add up across workers."""
    if workers > 1 and settings.rate_limit_storage.startswith("memory://"):
        return (
            f"warning: {workers} workers with in-memory rate limit storage: the rate limit "
            "and the daily caps count per worker (set ADVISOR_RATE_LIMIT_STORAGE=redis://… "
            "to share them)"
        )
    return None
