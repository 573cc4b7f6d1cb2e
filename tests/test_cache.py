"""The derived-data cache under the data folder: what parallel builders and damage do."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from server.cache import cached_array, cached_object


def test_builders_of_the_same_file_at_once_all_get_it(tmp_path: Path) -> None:
    # workers starting together after a curated edit all build the same ranking file
    path = tmp_path / "cache" / "ranking.pkl"
    errors: list[BaseException] = []
    results: list[dict[str, int]] = []

    def build() -> dict[str, int]:
        time.sleep(0.05)  # every builder is writing before any renames
        return {"entries": 262}

    def worker() -> None:
        try:
            results.append(cached_object(path, dict, build))
        except BaseException as error:  # the test reports any failure
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == [{"entries": 262}] * 8
    assert cached_object(path, dict, lambda: {"rebuilt": 1}) == {"entries": 262}
    assert [p.name for p in path.parent.iterdir()] == ["ranking.pkl"]  # no temporary left
    assert path.stat().st_mode & 0o777 == 0o644  # readable as before, not 0600


def test_a_damaged_cache_file_is_rebuilt_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "vectors.npy"
    path.write_bytes(b"not an array")
    array = cached_array(path, 2, lambda: np.ones((2, 3)))
    assert array.shape == (2, 3)
    assert np.load(path).shape == (2, 3)
    # a file with another row count is stale: rebuilt
    assert cached_array(path, 4, lambda: np.zeros((4, 3))).shape == (4, 3)
