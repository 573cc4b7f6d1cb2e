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
    entries = {e.id for e in load_answers(KNOWLEDGE / "answers", KNOWLEDGE).entries}
    return load_rates(KNOWLEDGE / "rates.yaml", documents, entries)


def _rate(**changes: Any) -> dict[str, Any]:
    rate: dict[str, Any] = yaml.safe_load((KNOWLEDGE / "rates.yaml").read_text())["rates"][0]
    rate.update(changes)
    return rate


def _load(tmp_path: Path, documents: list[Any], *rates: dict[str, Any]) -> Rates:
    path = tmp_path / "rates.yaml"
    path.write_text(yaml.safe_dump({"rates": list(rates)}, allow_unicode=True))
    return load_rates(path, documents, {"w3-ausfall-kosten"})


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
@pytest.mark.parametrize(
    ("message", "rate", "count", "low", "high"),
    [
        (
            "Wir hatten letztes Jahr 3 größere Ausfälle. Wenn man euren Durchschnittswert pro "
            "Ausfall nimmt, was wär das zusammen ungefähr?",
            "ausfall-schaden", 3, 240000, None,
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
    ],
)
def test_no_count_no_computation(shipped: Rates, message: str) -> None:
    assert shipped.scaled(message) == []


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
