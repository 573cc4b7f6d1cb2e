"""Index stage: upsert chunks into ChromaDB and build the lexical index, built aside then switched.

Every ingest that changes anything writes a new *generation* (a Chroma collection and a
lexical index directory) and then atomically replaces ``manifest.json``; a running server
reads the manifest and so never sees a half-built index. Unchanged chunks keep their
embeddings (copied from the previous generation), so a no-change re-ingest embeds nothing.

With a Chroma server (``chroma_url``) several advisor instances share one index, so the
manifest is a record in the server itself (collection ``<prefix>-manifest``), not a local
file: an ingest run anywhere is seen by every instance, and each instance builds its lexical
index in memory from the chunks of the generation it reads. Superseded generations are kept
for ``generation_grace_seconds`` after the switch, so an instance that has not yet noticed
it can finish its searches on the old one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.api import ClientAPI
from chromadb.config import Settings as ChromaSettings

from ingest.embeddings import make_embeddings
from ingest.lexical import LexicalIndex, Lexicon
from ingest.load import LoadError, load_folder
from ingest.split import Chunk, split_documents

MANIFEST_NAME = "manifest.json"
EMBED_BATCH = 32
ProgressCallback = Callable[[int, int], None]


class IndexError_(Exception):
    """Base for index problems a person must act on (message says what to do)."""


class IndexMissingError(IndexError_):
    pass


class ModelMismatchError(IndexError_):
    pass


class IndexDamagedError(IndexError_):
    """A part of the index is unreadable or does not match the rest; ingest rebuilds it."""


class StoreUnavailableError(IndexError_):
    """The Chroma server does not answer; no ingest can help, the server must come back."""


@dataclass(frozen=True)
class IndexConfig:
    """Where the index lives and how it is embedded; built by ``server`` from its Settings."""

    index_dir: Path
    lexicon_path: Path
    embedding_model: str
    collection_prefix: str = "advisor"
    chroma_url: str | None = None
    # Server mode: how long a superseded generation stays readable after the switch.
    generation_grace_seconds: float = 600.0


@dataclass(frozen=True)
class Manifest:
    """The generation a server must read; replaced atomically by each changing ingest."""

    generation: str
    collection: str
    lexical_dir: str
    embedding_model: str
    dimension: int
    documents: dict[str, str]  # doc_id -> content hash
    chunks: int
    built_at: str
    chroma_url: str | None = None
    # What built the lexical index (analyzer code and lexicon); another one means rebuild.
    lexical_signature: str = ""
    # Server mode: superseded generations -> when they were superseded (epoch seconds); each
    # stays readable for the grace period from then.
    retired: dict[str, float] = field(default_factory=dict)

    def lexical_path(self, index_dir: Path) -> Path:
        return index_dir / self.lexical_dir


@dataclass
class IngestReport:
    documents: int = 0
    chunks: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    embedded: int = 0
    seconds: float = 0.0
    generation: str | None = None
    errors: list[LoadError] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "chunks": self.chunks,
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "embedded": self.embedded,
            "seconds": round(self.seconds, 3),
            "errors": [{"file": str(e.path), "reason": e.reason} for e in self.errors],
        }


def lexical_signature(lexicon_path: Path) -> str:
    """A hash of what shapes the lexical index besides the chunks: the German analysis code
    and the lexicon. A change to either rebuilds the index (the vectors are reused)."""
    from ingest import lexical

    digest = hashlib.sha256(Path(lexical.__file__).read_bytes())
    digest.update(b"\x00")
    digest.update(lexicon_path.read_bytes())
    return digest.hexdigest()[:16]


def open_client(config: IndexConfig) -> ClientAPI:
    """Embedded Chroma under the index directory, or the server at ``chroma_url``."""
    settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if config.chroma_url:
        url = urlparse(config.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise IndexError_(f"ADVISOR_CHROMA_URL {config.chroma_url!r} is not an http(s) URL")
        return chromadb.HttpClient(
            host=url.hostname,
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=settings,
        )
    config.index_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(config.index_dir / "chroma"), settings=settings)


def read_manifest(index_dir: Path) -> Manifest | None:
    path = index_dir / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        manifest = Manifest(**data)
    except FileNotFoundError:
        return None
    # Garbage bytes (UnicodeDecodeError), cut-off JSON, another shape, a folder in its place:
    # all one thing to the person who has to act, a manifest to rebuild.
    except (ValueError, TypeError) as exc:
        raise IndexDamagedError(
            f"{path} is damaged ({type(exc).__name__}: {exc}); run `advisor ingest` to rebuild"
        ) from exc
    except OSError as exc:  # a folder or an unreadable file in its place
        raise IndexDamagedError(
            f"{path} cannot be read ({exc.strerror}); remove it and run `advisor ingest`"
        ) from exc
    fields = (manifest.generation, manifest.collection, manifest.lexical_dir)
    if not all(isinstance(v, str) and v for v in fields) or not isinstance(manifest.chunks, int):
        raise IndexDamagedError(f"{path} is damaged (fields missing); run `advisor ingest`")
    return manifest


def _write_manifest(index_dir: Path, manifest: Manifest) -> None:
    tmp = index_dir / f".{MANIFEST_NAME}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(asdict(manifest), indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, index_dir / MANIFEST_NAME)  # atomic: readers see old or new, never half


SHARED_MANIFEST_ID = "current"


def manifest_collection(config: IndexConfig) -> str:
    """The Chroma collection holding the shared manifest record (server mode). Not
    ``<prefix>-g…``: that pattern names the generations the cleanup may drop."""
    return f"{config.collection_prefix}-manifest"


def read_shared_manifest(client: ClientAPI, config: IndexConfig) -> Manifest | None:
    """The manifest recorded in the Chroma server, or None when no ingest has written one."""
    from chromadb.errors import NotFoundError

    name = manifest_collection(config)
    try:
        collection = client.get_collection(name)
    except NotFoundError:
        return None
    got = collection.get(ids=[SHARED_MANIFEST_ID], include=["documents"])
    documents = got["documents"] or []
    if not documents:
        return None
    try:
        manifest = Manifest(**json.loads(documents[0] or ""))
    except (ValueError, TypeError) as exc:
        raise IndexDamagedError(
            f"the manifest record in Chroma collection {name!r} is damaged "
            f"({type(exc).__name__}: {exc}); run `advisor ingest` to rebuild"
        ) from exc
    if not (manifest.generation and manifest.collection):
        raise IndexDamagedError(f"the manifest record in {name!r} names no generation")
    return manifest


def _write_shared_manifest(client: ClientAPI, config: IndexConfig, manifest: Manifest) -> None:
    collection = client.get_or_create_collection(
        manifest_collection(config),
        metadata={"purpose": "the advisor's current index generation"},
        embedding_function=None,
    )
    # One record, replaced in one call: readers see the old generation or the new one.
    # Chroma wants a vector with every record; this one is never searched.
    collection.upsert(
        ids=[SHARED_MANIFEST_ID],
        embeddings=np.zeros((1, 1), dtype=np.float32),
        documents=[json.dumps(asdict(manifest), sort_keys=True)],
    )


def _current_manifest(client: ClientAPI, config: IndexConfig) -> Manifest | None:
    """The generation an ingest builds on: the shared record, or the local file."""
    try:
        if config.chroma_url:
            return read_shared_manifest(client, config)
        manifest = read_manifest(config.index_dir)
    except IndexDamagedError:
        return None  # what the server asked for: a rebuild from the documents
    if manifest and manifest.chroma_url != config.chroma_url:
        return None  # another store: the old generation is not reachable from here
    return manifest


def chunks_from_records(
    ids: list[str], documents: list[str | None], metadatas: list[Any]
) -> list[Chunk]:
    """The chunks of a generation as stored in Chroma, in reading order: what an instance
    in server mode builds its lexical index from."""
    chunks = [
        Chunk(
            chunk_id=cid,
            doc_id=str(meta["doc_id"]),
            title=str(meta.get("title", "")),
            source=str(meta.get("source", "")),
            language=str(meta.get("language", "")),
            heading=str(meta.get("heading", "")),
            position=int(meta.get("position", 0)),
            text=text or "",
            doc_hash=str(meta.get("doc_hash", "")),
        )
        for cid, text, meta in zip(ids, documents, metadatas, strict=True)
    ]
    chunks.sort(key=lambda c: (c.doc_id, c.position, c.chunk_id))
    return chunks


def generation_created(generation: str) -> float | None:
    """When a generation was started, from its name (``gYYYYmmddHHMMSS`` + hex)."""
    try:
        return datetime.strptime(generation[1:15], "%Y%m%d%H%M%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


@contextlib.contextmanager
def _ingest_lock(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".ingest.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # a second ingest waits instead of racing
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _rows(embeddings: Any) -> list[Any]:
    # Chroma returns an ndarray (whose truth value is ambiguous) or None.
    return [] if embeddings is None else list(embeddings)


def _existing_chunks(client: ClientAPI, manifest: Manifest | None) -> dict[str, dict[str, Any]]:
    """chunk_id -> metadata of the current generation (empty if there is none)."""
    if manifest is None:
        return {}
    try:
        collection = client.get_collection(manifest.collection)
    except Exception:  # the collection is gone (e.g. a fresh Chroma server): rebuild
        return {}
    got = collection.get(include=["metadatas"])
    return {
        cid: dict(meta or {}) for cid, meta in zip(got["ids"], got["metadatas"] or [], strict=False)
    }


def _classify(
    chunks: list[Chunk], old: dict[str, dict[str, Any]], same_model: bool, report: IngestReport
) -> None:
    old_slots = {(m.get("doc_id"), m.get("position")): cid for cid, m in old.items()}
    new_slots = {(c.doc_id, c.position) for c in chunks}
    for chunk in chunks:
        previous = old_slots.get((chunk.doc_id, chunk.position))
        if previous is None:
            report.added += 1
        elif previous == chunk.chunk_id and same_model:
            report.unchanged += 1
        else:
            report.updated += 1
    report.removed = sum(1 for slot in old_slots if slot not in new_slots)


def ingest(
    folder: Path,
    config: IndexConfig,
    progress: ProgressCallback | None = None,
) -> IngestReport:
    """Bring the index in line with ``folder``; idempotent, and safe for a running server."""
    started = time.perf_counter()
    report = IngestReport()
    loaded = load_folder(folder)
    report.errors = loaded.errors
    report.documents = len(loaded.documents)
    chunks = split_documents(loaded.documents)
    report.chunks = len(chunks)
    lexicon = Lexicon.load(config.lexicon_path)

    with _ingest_lock(config.index_dir):
        client = open_client(config)
        manifest = _current_manifest(client, config)
        old = _existing_chunks(client, manifest)
        same_model = manifest is not None and manifest.embedding_model == config.embedding_model
        _classify(chunks, old, same_model, report)
        signature = lexical_signature(config.lexicon_path)
        # in server mode each instance builds its lexical index from the chunks itself
        lexical_ok = config.chroma_url is not None or (
            manifest is not None
            and manifest.lexical_path(config.index_dir).is_dir()
            and manifest.lexical_signature == signature
        )
        if (
            manifest is not None
            and same_model
            and lexical_ok
            and report.added == report.updated == report.removed == 0
            and len(old) == len(chunks)
        ):
            report.generation = manifest.generation
            report.seconds = time.perf_counter() - started
            if config.chroma_url:
                _drop_expired_generations(client, config, manifest)
            return report
        report.generation = _build_generation(
            client, config, chunks, old if same_model else {}, manifest, lexicon, report, progress
        )
    report.seconds = time.perf_counter() - started
    return report


def _build_generation(
    client: ClientAPI,
    config: IndexConfig,
    chunks: list[Chunk],
    reusable: dict[str, dict[str, Any]],
    previous: Manifest | None,
    lexicon: Lexicon,
    report: IngestReport,
    progress: ProgressCallback | None,
) -> str:
    generation = datetime.now(UTC).strftime("g%Y%m%d%H%M%S") + secrets.token_hex(3)
    name = f"{config.collection_prefix}-{generation}"
    reuse_ids = [c.chunk_id for c in chunks if c.chunk_id in reusable]
    vectors: dict[str, list[float]] = {}
    if reuse_ids and previous is not None:
        got = client.get_collection(previous.collection).get(ids=reuse_ids, include=["embeddings"])
        vectors = {
            cid: list(map(float, emb))
            for cid, emb in zip(got["ids"], _rows(got["embeddings"]), strict=True)
        }
    to_embed = [c for c in chunks if c.chunk_id not in vectors]
    report.embedded = len(to_embed)
    if to_embed:
        embeddings = make_embeddings(config.embedding_model)
        for start in range(0, len(to_embed), EMBED_BATCH):
            batch = to_embed[start : start + EMBED_BATCH]
            for chunk, vector in zip(
                batch, embeddings.embed_documents([c.search_text for c in batch]), strict=True
            ):
                vectors[chunk.chunk_id] = vector
            if progress:
                progress(min(start + EMBED_BATCH, len(to_embed)), len(to_embed))
    dimension = len(next(iter(vectors.values()))) if vectors else 0
    collection = client.create_collection(
        name,
        metadata={
            "embedding_model": config.embedding_model,
            "dimension": dimension,
            "generation": generation,
        },
        configuration={"hnsw": {"space": "cosine"}},
        embedding_function=None,
    )
    try:
        if chunks:
            collection.add(
                ids=[c.chunk_id for c in chunks],
                embeddings=np.array([vectors[c.chunk_id] for c in chunks], dtype=np.float32),
                documents=[c.text for c in chunks],
                metadatas=[c.metadata() for c in chunks],
            )
        lexical_dir = f"lexical-{generation}"
        if config.chroma_url is None:
            LexicalIndex.build(chunks, lexicon).save(config.index_dir / lexical_dir)
    except BaseException:
        with contextlib.suppress(Exception):
            client.delete_collection(name)
        shutil.rmtree(config.index_dir / f"lexical-{generation}", ignore_errors=True)
        raise
    manifest = Manifest(
        generation=generation,
        collection=name,
        lexical_dir=lexical_dir if config.chroma_url is None else "",
        embedding_model=config.embedding_model,
        dimension=dimension,
        documents={c.doc_id: c.doc_hash for c in chunks},
        chunks=len(chunks),
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        chroma_url=config.chroma_url,
        lexical_signature=lexical_signature(config.lexicon_path),
    )
    if config.chroma_url:
        now = time.time()
        retired = dict(previous.retired) if previous else {}
        if previous is not None:
            retired[previous.generation] = now
        grace = config.generation_grace_seconds
        manifest = replace(
            manifest, retired={g: t for g, t in retired.items() if now - t < grace}
        )
        _write_shared_manifest(client, config, manifest)
        _drop_expired_generations(client, config, manifest)
        return generation
    _write_manifest(config.index_dir, manifest)
    # The previous generation stays one round, so a server mid-query can finish on it.
    _drop_old_generations(
        client, config, keep={generation, previous.generation if previous else ""}
    )
    return generation


def _drop_expired_generations(client: ClientAPI, config: IndexConfig, current: Manifest) -> None:
    """Server mode: remove generations no instance may still read. The current one stays;
    a superseded one stays for the grace period after its switch; one the manifest does not
    name (a build in progress by another ingest, or left by a failed one) stays for the
    grace period after it was started."""
    prefix = f"{config.collection_prefix}-"
    now = time.time()
    for col in client.list_collections():
        generation = col.name.removeprefix(prefix)
        if not col.name.startswith(prefix + "g") or generation == current.generation:
            continue
        since = current.retired.get(generation) or generation_created(generation)
        if since is None or now - since < config.generation_grace_seconds:
            continue
        with contextlib.suppress(Exception):
            client.delete_collection(col.name)


def _drop_old_generations(client: ClientAPI, config: IndexConfig, keep: set[str]) -> None:
    """Remove superseded generations; a server still on one reloads from the manifest."""
    prefix = f"{config.collection_prefix}-"
    for col in client.list_collections():
        generation = col.name.removeprefix(prefix)
        if col.name.startswith(prefix + "g") and generation not in keep:
            with contextlib.suppress(Exception):
                client.delete_collection(col.name)
    for path in config.index_dir.glob("lexical-g*"):
        if path.name.removeprefix("lexical-") not in keep:
            shutil.rmtree(path, ignore_errors=True)
