"""The sentence table: every sentence of the five documents, with its role and an English
rendering that states the same numbers; a table that drifts from its document is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from ingest.load import load_folder
from ingest.sentences import document_sentences, split_text
from server.numbers import numbers_in
from server.sentence_table import ANSWERING_ROLES, SentenceTable, SentenceTableError

pytestmark = pytest.mark.unit

KNOWLEDGE = Path(__file__).resolve().parents[1] / "knowledge"


def test_every_sentence_of_every_document_is_in_the_table() -> None:
    table = SentenceTable.load(KNOWLEDGE)
    documents = load_folder(KNOWLEDGE).documents
    assert len(table.sentences) == sum(len(document_sentences(d)) for d in documents)
    assert {s.doc_id for s in table.sentences} == {d.doc_id for d in documents}
    for sentence in table.sentences:
        assert sentence.en.strip() and sentence.en != "TODO", sentence.id
        assert numbers_in(sentence.de) == numbers_in(sentence.en), sentence.id
    assert sum(s.role in ANSWERING_ROLES for s in table.sentences) > 450


def test_a_table_that_drifts_from_its_document_is_refused(tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, knowledge)
    path = knowledge / "sentences" / "it-outsourcing-glossar.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["sentences"][3]["en"] = data["sentences"][3]["en"] + " It costs 99 euros."
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(SentenceTableError, match="other numbers"):
        SentenceTable.load(knowledge)
    data["sentences"].pop(0)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(SentenceTableError, match="differ from the document"):
        SentenceTable.load(knowledge)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ein Satz. Noch einer.", ["Ein Satz.", "Noch einer."]),
        ("Etwa z. B. Drucker. Danach 2. Schritt.", ["Etwa z. B. Drucker.", "Danach 2. Schritt."]),
        ("Über 80.000 Euro. Das ist viel.", ["Über 80.000 Euro.", "Das ist viel."]),
        ("2. Intern vs. extern: Welche Aufgaben?", ["2. Intern vs. extern: Welche Aufgaben?"]),
    ],
)
def test_sentences_split_at_ends_not_at_abbreviations_or_numbers(
    text: str, expected: list[str]
) -> None:
    assert split_text(text) == expected
