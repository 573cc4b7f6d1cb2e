"""Properties of scoring for any valid profile: deterministic, bounded, monotone, cited."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.clean import fold
from ingest.load import load_folder
from server.profile import Profile
from server.scoring import Rules, load_rules, recommend

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
KNOWLEDGE = ROOT / "knowledge"
RULES_FILE = KNOWLEDGE / "rules" / "scoring.yaml"


@cache
def rules() -> Rules:
    # Cached at module level rather than a fixture: hypothesis reruns the test body many
    # times, and the rules are immutable.
    return load_rules(RULES_FILE, KNOWLEDGE)


@cache
def documents() -> dict[str, tuple[str, str]]:
    return {d.doc_id: (d.title, fold(d.text)) for d in load_folder(KNOWLEDGE).documents}


optional_bool = st.none() | st.booleans()


@st.composite
def profiles(draw: st.DrawFn, **fixed: Any) -> dict[str, Any]:
    employees = draw(st.none() | st.integers(0, 2000))
    it_staff_max = 60.0 if employees is None else float(min(employees, 60))
    it_staff = draw(
        st.none()
        | st.integers(0, int(it_staff_max)).map(float)
        | st.floats(0, it_staff_max, allow_nan=False)
    )
    facts: dict[str, Any] = {
        "employees": employees,
        "pcs": draw(st.none() | st.integers(0, 3000)),
        "it_staff": it_staff,
        "key_user": draw(optional_bool),
        "production_systems": draw(optional_bool),
        "confidential_areas": draw(optional_bool),
        "needs_24x7": draw(optional_bool),
        "regulated": draw(optional_bool),
        "growth": draw(optional_bool),
        "complex_it": draw(optional_bool),
        "locations": draw(st.none() | st.integers(1, 20)),
        "remote_work": draw(optional_bool),
        "internal_cost_per_it_staff_eur": draw(st.none() | st.integers(1, 200_000).map(float)),
        "external_price_per_user_month_eur": draw(st.none() | st.integers(1, 500).map(float)),
    }
    facts.update(fixed)
    return facts


def scores(facts: dict[str, Any]) -> dict[str, float]:
    return {t.task: t.score for t in recommend(Profile(**facts), rules()).tasks}


FAST = settings(max_examples=60, deadline=None)


@FAST
@given(profiles())
def test_equal_profiles_give_byte_identical_json(facts: dict[str, Any]) -> None:
    first = recommend(Profile(**facts), rules()).model_dump_json()
    # A freshly built, equal profile (fields given in reverse order) must not change a byte.
    again = Profile(**dict(reversed(list(facts.items()))))
    assert recommend(again, rules()).model_dump_json() == first


@FAST
@given(profiles())
def test_scores_are_bounded_and_labels_follow_the_thresholds(facts: dict[str, Any]) -> None:
    thresholds = rules().thresholds
    for task in recommend(Profile(**facts), rules()).tasks:
        assert -1 <= task.score <= 1
        if task.score <= thresholds.intern_max:
            assert task.label == "intern"
        elif task.score >= thresholds.extern_min:
            assert task.label == "extern"
        else:
            assert task.label == "hybrid"
        assert task.confidence in ("high", "medium", "low")


@FAST
@given(profiles(), st.floats(0, 1), st.floats(0, 1))
def test_more_internal_it_staff_never_makes_a_task_more_external(
    facts: dict[str, Any], a: float, b: float
) -> None:
    ceiling = 60.0 if facts["employees"] is None else float(min(facts["employees"], 60))
    fewer, more = sorted((round(a * ceiling, 2), round(b * ceiling, 2)))
    before = scores({**facts, "it_staff": fewer})
    after = scores({**facts, "it_staff": more})
    assert before.keys() == after.keys()
    for task, score in after.items():
        assert score <= before[task], task


@FAST
@given(profiles())
def test_a_24x7_need_never_makes_a_task_more_internal(facts: dict[str, Any]) -> None:
    with_need = scores({**facts, "needs_24x7": True})
    for other in (None, False):
        without = scores({**facts, "needs_24x7": other})
        for task, score in without.items():
            assert with_need[task] >= score, task


@FAST
@given(profiles())
def test_a_confidential_area_never_makes_a_task_more_external(facts: dict[str, Any]) -> None:
    confidential = scores({**facts, "confidential_areas": True})
    for other in (None, False):
        without = scores({**facts, "confidential_areas": other})
        for task, score in without.items():
            assert confidential[task] <= score, task


@FAST
@given(profiles())
def test_every_reason_quotes_the_knowledge_base_verbatim(facts: dict[str, Any]) -> None:
    result = recommend(Profile(**facts), rules())
    citations = [reason.citation for task in result.tasks for reason in task.reasons]
    figures = [*result.costs.internal, *result.costs.external, *result.costs.context]
    citations += [f.citation for f in figures if f.citation is not None]
    for citation in citations:
        title, text = documents()[citation.doc_id]
        assert citation.title == title
        assert fold(citation.quote) in text, citation.quote


def test_every_quote_in_the_rules_file_is_in_the_knowledge_base() -> None:
    for owner, evidence in rules().evidence():
        _, text = documents()[evidence.doc_id]
        assert fold(evidence.quote) in text, owner


def test_rules_keep_the_monotonicity_contract() -> None:
    # The data side of the properties above: a rule edit that breaks them fails here by name.
    for rule in rules().rules:
        staff = rule.when.get("it_staff")
        if staff is not None and (staff.lt is not None or staff.lte is not None):
            assert all(w > 0 for w in rule.effects.values()), rule.id
        if staff is not None and (staff.gt is not None or staff.gte is not None):
            assert all(w < 0 for w in rule.effects.values()), rule.id
        if "needs_24x7" in rule.when:
            assert rule.when["needs_24x7"].eq is True, rule.id
            assert all(w > 0 for w in rule.effects.values()), rule.id
        if "confidential_areas" in rule.when:
            assert rule.when["confidential_areas"].eq is True, rule.id
            assert all(w < 0 for w in rule.effects.values()), rule.id
