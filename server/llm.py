"""Optional LLM answers through a LangChain chat model, checked before they reach a visitor.

The model gets the numbered passages and the scoring result and must cite by ``[n]``. Its
output is refused (and the deterministic answer used) on unknown markers, no citation at all,
a figure that is neither in the passages nor in the question, a leaked prompt line, an error or
a blown time budget. A daily token budget (``ADVISOR_LLM_DAILY_TOKENS``) bounds the spend: once
the day's tokens are used, answers are the deterministic ones until the next UTC day.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import math
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from server.compose import AnswerCitation, split_sentences
from server.logs import log_event
from server.prompts import AnswerTemplates
from server.retrieval import Passage
from server.settings import Settings

if TYPE_CHECKING:
    from limits.storage import Storage

    from server.metrics import AdvisorMetrics

__all__ = [
    "LimitsTokenLedger",
    "LlmAnswer",
    "SqliteTokenLedger",
    "TokenBudget",
    "generate",
    "open_budget",
    "validate",
]

log = logging.getLogger("advisor.llm")
# Without a usage field the spend is estimated from the characters sent and received; German
# runs at about 3.5-4 characters a token, so 3 errs towards spending the budget early.
CHARS_PER_TOKEN = 3
_MARKER_RE = re.compile(r"\[(\d+)\]")
_NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")
_executor = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="llm")


@dataclass
class LlmAnswer:
    answer: str
    citations: list[AnswerCitation]


def _numbers(text: str) -> set[str]:
    """Figures in a canonical form: "70.000" and "70000" meet, "2,5" and "2.5" meet."""
    out: set[str] = set()
    for raw in _NUMBER_RE.findall(text):
        out.add(raw.replace(".", "").replace(",", ""))
        out.add(raw.replace(",", "."))
    return out


def validate(
    text: str, passages: list[Passage], allowed_text: str, templates: AnswerTemplates
) -> str | None:
    """Why ``text`` must not be shown, or None when it passes."""
    if not text.strip():
        return "empty"
    markers = [int(m) for m in _MARKER_RE.findall(text)]
    if not markers:
        return "no citation"
    if any(not 1 <= m <= len(passages) for m in markers):
        return "unknown citation marker"
    known = _numbers(" ".join(p.text for p in passages) + " " + allowed_text)
    for raw in _NUMBER_RE.findall(_MARKER_RE.sub(" ", text)):
        if not _numbers(raw) & known:
            return "figure not in the passages"
    lowered = text.casefold()
    if any(line.casefold() in lowered for line in templates.system_lines()):
        return "prompt leak"
    return None


def _quote_for(passage: Passage, answer: str, n: int) -> str:
    """The passage sentence that shares most words with the answer sentences citing [n]."""
    cited = " ".join(s for s in re.split(r"(?<=[.!?])\s+|\n", answer) if f"[{n}]" in s)
    cited_words = {w for w in re.findall(r"\w{4,}", cited.casefold())}
    best, best_score = "", -1
    for sentence in split_sentences(passage.text):
        score = len(cited_words & set(re.findall(r"\w{4,}", sentence.casefold())))
        if score > best_score:
            best, best_score = sentence, score
    return best or passage.text[:200]


def _renumber(text: str, passages: list[Passage]) -> LlmAnswer:
    """Number the cited passages in order of first use; drop the ones the answer ignores."""
    order: dict[int, int] = {}
    for m in _MARKER_RE.findall(text):
        order.setdefault(int(m), len(order) + 1)
    new_text = _MARKER_RE.sub(lambda m: f"[{order[int(m.group(1))]}]", text)
    citations = []
    for old, new in order.items():
        passage = passages[old - 1]
        citations.append(
            AnswerCitation(
                n=new,
                doc_id=passage.doc_id,
                title=passage.title,
                heading=passage.heading,
                quote=_quote_for(passage, new_text, new),
                text=passage.text,
            )
        )
    return LlmAnswer(new_text, citations)


# -- the daily token budget ------------------------------------------------------------------


class TokenLedger(Protocol):
    """Tokens spent per UTC day, in a store every worker shares."""

    def spent(self, day: str) -> int: ...

    def add(self, day: str, tokens: int) -> int: ...


class SqliteTokenLedger:
    """The day's tokens in one SQLite file: every worker of one machine adds to the same row
    (one statement, under SQLite's own lock). Only a day and a number are stored."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(self._connect()) as db, db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS llm_tokens (day TEXT PRIMARY KEY, tokens INTEGER)"
            )

    def _connect(self) -> sqlite3.Connection:
        # a connection per call: calls come from the LLM threads, rarely
        db = sqlite3.connect(self.path, timeout=10)
        db.execute("PRAGMA busy_timeout=10000")
        return db

    def spent(self, day: str) -> int:
        with contextlib.closing(self._connect()) as db:
            row = db.execute("SELECT tokens FROM llm_tokens WHERE day = ?", (day,)).fetchone()
        return int(row[0]) if row else 0

    def add(self, day: str, tokens: int) -> int:
        with contextlib.closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO llm_tokens (day, tokens) VALUES (?, ?) "
                "ON CONFLICT(day) DO UPDATE SET tokens = tokens + excluded.tokens",
                (day, tokens),
            )
            # yesterday stays for a look back; older days are of no use
            old = (datetime.fromisoformat(day) - timedelta(days=2)).date().isoformat()
            db.execute("DELETE FROM llm_tokens WHERE day < ?", (old,))
            row = db.execute("SELECT tokens FROM llm_tokens WHERE day = ?", (day,)).fetchone()
        return int(row[0])


