"""Prometheus metrics: what the advisor counts, who may read ``/metrics``, and the observer
that times every request and writes its access line.

Each app owns an :class:`AdvisorMetrics` with a registry of its own (``create_app`` makes it;
tests build many apps in one process). With several workers ``advisor serve`` sets
``PROMETHEUS_MULTIPROC_DIR`` before they start (``server.serving.metrics_dir``); each worker
then writes its values to files there and ``/metrics``, through any worker, reads the sum
over all of them (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from starlette.routing import BaseRoute, Match

from server.logs import log_event, note_request, request_context, session_hash

__all__ = [
    "AdvisorMetrics",
    "AnswerRecord",
    "RequestObserver",
    "multiprocess_dir",
    "record_answer",
    "scrape_refusal",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("advisor.access")
chat_log = logging.getLogger("advisor.chat")

# Requests: from a static file (a few ms) to a slow chat answer (the 20 s time limit).
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0)
# Answer stages: most take a millisecond or less, an LLM call seconds.
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5, 10)
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
_FORWARDING_HEADERS = (b"x-forwarded-for", b"forwarded", b"x-real-ip")
_LIVE_GAUGE_FILE = re.compile(r"^gauge_live\w+_(\d+)\.db$")


def multiprocess_dir() -> Path | None:
    """prometheus-client's multiprocess directory, when this process runs in that mode."""
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(value) if value else None


class AdvisorMetrics:
    """The advisor's metrics; every label takes values from a small fixed set (route templates,
    module names, refusal kinds), never from what a client sent."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "advisor_http_requests",
            "HTTP requests by route template, method and status class (2xx, 4xx, …).",
            ["route", "method", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "advisor_http_request_duration_seconds",
            "Time from the request to the end of the response, by route template.",
            ["route", "method"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.in_progress = Gauge(
            "advisor_http_requests_in_progress",
            "Requests being handled now (summed over the live workers).",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.stage_seconds = Histogram(
            "advisor_answer_stage_duration_seconds",
            "Time per stage of a chat answer: understand, embed, route, retrieve, answer, "
            "llm, compose, store.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=r,
        )
        self.answers = Counter(
            "advisor_answers",
            "Chat answers by answer module and outcome.",
            ["module", "outcome"],
            registry=r,
        )
        self.routes = Counter(
            "advisor_router_labels",
            "Chat messages by the router's label (the route the message took).",
            ["label"],
            registry=r,
        )
        self.declines = Counter(
            "advisor_declines",
            "Declined chat messages by reason (offtopic, attack, support, urgent).",
            ["reason"],
            registry=r,
        )
        self.degraded = Counter(
            "advisor_degraded_answers",
            "Chat answers whose passages came from the lexical index alone (Chroma away).",
            registry=r,
        )
        self.rate_limited = Counter(
            "advisor_rate_limit_refusals",
            "Requests refused with 429 by the per-client rate limit, by the limit hit.",
            ["limit"],
            registry=r,
        )
        self.daily_capped = Counter(
            "advisor_daily_cap_refusals",
            "Chat messages refused with 429 by a daily cap (global or session).",
            ["cap"],
            registry=r,
        )
        self.teams_replays = Counter(
            "advisor_teams_replays_refused",
            "Teams activities sent again (same activity id): answered from the first reply, "
            "no second turn.",
            registry=r,
        )
        self.llm_tokens = Counter(
            "advisor_llm_tokens",
            "LLM tokens used, as the endpoint reported them (estimated when it did not).",
            ["kind"],
            registry=r,
        )
        self.llm_fallbacks = Counter(
            "advisor_llm_fallbacks",
            "Answers that fell back from the LLM to the deterministic answer, by reason "
            "(timeout, error, refused, budget).",
            ["reason"],
            registry=r,
        )

    # -- what the other parts report ---------------------------------------------------------

    def refused(self, kind: str, which: str) -> None:
        """A guard's 429: ``kind`` rate_limit (``which`` the limit) or daily_cap (global,
        session)."""
        if kind == "rate_limit":
            self.rate_limited.labels(which).inc()
        else:
            self.daily_capped.labels(which).inc()

    def llm_used(self, prompt_tokens: int, completion_tokens: int, estimated: bool) -> None:
        suffix = "_estimated" if estimated else ""
        self.llm_tokens.labels("prompt" + suffix).inc(prompt_tokens)
        self.llm_tokens.labels("completion" + suffix).inc(completion_tokens)

    def llm_fell_back(self, reason: str) -> None:
        self.llm_fallbacks.labels(reason).inc()

    # -- the exposition ----------------------------------------------------------------------

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The metrics in the format the scraper asked for, and its content type; with
        several workers, the sum over all of them."""
        encoder, content_type = choose_encoder(accept or "")
        directory = multiprocess_dir()
        if directory is None:
            return encoder(self.registry), content_type
        from prometheus_client import multiprocess

        _forget_dead_workers(directory)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(directory))
        return encoder(registry), content_type

    def worker_exit(self) -> None:
        """At a worker's shutdown: its live gauges stop counting (its counters stay in the sums)."""
        directory = multiprocess_dir()
        if directory is not None:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid(), path=str(directory))


def _forget_dead_workers(directory: Path) -> None:
    """mark_process_dead for workers that died without a shutdown (killed, out of memory):
    uvicorn starts a replacement but tells nobody, so the scrape looks for itself."""
    from prometheus_client import multiprocess

    for path in directory.glob("gauge_live*.db"):
        found = _LIVE_GAUGE_FILE.match(path.name)
        if found is None:
            continue
        pid = int(found.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, path=str(directory))
        except PermissionError:
            pass  # alive, someone else's


