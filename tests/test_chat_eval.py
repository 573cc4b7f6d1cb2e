"""Chat quality on the eval sets, through the same code path as /api/chat."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.evaluation import describe_profile, evaluate_chat, load_eval_set, run_chat_eval

DATA = Path(__file__).resolve().parent / "data"
DEV = DATA / "dev.yaml"


@pytest.mark.unit
def test_profile_described_in_words() -> None:
    text = describe_profile({"pcs": 50, "employees": 60, "it_staff": 0, "key_user": True})
    assert text == (
        "Wir haben 50 PCs, 60 Mitarbeiter, keine eigene IT, einen Key-User. "
        "Was sollten wir auslagern?"
    )


def _ask(client: Any) -> Any:
    from server.chat import answer

    bot = client.app.state.chatbot
    return lambda message, session: answer(bot, message, session)


@pytest.mark.integration
def test_chat_metrics_on_dev_set(client: Any) -> None:
    report = evaluate_chat(load_eval_set(DEV), _ask(client))
    metrics = report.metrics()
    m = metrics["single_turn"]
    failures = [(r.q, r.observed) for r in report.failures()]
    assert m["citation_cases"] == 30
    assert m["citation_hit"] >= 0.90, failures
    assert m["outcome"]["decline"]["cases"] == 4
    assert m["outcome"]["decline"]["accuracy"] == 1.0, failures
    assert metrics["recommend"]["match"] == 1.0


@pytest.mark.integration
def test_cli_eval_path_matches(settings: Any) -> None:
    from server.index_config import index_config
    from server.retrieval import HybridRetriever, PassageIndex

    retriever = HybridRetriever(PassageIndex(index_config(settings)))
    m = run_chat_eval(load_eval_set(DEV), settings, retriever).metrics()["single_turn"]
    assert m["citation_hit"] >= 0.90
    assert m["outcome"]["decline"]["accuracy"] == 1.0
