"""Eval files: single-turn cases, conversations, and the older retrieval/out_of_scope schema.

A case says what should happen (its outcome) and, for an answer, the fact the answer must
state (``facts``) and the document snippet a cited passage must contain (``contains``).
Files in the first schema (``retrieval`` / ``out_of_scope`` / ``recommend``) still load:
a retrieval case becomes an ``answer`` case whose facts fall back to its ``contains``
strings; an out-of-scope question becomes a ``decline`` case marked ``legacy``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ingest.yamlfile import safe_load

__all__ = [
    "OUTCOMES",
    "PROFILE_SLOTS",
    "Case",
    "Conversation",
    "EvalFileError",
    "EvalSet",
    "Fact",
    "Outcome",
    "RecommendCase",
    "RetrievalCase",
    "Turn",
    "load_eval_set",
]

Outcome = Literal["answer", "uncovered", "policy", "decline"]
OUTCOMES: tuple[Outcome, ...] = ("answer", "uncovered", "policy", "decline")
# A fact is one string, or a list of strings that must all appear.
Fact = str | list[str]
# The profile slots a conversation may expect, with their value types. Eval writers use these
# names without seeing the code; slots the advisor does not (yet) keep count as misses.
PROFILE_SLOTS: dict[str, type | tuple[type, ...]] = {
    "employees": int,
    "pcs": int,
    "it_staff": (int, float),
    "key_user": bool,
    "locations": int,
    "production_systems": bool,
    "confidential_areas": bool,
    "needs_24x7": bool,
    "regulated": bool,
    "growth": bool,
    "remote_work": bool,
    "cloud": bool,
    "complex_it": bool,
    "internal_cost_per_it_staff_eur": (int, float),
    "external_price_per_user_month_eur": (int, float),
    "external_price_per_pc_month_eur": (int, float),
}


class EvalFileError(Exception):
    """The eval file is missing or not in the expected format; the text names file and case."""


def _facts_valid(facts: list[Fact]) -> list[Fact]:
    for fact in facts:
        parts = [fact] if isinstance(fact, str) else fact
        if not parts or not all(isinstance(p, str) and p.strip() for p in parts):
            raise ValueError(f"a fact must be a non-empty string or list of strings: {fact!r}")
    return facts


class Case(BaseModel):
    """One message in a fresh conversation, and what should happen."""

    model_config = ConfigDict(extra="forbid")
    id: str = ""
    q: str = Field(min_length=1)
    outcome: Outcome = "answer"
    facts: list[Fact] = Field(default_factory=list)
    contains: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    # Set for cases converted from the first schema.
    legacy: bool = Field(default=False, exclude=True)

    _facts = field_validator("facts")(classmethod(lambda cls, v: _facts_valid(v)))

    @model_validator(mode="after")
    def _answer_needs_a_fact(self) -> Case:
        if self.outcome == "answer" and not (self.facts or self.contains):
            raise ValueError("an `answer` case needs `facts` or `contains`")
        return self

    @property
    def expected_facts(self) -> list[Fact]:
        """The facts, or (first schema) the ``contains`` strings scored the same way."""
        return list(self.facts) or list(self.contains)

    @property
    def language(self) -> Literal["de", "en"] | None:
        if "en" in self.tags:
            return "en"
        if "de" in self.tags:
            return "de"
        return None


class Turn(BaseModel):
    """One user message of a conversation; ``profile`` holds the slots it states or corrects."""

    model_config = ConfigDict(extra="forbid")
    user: str = Field(min_length=1)
    profile: dict[str, int | float | bool] = Field(default_factory=dict)
    outcome: Outcome = "answer"
    facts: list[Fact] = Field(default_factory=list)
    contains: list[str] = Field(default_factory=list)

    _facts = field_validator("facts")(classmethod(lambda cls, v: _facts_valid(v)))

    @field_validator("profile")
    @classmethod
    def _known_slots(cls, value: dict[str, Any]) -> dict[str, Any]:
        for slot, v in value.items():
            kind = PROFILE_SLOTS.get(slot)
            if kind is None:
                raise ValueError(
                    f"unknown profile slot {slot!r} (known: {', '.join(PROFILE_SLOTS)})"
                )
            if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
                raise ValueError(f"profile slot {slot!r} has the wrong type: {v!r}")
        return value


class Conversation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    persona: str = ""
    turns: list[Turn] = Field(min_length=1)


class RetrievalCase(BaseModel):
    """First schema: a question and the phrases a cited passage must contain."""

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
    cases: list[Case] = Field(default_factory=list)
    conversations: list[Conversation] = Field(default_factory=list)
    # First schema, still read (held-out sets in it are run against every landing).
    retrieval: list[RetrievalCase] = Field(default_factory=list)
    out_of_scope: list[str] = Field(default_factory=list)
    recommend: list[RecommendCase] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> EvalSet:
        seen: set[str] = set()
        for ident in [c.id for c in self.cases] + [c.id for c in self.conversations]:
            if ident and ident in seen:
                raise ValueError(f"duplicate id {ident!r}")
            seen.add(ident)
        return self

    def all_cases(self) -> list[Case]:
        """Every single-turn case, first-schema ones converted, each with an id."""
        out = list(self.cases)
        out += [
            Case(id=f"retrieval-{i}", q=r.q, outcome="answer", contains=r.contains, legacy=True)
            for i, r in enumerate(self.retrieval, 1)
        ]
        out += [
            Case(id=f"out-of-scope-{i}", q=q, outcome="decline", legacy=True)
            for i, q in enumerate(self.out_of_scope, 1)
        ]
        return [
            c if c.id else c.model_copy(update={"id": f"case-{i}"}) for i, c in enumerate(out, 1)
        ]

    def retrieval_cases(self) -> list[Case]:
        """Cases whose passages can be checked: those with ``contains``."""
        return [c for c in self.all_cases() if c.contains]


def _locate(data: Any, loc: tuple[Any, ...]) -> str:
    """ "cases[3] (id Q1-004)" for an error location, so the writer finds the case."""
    parts: list[str] = []
    node = data
    for i, step in enumerate(loc):
        if isinstance(step, int):
            parts[-1] = f"{parts[-1]}[{step}]" if parts else f"[{step}]"
            try:
                node = node[step]
            except (TypeError, IndexError, KeyError):
                node = None
            if isinstance(node, dict) and node.get("id") and i + 1 <= len(loc):
                parts[-1] += f" (id {node['id']})"
        else:
            parts.append(str(step))
            node = node.get(step) if isinstance(node, dict) else None
    return ".".join(parts) or "file"


def load_eval_set(path: Path) -> EvalSet:
    """Read and validate one eval file; EvalFileError names the file and the case at fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EvalFileError(f"eval file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalFileError(f"eval file {path} cannot be read: {exc}") from None
    try:
        data = safe_load(text)
    except yaml.YAMLError as exc:
        raise EvalFileError(f"{path} is not valid YAML: {exc}") from None
    if data is not None and not isinstance(data, dict):
        raise EvalFileError(f"{path}: the top level must be a mapping (cases, conversations, …)")
    try:
        return EvalSet.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _locate(data, tuple(first["loc"]))
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = f"unknown field {first['loc'][-1]!r}"
        elif first["type"] == "literal_error" and first["loc"][-1] == "outcome":
            message = f"unknown outcome {first.get('input')!r} (use {', '.join(OUTCOMES)})"
        raise EvalFileError(f"{path}: {where}: {message}") from None
