"""Sentence retrieval: the sentences of the sentence table that can answer, ranked for a
question by the same hybrid method as passages (German BM25 + dense, reciprocal-rank fused),
with the passages retrieved for the question as context.

Only sentences whose role can answer on their own are candidates (claims, figures,
definitions, list items, example outcomes). Dense scores take the better of the German
sentence and its English rendering, so an English question meets the English text. The
sentence embeddings are cached by content hash like the curated phrasings.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ingest.clean import fold
from ingest.lexical import LexicalIndex, Lexicon, stems_of
from server.cache import cached_array
from server.sentence_table import Sentence, SentenceTable

__all__ = ["ScoredSentence", "SentenceIndex"]

RRF_K = 5
_QUOTED = re.compile(r"[\"'„“”‚‘’«»]([^\"'„“”‚‘’«»]{3,120})[\"'„“”‚‘’«»]")
LEXICAL_WEIGHT = 1.0
DENSE_WEIGHT = 0.6
PASSAGE_WEIGHT = 0.8  # a sentence of a passage the passage retrieval ranks high
EmbedDocuments = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class ScoredSentence:
    sentence: Sentence
    lexical: float
    dense: float
    fused: float
    passage_rank: int | None
    phrase: bool = False  # holds a phrase the question quotes


class SentenceIndex:
    def __init__(
        self,
        table: SentenceTable,
        lexicon: Lexicon,
        embed: EmbedDocuments,
        cache_dir: Path,
        model_name: str,
        vocabulary_texts: list[str],
    ) -> None:
        self.sentences = [s for s in table.sentences if s.answers]
        # every word the documents use, as stems: what a question may ask about by name
        self.stems = stems_of(s.de for s in table.sentences)
        self.lexicon = lexicon
        texts = [f"{s.heading}\n{s.de}" for s in self.sentences]
        self._lexical = LexicalIndex.from_texts(
            texts, [s.id for s in self.sentences], lexicon, vocabulary_texts=vocabulary_texts
        )
        self._de = self._vectors([s.de for s in self.sentences], embed, cache_dir, model_name)
        self._en = self._vectors([s.en for s in self.sentences], embed, cache_dir, model_name)
        self._folded = [fold(s.de).casefold() for s in self.sentences]

    @staticmethod
    def _vectors(
        texts: list[str], embed: EmbedDocuments, cache_dir: Path, model_name: str
    ) -> np.ndarray:
        digest = hashlib.sha256("\x00".join([model_name, *texts]).encode()).hexdigest()[:16]
        return cached_array(cache_dir / f"sentences-{digest}.npy", len(texts), lambda: embed(texts))

    def rank(
        self, question: str, vector: np.ndarray, passages: Sequence[str] = (), k: int = 10
    ) -> list[ScoredSentence]:
        """The ``k`` best sentences; ``passages`` are the texts of the retrieved passages in
        rank order, whose sentences get a share of the passage's rank."""
        lexical, _ = self._lexical.scores(question)
        q = vector.astype(np.float32)
        dense = np.maximum(self._de @ q, self._en @ q)
        lex_rank = {
            int(i): r for r, i in enumerate(np.argsort(-lexical, kind="stable")) if lexical[i] > 0
        }
        dense_rank = {int(i): r for r, i in enumerate(np.argsort(-dense, kind="stable"))}
        folded_passages = [fold(p).casefold() for p in passages]
        # a quoted phrase ("Einer ist keiner") found verbatim outranks everything else
        phrases = [fold(p).casefold() for p in _QUOTED.findall(question) if len(p.split()) >= 2]
        scored: list[ScoredSentence] = []
        for i, sentence in enumerate(self.sentences):
            fused = DENSE_WEIGHT / (RRF_K + dense_rank[i] + 1)
            if i in lex_rank:
                fused += LEXICAL_WEIGHT / (RRF_K + lex_rank[i] + 1)
            passage_rank = next(
                (r for r, text in enumerate(folded_passages) if self._folded[i] in text), None
            )
            if passage_rank is not None:
                fused += PASSAGE_WEIGHT / (RRF_K + passage_rank + 1)
            quoted = any(phrase in self._folded[i] for phrase in phrases)
            if quoted:
                fused += 1.0
            scored.append(
                ScoredSentence(
                    sentence, float(lexical[i]), float(dense[i]), fused, passage_rank, quoted
                )
            )
        scored.sort(key=lambda s: (-s.fused, s.sentence.id))
        return scored[:k]
