"""The contract every kind of answer shares: what it reads (:class:`AnswerContext`) and what it
gives back (:class:`Draft`).

A module's ``answer(ctx) -> Draft | None`` builds the text piece by piece (Markdown with
``[n]`` markers registered in ``ctx.registry``); ``None`` means "not mine to answer", and the
dispatcher moves on to the next choice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from server.compose import CitationRegistry
from server.prompts import AnswerTemplates
from server.retrieval import Passage
from server.router import Route
from server.scoring import Recommendation
from server.sessions import SessionState
from server.understand import Understanding

if TYPE_CHECKING:
    from server.chat import Chatbot

__all__ = ["AnswerContext", "Draft", "Outcome"]

Outcome = Literal["answer", "uncovered", "policy", "decline", "clarify", "smalltalk"]
Language = Literal["de", "en"]


@dataclass
class AnswerContext:
    """Everything an answer module may read about the message and the conversation."""

    bot: Chatbot
    message: str
    language: Language
    templates: AnswerTemplates
    understanding: Understanding
    route: Route
    vector: np.ndarray
    state: SessionState
    registry: CitationRegistry = field(default_factory=CitationRegistry)
    # The recent conversation turns are read from the session, not from this message.
    previous: dict[str, Any] = field(default_factory=dict)
    # the question's subject words an answer that was tried did not name (its module refused)
    subject_missing: list[str] = field(default_factory=list)
    _passages: list[Passage] | None = None
    # the curated matcher's ranking for this message, once (``curated.best_match``)
    curated_matches: list[Any] | None = None

    @property
    def english(self) -> bool:
        return self.language == "en"

    def passages(self, k: int = 5) -> list[Passage]:
        """The retrieved passages for this message (retrieved once, with the shared vector)."""
        if self._passages is None or len(self._passages) < k:
            self._passages = self.bot.retriever.retrieve(self.message, max(k, 5), self.vector)
        return self._passages[:k]


@dataclass
class Draft:
    """One answer: its text pieces, what kind it is, and what the conversation remembers."""

    module: str
    outcome: Outcome
    pieces: Iterable[str]
    follow_up: list[str] = field(default_factory=list)
    recommendation: Recommendation | None = None
    asked: list[str] = field(default_factory=list)
    # What the next turn may refer back to ("warum?", "und das Backup?").
    context: dict[str, Any] = field(default_factory=dict)
    # Why this answer, for the playground and the eval: scores, matched entry, …
    trace: dict[str, Any] = field(default_factory=dict)
    # Passages the LLM mode may phrase from (beside the cited ones).
    candidates: list[Passage] = field(default_factory=list)
