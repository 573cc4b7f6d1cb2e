"""Scoring: the whitepaper's matrix and exceptions, size thresholds, refusals, costs, API, CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from typer.testing import CliRunner

from ingest.clean import fold
from ingest.load import load_folder
from server.cli_recommend import recommend_command
from server.profile import Profile
from server.routes.recommend import router
from server.scoring import (
    Recommendation,
    Rules,
    RulesError,
    TaskRecommendation,
    load_rules,
    recommend,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
KNOWLEDGE = ROOT / "knowledge"
RULES_FILE = KNOWLEDGE / "rules" / "scoring.yaml"
WHITEPAPER = "whitepaper-it-im-mittelstand"

# The whitepaper's reference company and its task matrix (section 4), in its own words.
REFERENCE: dict[str, Any] = {"pcs": 50, "employees": 60, "it_staff": 0, "key_user": True}
MATRIX = {
    "helpdesk": ("hybrid", "Hybrid"),
    "infrastructure": ("extern", "Extern (ggf. Hybrid)"),
    "m365": ("extern", "Extern"),
    "security": ("extern", "Extern (überwiegend)"),
    "cloud": ("extern", "Extern"),
    "backup": ("extern", "Extern (ggf. Hybrid)"),
    "projects": ("extern", "Extern mit internem Koordinator"),
    "strategy": ("intern", "Intern (mit externer Beratung)"),
}
SMALL: dict[str, Any] = {"it_staff": 0, "key_user": True}


@pytest.fixture(scope="module")
def rules() -> Rules:
    return load_rules(RULES_FILE, KNOWLEDGE)


@pytest.fixture(scope="module")
def documents() -> dict[str, str]:
    return {doc.doc_id: fold(doc.text) for doc in load_folder(KNOWLEDGE).documents}


def by_task(result: Recommendation) -> dict[str, TaskRecommendation]:
    return {task.task: task for task in result.tasks}


def run(rules: Rules, **facts: Any) -> dict[str, TaskRecommendation]:
    return by_task(recommend(Profile(**facts), rules))


def quotes(task: TaskRecommendation) -> list[str]:
    return [reason.citation.quote for reason in task.reasons]


# --- The whitepaper's own table ----------------------------------------------------------


def test_reference_company_reproduces_the_task_matrix(rules: Rules) -> None:
    tasks = run(rules, **REFERENCE)
    assert list(tasks) == list(MATRIX)
    assert {t: (rec.label, rec.display) for t, rec in tasks.items()} == MATRIX


def test_matrix_display_texts_are_the_whitepapers_words(
    rules: Rules, documents: dict[str, str]
) -> None:
    for task in rules.tasks:
        if task.matrix_label is not None:
            assert MATRIX[task.id] == (task.matrix_label, task.display.for_label(task.matrix_label))
            assert fold(task.display.for_label(task.matrix_label)) in documents[WHITEPAPER]


def test_reference_company_reasons_are_ordered_and_cited(rules: Rules) -> None:
    result = recommend(Profile(**REFERENCE), rules)
    assert result.rules_version == rules.rules_version
    assert result.profile == Profile(**REFERENCE)
    for task in result.tasks:
        assert task.reasons, task.task
        keys = [(-abs(r.contribution), r.rule) for r in task.reasons]
        assert keys == sorted(keys)
        assert all(r.citation.title and r.text and r.text_en for r in task.reasons)
    # The matrix row is always among the reasons: the base score rests on it.
    assert "Strategische Verantwortung liegt intern." in quotes(by_task(result)["strategy"])[0]


# --- The whitepaper's exceptions ---------------------------------------------------------


def test_production_systems_that_steer_machines_stay_intern(rules: Rules) -> None:
    tasks = run(rules, **REFERENCE, production_systems=True)
    assert tasks["production_it"].label == "intern"
    assert any("Maschinen steuern" in q for q in quotes(tasks["production_it"]))
    # Even round-the-clock needs do not move it out of the house.
    assert (
        run(rules, **REFERENCE, production_systems=True, needs_24x7=True)["production_it"].label
        == "intern"
    )
    assert "production_it" not in run(rules, **REFERENCE, production_systems=False)


def test_highly_confidential_area_stays_intern(rules: Rules) -> None:
    tasks = run(rules, **REFERENCE, confidential_areas=True)
    assert tasks["confidential_it"].label == "intern"
    assert tasks["confidential_it"].display == "Intern (kein externer Zugriff)"
    assert any("Forschungs- und Entwicklungslabor" in q for q in quotes(tasks["confidential_it"]))
    assert "confidential_it" not in run(rules, **REFERENCE)


# --- The size thresholds of "Das bisschen IT" -------------------------------------------


def test_the_3_to_5_employee_threshold_changes_infrastructure(rules: Rules) -> None:
    two = run(rules, employees=2, pcs=2, **SMALL)["infrastructure"]
    four = run(rules, employees=4, pcs=4, **SMALL)["infrastructure"]
    assert (two.label, four.label) == ("intern", "hybrid")
    assert two.display == "Intern (mit externem IT-Konzept)"
    assert any("bereits bei 3-5 Mitarbeitern erreicht" in q for q in quotes(four))
    assert "below_3_employees_no_server" in [r.rule for r in two.reasons]
    assert any("3-5" in r.text for r in two.reasons)


def test_the_10_employee_threshold_changes_helpdesk_and_infrastructure(rules: Rules) -> None:
    eight = run(rules, employees=8, pcs=8, **SMALL)
    twelve = run(rules, employees=12, pcs=12, **SMALL)
    assert (eight["infrastructure"].label, twelve["infrastructure"].label) == ("hybrid", "extern")
    assert (eight["helpdesk"].label, twelve["helpdesk"].label) == ("intern", "hybrid")
    for task in ("helpdesk", "infrastructure"):
        assert any("etwa ab 10 Mitarbeitern" in q for q in quotes(twelve[task]))
        assert not any("etwa ab 10 Mitarbeitern" in q for q in quotes(eight[task]))
        assert any("weitgehend autark" in q for q in quotes(eight[task]))
    # The strategy stays in-house, with a specialist for the concept.
    assert eight["strategy"].label == "intern"
    assert any("Fachmann zu konsultieren" in q for q in quotes(eight["strategy"]))


def test_internal_it_team_brings_infrastructure_in_house(rules: Rules) -> None:
    tasks = run(rules, employees=60, pcs=50, it_staff=3, key_user=False)
    assert tasks["infrastructure"].label == "hybrid"
    assert tasks["security"].label == "extern"  # specialists stay external
    assert tasks["strategy"].label == "intern"


# --- Refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "field"),
    [
        ({"pcs": -1}, "pcs"),
        ({"employees": -5}, "employees"),
        ({"it_staff": -0.5}, "it_staff"),
        ({"employees": 2, "it_staff": 3}, "it_staff"),
        ({"locations": 0}, "locations"),
        ({"external_price_per_user_month_eur": 1e308}, "external_price_per_user_month_eur"),
        ({"internal_cost_per_it_staff_eur": 5e6}, "internal_cost_per_it_staff_eur"),
        ({"employees": 10**12}, "employees"),
        ({"key_user": "yes"}, "key_user"),
        ({"headcount": 12}, "headcount"),
    ],
)
def test_impossible_profiles_are_refused_naming_the_field(
    facts: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Profile.model_validate(facts)
    assert [err["loc"] for err in caught.value.errors()] == [(field,)]


def test_more_it_staff_than_employees_message_says_why() -> None:
    with pytest.raises(ValidationError, match=r"it_staff \(3\) cannot exceed employees \(2\)"):
        Profile(employees=2, it_staff=3)


def _write_rules(tmp_path: Path, edit: Any) -> Path:
    data = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "scoring.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _rule(data: dict[str, Any], rule_id: str) -> dict[str, Any]:
    return next(rule for rule in data["rules"] if rule["id"] == rule_id)


def test_rules_with_a_quote_not_in_the_knowledge_base_are_refused(tmp_path: Path) -> None:
    def invent(data: dict[str, Any]) -> None:
        _rule(data, "from_10_employees_not_on_the_side")["quote"] = (
            "Ab 10 Mitarbeitern muss die IT immer ausgelagert werden."
        )

    with pytest.raises(RulesError) as caught:
        load_rules(_write_rules(tmp_path, invent), KNOWLEDGE)
    assert "rule 'from_10_employees_not_on_the_side'" in str(caught.value)
    assert "quote not found" in str(caught.value)
    assert len(caught.value.problems) == 1


def test_rules_with_an_unknown_document_are_refused(tmp_path: Path) -> None:
    def elsewhere(data: dict[str, Any]) -> None:
        data["tasks"][0]["base"]["doc_id"] = "no-such-document"

    with pytest.raises(RulesError, match=r"task 'helpdesk': unknown doc_id 'no-such-document'"):
        load_rules(_write_rules(tmp_path, elsewhere), KNOWLEDGE)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: _rule(d, "key_user_on_site").update(factor="luck"), "unknown factor 'luck'"),
        (
            lambda d: _rule(d, "key_user_on_site").update(when={"key_user": {"gte": 1}}),
            "'key_user' is yes/no",
        ),
        (
            lambda d: _rule(d, "key_user_on_site").update(effects={"coffee": 0.2}),
            "unknown task 'coffee'",
        ),
        (
            lambda d: _rule(d, "key_user_on_site").update(when={"headcount": {"gte": 1}}),
            "unknown profile field 'headcount'",
        ),
        (
            lambda d: _rule(d, "key_user_on_site").update(text_de="Mit {pcs} PCs."),
            "placeholder {pcs}",
        ),
        (lambda d: _rule(d, "key_user_on_site").update(weight=0.2), "key_user_on_site"),
        (lambda d: _rule(d, "key_user_on_site").pop("quote"), "key_user_on_site"),
    ],
)
def test_inconsistent_rules_are_refused_naming_the_rule(
    tmp_path: Path, edit: Any, expected: str
) -> None:
    with pytest.raises(RulesError) as caught:
        load_rules(_write_rules(tmp_path, edit), KNOWLEDGE)
    assert expected in str(caught.value)
    assert "key_user_on_site" in str(caught.value)


def test_invalid_yaml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "scoring.yaml"
    path.write_text("rules: [unclosed\n", encoding="utf-8")
    with pytest.raises(RulesError, match="invalid YAML"):
        load_rules(path, KNOWLEDGE)


def test_rules_folder_from_settings_is_accepted() -> None:
    assert load_rules(RULES_FILE.parent, KNOWLEDGE).rules_version


# --- Missing facts and confidence --------------------------------------------------------


def test_unknown_facts_that_would_change_a_label_are_asked(rules: Rules) -> None:
    result = recommend(Profile(), rules)
    missing = {fact.field: fact for fact in result.missing}
    assert {"employees", "it_staff", "production_systems", "confidential_areas"} <= set(missing)
    assert "infrastructure" in missing["employees"].tasks
    assert missing["production_systems"].tasks == ["production_it"]
    assert missing["employees"].question_de.endswith("?")
    assert missing["employees"].question_en.endswith("?")
    # Unknown facts that cannot flip a label are not asked.
    assert "pcs" not in missing
    # Neutral: without facts the matrix itself is the answer, with low confidence.
    tasks = by_task(result)
    assert {t: rec.label for t, rec in tasks.items()} == {t: m[0] for t, m in MATRIX.items()}
    assert tasks["infrastructure"].confidence == "low"


def test_reference_company_only_lacks_the_exceptions(rules: Rules) -> None:
    result = recommend(Profile(**REFERENCE), rules)
    assert [fact.field for fact in result.missing] == ["production_systems", "confidential_areas"]
    everything = {
        **REFERENCE,
        "production_systems": False,
        "confidential_areas": False,
    }
    assert recommend(Profile(**everything), rules).missing == []
    confidence = {t.task: t.confidence for t in result.tasks}
    assert confidence["infrastructure"] == "high"
    assert confidence["projects"] == "medium"  # 0.45 lies close to the extern boundary


# --- Costs -------------------------------------------------------------------------------

_NUMBER = re.compile(r"\d+(?:\.\d{3})*(?:,\d+)?")


def numbers(text: str) -> set[float]:
    return {float(m.replace(".", "").replace(",", ".")) for m in _NUMBER.findall(text)}


def test_costs_cite_every_figure_and_invent_no_number(
    rules: Rules, documents: dict[str, str]
) -> None:
    costs = recommend(Profile(**REFERENCE), rules).costs
    figures = [*costs.internal, *costs.external, *costs.context]
    assert {f.id for f in figures} >= {
        "internal_staff_for_cover",
        "senior_technician_salary",
        "managed_it_price_per_user",
    }
    quoted: set[float] = set()
    for figure in figures:
        assert figure.source == "document"
        assert figure.citation is not None
        assert fold(figure.citation.quote) in documents[figure.citation.doc_id]
        in_quote = numbers(figure.citation.quote)
        quoted |= in_quote
        shown = {v for v in (figure.low, figure.high) if v is not None}
        shown |= numbers(figure.label) | numbers(figure.unit) | numbers(figure.wording or "")
        assert shown <= in_quote, (figure.id, shown - in_quote)
    profile_numbers = {float(v) for v in REFERENCE.values() if not isinstance(v, bool)}
    for note in costs.notes:
        assert numbers(note) <= quoted | profile_numbers, note

    by_id = {f.id: f for f in figures}
    assert (by_id["internal_staff_for_cover"].low, by_id["internal_staff_for_cover"].high) == (2, 3)
    assert by_id["internal_staff_for_cover"].applies is True
    senior = by_id["senior_technician_salary"]
    assert (senior.low, senior.high) == (70000, 100000)
    price = by_id["managed_it_price_per_user"]
    assert (price.low, price.high) == (None, None)
    assert price.wording and "zweistelligen" in price.wording
    assert any("keinen genauen Betrag" in note for note in costs.notes)
    assert any("ohne Senior-Niveau" in note for note in costs.notes)
    # No total is made up from the senior salary.
    assert not any(f.source == "user" for f in figures)


def test_cost_totals_only_from_figures_the_user_supplies(rules: Rules) -> None:
    profile = Profile(
        **REFERENCE,
        internal_cost_per_it_staff_eur=60000,
        external_price_per_user_month_eur=40,
    )
    costs = recommend(profile, rules).costs
    team = next(f for f in costs.internal if f.id == "internal_team_cost")
    assert (team.source, team.low, team.high) == ("user", 120000, 180000)
    external = next(f for f in costs.external if f.id == "external_offer_cost")
    assert (external.low, external.high) == (40 * 60 * 12, 40 * 60 * 12)
    assert not any("ohne Senior-Niveau" in note for note in costs.notes)


def test_staff_figure_outside_its_size_says_so(rules: Rules) -> None:
    costs = recommend(Profile(employees=400, pcs=350), rules).costs
    staff = next(f for f in costs.internal if f.id == "internal_staff_for_cover")
    assert staff.applies is False
    assert any("keinen Personalbedarf" in note for note in costs.notes)


# --- API -------------------------------------------------------------------------------


@pytest.fixture
def client(rules: Rules) -> TestClient:
    app = FastAPI()
    app.state.rules = rules
    app.include_router(router)
    return TestClient(app)


def test_api_recommends_for_the_reference_company(client: TestClient) -> None:
    response = client.post("/api/recommend", json=REFERENCE)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"tasks", "costs", "rules_version", "profile", "missing"}
    assert {t["task"]: (t["label"], t["display"]) for t in body["tasks"]} == MATRIX
    assert body["profile"]["pcs"] == 50
    reason = body["tasks"][0]["reasons"][0]
    assert set(reason["citation"]) == {"doc_id", "title", "quote"}


def test_api_refuses_an_impossible_profile_naming_the_field(client: TestClient) -> None:
    response = client.post("/api/recommend", json={"employees": 2, "it_staff": 5})
    assert response.status_code == 422
    assert [err["loc"][-1] for err in response.json()["detail"]] == ["it_staff"]
    response = client.post("/api/recommend", json={"pcs": 10, "colour": "blue"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "colour"


def test_api_without_loaded_rules_answers_503() -> None:
    app = FastAPI()
    app.include_router(router)
    response = TestClient(app).post("/api/recommend", json={})
    assert response.status_code == 503


# --- CLI -------------------------------------------------------------------------------


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Keep `recommend` a subcommand, as in the real `advisor` app."""

    app.command("recommend")(recommend_command)
    return app


