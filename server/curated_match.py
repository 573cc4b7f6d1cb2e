"""Matching a message to a curated answer: lexical and dense, fused like passage retrieval.

Each entry is one BM25 document (its example phrasings, leads and quotes) under the project's
German analysis; its dense score is the best cosine between the message's embedding (the one
shared with the router and passage retrieval) and the embeddings of its phrasings. The two
rankings are fused by weighted reciprocal rank, as in :mod:`server.retrieval`. Whether the top
entry is served is decided by :meth:`CuratedMatch.accepted`: thresholds tuned for precision on
the tuning set (``docs/curated-matching.md``).

The phrasing embeddings are cached under the data folder by the content hash of the entries
and the model name; a changed entry set is re-embedded once.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ingest.lexical import LexicalIndex, Lexicon
from server.cache import cached_array, cached_object
from server.curated import AnswerSet, CuratedAnswer, load_answers

__all__ = ["CuratedIndex", "CuratedMatch", "CuratedStore"]

log = logging.getLogger("advisor.curated")

RRF_K = 5
LEXICAL_WEIGHT = 1.0
DENSE_WEIGHT = 0.5
LEARNED_WEIGHT = 2.0
# Serve the top entry when the learned ranking gives it this probability, or when its
# phrasings are this close to the message (thresholds tuned for precision on the tuning sets;
# docs/curated-matching.md).
MIN_PROBABILITY = 0.10
MIN_DENSE = 0.9
# A gap entry ("the documents do not give notice periods") turns a question into "not
# covered", so it must be surer: below this its false serves (a contract question, a laptop
# purchase) outnumbered its right ones on the tuning sets (docs/curated-matching.md).
MIN_GAP_PROBABILITY = 0.2
SEED = 0
# decision values of the linear SVM -> a distribution over the entries
SOFTMAX_SCALE = 5.0

EmbedDocuments = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class CuratedMatch:
    entry: CuratedAnswer
    lexical: float
    dense: float
    probability: float  # the learned ranking's probability for this entry
    fused: float
    lexical_rank: int | None
    dense_rank: int | None

    @property
    def agreed(self) -> bool:
        """Both similarity rankings put this entry first."""
        return self.lexical_rank == 0 and self.dense_rank == 0

    def accepted(self) -> bool:
        return self.probability >= _floor(self.entry) or self.dense >= MIN_DENSE

    def to_json(self) -> dict[str, object]:
        return {
            "entry": self.entry.id,
            "lexical": round(self.lexical, 3),
            "dense": round(self.dense, 3),
            "probability": round(self.probability, 3),
            "fused": round(self.fused, 4),
            "accepted": self.accepted(),
        }


def _floor(entry: CuratedAnswer) -> float:
    """The learned probability from which ``entry`` is served."""
    return MIN_GAP_PROBABILITY if entry.kind == "gap" else MIN_PROBABILITY


def _entry_text(entry: CuratedAnswer) -> str:
    parts = [*entry.questions, entry.lead.de, entry.lead.en]
    parts += [q.text for q in entry.quotes]
    return "\n".join(parts)


class _LearnedRanking:
    """A linear classifier over the entries' phrasings (character and word n-grams of the
    folded text, and the shared embedding): how likely a message asks what an entry answers,
    as a softmax over the decision values. The third ranking of the fusion, and the
    acceptance signal. A linear SVM trains in seconds where a logistic regression over 200
    entries took a minute; it is cached by content hash all the same."""

    def __init__(
        self,
        entries: list[CuratedAnswer],
        phrasings: list[str],
        owner: np.ndarray,
        vectors: np.ndarray,
    ) -> None:
        from scipy.sparse import csr_matrix, hstack
        from sklearn.svm import LinearSVC

        from server.router import _vectorizers

        self._size = len(entries)
        self._chars, self._words = _vectorizers()
        # the leads teach the vocabulary of the answer too ("Kosten eines Ausfalls")
        texts = list(phrasings) + [e.lead.de for e in entries] + [e.lead.en for e in entries]
        labels = list(owner) + list(range(len(entries))) * 2
        # and the supporting sentences: "Besonders häufig ausgelagert werden Infrastruktur,
        # Helpdesk und IT-Security" teaches the entry that says it the words of its question
        # (a gap's supporting sentences say what the documents have instead: not its subject)
        more = [(i, m) for i, e in enumerate(entries) if e.kind == "answer" for m in e.more]
        texts += [m.de for _, m in more] + [m.en for _, m in more]
        labels += [i for i, _ in more] * 2
        self._trained = False
        if len(set(labels)) < 2:
            return
        self._chars.fit(texts)
        self._words.fit(texts)
        centroids = np.zeros((len(entries), vectors.shape[1]), dtype=np.float32)
        for i in range(len(entries)):
            mine = vectors[owner == i]
            if len(mine):
                centroids[i] = mine.mean(axis=0)
        lead_vectors = centroids[labels[len(phrasings) :]]  # the leads' and sentences' rows
        features = hstack(
            [
                self._chars.transform(texts),
                self._words.transform(texts),
                csr_matrix(np.vstack([vectors, lead_vectors])),
            ]
        ).tocsr()
        classifier = LinearSVC(C=0.5, random_state=SEED)
        classifier.fit(features, labels)
        # Kept as float32 weights (features × entries), not the fitted estimator: its dense
        # float64 weights for ~60,000 n-grams × 200 entries were 100 MB in every worker.
        self._weights = np.ascontiguousarray(classifier.coef_.T, dtype=np.float32)
        self._intercept = classifier.intercept_.astype(np.float32)
        self._classes = classifier.classes_
        self._trained = True

    def probabilities(self, text: str, vector: np.ndarray) -> np.ndarray:
        out = np.zeros(self._size, dtype=np.float32)
        if not self._trained:
            return out
        from scipy.sparse import csr_matrix, hstack

        features = hstack(
            [
                self._chars.transform([text]),
                self._words.transform([text]),
                csr_matrix(vector.reshape(1, -1)),
            ],
            format="csr",
            dtype=np.float32,
        )
        decision = np.asarray(features @ self._weights)[0] + self._intercept
        scaled = np.exp(SOFTMAX_SCALE * (decision - decision.max()))
        out[self._classes] = scaled / scaled.sum()
        return out


class CuratedIndex:
    """The entries of an :class:`AnswerSet`, searchable; rebuilt when the set changes."""

    def __init__(
        self,
        answers: AnswerSet,
        lexicon: Lexicon,
        embed: EmbedDocuments,
        cache_dir: Path,
        model_name: str,
        vocabulary_texts: list[str],
        memo: dict[str, np.ndarray] | None = None,
    ) -> None:
        memo = {} if memo is None else memo
        self.answers = answers
        self.entries = list(answers.entries)
        self.content_hash = answers.content_hash
        texts = [_entry_text(e) for e in self.entries]
        self._lexical = LexicalIndex.from_texts(
            texts, [e.id for e in self.entries], lexicon, vocabulary_texts=vocabulary_texts + texts
        )
        phrasings = [q for e in self.entries for q in e.questions]
        self._owner = np.array([i for i, e in enumerate(self.entries) for _ in e.questions])
        self._vectors = self._phrasing_vectors(phrasings, embed, cache_dir, model_name, memo)
        self._learned = self._learned_ranking(phrasings, cache_dir, model_name)

    def _learned_ranking(
        self, phrasings: list[str], cache_dir: Path, model_name: str
    ) -> _LearnedRanking:
        import sklearn

        key = hashlib.sha256(
            "\x00".join([model_name, sklearn.__version__, "float32-v3", self.content_hash]).encode()
        ).hexdigest()[:16]
        return cached_object(
            cache_dir / f"curated-ranking-{key}.pkl",
            _LearnedRanking,
            lambda: _LearnedRanking(self.entries, phrasings, self._owner, self._vectors),
        )

    @staticmethod
    def _phrasing_vectors(
        phrasings: list[str],
        embed: EmbedDocuments,
        cache_dir: Path,
        model_name: str,
        memo: dict[str, np.ndarray],
    ) -> np.ndarray:
        digest = hashlib.sha256("\x00".join([model_name, *phrasings]).encode()).hexdigest()[:16]

        def compute() -> np.ndarray:
            # a live reload embeds only the phrasings it has not seen
            missing = [p for p in dict.fromkeys(phrasings) if p not in memo]
            if missing:
                vectors = np.asarray(embed(missing), dtype=np.float32)
                memo.update(zip(missing, vectors, strict=True))
            if not phrasings:
                return np.zeros((0, 1), dtype=np.float32)
            return np.stack([memo[p] for p in phrasings]).astype(np.float32)

        vectors = cached_array(cache_dir / f"curated-{digest}.npy", len(phrasings), compute)
        memo.update(zip(phrasings, vectors, strict=True))
        return vectors

    def match(
        self,
        text: str,
        vector: np.ndarray,
        k: int = 3,
        kinds: tuple[str, ...] = ("answer",),
    ) -> list[CuratedMatch]:
        """The ``k`` best entries of the given kinds for ``text``, fused."""
        allowed = np.array([e.kind in kinds for e in self.entries])
        if not allowed.any():
            return []
        lexical, _ = self._lexical.scores(text)
        lexical = np.where(allowed, lexical, 0.0)
        dense = np.full(len(self.entries), -1.0, dtype=np.float32)
        if self._vectors.size:
            sims = self._vectors @ vector.astype(np.float32)
            np.maximum.at(dense, self._owner, sims)
        dense = np.where(allowed, dense, -1.0)
        learned = np.where(allowed, self._learned.probabilities(text, vector), 0.0)
        lex_order = [int(i) for i in np.argsort(-lexical, kind="stable") if lexical[i] > 0]
        dense_order = [int(i) for i in np.argsort(-dense, kind="stable") if allowed[i]]
        learned_order = [int(i) for i in np.argsort(-learned, kind="stable") if allowed[i]]
        lex_rank = {i: r for r, i in enumerate(lex_order)}
        dense_rank = {i: r for r, i in enumerate(dense_order)}
        learned_rank = {i: r for r, i in enumerate(learned_order)}
        fused: dict[int, float] = {}
        for i in set(lex_rank) | set(dense_rank):
            score = DENSE_WEIGHT / (RRF_K + dense_rank[i] + 1) if i in dense_rank else 0.0
            if i in lex_rank:
                score += LEXICAL_WEIGHT / (RRF_K + lex_rank[i] + 1)
            if i in learned_rank:
                score += LEARNED_WEIGHT / (RRF_K + learned_rank[i] + 1)
            fused[i] = score
        best = sorted(fused, key=lambda i: (-fused[i], self.entries[i].id))[:k]
        likeliest = learned_order[0] if learned_order else None
        if (
            best
            and likeliest is not None
            and learned[best[0]] < _floor(self.entries[best[0]])
            and dense[best[0]] < MIN_DENSE
            and learned[likeliest] >= _floor(self.entries[likeliest])
        ):
            # the similarity rankings can outvote the learned one for an entry it doubts
            # ("was heißt outsourcing im it bereich genau?": the selective-outsourcing entry
            # first, the definition's 0.33 second); the entry the learned ranking accepts
            # is served rather than nothing
            best = [likeliest, *[i for i in best if i != likeliest]][:k]
        return [
            CuratedMatch(
                entry=self.entries[i],
                lexical=float(lexical[i]),
                dense=float(dense[i]),
                probability=float(learned[i]),
                fused=fused[i],
                lexical_rank=lex_rank.get(i),
                dense_rank=dense_rank.get(i),
            )
            for i in best
        ]


class CuratedStore:
    """The curated answers a server serves, reloaded when their files (or the staff edits)
    change, without a restart.

    At start-up a bad entry stops the server (:class:`server.curated.CuratedError`). On a
    live reload a bad entry is reported and disabled; if an earlier version of it was good,
    that version keeps serving, and so does every other entry.
    """

    CHECK_EVERY_SECONDS = 1.0

    def __init__(
        self,
        folder: Path,
        knowledge_dir: Path,
        lexicon: Lexicon,
        embed: EmbedDocuments,
        embed_one: Callable[[str], np.ndarray],
        cache_dir: Path,
        model_name: str,
        vocabulary_texts: list[str],
        overrides: Callable[[], tuple[str, list[CuratedAnswer]]] | None = None,
    ) -> None:
        self.folder = folder
        self._knowledge_dir = knowledge_dir
        self._lexicon = lexicon
        self._embed = embed
        self._embed_one = embed_one
        self._cache_dir = cache_dir
        self._model_name = model_name
        self._vocabulary_texts = vocabulary_texts
        self._overrides = overrides or (lambda: ("", []))
        self._memo: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self._checked = 0.0
        version, edits = self._overrides()
        answers = load_answers(folder, knowledge_dir, strict=True, overrides=edits)
        self.refused: dict[str, list[str]] = {}
        self._index = self._build(answers)
        self._signature = (self._files_signature(), version)
        self.reloads = 0

    def _build(self, answers: AnswerSet) -> CuratedIndex:
        return CuratedIndex(
            answers,
            self._lexicon,
            self._embed,
            self._cache_dir,
            self._model_name,
            self._vocabulary_texts,
            self._memo,
        )

    def _files_signature(self) -> tuple[tuple[str, float, int], ...]:
        files = sorted(self.folder.glob("*.yaml")) if self.folder.is_dir() else []
        out = []
        for path in files:
            try:
                stat = path.stat()
            except OSError:
                continue
            out.append((path.name, stat.st_mtime, stat.st_size))
        return tuple(out)

    def refresh(self, force: bool = False) -> bool:
        """Reload if the files or the staff edits changed; whether it reloaded."""
        now = time.monotonic()
        if not force and now - self._checked < self.CHECK_EVERY_SECONDS:
            return False
        self._checked = now
        version, edits = self._overrides()
        signature = (self._files_signature(), version)
        if signature == self._signature and not force:
            return False
        with self._lock:
            answers = load_answers(self.folder, self._knowledge_dir, strict=False, overrides=edits)
            previous = {e.id: e for e in self._index.entries}
            for entry_id, problems in answers.refused.items():
                log.warning(
                    "curated answer %s refused on reload: %s", entry_id, "; ".join(problems)
                )
                if entry_id in previous and answers.by_id(entry_id) is None:
                    answers.entries.append(previous[entry_id])  # its last good version
            self.refused = dict(answers.refused)
            self._index = self._build(answers)
            self._signature = signature
            self.reloads += 1
        return True

    @property
    def index(self) -> CuratedIndex:
        self.refresh()
        return self._index

    @property
    def entries(self) -> list[CuratedAnswer]:
        return self.index.entries

    def by_id(self, entry_id: str) -> CuratedAnswer | None:
        return next((e for e in self.index.entries if e.id == entry_id), None)

    def policy_entries(self, topic: str) -> list[CuratedAnswer]:
        return [e for e in self.index.entries if e.kind == "policy" and e.topic == topic]

    def match(
        self,
        text: str,
        vector: np.ndarray | None = None,
        k: int = 3,
        kinds: tuple[str, ...] = ("answer",),
    ) -> list[CuratedMatch]:
        if vector is None:
            vector = self._embed_one(text)
        return self.index.match(text, vector, k=k, kinds=kinds)
