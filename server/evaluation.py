"""Evaluation: retrieval quality (hit@k, MRR) over an eval YAML, through the API's retriever."""

from __future__ import annotations

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


def evaluate_retrieval(eval_set: EvalSet, retriever: HybridRetriever, k: int = 5) -> RetrievalReport:
    report = RetrievalReport()
    for case in eval_set.retrieval:
        passages = retriever.retrieve(case.q, k)
        report.cases.append(CaseResult(case.q, first_hit([p.text for p in passages], case.contains)))
    return report
