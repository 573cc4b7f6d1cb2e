"""Running an eval set: retrieval metrics, and what the visitor reads, case by case.

Every chat case and conversation turn goes through ``ask(message, session_id)``, which is
:func:`server.chat.answer` in ``advisor eval`` and in the tests: the same code path as
``/api/chat``. What counts:

* answer hit: an ``answer`` case's fact appears in the lead (first three sentences);
* citation hit: a cited passage contains one of the case's ``contains`` snippets;
* outcome accuracy per expected outcome; in-scope declines (an answer, uncovered or policy
  case answered with a decline); attacks declined;
* language match: the lead is in the question's language (an English question, an English
  lead);
* conversations: profile slot accuracy after each turn, and questions for facts the
  visitor had already given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ingest.clean import contains_folded
from server.evaluation.facts import fact_hit, lead_sentences
from server.evaluation.schema import OUTCOMES, Case, EvalSet, Fact, Outcome
from server.retrieval import HybridRetriever

__all__ = [
    "Asker",
    "CaseRecord",
    "ChatReport",
    "RetrievalReport",
    "describe_profile",
    "evaluate_chat",
    "evaluate_retrieval",
    "first_hit",
    "lead_language",
    "observed_outcome",
]

# ask(message, session_id) -> a ChatResponse (or anything with its fields)
Asker = Callable[[str, str | None], Any]
# Observed outcomes beyond the four expected ones.
Observed = Literal["answer", "uncovered", "policy", "decline", "clarify", "smalltalk"]


# --------------------------------------------------------------------------------------
# Retrieval
# --------------------------------------------------------------------------------------


@dataclass
class RetrievalResult:
    q: str
    rank: int | None  # 0-based rank of the first passage that contains an expected string


@dataclass
class RetrievalReport:
    cases: list[RetrievalResult] = field(default_factory=list)

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
    for case in eval_set.retrieval_cases():
        passages = retriever.retrieve(case.q, k)
        report.cases.append(
            RetrievalResult(case.q, first_hit([p.text for p in passages], case.contains))
        )
    return report


# --------------------------------------------------------------------------------------
# Chat
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


def observed_outcome(response: Any) -> Observed:
    """The kind of answer a response is (responses of older versions: from their intent)."""
    outcome = getattr(response, "outcome", None)
    if outcome in ("answer", "uncovered", "policy", "decline", "clarify", "smalltalk"):
        return outcome
    intent = getattr(response, "intent", "")
    return {"out_of_scope": "decline", "smalltalk": "smalltalk"}.get(intent, "answer")  # type: ignore[return-value]


def lead_language(sentences: list[str]) -> Literal["de", "en", "mixed"]:
    """The language a reader meets in the lead: the language most of its sentences are in.

    Sentence by sentence, so an English intro line over German quotes ("The documents say
    (in German): …") is not an English lead.
    """
    from server.understand import detect_language

    votes = [detect_language(s) for s in sentences]
    en, de = votes.count("en"), votes.count("de")
    return "en" if en > de else "de" if de > en else "mixed"


@dataclass
class CaseRecord:
    """One message and what the visitor read: the unit of metrics, failures and transcripts."""

    id: str
    q: str
    expected: Outcome
    observed: str
    answer: str
    lead: str
    language: Literal["de", "en"]
    lead_language: Literal["de", "en", "mixed"]
    answer_hit: bool | None = None  # None: not an answer case
    citation_hit: bool | None = None  # None: no contains snippet to check
    tags: list[str] = field(default_factory=list)
    legacy: bool = False
    conversation: str | None = None
    turn: int | None = None
    facts: list[Fact] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)
    profile_expected: dict[str, Any] = field(default_factory=dict)
    profile_observed: dict[str, Any] = field(default_factory=dict)
    slots_wrong: dict[str, Any] = field(default_factory=dict)
    asked_known: list[str] = field(default_factory=list)
    module: str | None = None  # the kind of answer given (from the trace, when asked for)
    # the suggested questions shown under the answer (buttons in the widget and playground)
    follow_up: list[str] = field(default_factory=list)
    gap: bool = False  # "not covered" from a curated gap entry

    @property
    def outcome_ok(self) -> bool:
        if self.legacy and self.expected == "decline":
            # First schema: "out of scope" meant "not answered from the documents"; a policy
            # or "not covered" answer is what the four outcomes call such questions now.
            return self.observed in ("decline", "policy", "uncovered")
        return self.observed == self.expected

    @property
    def language_ok(self) -> bool:
        return not self.lead or self.lead_language == self.language

    @property
    def ok(self) -> bool:
        return self.outcome_ok and self.answer_hit is not False and self.language_ok

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        # the passages are in the index; the record keeps what the answer quotes from them
        data["citations"] = [{k: v for k, v in c.items() if k != "text"} for c in self.citations]
        data["outcome_ok"] = self.outcome_ok
        data["language_ok"] = self.language_ok
        return data


def detect_language(text: str) -> Literal["de", "en"]:
    from server.understand import detect_language as detect

    return detect(text)


def _score(
    *,
    ident: str,
    message: str,
    expected: Outcome,
    facts: list[Fact],
    contains: list[str],
    language: Literal["de", "en"] | None,
    response: Any,
    tags: list[str] | None = None,
    legacy: bool = False,
) -> CaseRecord:
    text = str(response.answer)
    sentences = lead_sentences(text)
    opening = " ".join(sentences)
    citations = [
        c.model_dump() if hasattr(c, "model_dump") else dict(c) for c in response.citations
    ]
    trace = getattr(response, "trace", None) or {}
    return CaseRecord(
        module=trace.get("module"),
        gap=bool(trace.get("gap")),
        id=ident,
        q=message,
        expected=expected,
        observed=observed_outcome(response),
        answer=text,
        lead=opening,
        language=language or detect_language(message),
        lead_language=lead_language(sentences) if sentences else "de",
        answer_hit=fact_hit(facts, opening) if expected == "answer" and facts else None,
        citation_hit=(
            first_hit([str(c.get("text", "")) for c in citations], contains) is not None
            if contains
            else None
        ),
        tags=list(tags or []),
        legacy=legacy,
        facts=list(facts),
        citations=citations,
        follow_up=[str(f) for f in (getattr(response, "follow_up", None) or [])],
    )


def _case(case: Case, ask: Asker) -> CaseRecord:
    response = ask(case.q, None)
    return _score(
        ident=case.id,
        message=case.q,
        expected=case.outcome,
        facts=case.expected_facts,
        contains=case.contains,
        language=case.language,
        response=response,
        tags=case.tags,
        legacy=case.legacy,
    )


def _conversation_records(conversation: Any, ask: Asker) -> list[CaseRecord]:
    records: list[CaseRecord] = []
    session: str | None = None
    expected: dict[str, Any] = {}
    for number, turn in enumerate(conversation.turns, 1):
        given_before = dict(expected)
        expected.update(turn.profile)
        response = ask(turn.user, session)
        session = response.session_id
        record = _score(
            ident=f"{conversation.id}#{number}",
            message=turn.user,
            expected=turn.outcome,
            facts=list(turn.facts),
            contains=list(turn.contains),
            language=None,
            response=response,
        )
        observed = dict(getattr(response, "profile", {}) or {})
        record.conversation = conversation.id
        record.turn = number
        record.profile_expected = dict(expected)
        record.profile_observed = observed
        record.slots_wrong = {
            slot: observed.get(slot)
            for slot, value in expected.items()
            if not _same(observed.get(slot), value)
        }
        # A question for a fact the visitor gave in an earlier turn or in this very message.
        known = set(given_before) | set(turn.profile)
        record.asked_known = [f for f in getattr(response, "asked", []) or [] if f in known]
        records.append(record)
    return records


def _same(observed: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(observed, bool):
        return observed is expected
    if observed is None:
        return False
    try:
        return abs(float(observed) - float(expected)) < 1e-6
    except (TypeError, ValueError):
        return False


@dataclass
class RecommendRecord:
    q: str
    ok: bool
    detail: str = ""


@dataclass
class ChatReport:
    cases: list[CaseRecord] = field(default_factory=list)
    turns: list[CaseRecord] = field(default_factory=list)
    recommend: list[RecommendRecord] = field(default_factory=list)

    @staticmethod
    def _share(values: Iterable[bool]) -> float | None:
        items = list(values)
        return round(sum(items) / len(items), 4) if items else None

    def _message_metrics(self, records: list[CaseRecord]) -> dict[str, Any]:
        answers = [r for r in records if r.expected == "answer" and r.answer_hit is not None]
        cited = [r for r in records if r.citation_hit is not None]
        in_scope = [r for r in records if r.expected != "decline"]
        english = [r for r in records if r.language == "en"]
        attacks = [r for r in records if "attack" in r.tags]
        per_outcome = {}
        for outcome in OUTCOMES:
            group = [r for r in records if r.expected == outcome]
            per_outcome[outcome] = {
                "cases": len(group),
                "accuracy": self._share(r.outcome_ok for r in group),
            }
        return {
            "cases": len(records),
            "answer_cases": len(answers),
            "answer_hit": self._share(r.answer_hit is True for r in answers),
            "citation_cases": len(cited),
            "citation_hit": self._share(r.citation_hit is True for r in cited),
            "outcome": per_outcome,
            "in_scope_cases": len(in_scope),
            "in_scope_declines": sum(1 for r in in_scope if r.observed == "decline"),
            "in_scope_decline_rate": self._share(r.observed == "decline" for r in in_scope),
            "english_cases": len(english),
            "english_lead": self._share(r.lead_language == "en" for r in english),
            "language_match": self._share(r.lead_language == r.language for r in records if r.lead),
            "attack_cases": len(attacks),
            "attacks_declined": self._share(r.observed == "decline" for r in attacks),
            **self._curated_metrics(records),
        }

    def _curated_metrics(self, records: list[CaseRecord]) -> dict[str, Any]:
        """How often a curated answer was served to a question it does not answer: a case
        that is not an answer case, or an answer case whose fact is not in the lead."""
        served = [r for r in records if r.module == "curated"]
        if not any(r.module for r in records):
            return {}
        false = [r for r in served if r.expected != "answer" or r.answer_hit is False]
        gaps = [r for r in records if r.gap]
        return {
            "curated_served": len(served),
            "curated_false_match": len(false),
            "curated_false_match_rate": self._share(r in false for r in served),
            # a gap entry's "not covered" given to a question that is not a gap
            "gap_served": len(gaps),
            "gap_false_match": sum(r.expected != "uncovered" for r in gaps),
        }

    def metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = {"single_turn": self._message_metrics(self.cases)}
        if self.turns:
            slots = [(r, s) for r in self.turns for s in r.profile_expected]
            conv = self._message_metrics(self.turns)
            conv.update(
                {
                    "conversations": len({r.conversation for r in self.turns}),
                    "turns": len(self.turns),
                    "slots_checked": len(slots),
                    "slot_accuracy": self._share(s not in r.slots_wrong for r, s in slots),
                    "asked_known": sum(len(r.asked_known) for r in self.turns),
                }
            )
            out["conversations"] = conv
        if self.recommend:
            out["recommend"] = {
                "cases": len(self.recommend),
                "match": self._share(r.ok for r in self.recommend),
            }
        return out

    def failures(self) -> list[CaseRecord]:
        return [r for r in self.cases + self.turns if not r.ok or r.slots_wrong or r.asked_known]

    def records(self) -> list[CaseRecord]:
        return self.cases + self.turns


def evaluate_chat(eval_set: EvalSet, ask: Asker) -> ChatReport:
    """Play every case (a fresh session each) and conversation (one session) through ``ask``."""
    report = ChatReport()
    for case in eval_set.all_cases():
        report.cases.append(_case(case, ask))
    for conversation in eval_set.conversations:
        report.turns.extend(_conversation_records(conversation, ask))
    for rcase in eval_set.recommend:
        message = rcase.description or describe_profile(rcase.profile)
        response = ask(message, None)
        labels = (
            {t.task: t.label for t in response.recommendation.tasks}
            if response.recommendation is not None
            else {}
        )
        wrong = {t: labels.get(t) for t, want in rcase.expect.items() if labels.get(t) != want}
        report.recommend.append(
            RecommendRecord(message, not wrong, f"mismatched {wrong}" if wrong else "")
        )
    return report