# -- who may scrape ------------------------------------------------------------------------------


def scrape_refusal(
    client_host: str | None, headers: Sequence[tuple[bytes, bytes]], staff_token: str | None
) -> tuple[int, str] | None:
    """Why this request may not read /metrics (status, detail), or None when it may.

    Allowed: a loopback client whose request no proxy relayed (a proxy on the same machine
    would make every visitor look local), or whoever sends the staff token as a Bearer token.
    Without a staff token the endpoint does not exist for anybody else (404); with one, a
    missing or wrong token is a 403.
    """
    import hmac

    names = {name.lower() for name, _ in headers}
    relayed = any(h in names for h in _FORWARDING_HEADERS)
    if not relayed and _is_loopback(client_host):
        return None
    if staff_token is None:
        return 404, "Not Found"
    authorization = next(
        (value.decode("latin-1") for name, value in headers if name.lower() == b"authorization"),
        "",
    )
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), staff_token.encode()
    ):
        return None
    return 403, "metrics are served to loopback clients or with the staff token (Bearer)"


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- every request -------------------------------------------------------------------------------


class RequestObserver:
    """Times every HTTP request and counts it by route template and status class, and writes
    one access line: method, route template (never the raw path or query), status,
    duration_ms, what the chat noted (module, outcome, degraded, session hash) and, only with
    ``log_client_ip``, the client address.

    Installed just inside the trusted proxies' rewrite, so refusals by the guards and the
    time limit are counted and the client address is the real one.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: AdvisorMetrics,
        routes: Callable[[], Sequence[BaseRoute]],
        log_client_ip: bool = False,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes
        self.log_client_ip = log_client_ip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "")
        method = method if method in _METHODS else "other"
        status = 500  # unless a response starts: an exception becomes Starlette's 500

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        started = time.perf_counter()
        self.metrics.in_progress.inc()
        with request_context() as fields:
            try:
                await self.app(scope, receive, observed)
            finally:
                seconds = time.perf_counter() - started
                route = self._template(scope)
                self.metrics.in_progress.dec()
                self.metrics.requests.labels(route, method, f"{status // 100}xx").inc()
                self.metrics.request_seconds.labels(route, method).observe(seconds)
                line: dict[str, Any] = {
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 1),
                }
                session = (scope.get("path_params") or {}).get("session_id")
                if isinstance(session, str):
                    line["session"] = session_hash(session)
                line.update((k, v) for k, v in fields.items() if k != "request_id")
                client = scope.get("client")
                if self.log_client_ip and client:
                    line["client"] = client[0]
                log_event(access_log, "request", **line)

    def _template(self, scope: Scope) -> str:
        """The route's path template (``/api/sessions/{session_id}``), not the raw path: the
        labels stay few and no id or question reaches the metrics or the logs.

        FastAPI leaves the route it chose in the scope; a request refused before routing (a
        guard's 429 or 413) is matched here against the app's routes.
        """
        chosen = scope.get("route")
        if chosen is not None and getattr(chosen, "path_format", None):
            return str(chosen.path_format)
        partial = None
        for candidate in _leaf_routes(self.routes()):
            match, _ = candidate.matches(scope)
            if match == Match.FULL:
                return str(getattr(candidate, "path_format", "unmatched"))
            if match == Match.PARTIAL and partial is None:  # the wrong method: a 405
                partial = str(getattr(candidate, "path_format", "unmatched"))
        return partial or "unmatched"


def _leaf_routes(routes: Sequence[Any]) -> Iterator[BaseRoute]:
    """The routes that handle requests, inside included routers too (FastAPI keeps an
    included router as one entry that holds the original router)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _leaf_routes(inner.routes)
        elif isinstance(route, BaseRoute) and hasattr(route, "path_format"):
            yield route


# -- every answer --------------------------------------------------------------------------------


@dataclass
class AnswerRecord:
    """What happened in one chat answer, for the metrics and the log (never its text)."""

    session_id: str
    module: str
    outcome: str
    label: str
    language: str
    degraded: bool
    decline_reason: str | None = None
    llm: bool | None = None  # None: LLM mode off or not tried for this kind of answer
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage


def record_answer(metrics: AdvisorMetrics | None, record: AnswerRecord) -> None:
    """Count the answer (when the app has metrics; ``advisor eval`` has none) and log it."""
    if metrics is not None:
        metrics.answers.labels(record.module, record.outcome).inc()
        metrics.routes.labels(record.label).inc()
        if record.outcome == "decline":
            metrics.declines.labels(record.decline_reason or "other").inc()
        if record.degraded:
            metrics.degraded.inc()
        for stage, seconds in record.stages.items():
            metrics.stage_seconds.labels(stage).observe(seconds)
    session = session_hash(record.session_id)
    note_request(
        module=record.module, outcome=record.outcome, degraded=record.degraded, session=session
    )
    log_event(
        chat_log,
        "answer",
        session=session,
        module=record.module,
        outcome=record.outcome,
        label=record.label,
        language=record.language,
        degraded=record.degraded,
        reason=record.decline_reason,
        llm=record.llm,
        stages_ms={k: round(v * 1000, 2) for k, v in record.stages.items()},
    )