class LimitsTokenLedger:
    """The day's tokens as a counter in the rate limit's storage (``limits``): with Redis,
    every instance counts into the same key."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    @staticmethod
    def _key(day: str) -> str:
        return f"advisor/llm-tokens/{day}"

    def spent(self, day: str) -> int:
        return int(self.storage.get(self._key(day)))

    def add(self, day: str, tokens: int) -> int:
        return int(self.storage.incr(self._key(day), expiry=2 * 86_400, amount=tokens))


class TokenBudget:
    """``daily_tokens`` a UTC day. Checked before each call, so calls already under way
    when it runs out may overshoot it by their own size."""

    def __init__(
        self, daily_tokens: int, ledger: TokenLedger, clock: Callable[[], float] = time.time
    ) -> None:
        self.daily_tokens = daily_tokens
        self.ledger = ledger
        self._clock = clock

    def today(self) -> str:
        return datetime.fromtimestamp(self._clock(), UTC).date().isoformat()

    def exhausted(self) -> bool:
        return self.ledger.spent(self.today()) >= self.daily_tokens

    def spend(self, tokens: int) -> int:
        """Count ``tokens``; the day's total."""
        return self.ledger.add(self.today(), tokens)


def open_budget(settings: Settings) -> TokenBudget | None:
    """The budget LLM mode answers under; None without LLM mode or without a budget.

    Shared storage when the rate limit has one (a redis://… URI: all instances), else the
    SQLite file ``llm_budget_path`` (all workers of this machine).
    """
    if not settings.llm_base_url or settings.llm_daily_tokens == 0:
        return None
    ledger: TokenLedger
    if settings.rate_limit_storage.startswith("memory://"):
        assert settings.llm_budget_path is not None
        ledger = SqliteTokenLedger(settings.llm_budget_path)
    else:
        from limits.storage import Storage, storage_from_string

        storage = storage_from_string(settings.rate_limit_storage)
        assert isinstance(storage, Storage)  # settings refuse the async+ schemes
        ledger = LimitsTokenLedger(storage)
    return TokenBudget(settings.llm_daily_tokens, ledger)


def _usage(reply: Any, sent: str, text: str) -> tuple[int, int, bool]:
    """Prompt and completion tokens from the response's ``usage``; estimated when absent."""
    usage = getattr(reply, "usage_metadata", None)
    if usage and (usage.get("input_tokens") or usage.get("output_tokens")):
        return int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0)), False
    return math.ceil(len(sent) / CHARS_PER_TOKEN), math.ceil(len(text) / CHARS_PER_TOKEN), True


# -- the call --------------------------------------------------------------------------------


def _call(
    settings: Settings,
    system: str,
    user: str,
    budget: TokenBudget | None = None,
    metrics: AdvisorMetrics | None = None,
) -> str:
    from langchain_core.messages import HumanMessage, SystemMessage
    from langchain_openai import ChatOpenAI

    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "not-needed"
    model = ChatOpenAI(
        base_url=settings.llm_base_url,
        api_key=key,
        model=settings.llm_model,
        timeout=settings.llm_timeout,
        max_retries=0,
        temperature=0,
    )
    reply = model.invoke([SystemMessage(content=system), HumanMessage(content=user)])
    text = reply.content if isinstance(reply.content, str) else str(reply.content)
    # counted here, in the call's thread: a reply that comes after the time budget still
    # cost its tokens
    prompt, completion, estimated = _usage(reply, system + user, text)
    if budget is not None:
        try:
            budget.spend(prompt + completion)
        except Exception as exc:  # the answer is good; only the count is lost
            log_event(log, "llm_budget_unrecorded", logging.WARNING, error=type(exc).__name__)
    if metrics is not None:
        metrics.llm_used(prompt, completion, estimated)
    return text


def _fall_back(metrics: AdvisorMetrics | None, reason: str, **fields: Any) -> None:
    if metrics is not None:
        metrics.llm_fell_back(reason)
    level = logging.INFO if reason in ("refused", "budget") else logging.WARNING
    log_event(log, "llm_fallback", level, reason=reason, **fields)


def generate(
    settings: Settings,
    templates: AnswerTemplates,
    question: str,
    passages: list[Passage],
    recommendation: str,
    *,
    budget: TokenBudget | None = None,
    metrics: AdvisorMetrics | None = None,
) -> LlmAnswer | None:
    """The model's checked answer, or None (fall back to the deterministic one)."""
    if not settings.llm_base_url or not passages:
        return None
    if budget is not None:
        try:
            spent = budget.exhausted()
        except Exception as exc:  # a budget that cannot be read is not a licence to spend
            _fall_back(metrics, "budget", error=type(exc).__name__)
            return None
        if spent:
            _fall_back(metrics, "budget", daily_tokens=budget.daily_tokens)
            return None
    numbered = "\n\n".join(
        f"[{i}] {p.title} › {p.heading}\n{p.text}" for i, p in enumerate(passages, 1)
    )
    user = templates.llm_user.format(
        question=question, passages=numbered, recommendation=recommendation or "-"
    )
    future = _executor.submit(_call, settings, templates.llm_system, user, budget, metrics)
    try:
        text = future.result(timeout=settings.llm_timeout + 0.5)
    except concurrent.futures.TimeoutError:
        _fall_back(metrics, "timeout", seconds=settings.llm_timeout)
        return None
    except Exception as exc:  # any failure of the endpoint means: deterministic answer
        _fall_back(metrics, "error", error=type(exc).__name__)
        return None
    problem = validate(text, passages, question + " " + recommendation, templates)
    if problem is not None:
        _fall_back(metrics, "refused", problem=problem)
        return None
    return _renumber(text.strip(), passages)
