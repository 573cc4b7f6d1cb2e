"""How uvicorn runs the advisor: the options ``advisor serve`` passes, in one place so the
tests start the server exactly as production does."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import inspect
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from server.logs import logging_config
from server.settings import Settings

__all__ = [
    "APP_FACTORY",
    "limit_compute_threads",
    "limit_malloc_arenas",
    "metrics_dir",
    "uvicorn_options",
    "worker_warning",
]

_METRICS_DIR_PREFIX = "advisor-metrics-"
# Workers are separate processes: each imports this factory and reads its settings from the
# environment (advisor serve puts what it changed there).
APP_FACTORY = "server.app:create_app"


# mallopt's parameter number for the arena cap (glibc's malloc.h)
_M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int) -> bool:
    """Cap glibc's malloc arenas for the threads this process starts from now on.

    glibc gives each new thread an arena of its own, up to eight per core, and the request
    threads of a served worker each kept theirs (one worker after 16 clients: 1075 MB
    resident without the cap, 948 and 952 MB in two runs with 2 arenas, at the same latency;
    ``docs/benchmarks.md``). ``MALLOC_ARENA_MAX`` does the same but is read when a process
    starts; this works from inside. glibc settles its limit only once more than eight arenas
    exist, so a cap set before that holds for every arena created after it (those created
    before stay). False where the C library has no ``mallopt`` (musl, macOS) or ``arenas``
    is 0 (glibc's default kept)."""
    if arenas <= 0:
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_ARENA_MAX, arenas))


def limit_compute_threads(settings: Settings, *, model: bool = True) -> None:
    """The thread limits of a process that answers, for the whole process (the request
    threads included), not for a block: the BLAS under numpy and scipy always (its spinning
    threads slow the next query embedding), and with ``model`` torch and OpenMP too (the app
    sets them; ``advisor eval`` runs one question at a time and keeps torch's default)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=settings.blas_threads, user_api="blas")
    if model:
        import torch

        threadpool_limits(limits=settings.compute_threads, user_api="openmp")
        torch.set_num_threads(settings.compute_threads)


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
        # the advisor's format (server.logs) for uvicorn's lines too, in every worker
        "log_config": logging_config(settings),
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


@contextlib.contextmanager
def metrics_dir(workers: int) -> Iterator[Path | None]:
    """prometheus-client's multiprocess directory for the run, set before workers start.

    Several workers: each writes its metrics to files in ``PROMETHEUS_MULTIPROC_DIR`` and
    ``/metrics`` sums them. A directory the operator set is emptied first (the sums would
    include a previous run's); otherwise a fresh private one is made for the run and removed
    after it. One worker needs none: its metrics live in its memory.
    """
    preset = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if preset:
        path = Path(preset)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        yield path
        return
    if workers <= 1:
        yield None
        return
    _remove_orphaned_metrics_dirs()
    # mode 0700; named by this process, so a later run can tell it was orphaned
    path = Path(tempfile.mkdtemp(prefix=f"{_METRICS_DIR_PREFIX}{os.getpid()}-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    try:
        yield path
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(path, ignore_errors=True)


def _remove_orphaned_metrics_dirs() -> None:
    """Directories of runs that were killed outright (SIGKILL leaves no time to clean up)."""
    for path in Path(tempfile.gettempdir()).glob(f"{_METRICS_DIR_PREFIX}*-*"):
        pid = path.name.removeprefix(_METRICS_DIR_PREFIX).split("-")[0]
        if not pid.isdigit() or path.stat().st_uid != os.getuid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            pass  # alive


def worker_warning(settings: Settings, workers: int) -> str | None:
    """One line for the start-up when the limits do not add up across workers."""
    if workers > 1 and settings.rate_limit_storage.startswith("memory://"):
        return (
            f"warning: {workers} workers with in-memory rate limit storage: the rate limit "
            "and the daily caps count per worker (set ADVISOR_RATE_LIMIT_STORAGE=redis://… "
            "to share them)"
        )
    return None
