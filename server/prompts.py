"""Answer templates and the LLM prompt from ``prompts/answer_{de,en}.yaml``, checked at start."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ingest.yamlfile import safe_load

__all__ = ["LANGUAGES", "AnswerTemplates", "PromptError", "Prompts", "load_prompts"]

Language = Literal["de", "en"]
LANGUAGES: tuple[Language, ...] = ("de", "en")

# Template field -> the placeholders it must contain; no other placeholder is allowed.
_PLACEHOLDERS: dict[str, set[str]] = {
    "recommend_intro": {"profile"},
    "recommend_intro_empty": set(),
    "recommend_line": {"title", "display", "reason"},
    "recommend_table_head": set(),
    "recommend_question": {"question"},
    "cost_intro": {"profile"},
    "cost_intro_empty": set(),
    "cost_internal": set(),
    "cost_external": set(),
    "cost_context": set(),
    "cost_line": {"label", "value"},
    "cost_wording": {"wording"},
    "cost_not_applicable": set(),
    "cost_current_staff": {"staff"},
    "cost_user_line": {"label", "value", "basis"},
    "cost_compare_lower": {"external", "internal", "internal_label"},
    "cost_compare_higher": {"external", "internal", "internal_label"},
    "cost_ask_salary": set(),
    "cost_ask_price": set(),
    "computed_product": {"count", "figure", "per", "result"},
    "computed_share": {"share", "amount", "result"},
    "computed_ratio": {"figure", "per", "amount", "result"},
    "computed_over": set(),
    "computed_at_least": set(),
    "fact_intro": set(),
    "decline": {"topics"},
    "decline_support": {"topics", "contact"},
    "uncovered": set(),
    "uncovered_nearest": {"sentence"},
    "contact_offer": {"contact"},
    "contact_default": set(),
    "translated_note": set(),
    "clarify": set(),
    "why_intro": {"task"},
    "policy_documents": set(),
    "contact_known": {"contact"},
    "passage_more": set(),
    "refuse_internals": {"topics"},
    "urgent": {"topics"},
    "smalltalk": {"topics"},
    "smalltalk_thanks": {"topics"},
    "smalltalk_farewell": set(),
    "topics": set(),
    "llm_system": set(),
    "llm_user": {"question", "passages", "recommendation"},
}


class PromptError(Exception):
    """A prompt file is missing, malformed or lacks a placeholder."""


def _names(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


class AnswerTemplates(BaseModel):
    """The texts of one language; every field is required, unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    language: Language
    recommend_intro: str = Field(min_length=1)
    recommend_intro_empty: str = Field(min_length=1)
    recommend_line: str = Field(min_length=1)
    recommend_table_head: str = Field(min_length=1)
    recommend_question: str = Field(min_length=1)
    profile_number: dict[str, str]
    profile_yes: dict[str, str]
    profile_no: dict[str, str]
    cost_intro: str = Field(min_length=1)
    cost_intro_empty: str = Field(min_length=1)
    cost_internal: str = Field(min_length=1)
    cost_external: str = Field(min_length=1)
    cost_context: str = Field(min_length=1)
    cost_line: str = Field(min_length=1)
    cost_wording: str = Field(min_length=1)
    cost_not_applicable: str = Field(min_length=1)
    cost_current_staff: str = Field(min_length=1)
    cost_user_line: str = Field(min_length=1)
    cost_compare_lower: str = Field(min_length=1)
    cost_compare_higher: str = Field(min_length=1)
    cost_ask_salary: str = Field(min_length=1)
    cost_ask_price: str = Field(min_length=1)
    cost_scope: str = Field(min_length=1)
    computed_product: str = Field(min_length=1)
    computed_share: str = Field(min_length=1)
    computed_ratio: str = Field(min_length=1)
    computed_over: str = Field(min_length=1)
    computed_at_least: str = Field(min_length=1)
    fact_intro: str = Field(min_length=1)
    decline: str = Field(min_length=1)
    decline_support: str = Field(min_length=1)
    uncovered: str = Field(min_length=1)
    uncovered_nearest: str = Field(min_length=1)
    contact_offer: str = Field(min_length=1)
    contact_default: str = Field(min_length=1)
    contact_labels: dict[str, str]
    translated_note: str = ""
    clarify: str = Field(min_length=1)
    why_intro: str = Field(min_length=1)
    policy_documents: str = Field(min_length=1)
    contact_known: str = Field(min_length=1)
    passage_more: str = Field(min_length=1)
    follow_up_uncovered: list[str] = Field(min_length=1)
    refuse_internals: str = Field(min_length=1)
    urgent: str = Field(min_length=1)
    smalltalk: str = Field(min_length=1)
    smalltalk_thanks: str = Field(min_length=1)
    smalltalk_farewell: str = Field(min_length=1)
    topics: str = Field(min_length=1)
    follow_up_recommend: list[str] = Field(min_length=1)
    follow_up_fact: list[str] = Field(min_length=1)
    follow_up_decline: list[str] = Field(min_length=1)
    llm_system: str = Field(min_length=1)
    llm_user: str = Field(min_length=1)

    @model_validator(mode="after")
    def _placeholders(self) -> AnswerTemplates:
        problems: list[str] = []
        for name, required in _PLACEHOLDERS.items():
            template = getattr(self, name)
            try:
                found = _names(template)
            except ValueError as exc:
                problems.append(f"{name}: broken template: {exc}")
                continue
            if missing := required - found:
                problems.append(f"{name}: missing placeholder(s) {sorted(missing)}")
            if unknown := found - required:
                problems.append(f"{name}: unknown placeholder(s) {sorted(unknown)}")
        if set(self.contact_labels) != {"phone", "email", "url"}:
            problems.append("contact_labels: needs exactly phone, email and url")
        for key, template in self.contact_labels.items():
            if _names(template) != {"value"}:
                problems.append(f"contact_labels.{key}: needs exactly the placeholder {{value}}")
        for name in ("profile_number",):
            for key, template in getattr(self, name).items():
                if _names(template) != {"value"}:
                    problems.append(f"{name}.{key}: needs exactly the placeholder {{value}}")
        for name in ("profile_yes", "profile_no"):
            for key, template in getattr(self, name).items():
                if _names(template):
                    problems.append(f"{name}.{key}: takes no placeholders")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def system_lines(self) -> list[str]:
        """The non-empty lines of the LLM system prompt (they must never reach a visitor)."""
        return [line.strip() for line in self.llm_system.splitlines() if line.strip()]


class Prompts(BaseModel):
    model_config = ConfigDict(frozen=True)
    de: AnswerTemplates
    en: AnswerTemplates

    def for_language(self, language: str) -> AnswerTemplates:
        return self.en if language == "en" else self.de


def load_prompts(prompts_dir: Path) -> Prompts:
    """Read ``answer_de.yaml`` and ``answer_en.yaml``; raise PromptError naming every problem."""
    loaded: dict[str, AnswerTemplates] = {}
    for lang in LANGUAGES:
        path = prompts_dir / f"answer_{lang}.yaml"
        try:
            raw = safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise PromptError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise PromptError(f"{path}: invalid YAML: {exc}") from exc
        try:
            templates = AnswerTemplates.model_validate(raw)
        except ValidationError as exc:
            details = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()
            )
            raise PromptError(f"{path}: {details}") from exc
        if templates.language != lang:
            raise PromptError(f"{path}: language is {templates.language!r}, expected {lang!r}")
        loaded[lang] = templates
    return Prompts(de=loaded["de"], en=loaded["en"])
