"""Deterministic scoring: intern / extern / hybrid per IT task, every reason cited.

The rules are data (``knowledge/rules/scoring.yaml``); this module validates them, checks that
every quote is in the knowledge base, and applies them to a :class:`Profile`:

* score of a task = clamp(base + sum of contributions of the rules that fire, -1, 1), rounded
  to 3 decimals; -1 is fully intern, +1 fully extern;
* label: score <= ``thresholds.intern_max`` -> intern, >= ``thresholds.extern_min`` -> extern,
  otherwise hybrid;
* confidence: "low" when the score lies closer than ``confidence.low_margin`` to a label
  boundary or when one unknown fact could flip the label, "high" when it lies at least
  ``confidence.high_margin`` away, else "medium";
* missing facts: every unknown fact whose probe values (from the rules file) would change a
  task's label or add a task.

No language model, no randomness, no dict-order dependence: equal profiles give byte-identical
JSON.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from ingest.clean import fold
from ingest.load import load_folder
from ingest.yamlfile import safe_load
from server.profile import Profile, fact_kind

__all__ = [
    "Citation",
    "CostComparison",
    "CostFigure",
    "MissingFact",
    "Reason",
    "Recommendation",
    "Rules",
    "RulesError",
    "TaskRecommendation",
    "compare_costs",
    "figure_range",
    "format_number",
    "load_rules",
    "recommend",
]

Label = Literal["intern", "hybrid", "extern"]
Confidence = Literal["high", "medium", "low"]
Side = Literal["internal", "external", "context"]
RULES_FILE_NAME = "scoring.yaml"
SCORE_DECIMALS = 3
# The cost figure whose head count turns a user-supplied salary into a team cost.
STAFF_FIGURE_ID = "internal_staff_for_cover"


class RulesError(Exception):
    """The rules file cannot be used; the message names the rule (or task, figure) at fault."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


# --------------------------------------------------------------------------------------
# Rules file schema
# --------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Comparison(_Strict):
    """One test of the condition language; every operator given must hold."""

    eq: bool | int | float | None = None
    lt: float | None = None
    lte: float | None = None
    gt: float | None = None
    gte: float | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> Comparison:
        if all(v is None for v in (self.eq, self.lt, self.lte, self.gt, self.gte)):
            raise ValueError("a test needs at least one of eq, lt, lte, gt, gte")
        return self

    def accepts(self, value: bool | float) -> bool:
        if self.eq is not None and value != self.eq:
            return False
        if self.lt is not None and not value < self.lt:
            return False
        if self.lte is not None and not value <= self.lte:
            return False
        if self.gt is not None and not value > self.gt:
            return False
        return not (self.gte is not None and not value >= self.gte)


def _plain_value_means_eq(value: Any) -> Any:
    # `key_user: true` is shorthand for `key_user: {eq: true}`.
    if isinstance(value, bool | int | float):
        return {"eq": value}
    return value


Test = Annotated[Comparison, BeforeValidator(_plain_value_means_eq)]
Condition = dict[str, Test]


class Evidence(_Strict):
    doc_id: str = Field(min_length=1)
    quote: str = Field(min_length=10)


class FactorSpec(_Strict):
    id: str
    title_de: str
    title_en: str


class LabelTexts(_Strict):
    intern: str
    hybrid: str
    extern: str

    def for_label(self, label: Label) -> str:
        return str(getattr(self, label))


class BaseScore(Evidence):
    score: float = Field(ge=-1, le=1)
    factor: str
    text_de: str
    text_en: str


class TaskSpec(_Strict):
    id: str
    title_de: str
    title_en: str
    matrix_label: Label | None = None
    only_when: Condition | None = None
    display: LabelTexts
    display_en: LabelTexts
    base: BaseScore


class RuleSpec(Evidence):
    id: str
    factor: str
    when: Condition = Field(min_length=1)
    effects: dict[str, float] = Field(min_length=1)
    text_de: str
    text_en: str


class FactSpec(_Strict):
    field: str
    question_de: str
    question_en: str
    probe: list[bool | int | float] = Field(min_length=1)


