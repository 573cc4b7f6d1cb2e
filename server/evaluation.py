"""Evaluation: retrieval quality (hit@k, MRR) over an eval YAML, through the API's retriever."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ingest.clean import contains_folded
from server.retrieval import HybridRetriever


class RetrievalCase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    q: str = Field(min_length=1)
    contains: list[str] = Field(min_length=1)


class RecommendCase(BaseModel):
    model_config = ConfigDict(extra="forbid")
    profile: dict[str, Any]
    expect: dict[str, str]
    description: str | None = None


class EvalSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    retrieval: list[RetrievalCase] = Field(default_factory=list)
    out_of_scope: list[str] = Field(default_factory=list)
    recommend: list[RecommendCase] = Field(default_factory=list)


class EvalFileError(Exception):
    """The eval file is missing or not in the expected format."""


def load_eval_set(path: Path) -> EvalSet:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalFileError(f"eval file {path} not found") from None
    except yaml.YAMLError as exc:
        raise EvalFileError(f"{path} is not valid YAML: {exc}") from exc
    try:
        return EvalSet.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise EvalFileError(f"{path}: {loc}: {first['msg']}") from exc


@dataclass
class CaseResult:
    q: str
    rank: int | None  # 0-based rank of the first passage that contains an expected string


@dataclass
class RetrievalReport:
    cases: list[CaseResult] = field(default_factory=list)

    def hit_at(self, k: int) -> float:
        if not self.cases:
            return 0.0
        return sum(1 for c in self.cases if c.rank is not None and c.rank < k) / len(self.cases)

    @property
    def mrr(self) -> float:
        if not self.cases:
            return 0.0
        return sum(1 / (c.rank + 1) for c in self.cases if c.rank is not None) / len(self.cases)

    def metrics(self) -> dict[str, float]:
        return {
            "cases": len(self.cases),
            "hit@1": round(self.hit_at(1), 4),
            "hit@3": round(self.hit_at(3), 4),
            "hit@5": round(self.hit_at(5), 4),
            "mrr": round(self.mrr, 4),
        }


def first_hit(texts: list[str], expected: list[str]) -> int | None:
    """Rank of the first text containing one of ``expected`` (case-insensitive, folded)."""
    for rank, text in enumerate(texts):
        if any(contains_folded(text, s) for s in expected):
            return rank
    return None


def evaluate_retrieval(
    eval_set: EvalSet, retriever: HybridRetriever, k: int = 5
) -> RetrievalReport:
    report = RetrievalReport()
    for case in eval_set.retrieval:
        passages = retriever.retrieve(case.q, k)
        report.cases.append(
            CaseResult(case.q, first_hit([p.text for p in passages], case.contains))
        )
    return report


# --------------------------------------------------------------------------------------
# Chat metrics: the same code path as /api/chat (server.chat.answer)
# --------------------------------------------------------------------------------------

# How a recommend case's profile is put into words when the case has no description.
_PROFILE_WORDS_DE: dict[str, tuple[str, str]] = {
    # field: (number or "yes" phrase, "no" or zero phrase)
    "pcs": ("{v} PCs", ""),
    "employees": ("{v} Mitarbeiter", ""),
    "it_staff": ("{v} IT-Mitarbeiter", "keine eigene IT"),
    "key_user": ("einen Key-User", "keinen Key-User"),
    "locations": ("{v} Standorte", ""),
    "production_systems": ("Server, die Maschinen steuern", "keine Produktionssysteme"),
    "needs_24x7": ("IT rund um die Uhr (24/7)", "keinen 24/7-Betrieb"),
    "regulated": ("strenge Compliance-Vorgaben", "keine besonderen Compliance-Vorgaben"),
    "confidential_areas": ("ein vertrauliches F&E-Labor", "keine vertraulichen Bereiche"),
}


def describe_profile(profile: dict[str, Any]) -> str:
    """A German sentence stating the profile, e.g. "Wir haben 50 PCs, 60 Mitarbeiter, …"."""
    parts: list[str] = []
    for key, (yes, no) in _PROFILE_WORDS_DE.items():
        value = profile.get(key)
        if value is None:
            continue
        if isinstance(value, bool):
            parts.append(yes if value else no)
        elif value == 0 and no:
            parts.append(no)
        else:
            parts.append(yes.format(v=f"{value:g}" if isinstance(value, float) else value))
    listed = ", ".join(p for p in parts if p)
    return f"Wir haben {listed}. Was sollten wir auslagern?"


@dataclass
class ChatCase:
    q: str
    ok: bool
    detail: str = ""


@dataclass
class ChatReport:
    citations: list[ChatCase] = field(default_factory=list)
    declined: list[ChatCase] = field(default_factory=list)
    recommend: list[ChatCase] = field(default_factory=list)

    @staticmethod
    def _share(cases: list[ChatCase]) -> float:
        return round(sum(c.ok for c in cases) / len(cases), 4) if cases else 0.0

    def metrics(self) -> dict[str, float]:
        return {
            "citation_cases": len(self.citations),
            "citation_hit_rate": self._share(self.citations),
            "out_of_scope_cases": len(self.declined),
            "declined_rate": self._share(self.declined),
            "recommend_cases": len(self.recommend),
            "recommend_match_rate": self._share(self.recommend),
        }

    def failures(self) -> list[ChatCase]:
        return [c for c in self.citations + self.declined + self.recommend if not c.ok]


def evaluate_chat(eval_set: EvalSet, ask: Callable[[str], Any]) -> ChatReport:
    """Chat metrics; ``ask(message)`` answers in a fresh session and returns a ChatResponse.

    * citation hit rate: a retrieval case hits when a cited passage's text contains one of
      its strings;
    * declined rate: out-of-scope questions answered with intent out_of_scope and no citation;
    * recommend match rate: the profile described in words gives the expected labels.
    """
    report = ChatReport()
    for case in eval_set.retrieval:
        response = ask(case.q)
        texts = [c.text for c in response.citations]
        hit = first_hit(texts, case.contains) is not None
        report.citations.append(ChatCase(case.q, hit, f"intent={response.intent}"))
    for question in eval_set.out_of_scope:
        response = ask(question)
        ok = response.intent == "out_of_scope" and not response.citations
        report.declined.append(ChatCase(question, ok, f"intent={response.intent}"))
    for rcase in eval_set.recommend:
        message = rcase.description or describe_profile(rcase.profile)
        response = ask(message)
        labels = (
            {t.task: t.label for t in response.recommendation.tasks}
            if response.recommendation is not None
            else {}
        )
        wrong = {t: labels.get(t) for t, want in rcase.expect.items() if labels.get(t) != want}
        report.recommend.append(
            ChatCase(message, not wrong, f"mismatched {wrong}" if wrong else "")
        )
    return report


def run_chat_eval(eval_set: EvalSet, settings: Any, retriever: HybridRetriever) -> ChatReport:
    """Open the chat as the app does (rules, prompts, a throw-away session store) and evaluate."""
    import tempfile

    from server.chat import Chatbot, answer
    from server.prompts import load_prompts
    from server.scoring import load_rules
    from server.sessions import SessionStore

    assert settings.rules_path is not None
    rules = load_rules(settings.rules_path, settings.knowledge_dir)
    prompts = load_prompts(settings.prompts_dir)
    with tempfile.TemporaryDirectory(prefix="advisor-eval-") as tmp:
        sessions = SessionStore(Path(tmp) / "sessions.sqlite3")
        try:
            bot = Chatbot(settings, retriever, rules, sessions, prompts)
            return evaluate_chat(eval_set, lambda message: answer(bot, message, None))
        finally:
            sessions.close()
