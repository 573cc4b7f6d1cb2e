"""Evaluation: what the visitor reads (facts in the lead, four outcomes, conversations),
and retrieval quality, over eval YAML files, through the same code path as ``/api/chat``."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from server.evaluation.run import (
    Asker,
    CaseRecord,
    ChatReport,
    RetrievalReport,
    describe_profile,
    evaluate_chat,
    evaluate_retrieval,
    first_hit,
    observed_outcome,
)
from server.evaluation.schema import (
    OUTCOMES,
    Case,
    Conversation,
    EvalFileError,
    EvalSet,
    RecommendCase,
    RetrievalCase,
    Turn,
    load_eval_set,
)
from server.retrieval import HybridRetriever

__all__ = [
    "OUTCOMES",
    "Asker",
    "Case",
    "CaseRecord",
    "ChatReport",
    "Conversation",
    "EvalFileError",
    "EvalSet",
    "RecommendCase",
    "RetrievalCase",
    "RetrievalReport",
    "Turn",
    "describe_profile",
    "evaluate_chat",
    "evaluate_retrieval",
    "first_hit",
    "load_eval_set",
    "observed_outcome",
    "run_chat_eval",
]


def run_chat_eval(eval_set: EvalSet, settings: Any, retriever: HybridRetriever) -> ChatReport:
    """Open the chat as the app does (rules, prompts, a throw-away session store) and evaluate."""
    from server.chat import open_chatbot
    from server.serving import limit_compute_threads

    limit_compute_threads(settings, model=False)  # as the app does, for the BLAS
    with tempfile.TemporaryDirectory(prefix="advisor-eval-") as tmp:
        bot = open_chatbot(settings, retriever, sessions_path=Path(tmp) / "sessions.sqlite3")
        try:
            from server.chat import answer

            return evaluate_chat(
                eval_set, lambda message, session: answer(bot, message, session, trace=True)
            )
        finally:
            bot.sessions.close()
