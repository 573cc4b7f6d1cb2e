"""Derived data cached under the data folder by content hash: embeddings of phrasings and
sentences, the fitted router and curated ranking. A damaged or foreign cache file is rebuilt,
never trusted; a new file appears atomically, so a parallel reader never sees half of it."""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

__all__ = ["cached_array", "cached_object"]

T = TypeVar("T")


def _write(path: Path, write: Callable[[object], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # a temporary file of its own: workers starting together build the same file at once,
    # and with one shared temporary name one's rename took the other's file away
    with tempfile.NamedTemporaryFile(
        dir=path.parent, prefix=path.name + ".", suffix=".tmp", delete=False
    ) as handle:
        tmp = Path(handle.name)
        try:
            write(handle)
        except BaseException:
            handle.close()
            tmp.unlink(missing_ok=True)
            raise
    tmp.chmod(0o644)  # as a plain open() would leave it, not the temporary file's 0600
    tmp.replace(path)


def cached_array(path: Path, rows: int, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """The array stored at ``path`` if it has ``rows`` rows, else ``compute()`` stored there."""
    if path.is_file():
        try:
            array = np.load(path)
            if array.shape[0] == rows:
                return np.asarray(array)
        except (OSError, ValueError):
            pass
    array = np.asarray(compute(), dtype=np.float32)
    _write(path, lambda handle: np.save(handle, array))  # type: ignore[arg-type]
    return array


def cached_object(path: Path, kind: type[T], build: Callable[[], T]) -> T:
    """The object pickled at ``path`` if it is a ``kind``, else ``build()`` pickled there.

    Only the server's own data folder is read: pickles from elsewhere are never loaded."""
    if path.is_file():
        try:
            with path.open("rb") as handle:
                cached = pickle.load(handle)
            if isinstance(cached, kind):
                return cached
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            pass
    built = build()
    _write(path, lambda handle: pickle.dump(built, handle))  # type: ignore[arg-type]
    return built
