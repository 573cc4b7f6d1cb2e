"""Query embeddings under concurrency: the messages that arrive while the model is busy are
embedded together, in one call, when it is free.

A serving process answers requests on many threads, and each message needs one embedding.
Run side by side, those model calls fight for the cores (each with its own thread team);
run one after the other, each waits for the ones before it. Batched, eight short queries
cost about what two single ones do, so under load a request waits less and a worker answers
more (``docs/benchmarks.md``). A lone request is embedded at once, as a batch of one.

Only for models whose query embedding is their document embedding (the packaged MiniLM and
other models without a query prompt; the test hash embedder): a batch of queries is then
one ``embed_documents`` call. Other models (e5 with its ``query:`` prompt) embed each query
on its own, one at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import numpy as np
from langchain_core.embeddings import Embeddings

__all__ = ["QueryEmbedder", "batch_function"]

MAX_BATCH = 8


EmbedMany = Callable[[list[str]], Sequence[Sequence[float]]]


def batch_function(embeddings: Embeddings) -> EmbedMany | None:
    """A function embedding several queries in one call, if the model has one."""
    from ingest.embeddings import HashEmbeddings

    if isinstance(embeddings, HashEmbeddings):
        return embeddings.embed_documents
    query_kwargs = getattr(embeddings, "query_encode_kwargs", None)
    document_kwargs = getattr(embeddings, "encode_kwargs", None)
    if isinstance(query_kwargs, dict) and query_kwargs == document_kwargs:
        # HuggingFaceEmbeddings: embed_query is embed_documents of one text with these
        return embeddings.embed_documents
    return None


class _Pending:
    __slots__ = ("error", "text", "vector")

    def __init__(self, text: str) -> None:
        self.text = text
        self.vector: np.ndarray | None = None
        self.error: BaseException | None = None


class QueryEmbedder:
    """``embed(text)``, safe to call from many threads at once.

    The caller that finds the model free embeds every query waiting at that moment (up to
    :data:`MAX_BATCH`) and hands each waiting caller its vector; the others wait for it.
    """

    def __init__(self, embeddings: Embeddings, max_batch: int = MAX_BATCH) -> None:
        self._one = embeddings.embed_query
        self._many = batch_function(embeddings)
        self._max_batch = max_batch if self._many is not None else 1
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._model_lock = threading.Lock()  # one model call at a time in this process

    def embed(self, text: str) -> np.ndarray:
        mine = _Pending(text)
        with self._queue_lock:
            self._queue.append(mine)
        while True:
            with self._model_lock:
                if mine.vector is None and mine.error is None:
                    with self._queue_lock:
                        batch = self._queue[: self._max_batch]
                        del self._queue[: self._max_batch]
                    self._run(batch)
            if mine.error is not None:
                raise mine.error
            if mine.vector is not None:
                return mine.vector
            # queued behind a full batch: the next model call takes it

    def _run(self, batch: list[_Pending]) -> None:
        try:
            if self._many is not None and len(batch) > 1:
                rows = self._many([p.text for p in batch])
            else:
                rows = [self._one(p.text) for p in batch]
        except BaseException as exc:  # every waiting caller gets the failure, not a hang
            for pending in batch:
                pending.error = exc
            return
        for pending, row in zip(batch, rows, strict=True):
            pending.vector = np.asarray(row, dtype=np.float32)
