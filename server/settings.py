"""Typed settings: every ADVISOR_* environment variable in one place."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_KNOWLEDGE_DIR = PROJECT_ROOT / "knowledge"
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"
DEFAULT_PROMPTS_DIR = PROJECT_ROOT / "prompts"


class Settings(BaseSettings):
    """Configuration of the advisor; read from ADVISOR_* variables (and a .env file)."""

    model_config = SettingsConfigDict(env_prefix="ADVISOR_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    knowledge_dir: Path = DEFAULT_KNOWLEDGE_DIR
    data_dir: Path = DEFAULT_DATA_DIR
    prompts_dir: Path = DEFAULT_PROMPTS_DIR
    rules_path: Path | None = None
    router_examples_path: Path | None = None
    # Off: every question goes the passage way (to measure the long tail on its own).
    curated_answers: bool = True

    # Index contract: a Chroma server when chroma_url is set, else embedded under data_dir.
    chroma_url: str | None = None
    collection: str = "advisor"
    embedding_model: str = "packaged:all-MiniLM-L6-v2"
    # Chroma's client waits forever on a frozen server: each call gets this deadline, and
    # after chroma_breaker_failures failures in a row calls stop (answers come from the
    # lexical index) until a probe after chroma_breaker_cooldown_seconds finds it back.
    chroma_timeout_seconds: float = Field(1.5, gt=0, le=60)
    chroma_breaker_failures: int = Field(3, ge=1, le=100)
    chroma_breaker_cooldown_seconds: float = Field(5.0, gt=0, le=600)
    # With a Chroma server the current generation is recorded in the server for every
    # instance; a superseded one is kept this long after the switch, so an instance that has
    # not noticed it yet (it checks every few seconds) can finish its searches on it.
    generation_grace_seconds: float = Field(600.0, ge=0, le=7 * 86_400)

    # Retrieval: the dense ranking's weight in the fusion (default by model, see
    # docs/retrieval-weights.md)
    dense_weight: float | None = Field(None, ge=0.0, le=5.0)
    search_k_default: int = Field(5, ge=1, le=50)
    max_query_chars: int = Field(500, ge=10, le=10_000)

    # Chat
    max_message_chars: int = Field(2000, ge=10, le=100_000)
    sessions_path: Path | None = None
    # postgresql://user:password@host:port/db — sessions, replies for retries, channel
    # bindings, feedback and curated edits in PostgreSQL, shared by every instance; unset,
    # they stay in the SQLite file sessions_path (one machine only). A secret: it may hold
    # the password.
    database_url: SecretStr | None = None
    llm_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_api_key: SecretStr | None = None
    llm_timeout: float = Field(8.0, gt=0, le=120)

    # Public API guards (server/guards.py): per-client rate limit on /api/*, body size cap.
    rate_limit: str = "30/minute;1000/day"
    # Where the limiter counts (a `limits` storage URI). memory:// is per process: with
    # several workers each counts on its own; redis://… shares the counts.
    rate_limit_storage: str = "memory://"
    # Daily caps on the chat routes besides the per-client limit: per conversation and for
    # the whole advisor (a runaway client or a botnet cannot spend the day's capacity);
    # 0 = no cap.
    session_daily_cap: int = Field(300, ge=0)
    global_daily_cap: int = Field(20_000, ge=0)
    max_body_bytes: int = Field(32_768, ge=1_024, le=10_485_760)
    # Only a request whose peer is one of these reverse proxies (IPs or CIDRs) is counted by
    # its X-Forwarded-For; the header is forgeable by everyone else.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Deprecated: true means trusted_proxies=127.0.0.1,::1 (a proxy on the same machine).
    trust_forwarded_for: bool = False
    # Time limits: the request head (a connection that stalls in it is closed), the whole
    # request body (a stalled upload is answered 408), each request
    # (503 past it; the staff API, behind its token, runs evals and retrains the curated
    # matching, so it gets longer), and an idle keep-alive connection (uvicorn closes it).
    header_timeout_seconds: float = Field(10.0, gt=0, le=300)  # the request line and headers
    body_timeout_seconds: float = Field(10.0, gt=0, le=300)
    request_timeout_seconds: float = Field(20.0, gt=0, le=600)
    staff_request_timeout_seconds: float = Field(600.0, gt=0, le=3600)
    keep_alive_seconds: int = Field(5, ge=1, le=300)
    # Conversations older than this (since their last message) are deleted.
    session_ttl_days: float = Field(30.0, gt=0, le=3650)

    # The contact offer in "not covered", policy and support answers; unset parts are left out,
    # and with none set the answer points to the website's contact form.
    contact_name: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None
    contact_url: str | None = None

    # Channels: origins whose pages may embed the widget (CORS; the advisor's own pages always
    # may), the staff token for /playground and /api/staff (unset: both off), the Teams
    # outgoing webhook's security token (unset: /api/teams is off), and the public base URL
    # that Teams cards link to.
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    staff_token: SecretStr | None = None
    teams_secret: SecretStr | None = None
    teams_cards: bool = True
    public_url: str | None = None
    # Teams gives up after 5 s: past this, the reply is the best cited passages.
    teams_deadline_seconds: float = Field(4.0, gt=0.1, le=4.8)

    # Threads one request's model call may use in a serving process (torch and OpenMP).
    # Requests already run side by side, and workers beside each other: more threads per
    # request made them fight for the cores (make bench, 2 workers on 2 cores, 16 clients: 14
    # chats/s with the default of one thread per core, 36 with 1; two threads for one
    # worker's model: p50 28.0 ms instead of 29.5 ms for one client, and 100 MB more
    # resident memory). Within a process the queries of concurrent requests are embedded
    # together, one model call at a time (server/query_embedding.py).
    compute_threads: int = Field(1, ge=1, le=64)
    # The BLAS under numpy and scipy (matrix products of the matchers) on its own: OpenBLAS's
    # threads spin a while after each call and then slow the model's next query (in process,
    # two BLAS threads beside the model: embedding median 28 ms instead of 12).
    blas_threads: int = Field(1, ge=1, le=64)
    # glibc malloc arenas per serving process (set by `advisor serve`, see
    # server.serving.limit_malloc_arenas); 0 keeps glibc's default of up to eight per core.
    malloc_arenas: int = Field(2, ge=0, le=64)
    # Observability (server/logs.py, server/metrics.py). Logs say what happened, never what
    # was written: json (one object a line, for a log shipper) or text (one readable line for
    # a terminal); unset: text in development, json in test and production.
    log_format: Literal["json", "text"] | None = None
    # The client's address in the access log: off by default, it is personal data and nothing
    # reads it back (the rate limit counts in its own storage).
    log_client_ip: bool = False
    # LLM mode's daily token allowance (UTC days; 0 = unlimited): once spent, answers are the
    # deterministic ones until the next day, so a runaway day cannot run up the bill. Counted
    # in the rate limit storage when that is shared (redis://…, all instances), else in the
    # SQLite file llm_budget_path (default under data_dir), shared by one machine's workers.
    llm_daily_tokens: int = Field(0, ge=0)
    llm_budget_path: Path | None = None

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, value: str) -> str:
        # Chroma's own rule; checked here so a bad name fails at start, not at first write.
        if not 3 <= len(value) <= 512:
            raise ValueError("collection name needs 3-512 characters")
        return value

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        # ADVISOR_ALLOWED_ORIGINS="https://a.example,https://b.example" as well as JSON
        if isinstance(value, str) and not value.strip().startswith("["):
            return [v.strip().rstrip("/") for v in value.split(",") if v.strip()]
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: object) -> object:
        # ADVISOR_TRUSTED_PROXIES="10.0.0.5,10.1.0.0/16"; each checked now, not at first use
        if isinstance(value, str) and not value.strip().startswith("["):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list):
            for item in value:
                try:
                    ipaddress.ip_network(str(item), strict=False)
                except ValueError:
                    raise ValueError(f"{item!r} is not an IP address or network") from None
        return value

    @field_validator("rate_limit_storage")
    @classmethod
    def _storage(cls, value: str) -> str:
        from urllib.parse import urlparse

        from limits.storage import SCHEMES

        # the scheme only: opening the storage (a Redis connection) is the guard's job
        scheme = urlparse(value).scheme
        if scheme not in SCHEMES or scheme.startswith("async+"):
            raise ValueError(f"{value!r} is not a limits storage URI such as memory:// or redis://")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        from urllib.parse import urlparse

        if value is None:
            return None
        url = urlparse(value.get_secret_value())
        # the message must not echo the URL: it may carry the password
        if url.scheme not in ("postgresql", "postgres") or not (url.hostname or url.query):
            raise ValueError("must be a PostgreSQL URL such as postgresql://user@host:5432/db")
        return value

    @field_validator("staff_token", "teams_secret")
    @classmethod
    def _no_weak_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError(
                "must be at least 16 characters (generate one with openssl rand -hex 24)"
            )
        return value

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from server.guards import parse_rate_limit

        if value.strip():  # empty: no limit (tests, or a proxy that limits already)
            parse_rate_limit(value)
        return value.strip()

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        if self.rules_path is None:
            self.rules_path = self.knowledge_dir / "rules"
        if self.router_examples_path is None:
            self.router_examples_path = self.knowledge_dir / "router" / "examples.yaml"
        if self.sessions_path is None:
            self.sessions_path = self.data_dir / "sessions.sqlite3"
        if self.llm_budget_path is None:
            self.llm_budget_path = self.data_dir / "llm_budget.sqlite3"
        if self.trust_forwarded_for and not self.trusted_proxies:
            self.trusted_proxies = ["127.0.0.1", "::1"]
        return self

    @property
    def index_dir(self) -> Path:
        """Where the embedded Chroma store and the lexical index live."""
        return self.data_dir / "index"