PATHS = ["--rules-path", str(RULES_FILE), "--knowledge-dir", str(KNOWLEDGE)]
REFERENCE_ARGS = ["--pcs", "50", "--employees", "60", "--it-staff", "0", "--key-user"]


def test_cli_prints_the_table(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["recommend", *REFERENCE_ARGS, *PATHS], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for _, display in MATRIX.values():
        assert display in result.stdout
    assert "[whitepaper-it-im-mittelstand]" in result.stdout
    assert "70.000–100.000 Euro pro Jahr" in result.stdout
    assert "Maschinen steuern" in result.stdout  # an open question


def test_cli_prints_json(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["recommend", *REFERENCE_ARGS, "--json", *PATHS])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert {t["task"]: t["label"] for t in body["tasks"]} == {t: m[0] for t, m in MATRIX.items()}
    assert body["profile"]["key_user"] is True
    assert body["profile"]["regulated"] is None  # not given: unknown, not "no"


def test_cli_refuses_an_impossible_profile_with_exit_code_2(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["recommend", "--pcs", "-3", *PATHS])
    assert result.exit_code == 2
    assert "pcs" in result.stderr
    assert result.stdout == ""
    result = CliRunner().invoke(cli, ["recommend", "--employees", "2", "--it-staff", "4", *PATHS])
    assert result.exit_code == 2
    assert "it_staff" in result.stderr


def test_cli_reports_broken_rules(cli: typer.Typer, tmp_path: Path) -> None:
    broken = _write_rules(tmp_path, lambda d: _rule(d, "key_user_on_site").update(quote="erfunden"))
    args = ["recommend", "--rules-path", str(broken), "--knowledge-dir", str(KNOWLEDGE)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "key_user_on_site" in result.stderr
