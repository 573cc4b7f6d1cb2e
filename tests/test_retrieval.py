"""Hybrid retrieval over the real index: German morphology, synonyms, English, eval metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.lexical import Analyzer, Lexicon, stem
from server.evaluation import EvalSet, RetrievalCase, evaluate_retrieval, first_hit, load_eval_set
from server.index_config import index_config
from server.retrieval import HybridRetriever, PassageIndex

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.unit
def test_german_analysis() -> None:
    analyzer = Analyzer(["daten", "sicherung", "server", "backup", "strategie"], Lexicon())
    assert stem("Prüfung") == stem("Pruefung")
    assert analyzer.split_compound("Datensicherung") == ["daten", "sicherung"]
    assert analyzer.split_compound("Unternehmen") == [], "prefixes are not nouns"
    terms = analyzer.query_terms("Backup-Strategie?")
    assert {stem("backupstrategie"), stem("backup"), stem("strategie")} <= set(terms)
    assert "~" + stem("betreuen")[:6] in {t for t, _ in analyzer._word_terms("betreuten")}


@pytest.mark.unit
def test_eval_metrics_on_a_tiny_hand_made_set() -> None:
    class FakeRetriever:
        def retrieve(self, q: str, k: int) -> list:  # type: ignore[type-arg]
            from server.retrieval import Passage, Scores

            texts = {"a": ["x", "y", "Die Antwort"], "b": ["Die Antwort"], "c": ["nichts"]}[q]
            return [
                Passage(
                    id=t,
                    doc_id="d",
                    title="t",
                    heading="h",
                    text=t,
                    scores=Scores(dense=0, lexical=0, fused=0),
                )
                for t in texts
            ]

    cases = EvalSet(retrieval=[RetrievalCase(q=q, contains=["die   ANTWORT"]) for q in "abc"])
    report = evaluate_retrieval(cases, FakeRetriever(), k=5)  # type: ignore[arg-type]
    assert [c.rank for c in report.cases] == [2, 0, None]
    metrics = report.metrics()
    assert metrics["hit@1"] == pytest.approx(1 / 3, abs=1e-3)
    assert metrics["hit@3"] == pytest.approx(2 / 3, abs=1e-3)
    assert metrics["mrr"] == pytest.approx((1 / 3 + 1) / 3, abs=1e-3)
    assert first_hit(["a **bold** b"], ["bold b"]) == 0, "Markdown emphasis does not hide a match"


@pytest.fixture(scope="module")
def retriever(indexed_dir: Path) -> HybridRetriever:
    from server.settings import Settings

    return HybridRetriever(PassageIndex(index_config(Settings(data_dir=indexed_dir))))


@pytest.mark.integration
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Wie oft sollte man die Datensicherungen testen?", "Wiederherstellungstests"),
        ("Brauchen wir einen Helpdesk?", "Endnutzer-Support"),
        ("Was passiert wenn der Administrator kuendigt?", "einziger IT-Administrator"),
        ("Should the IT strategy stay in-house?", "Strategische Verantwortung liegt intern"),
        ("Wie viel kostet ein MSP pro Arbeitsplatz?", "pro Arbeitsplatz"),
    ],
)
def test_german_and_english_queries_find_the_passage(
    retriever: HybridRetriever, query: str, expected: str
) -> None:
    passages = retriever.retrieve(query, 5)
    assert first_hit([p.text for p in passages], [expected]) is not None, [
        p.heading for p in passages
    ]
    top = passages[0]
    assert top.doc_id and top.title and top.text
    assert top.scores.fused > 0 and (top.scores.lexical > 0 or top.scores.dense > 0)


@pytest.mark.integration
def test_dev_set_reaches_the_quality_bar(retriever: HybridRetriever) -> None:
    report = evaluate_retrieval(load_eval_set(ROOT / "tests" / "data" / "dev.yaml"), retriever)
    metrics = report.metrics()
    assert metrics["hit@5"] >= 0.90, metrics
    assert metrics["mrr"] >= 0.75, metrics


# Sets written from the documents by someone who did not see dev.yaml or the retriever:
# `direct` asks like dev.yaml, `paraphrased` avoids the documents' words on purpose. Their
# floors sit just under the measured values (README) and catch a retriever that only fits dev.
@pytest.mark.integration
@pytest.mark.parametrize(
    ("name", "hit5", "mrr"), [("direct.yaml", 0.85, 0.55), ("paraphrased.yaml", 0.6, 0.45)]
)
def test_unseen_sets_stay_above_their_floors(
    retriever: HybridRetriever, name: str, hit5: float, mrr: float
) -> None:
    metrics = evaluate_retrieval(load_eval_set(ROOT / "tests" / "eval" / name), retriever).metrics()
    assert metrics["hit@5"] >= hit5, metrics
    assert metrics["mrr"] >= mrr, metrics


@pytest.mark.integration
def test_langchain_interface(retriever: HybridRetriever) -> None:
    docs = retriever.invoke("Was ist ein Key-User?")
    assert len(docs) == 5
    assert docs[0].metadata["doc_id"] and "scores" in docs[0].metadata
