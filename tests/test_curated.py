"""Curated answers as data: the loader refuses what is not grounded, naming the entry; a live
reload disables a bad entry and keeps the last good set serving; the shipped entries load and
cover the documents."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from ingest.lexical import Lexicon
from server.curated import CuratedError, load_answers
from server.curated_match import CuratedStore

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
KNOWLEDGE = ROOT / "knowledge"
QUOTE = (
    "Eine Studie von KPMG beziffert den durchschnittlichen Schaden durch ungeplante "
    "IT-Ausfälle im Mittelstand auf über 80.000 Euro pro Vorfall."
)


def _entry(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": "ausfall",
        "questions": ["Was kostet ein Ausfall?", "wie teuer is son ausfall", "outage cost?"],
        "lead": {
            "de": "Im Schnitt über 80.000 Euro pro Vorfall. [1]",
            "en": "On average over 80,000 euros per incident. [1]",
        },
        "quotes": [{"doc": "it-outsourcing-mittelstand", "text": QUOTE}],
    }
    entry.update(changes)
    return entry


def _write(folder: Path, *entries: dict[str, Any], name: str = "a.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump({"answers": list(entries)}, allow_unicode=True), "utf-8")
    return path


def _problems(folder: Path) -> str:
    with pytest.raises(CuratedError) as info:
        load_answers(folder, KNOWLEDGE)
    return str(info.value)


def test_a_good_entry_loads(tmp_path: Path) -> None:
    _write(tmp_path, _entry())
    answers = load_answers(tmp_path, KNOWLEDGE)
    assert [e.id for e in answers.entries] == ["ausfall"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {
                "quotes": [
                    {"doc": "it-outsourcing-mittelstand", "text": "Eine Studie sagt 90.000 Euro"}
                ]
            },
            "not verbatim",
        ),
        ({"quotes": [{"doc": "no-such-doc", "text": QUOTE}]}, "unknown document"),
        (
            {"lead": {"de": "Im Schnitt über 90.000 Euro. [1]", "en": "Over 80,000 euros. [1]"}},
            "states 90000",
        ),
        (
            {"lead": {"de": "Über 80.000 Euro. [1]", "en": "About 75 percent of firms. [1]"}},
            "states 75",
        ),
        (
            {"lead": {"de": "Über 80.000 Euro, bei zwölf Vorfällen. [1]", "en": "x. [1]"}},
            "states 12",
        ),
        ({"lead": {"de": "Über 80.000 Euro.", "en": "Over 80,000 euros. [1]"}}, "cites no quote"),
        (
            {"lead": {"de": "Über 80.000 Euro. [2]", "en": "Over 80,000 euros. [1]"}},
            "which is no quote",
        ),
        ({"id": "Bad Id!"}, "id"),
    ],
)
def test_the_loader_refuses_and_names_the_entry(
    tmp_path: Path, changes: dict[str, Any], expected: str
) -> None:
    _write(tmp_path, _entry(**changes))
    message = _problems(tmp_path)
    assert expected in message
    assert "a.yaml" in message


def _gap(**changes: Any) -> dict[str, Any]:
    gap: dict[str, Any] = {
        "id": "ausfall-pro-stunde",
        "kind": "gap",
        "lead": {
            "de": "Kosten pro Stunde Stillstand nennen die Unterlagen nicht.",
            "en": "The documents give no cost per hour of downtime.",
        },
        "more": [
            {
                "de": "Sie nennen über 80.000 Euro pro Vorfall. [1]",
                "en": "They give over 80,000 euros per incident. [1]",
            }
        ],
    }
    return _entry(**{**gap, **changes})


def test_a_gap_says_what_is_missing_without_a_quote_and_cites_the_rest(tmp_path: Path) -> None:
    _write(tmp_path, _gap())
    assert [e.kind for e in load_answers(tmp_path, KNOWLEDGE).entries] == ["gap"]
    # what it says nearest rests on a quote like any answer; its lead states no figure either
    uncited = {"de": "Sie nennen über 80.000 Euro pro Vorfall.", "en": "They give a figure. [1]"}
    _write(tmp_path, _gap(more=[uncited]))
    assert "cites no quote" in _problems(tmp_path)
    guessed = {"de": "Meist rund 5.000 Euro pro Stunde.", "en": "Mostly about 5,000 an hour."}
    _write(tmp_path, _gap(lead=guessed))
    assert "states 5000" in _problems(tmp_path)


def test_duplicate_ids_and_broken_yaml_are_refused(tmp_path: Path) -> None:
    _write(tmp_path, _entry(), name="a.yaml")
    _write(tmp_path, _entry(), name="b.yaml")
    assert "duplicate id" in _problems(tmp_path)
    shutil.rmtree(tmp_path)
    tmp_path.mkdir()
    (tmp_path / "c.yaml").write_text("answers: [", encoding="utf-8")
    assert "c.yaml" in _problems(tmp_path)


def _store(folder: Path, tmp_path: Path) -> CuratedStore:
    def embed(texts: Any) -> np.ndarray:
        # a deterministic stand-in: the learned and lexical rankings do the matching here
        return np.array([[float(len(t) % 7), 1.0] for t in texts], dtype=np.float32)

    return CuratedStore(
        folder,
        KNOWLEDGE,
        Lexicon.load(KNOWLEDGE / "lexicon.yaml"),
        embed,
        lambda text: embed([text])[0],
        tmp_path / "cache",
        "test",
        [],
    )


def test_live_reload_disables_a_bad_entry_and_keeps_the_last_good_one(tmp_path: Path) -> None:
    folder = tmp_path / "answers"
    second = _entry(id="ausfall-zwei", questions=["Was kostet Stillstand?", "a b c", "d e f"])
    path = _write(folder, _entry(), second)
    store = _store(folder, tmp_path)
    assert {e.id for e in store.entries} == {"ausfall", "ausfall-zwei"}
    # an edit that breaks one entry, and a new bad entry
    broken = _entry(lead={"de": "Etwa 95.000 Euro. [1]", "en": "About 95,000 euros. [1]"})
    new_bad = _entry(id="neu", quotes=[{"doc": "it-outsourcing-mittelstand", "text": "erfunden x"}])
    path.write_text(
        yaml.safe_dump({"answers": [broken, second, new_bad]}, allow_unicode=True), "utf-8"
    )
    assert store.refresh(force=True)
    assert set(store.refused) == {"ausfall", "neu"}
    served = {e.id: e for e in store.entries}
    assert set(served) == {"ausfall", "ausfall-zwei"}, "the bad new entry is disabled"
    assert "80.000" in served["ausfall"].lead.de, "the last good version keeps serving"


def test_a_bad_entry_stops_the_start(tmp_path: Path) -> None:
    folder = tmp_path / "answers"
    _write(folder, _entry(quotes=[{"doc": "it-outsourcing-mittelstand", "text": "erfunden xy"}]))
    with pytest.raises(CuratedError):
        _store(folder, tmp_path)


def test_the_shipped_entries_load_and_every_sentence_is_covered() -> None:
    from server.evaluation.guards import coverage

    answers = load_answers(KNOWLEDGE / "answers", KNOWLEDGE)
    assert len([e for e in answers.entries if e.kind == "answer"]) >= 150
    assert {e.topic for e in answers.entries if e.kind == "policy"} >= {
        "provider",
        "legal",
        "guarantee",
        "about",
        "contact",
    }
    assert len([e for e in answers.entries if e.kind == "gap"]) >= 30
    quotes = [(e.id, q.doc, q.text) for e in answers.entries for q in e.quotes]
    rows = coverage(KNOWLEDGE / "sentences", quotes)
    assert len(rows) > 500
    missing = [r.id for r in rows if not r.covered]
    assert missing == [], f"sentences neither quoted nor marked not answerable: {missing}"


def test_a_sibling_entry_joins_only_when_both_rankings_put_it_next() -> None:
    from server.answers.curated import _sibling
    from server.curated_match import CuratedMatch

    answers = load_answers(KNOWLEDGE / "answers", KNOWLEDGE)
    contract, sla, prices, billing = (
        answers.by_id(i)
        for i in ("w4-vertrag-sla", "w3-sla", "w3-preismodelle", "w4-abrechnungsmodelle")
    )
    gap = next(e for e in answers.entries if e.kind == "gap")
    assert contract and sla and prices and billing

    def match(entry: Any, p: float, lexical_rank: int | None, dense_rank: int | None) -> Any:
        return CuratedMatch(
            entry=entry,
            lexical=1.0,
            dense=0.8,
            probability=p,
            fused=0.5,
            lexical_rank=lexical_rank,
            dense_rank=dense_rank,
        )

    first = match(contract, 0.15, 0, 0)
    # what a contract and SLAs should cover, and what an SLA regulates: the same question
    assert _sibling(first, [first, match(sla, 0.05, 2, 1)]) is sla
    # not one rank further down in either ranking, nor unranked, nor ruled out by the
    # learned ranking
    assert _sibling(first, [first, match(sla, 0.05, 3, 1)]) is None
    assert _sibling(first, [first, match(sla, 0.05, 2, 2)]) is None
    assert _sibling(first, [first, match(sla, 0.05, None, 0)]) is None
    assert _sibling(first, [first, match(sla, 0.01, 0, 0)]) is None
    # a gap never joins an answer, and a gap first takes no sibling
    assert _sibling(first, [first, match(gap, 0.3, 0, 0)]) is None
    gap_first = match(gap, 0.5, 0, 0)
    assert _sibling(gap_first, [gap_first, match(sla, 0.3, 0, 0)]) is None
    # a lead resting only on quotes the first entry already has would say it again
    priced = match(prices, 0.48, 0, 0)
    assert _sibling(priced, [priced, match(billing, 0.3, 0, 0)]) is None


def test_a_sentence_repeating_an_earlier_one_is_dropped_only_when_its_citations_stay() -> None:
    from server.answers.curated import _without_repeats

    lead = "Rollen, MFA, Logging und Berechtigungen müssen sauber geregelt sein. [2]"
    again = "Auch Rollen, MFA, Logging und Berechtigungen müssen sauber geregelt sein. [2]"
    other = "Verschwiegenheitserklärungen und AVV sollten geprüft werden. [1]"
    assert _without_repeats([other, lead, again]) == [other, lead]
    # the same words resting on a citation nothing else carries stay: no orphan citation
    assert _without_repeats([lead, "Rollen, MFA, Logging und Berechtigungen. [3]"]) == [
        lead,
        "Rollen, MFA, Logging und Berechtigungen. [3]",
    ]
    # different content stays
    assert _without_repeats([lead, other]) == [lead, other]
