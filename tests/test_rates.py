"""Document figures scaled by the visitor's own number: the data file is checked against the
documents (naming the rate), a count is read only where the message counts what the figure
is per and asks how much, and the chat shows the computation with the figure's source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ingest.load import load_folder
from server.curated import load_answers
from server.rates import Rates, RatesError, load_rates

ROOT = Path(__file__).resolve().parents[1]
KNOWLEDGE = ROOT / "knowledge"


@pytest.fixture(scope="module")
def documents() -> list[Any]:
    return load_folder(KNOWLEDGE).documents


@pytest.fixture(scope="module")
def shipped(documents: list[Any]) -> Rates:
    answers = load_answers(KNOWLEDGE / "answers", KNOWLEDGE).entries
    entries = {e.id: {q.text for q in e.quotes} for e in answers}
    return load_rates(KNOWLEDGE / "rates.yaml", documents, entries)


def _rate(**changes: Any) -> dict[str, Any]:
    rate: dict[str, Any] = yaml.safe_load((KNOWLEDGE / "rates.yaml").read_text())["rates"][0]
    rate.update(changes)
    return rate


def _load(tmp_path: Path, documents: list[Any], *rates: dict[str, Any]) -> Rates:
    path = tmp_path / "rates.yaml"
    path.write_text(yaml.safe_dump({"rates": list(rates)}, allow_unicode=True))
    return load_rates(path, documents, {"w3-ausfall-kosten": {_rate()["quote"]}, "other": set()})


@pytest.mark.unit
def test_the_shipped_rates_load(shipped: Rates) -> None:
    assert {r.id for r in shipped.rates} >= {
        "ausfall-schaden",
        "patching-stunden",
        "senior-techniker-gehalt",
        "weiterbildung-anteil",
        "ausfall-monatsbeitraege",
    }


@pytest.mark.unit
@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"quote": "Ein Ausfall kostet über 80.000 Euro pro Vorfall."}, "not verbatim"),
        ({"low": 90000}, "low 90000 is no figure the quote states"),
        ({"high": 120000}, "high 120000 is no figure the quote states"),
        ({"entry": "gibt-es-nicht"}, "unknown curated answer"),
        ({"counted": "ausf(all"}, "no regular expression"),
        ({"per": None}, "a product needs `unit` and `per`"),
        ({"doc": "unbekannt"}, "unknown document"),
        # "über 80.000" must not be stated as exactly 80.000
        ({"bound": None}, "bound None is not what the quote states"),
        ({"entry": "other"}, "does not quote the rate's sentence"),
        # an inline flag compiles alone but not inside the count pattern
        ({"counted": "(?i)ausfall"}, "no regular expression"),
        ({"kind": None}, "kind:"),
    ],
)
def test_the_loader_refuses_and_names_the_rate(
    tmp_path: Path, documents: list[Any], changes: dict[str, Any], problem: str
) -> None:
    with pytest.raises(RatesError) as raised:
        _load(tmp_path, documents, _rate(**changes))
    assert problem in str(raised.value)
    assert "ausfall-schaden" in str(raised.value)


@pytest.mark.unit
def test_a_duplicate_rate_id_is_refused(tmp_path: Path, documents: list[Any]) -> None:
    with pytest.raises(RatesError, match="duplicate id"):
        _load(tmp_path, documents, _rate(), _rate())


@pytest.mark.unit
@pytest.mark.parametrize(
    ("message", "rate", "count", "low", "high"),
    [
        (
            "Wir hatten letztes Jahr 3 größere Ausfälle. Wenn man euren Durchschnittswert pro "
            "Ausfall nimmt, was wär das zusammen ungefähr?",
            "ausfall-schaden", 3, 240000, None,
        ),
        (
            "wir hatten letztes jahr 2 größere ausfälle. was hätte uns das laut studie im schnitt "
            "gekostet?",
            "ausfall-schaden", 2, 160000, None,
        ),
        (
            "We had two outages last year. Using your average, how much damage is that in total?",
            "ausfall-schaden", 2, 160000, None,
        ),
        (
            "unser admin hängt laut eurer zahl 5-8 std die woche an patches u backups fest. wenn "
            "ich mit 45 arbeitswochen rechne, wieviel stunden im jahr sind das?",
            "patching-stunden", 45, 225, 360,
        ),
        (
            "Wir erwägen, zwei erfahrene Senior-Techniker fest einzustellen. Mit welchen "
            "jährlichen Kosten müssten wir rechnen?",
            "senior-techniker-gehalt", 2, 140000, 200000,
        ),
        (
            "Unser Admin hat ne 40-Stunden-Woche. Wieviel davon müsste er für Weiterbildung "
            "einplanen?",
            "weiterbildung-anteil", 40, 20, None,
        ),
        (
            # a total the visitor proposes is checked, not taken for a figure of their own
            "Wenn ein IT-Ausfall laut Ihren Zahlen über 80.000 € kostet und wir im Jahr zwei "
            "solche Vorfälle haben – reden wir dann von über 160.000 €?",
            "ausfall-schaden", 2, 160000, None,
        ),
        (
            "If a single outage costs about 80,000 euros, how many months of a "
            "2,000-euro-per-month MSP contract is that?",
            "ausfall-monatsbeitraege", 2000, 40, None,
        ),
        (
            "ein ausfall kostet die genannten 80.000 € und managed service wär 2.500 € im "
            "monat. wieviele monate service wären das?",
            "ausfall-monatsbeitraege", 2500, 32, None,
        ),
    ],
)  # fmt: skip
def test_a_count_of_what_the_figure_is_per_scales_it(
    shipped: Rates, message: str, rate: str, count: float, low: float, high: float | None
) -> None:
    found = shipped.scaled(message)
    assert [(s.rate.id, s.count, s.low, s.high) for s in found] == [(rate, count, low, high)]


@pytest.mark.unit
@pytest.mark.parametrize(
    "message",
    [
        # no question how much: the count is context
        "Wir hatten 3 Ausfälle letztes Jahr. Sollten wir auslagern?",
        # the figure quoted back is no count ("8 Std. die Woche" is not eight weeks)
        "Stimmt es, dass Admins 5-8 Std die Woche mit Patches und Backups verbringen, wie viel "
        "ist das?",
        # weeks, but not about patching
        "Wir haben 45 Arbeitswochen im Jahr, wie viel Urlaub ist üblich?",
        # admins, but no senior technician's salary asked about
        "Wir haben 3 Admins, was kostet das Backup extern?",
        # a number that counts something else
        "Was kostet ein Ausfall für 40 Mitarbeiter?",
        # one is the figure itself
        "How much would hiring one senior technician cost a year?",
        # another question with a count in it: legal, a helpdesk price, advice
        "Wir hatten 3 Ausfälle bei AWS, wie viel Schadenersatz können wir einklagen?",
        "Wir haben 12 Vorfälle im Ticketsystem, wie viel kostet der Helpdesk extern?",
        "3 Ausfälle im Jahr. Lohnt sich Outsourcing, um Kosten zu sparen?",
        "Was kostet Outsourcing im Vergleich zu unseren 2 erfahrenen Admins?",
        # a year, a duration, a share, a range, a frequency are no counts
        "Wir hatten 2024 mehrere Ausfälle, was kostet das zusammen?",
        "Wie viel kosten 3 Tage Ausfall zusammen?",
        "Bei 10 Prozent mehr Ausfällen, was wär das zusammen?",
        "Wir hatten 2-3 Ausfälle, was wär das zusammen?",
        "Wir hatten zwei bis drei Ausfälle, was wär das zusammen?",
        "Bei 2 Ausfällen pro Monat, was kostet das im Jahr zusammen?",
        # the visitor's own figure replaces the document's
        "Unser Admin verbringt 3 Stunden pro Woche mit Patching, bei 46 Wochen, wieviel "
        "Stunden sind das?",
        "Ein Ausfall kostet uns 20.000 €, wir hatten 3 Ausfälle, was wär das zusammen?",
        # IT staff who are not senior technicians
        "Wir haben 3 IT-Mitarbeiter, was kosten die zusammen im Jahr?",
        # hours of training are not a working week
        "Unser Admin macht 5 Stunden Weiterbildung pro Woche, wieviel davon ist das?",
        # a number too large to count anything
        "Wir hatten " + "9" * 40 + " Ausfälle, was wär das zusammen?",
    ],
)
def test_no_count_no_computation(shipped: Rates, message: str) -> None:
    assert shipped.scaled(message) == []


@pytest.mark.unit
def test_a_count_after_a_period_and_the_ratio_rounds_towards_its_bound(shipped: Rates) -> None:
    # "in 12 Monaten 3 Ausfälle": the months are no count, the outages are
    found = shipped.scaled("Wir hatten in 12 Monaten 3 Ausfälle, was kostet das insgesamt?")
    assert [(s.rate.id, s.count) for s in found] == [("ausfall-schaden", 3)]
    # über 80.000 ÷ 2.100 = 38,09…: "über 38,0", never "über 38,1"
    ratio = shipped.scaled("Ausfall vs. 2.100 € im Monat Servicegebühr, wie viele Monate sind das?")
    assert [(s.rate.id, s.low) for s in ratio] == [("ausfall-monatsbeitraege", 38.0)]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("message", "shown", "quoted"),
    [
        (
            "Wir hatten letztes Jahr 3 größere Ausfälle. Was wär das mit eurem Durchschnittswert "
            "zusammen?",
            "3 × über 80.000 Euro pro Vorfall = über 240.000 Euro",
            "80.000 Euro pro Vorfall",
        ),
        (
            "Our admin works a 40-hour week. How much of it should go to training to stay up to "
            "date?",
            "at least 50 % of 40 hours = at least 20 hours",
            "mindestens 50 % ihrer Arbeitszeit",
        ),
    ],
)
def test_the_chat_shows_the_computation_with_the_figures_source(
    client: Any, message: str, shown: str, quoted: str
) -> None:
    response = client.post("/api/chat", json={"message": message})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"].startswith(("Mit Ihrer Zahl gerechnet: ", "With your figure: "))
    first = body["answer"].split(". [")[0]
    assert shown in first
    marker = int(body["answer"].split(". [", 1)[1].split("]", 1)[0])
    cited = {c["n"]: c["text"] for c in body["citations"]}
    assert quoted in cited[marker]