class CostSpec(Evidence):
    id: str
    side: Side
    label_de: str
    label_en: str
    low: float | None = None
    high: float | None = None
    wording: str | None = None
    unit_de: str
    unit_en: str
    when: Condition | None = None
    not_applicable_de: str | None = None
    not_applicable_en: str | None = None


class Thresholds(_Strict):
    intern_max: float = Field(lt=0, ge=-1)
    extern_min: float = Field(gt=0, le=1)


class ConfidenceSpec(_Strict):
    low_margin: float = Field(ge=0)
    high_margin: float = Field(gt=0)


class Rules(_Strict):
    """The validated rules file plus the titles of the documents its quotes come from."""

    rules_version: str = Field(min_length=1)
    thresholds: Thresholds
    confidence: ConfidenceSpec
    factors: list[FactorSpec] = Field(min_length=1)
    tasks: list[TaskSpec] = Field(min_length=1)
    rules: list[RuleSpec]
    facts: list[FactSpec]
    costs: list[CostSpec] = []

    _titles: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Rules:
        problems = list(self._problems())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _problems(self) -> Iterator[str]:
        for kind, ids in (
            ("factor", [f.id for f in self.factors]),
            ("task", [t.id for t in self.tasks]),
            ("rule", [r.id for r in self.rules]),
            ("cost figure", [c.id for c in self.costs]),
            ("fact", [f.field for f in self.facts]),
        ):
            for dup in sorted({i for i in ids if ids.count(i) > 1}):
                yield f"{kind} id {dup!r} is used more than once"
        factors = {f.id for f in self.factors}
        tasks = {t.id for t in self.tasks}
        facts = {f.field for f in self.facts}
        for task in self.tasks:
            owner = f"task {task.id!r}"
            if task.base.factor not in factors:
                yield f"{owner}: unknown factor {task.base.factor!r}"
            yield from _condition_problems(owner, task.only_when, facts)
            yield from _template_problems(owner, [task.base.text_de, task.base.text_en], set())
        for rule in self.rules:
            owner = f"rule {rule.id!r}"
            if rule.factor not in factors:
                yield f"{owner}: unknown factor {rule.factor!r}"
            for task_id, weight in rule.effects.items():
                if task_id not in tasks:
                    yield f"{owner}: effect on unknown task {task_id!r}"
                if weight == 0 or not -1 <= weight <= 1:
                    yield f"{owner}: effect on {task_id!r} must be non-zero and within [-1, 1]"
            yield from _condition_problems(owner, rule.when, facts)
            yield from _template_problems(owner, [rule.text_de, rule.text_en], set(rule.when))
        for fact in self.facts:
            owner = f"fact {fact.field!r}"
            if fact.field not in Profile.model_fields:
                yield f"{owner}: not a profile field"
                continue
            for value in fact.probe:
                if (fact_kind(fact.field) == "bool") != isinstance(value, bool):
                    yield f"{owner}: probe value {value!r} does not fit the field"
        for cost in self.costs:
            owner = f"cost figure {cost.id!r}"
            yield from _condition_problems(owner, cost.when, None)
            if cost.low is None and cost.high is None and cost.wording is None:
                yield f"{owner}: needs low/high figures or the document's wording"

    def title_of(self, doc_id: str) -> str:
        return self._titles.get(doc_id, doc_id)

    def evidence(self) -> Iterator[tuple[str, Evidence]]:
        """Every quote of the file, with the name of the entry it belongs to."""
        for task in self.tasks:
            yield f"task {task.id!r}", task.base
        for rule in self.rules:
            yield f"rule {rule.id!r}", rule
        for cost in self.costs:
            yield f"cost figure {cost.id!r}", cost


def _condition_problems(
    owner: str, condition: Condition | None, facts: set[str] | None
) -> Iterator[str]:
    for field, test in (condition or {}).items():
        if field not in Profile.model_fields:
            yield f"{owner}: condition on unknown profile field {field!r}"
            continue
        # Without a fact entry the missing-facts analysis could not ask about this field.
        if facts is not None and field not in facts:
            yield f"{owner}: condition on {field!r}, which has no entry under facts"
        is_bool_field = fact_kind(field) == "bool"
        ordered = [v for v in (test.lt, test.lte, test.gt, test.gte) if v is not None]
        if is_bool_field and (ordered or not isinstance(test.eq, bool)):
            yield f"{owner}: {field!r} is yes/no; test it with true or false"
        if not is_bool_field and isinstance(test.eq, bool):
            yield f"{owner}: {field!r} is a number; test it with a number"


