"""The eval sets themselves: sealed batches unchanged since sealing, every file valid, and
no eval question a near copy of a phrasing the advisor is built from."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from server.evaluation.guards import (
    NEAR_DUPLICATE,
    eval_questions,
    example_phrasings,
    near_duplicates,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT / "tests" / "eval"
REGISTRY = EVAL / "sealed.yaml"


def _registry() -> list[dict]:  # type: ignore[type-arg]
    return list(yaml.safe_load(REGISTRY.read_text(encoding="utf-8"))["batches"])


def test_sealed_files_are_unchanged_since_sealing() -> None:
    for batch in _registry():
        for name, digest in batch["files"].items():
            data = (ROOT / name).read_bytes()
            assert hashlib.sha256(data).hexdigest() == digest, f"sealed file {name} changed"


def test_every_sealed_file_is_registered() -> None:
    registered = {name for batch in _registry() for name in batch["files"]}
    on_disk = {str(p.relative_to(ROOT)) for p in (EVAL / "sealed").rglob("*.yaml")}
    assert on_disk == registered


def test_no_eval_question_is_a_near_copy_of_an_example_phrasing() -> None:
    files = sorted(p for p in EVAL.rglob("*.yaml") if p.name != "sealed.yaml")
    files += sorted((ROOT / "tests" / "data").glob("*.yaml"))
    report = near_duplicates(eval_questions(files), example_phrasings(ROOT / "knowledge"))
    assert report.pairs == [], (
        f"eval questions at or above {NEAR_DUPLICATE} similarity to an example phrasing: "
        f"{report.pairs[:10]}"
    )
