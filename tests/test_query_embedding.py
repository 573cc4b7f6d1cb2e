"""Query embeddings under concurrency (server/query_embedding.py): concurrent messages are
embedded together, each caller gets its own text's vector, a failure reaches every caller,
and with the real model a batch gives the vectors single calls give."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from ingest.embeddings import PACKAGED_MINILM, HashEmbeddings, make_embeddings
from server.query_embedding import QueryEmbedder, batch_function


class SlowEmbeddings(HashEmbeddings):
    """The hash embedder, 50 ms a model call, counting calls and batch sizes."""

    def __init__(self) -> None:
        super().__init__(32)
        self.batches: list[int] = []
        self.running = 0
        self.most_running = 0
        self._count = threading.Lock()

    def _call(self, texts: list[str]) -> list[list[float]]:
        with self._count:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            self.batches.append(len(texts))
        time.sleep(0.05)
        with self._count:
            self.running -= 1
        return [self._embed(t) for t in texts]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._call(list(texts))

    def embed_query(self, text: str) -> list[float]:
        return self._call([text])[0]


class PromptedEmbeddings(Embeddings):
    """Like e5: a query is embedded differently from a document."""

    def __init__(self) -> None:
        self.query_encode_kwargs = {"prompt": "query: "}
        self.encode_kwargs = {"prompt": "passage: "}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[0.0, 1.0] for _ in texts]

    def embed_query(self, text: str) -> list[float]:
        return [1.0, 0.0]


def test_concurrent_queries_share_model_calls_and_each_gets_its_own_vector() -> None:
    model = SlowEmbeddings()
    embedder = QueryEmbedder(model)
    texts = [f"Frage {i} zum Backup und zum Helpdesk" for i in range(24)]
    with ThreadPoolExecutor(max_workers=24) as pool:
        vectors = list(pool.map(embedder.embed, texts))
    for text, vector in zip(texts, vectors, strict=True):
        assert np.allclose(vector, HashEmbeddings(32).embed_query(text))
    assert model.most_running == 1  # never two model calls at once
    assert sum(model.batches) == 24
    assert len(model.batches) < 24 / 2  # batched, not one call per query
    assert max(model.batches) <= 16


def test_a_lone_query_is_embedded_at_once_as_a_query() -> None:
    model = SlowEmbeddings()
    embedder = QueryEmbedder(model)
    started = time.perf_counter()
    embedder.embed("Was kostet ein Ausfall?")
    assert time.perf_counter() - started < 0.5
    assert model.batches == [1]


def test_a_failing_model_fails_every_waiting_caller_and_recovers() -> None:
    class Failing(SlowEmbeddings):
        fail = True

        def _call(self, texts: list[str]) -> list[list[float]]:
            if self.fail:
                time.sleep(0.02)
                raise RuntimeError("model broke")
            return super()._call(texts)

    model = Failing()
    embedder = QueryEmbedder(model)
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(embedder.embed, f"Frage {i}") for i in range(6)]
        errors = [f.exception(timeout=10) for f in futures]
    assert all(isinstance(e, RuntimeError) for e in errors)
    model.fail = False
    assert embedder.embed("wieder da").shape == (32,)


def test_a_model_with_a_query_prompt_embeds_each_query_as_a_query() -> None:
    model = PromptedEmbeddings()
    assert batch_function(model) is None
    embedder = QueryEmbedder(model)
    with ThreadPoolExecutor(max_workers=4) as pool:
        vectors = list(pool.map(embedder.embed, ["a", "b", "c", "d"]))
    assert all(v.tolist() == [1.0, 0.0] for v in vectors)


@pytest.mark.slow
def test_the_packaged_model_gives_a_batch_the_vectors_of_single_calls() -> None:
    model = make_embeddings(PACKAGED_MINILM)
    assert batch_function(model) is not None
    texts = [
        "Was kostet ein Ausfall?",
        "Sollen wir den Helpdesk auslagern oder intern behalten, wenn wir 45 PCs haben?",
        "Einer ist keiner",
        "How much does a senior technician cost per year?",
    ]
    single = np.array([model.embed_query(t) for t in texts])
    batch = np.array(batch_function(model)(texts))  # type: ignore[misc]
    assert np.allclose(single, batch, atol=1e-5)