def _template_problems(owner: str, templates: list[str], allowed: set[str]) -> Iterator[str]:
    for template in templates:
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        except ValueError as exc:
            yield f"{owner}: broken text template: {exc}"
            continue
        # A placeholder must name a fact the rule tests, so its value is known when it fires.
        for name in sorted(names - allowed):
            yield f"{owner}: text placeholder {{{name}}} is not a field tested in `when`"


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


def load_rules(rules_path: Path, knowledge_dir: Path) -> Rules:
    """Read and validate the rules; refuse any quote the knowledge base does not contain.

    ``rules_path`` is the YAML file or the folder holding ``scoring.yaml``. Raises
    :class:`RulesError` naming every rule, task or cost figure at fault.
    """
    path = rules_path / RULES_FILE_NAME if rules_path.is_dir() else rules_path
    try:
        raw = safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RulesError([f"{path}: cannot read rules file: {exc.strerror or exc}"]) from exc
    except yaml.YAMLError as exc:
        raise RulesError([f"{path}: invalid YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise RulesError([f"{path}: the rules file must be a mapping"])
    try:
        rules = Rules.model_validate(raw)
    except ValidationError as exc:
        raise RulesError(
            [f"{path}: {_locate(err['loc'], raw)}: {err['msg']}" for err in exc.errors()]
        ) from exc

    documents = load_folder(knowledge_dir).documents
    folded = {doc.doc_id: fold(doc.text) for doc in documents}
    problems: list[str] = []
    for owner, evidence in rules.evidence():
        if evidence.doc_id not in folded:
            problems.append(
                f"{path}: {owner}: unknown doc_id {evidence.doc_id!r} "
                f"(knowledge base {knowledge_dir} has {sorted(folded)})"
            )
        elif fold(evidence.quote) not in folded[evidence.doc_id]:
            problems.append(
                f"{path}: {owner}: quote not found verbatim in {evidence.doc_id!r}: "
                f"{evidence.quote!r}"
            )
    if problems:
        raise RulesError(problems)
    rules._titles = {doc.doc_id: doc.title for doc in documents}
    return rules


def _locate(loc: tuple[int | str, ...], raw: dict[str, Any]) -> str:
    """A validation error location in the words of the file: "rule 'x', field 'factor'"."""
    names = {"tasks": "task", "rules": "rule", "costs": "cost figure", "factors": "factor"}
    if len(loc) >= 2 and loc[0] in names and isinstance(loc[1], int):
        entries = raw.get(str(loc[0]))
        entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else {}
        ident = entry.get("id") if isinstance(entry, dict) else None
        label = f"{names[str(loc[0])]} {ident!r}" if ident else f"{loc[0]}[{loc[1]}]"
        rest = ".".join(str(part) for part in loc[2:])
        return f"{label}, field {rest!r}" if rest else label
    return ".".join(str(part) for part in loc) or "rules file"


# --------------------------------------------------------------------------------------
# Result models
# --------------------------------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Citation(_Out):
    doc_id: str
    title: str
    quote: str


class Reason(_Out):
    rule: str = Field(description="Rule id, or 'task:<id>' for the task's base score.")
    factor: str
    factor_title: str
    contribution: float
    text: str
    text_en: str
    citation: Citation


class TaskRecommendation(_Out):
    task: str
    title: str
    title_en: str
    score: float = Field(ge=-1, le=1, description="-1 fully intern, +1 fully extern.")
    label: Label
    display: str = Field(description="The recommendation in the whitepaper's wording.")
    display_en: str
    confidence: Confidence
    reasons: list[Reason] = Field(description="Ordered by |contribution|, then rule id.")


class CostFigure(_Out):
    id: str
    side: Side
    label: str
    label_en: str
    low: float | None = None
    high: float | None = None
    wording: str | None = Field(
        default=None, description="The document's words, for figures without numbers."
    )
    unit: str
    unit_en: str
    applies: bool | None = Field(
        default=None, description="Whether the figure fits this profile; None when that is unknown."
    )
    source: Literal["document", "user"]
    basis: str | None = Field(
        default=None, description="How a figure from user input was computed."
    )
    basis_en: str | None = None
    citation: Citation | None = None


class CostComparison(_Out):
    internal: list[CostFigure]
    external: list[CostFigure]
    context: list[CostFigure]
    notes: list[str]
    notes_en: list[str]


class MissingFact(_Out):
    field: str
    question_de: str
    question_en: str
    tasks: list[str] = Field(description="Tasks whose recommendation this fact could change.")


class Recommendation(_Out):
    tasks: list[TaskRecommendation]
    costs: CostComparison
    rules_version: str
    profile: Profile
    missing: list[MissingFact]


# --------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scored:
    task: TaskSpec
    score: float
    label: Label
    reasons: list[Reason]


def recommend(profile: Profile, rules: Rules) -> Recommendation:
    """The recommendation per IT task for ``profile``; the same input gives the same output."""
    scored = _score_tasks(profile, rules)
    missing = _missing_facts(profile, rules, {s.task.id: s.label for s in scored})
    flippable = {task for fact in missing for task in fact.tasks}
    tasks = [
        TaskRecommendation(
            task=s.task.id,
            title=s.task.title_de,
            title_en=s.task.title_en,
            score=s.score,
            label=s.label,
            display=s.task.display.for_label(s.label),
            display_en=s.task.display_en.for_label(s.label),
            confidence=_confidence(s, rules, s.task.id in flippable),
            reasons=s.reasons,
        )
        for s in scored
    ]
    return Recommendation(
        tasks=tasks,
        costs=compare_costs(profile, rules),
        rules_version=rules.rules_version,
        profile=profile,
        missing=missing,
    )


def _holds(condition: Condition, profile: Profile) -> bool:
    for field, test in condition.items():
        value = getattr(profile, field)
        # Unknown is neutral: no rule fires on a fact the company has not given.
        if value is None or not test.accepts(value):
            return False
    return True


def _score_tasks(profile: Profile, rules: Rules) -> list[_Scored]:
    fired = [rule for rule in rules.rules if _holds(rule.when, profile)]
    factor_titles = {f.id: f.title_de for f in rules.factors}
    result: list[_Scored] = []
    for task in rules.tasks:
        if task.only_when is not None and not _holds(task.only_when, profile):
            continue
        base = task.base
        reasons = [
            Reason(
                rule=f"task:{task.id}",
                factor=base.factor,
                factor_title=factor_titles[base.factor],
                contribution=_round(base.score),
                text=base.text_de,
                text_en=base.text_en,
                citation=_cite(base, rules),
            )
        ]
        total = base.score
        # Rules are summed in file order, so the float sum never depends on anything else.
        for rule in fired:
            weight = rule.effects.get(task.id)
            if weight is None:
                continue
            total += weight
            values_de, values_en = _template_values(rule, profile)
            reasons.append(
                Reason(
                    rule=rule.id,
                    factor=rule.factor,
                    factor_title=factor_titles[rule.factor],
                    contribution=_round(weight),
                    text=rule.text_de.format(**values_de),
                    text_en=rule.text_en.format(**values_en),
                    citation=_cite(rule, rules),
                )
            )
        reasons.sort(key=lambda r: (-abs(r.contribution), r.rule))
        score = _round(min(1.0, max(-1.0, total)))
        result.append(_Scored(task, score, _label(score, rules.thresholds), reasons))
    return result


def _round(value: float) -> float:
    # Adding 0.0 turns -0.0 into 0.0, so the JSON never shows "-0.0".
    return round(value, SCORE_DECIMALS) + 0.0


def _label(score: float, thresholds: Thresholds) -> Label:
    if score <= thresholds.intern_max:
        return "intern"
    if score >= thresholds.extern_min:
        return "extern"
    return "hybrid"


def _margin(score: float, label: Label, thresholds: Thresholds) -> float:
    """How far the score would have to move to change its label."""
    if label == "intern":
        return thresholds.intern_max - score
    if label == "extern":
        return score - thresholds.extern_min
    return min(score - thresholds.intern_max, thresholds.extern_min - score)


def _confidence(scored: _Scored, rules: Rules, flippable: bool) -> Confidence:
    margin = _round(_margin(scored.score, scored.label, rules.thresholds))
    if flippable or margin < rules.confidence.low_margin:
        return "low"
    if margin < rules.confidence.high_margin:
        return "medium"
    return "high"


def _cite(evidence: Evidence, rules: Rules) -> Citation:
    return Citation(
        doc_id=evidence.doc_id, title=rules.title_of(evidence.doc_id), quote=evidence.quote
    )


def format_number(value: float, lang: Literal["de", "en"]) -> str:
    """ "80.000" / "80,000", "2,5" / "2.5": a number as each language writes it."""
    if float(value).is_integer():
        text = f"{int(value):,}"
        return text.replace(",", ".") if lang == "de" else text
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    if lang == "de":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text


def _template_values(rule: RuleSpec, profile: Profile) -> tuple[dict[str, str], dict[str, str]]:
    de: dict[str, str] = {}
    en: dict[str, str] = {}
    for field in rule.when:
        value = getattr(profile, field)
        if isinstance(value, bool):
            de[field], en[field] = ("ja", "yes") if value else ("nein", "no")
        else:
            de[field], en[field] = format_number(value, "de"), format_number(value, "en")
    return de, en


def _missing_facts(profile: Profile, rules: Rules, labels: dict[str, Label]) -> list[MissingFact]:
    """Unknown facts whose plausible values would change a label or add a task."""
    known = profile.model_dump()
    order = [task.id for task in rules.tasks]
    missing: list[MissingFact] = []
    for fact in rules.facts:
        if known.get(fact.field) is not None:
            continue
        changed: set[str] = set()
        for value in fact.probe:
            try:
                probe = Profile.model_validate({**known, fact.field: value})
            except ValidationError:
                continue  # e.g. more IT staff than employees: not a plausible value here
            other = {s.task.id: s.label for s in _score_tasks(probe, rules)}
            changed |= {t for t in labels.keys() | other.keys() if labels.get(t) != other.get(t)}
        if changed:
            missing.append(
                MissingFact(
                    field=fact.field,
                    question_de=fact.question_de,
                    question_en=fact.question_en,
                    tasks=[t for t in order if t in changed],
                )
            )
    return missing


# --------------------------------------------------------------------------------------
# Costs
# --------------------------------------------------------------------------------------


def _applies(condition: Condition | None, profile: Profile) -> bool | None:
    if condition is None:
        return True
    if any(getattr(profile, field) is None for field in condition):
        return None
    return _holds(condition, profile)


def compare_costs(profile: Profile, rules: Rules) -> CostComparison:
    """Internal staff and cost against external prices, only with cited or user-given figures.

    The documents give a salary only for a senior technician and the external price only in
    words, so no total is computed unless the user supplies the missing price.
    """
    sides: dict[Side, list[CostFigure]] = {"internal": [], "external": [], "context": []}
    notes: list[str] = []
    notes_en: list[str] = []
    staff: CostFigure | None = None
    for spec in rules.costs:
        figure = CostFigure(
            id=spec.id,
            side=spec.side,
            label=spec.label_de,
            label_en=spec.label_en,
            low=spec.low,
            high=spec.high,
            wording=spec.wording,
            unit=spec.unit_de,
            unit_en=spec.unit_en,
            applies=_applies(spec.when, profile),
            source="document",
            citation=_cite(spec, rules),
        )
        sides[spec.side].append(figure)
        if figure.applies is False and spec.not_applicable_de:
            notes.append(spec.not_applicable_de)
            notes_en.append(spec.not_applicable_en or spec.not_applicable_de)
        if spec.wording is not None:
            notes.append(
                f"{spec.label_de}: Die Dokumente nennen keinen genauen Betrag, "
                f"nur „{spec.wording}“."
            )
            notes_en.append(
                f"{spec.label_en}: the documents give no exact figure, only the words "
                f'"{spec.wording}".'
            )
        if spec.id == STAFF_FIGURE_ID:
            staff = figure

    if staff is not None and staff.applies is not False and profile.it_staff is not None:
        have_de = format_number(profile.it_staff, "de")
        have_en = format_number(profile.it_staff, "en")
        need_de, need_en = figure_range(staff, "de"), figure_range(staff, "en")
        notes.append(
            f"Derzeit {have_de} interne IT-Kräfte; für lückenlose Abdeckung nennt das Whitepaper "
            f"{need_de} {staff.unit}."
        )
        notes_en.append(
            f"Currently {have_en} internal IT staff; for gap-free cover the whitepaper names "
            f"{need_en} {staff.unit_en}."
        )

    salary = profile.internal_cost_per_it_staff_eur
    if salary is None:
        notes.append(
            "Ein Gehalt für IT-Mitarbeiter ohne Senior-Niveau nennen die Dokumente nicht; "
            "interne Gesamtkosten werden nur aus Ihrer eigenen Angabe berechnet."
        )
        notes_en.append(
            "The documents give no salary for IT staff below senior level; internal totals are "
            "only computed from a figure you supply."
        )
    else:
        salary_de, salary_en = format_number(salary, "de"), format_number(salary, "en")
        if staff is not None and staff.applies is not False and staff.low and staff.high:
            sides["internal"].append(
                CostFigure(
                    id="internal_team_cost",
                    side="internal",
                    label="Interne IT für lückenlose Abdeckung",
                    label_en="In-house IT for gap-free cover",
                    low=_round(staff.low * salary),
                    high=_round(staff.high * salary),
                    unit="Euro pro Jahr",
                    unit_en="euros per year",
                    source="user",
                    basis=f"{figure_range(staff, 'de')} {staff.unit} × Ihre Angabe von "
                    f"{salary_de} Euro pro Jahr",
                    basis_en=f"{figure_range(staff, 'en')} {staff.unit_en} × your figure of "
                    f"{salary_en} euros per year",
                    citation=staff.citation,
                )
            )
        if profile.it_staff:
            staff_de = format_number(profile.it_staff, "de")
            staff_en = format_number(profile.it_staff, "en")
            sides["internal"].append(
                CostFigure(
                    id="internal_current_cost",
                    side="internal",
                    label="Heutige interne IT",
                    label_en="Current in-house IT",
                    low=_round(profile.it_staff * salary),
                    high=_round(profile.it_staff * salary),
                    unit="Euro pro Jahr",
                    unit_en="euros per year",
                    source="user",
                    basis=f"{staff_de} × {salary_de} Euro pro Jahr",
                    basis_en=f"{staff_en} × {salary_en} euros per year",
                )
            )

    price = profile.external_price_per_user_month_eur
    users = profile.employees if profile.employees is not None else profile.pcs
    # the count the total rests on, named as it is: employees, else PCs
    unit_de, unit_en = ("User", "users") if profile.employees is not None else ("PCs", "PCs")
    if price is not None and users is not None:
        price_de, price_en = format_number(price, "de"), format_number(price, "en")
        sides["external"].append(
            CostFigure(
                id="external_offer_cost",
                side="external",
                label="Externe Betreuung zum angebotenen Preis",
                label_en="External support at the offered price",
                low=_round(price * users * 12),
                high=_round(price * users * 12),
                unit="Euro pro Jahr",
                unit_en="euros per year",
                source="user",
                basis=f"{price_de} Euro × {users} {unit_de} × 12 Monate",
                basis_en=f"{price_en} euros × {users} {unit_en} × 12 months",
            )
        )
    elif price is not None:
        notes.append("Für die externen Jahreskosten fehlt die Zahl der Mitarbeiter oder PCs.")
        notes_en.append("The external annual cost needs the number of employees or PCs.")

    return CostComparison(
        internal=sides["internal"],
        external=sides["external"],
        context=sides["context"],
        notes=notes,
        notes_en=notes_en,
    )


def figure_range(figure: CostFigure, lang: Literal["de", "en"]) -> str:
    """A figure's numbers as the documents give them: "70.000–100.000", "über 80.000"."""
    low = None if figure.low is None else format_number(figure.low, lang)
    high = None if figure.high is None else format_number(figure.high, lang)
    if low is not None and high is not None:
        return low if low == high else f"{low}–{high}"
    if low is not None:
        return f"über {low}" if lang == "de" else f"more than {low}"
    if high is not None:
        return f"bis zu {high}" if lang == "de" else f"up to {high}"
    return figure.wording or ""
