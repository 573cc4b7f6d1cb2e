"""Ingestion: loading, splitting, idempotent upserts, changes, removals and broken files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ingest.index import IndexConfig, ingest, read_manifest
from ingest.load import load_folder
from ingest.split import split_document

ROOT = Path(__file__).resolve().parents[1]
KNOWLEDGE = ROOT / "knowledge"

pytestmark = pytest.mark.unit


def _config(tmp_path: Path, model: str = "hash:64") -> IndexConfig:
    return IndexConfig(
        index_dir=tmp_path / "index",
        lexicon_path=KNOWLEDGE / "lexicon.yaml",
        embedding_model=model,
    )


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for md in KNOWLEDGE.glob("*.md"):
        shutil.copy(md, folder / md.name)
    return folder


def test_knowledge_loads_with_front_matter() -> None:
    result = load_folder(KNOWLEDGE)
    assert result.errors == []
    ids = sorted(d.doc_id for d in result.documents)
    assert ids == [
        "das-bisschen-it",
        "interne-vs-externe-it-services",
        "it-outsourcing-glossar",
        "it-outsourcing-mittelstand",
        "whitepaper-it-im-mittelstand",
    ]
    whitepaper = next(d for d in result.documents if d.doc_id == "whitepaper-it-im-mittelstand")
    assert whitepaper.title.startswith("IT im Mittelstand")
    # every document names its title in English too, for English visitors
    assert all(d.title_en for d in result.documents)
    assert whitepaper.title_en.startswith("IT in mid-sized companies")
    assert whitepaper.source == "002_68035aa42495f944.txt"


def test_chunks_follow_headings_and_keep_table_rows_whole() -> None:
    doc = next(
        d for d in load_folder(KNOWLEDGE).documents if d.doc_id == "whitepaper-it-im-mittelstand"
    )
    chunks = split_document(doc)
    assert all(len(c.text) <= 1400 for c in chunks)
    matrix = [c for c in chunks if "Aufgabenmatrix" in c.heading and "|" in c.text]
    assert len(matrix) >= 2, "the task matrix is split by rows"
    for chunk in matrix:
        lines = [ln for ln in chunk.text.splitlines() if ln.startswith("|")]
        assert lines[0].startswith("| IT-Aufgabe"), "every table chunk repeats the header row"
        assert all(ln.rstrip().endswith("|") for ln in lines), "no row is cut"
    assert any("Backup & Disaster Recovery" in c.text for c in matrix)
    ids = [c.chunk_id for c in chunks]
    assert len(ids) == len(set(ids))
    assert split_document(doc)[3].chunk_id == chunks[3].chunk_id, "ids are stable"
    example = next(c for c in chunks if "Beispiel 2" in c.heading)
    assert example.heading.startswith("5. Praxisbeispiele")
    assert example.text.startswith("### Beispiel 2: Migration in die Cloud")


def test_a_long_paragraph_is_cut_at_sentence_ends_not_inside_an_abbreviation() -> None:
    # "(z. B. in einer Auftragsflaute)": "z." before the capital "B." ends no sentence
    from ingest.split import sentences

    text = (
        "Skalierung nach unten (z. B. in einer Auftragsflaute) ist intern schwierig. "
        "Siehe den 2. Abschnitt. Intern vs. Extern bleibt offen. Das war im Jahr 2023. "
        "Danach kam mehr."
    )
    assert sentences(text) == [
        "Skalierung nach unten (z. B. in einer Auftragsflaute) ist intern schwierig.",
        "Siehe den 2. Abschnitt.",
        "Intern vs. Extern bleibt offen.",
        # a year is no list number: its point ends the sentence
        "Das war im Jahr 2023.",
        "Danach kam mehr.",
    ]


def test_second_ingest_embeds_nothing(corpus: Path, tmp_path: Path) -> None:
    config = _config(tmp_path)
    first = ingest(corpus, config)
    assert first.documents == 5 and first.chunks > 50
    assert first.added == first.chunks == first.embedded
    second = ingest(corpus, config)
    assert (second.added, second.updated, second.removed, second.embedded) == (0, 0, 0, 0)
    assert second.unchanged == first.chunks
    assert second.generation == first.generation, "no new generation when nothing changed"


def test_a_changed_lexicon_rebuilds_the_lexical_index_only(corpus: Path, tmp_path: Path) -> None:
    lexicon = tmp_path / "lexicon.yaml"
    shutil.copy(KNOWLEDGE / "lexicon.yaml", lexicon)
    config = IndexConfig(
        index_dir=tmp_path / "index", lexicon_path=lexicon, embedding_model="hash:64"
    )
    first = ingest(corpus, config)
    lexicon.write_text(
        lexicon.read_text(encoding="utf-8") + "  zwiebel: [sicherung]\n", encoding="utf-8"
    )
    second = ingest(corpus, config)
    assert second.embedded == 0, "the vectors are reused"
    assert second.generation != first.generation, "a stale lexical index must not stay"
    manifest = read_manifest(config.index_dir)
    assert manifest is not None and manifest.generation == second.generation
    third = ingest(corpus, config)
    assert third.generation == second.generation


def test_changed_and_removed_documents(corpus: Path, tmp_path: Path) -> None:
    config = _config(tmp_path)
    first = ingest(corpus, config)
    glossary = corpus / "it-outsourcing-glossar.md"
    glossary.write_text(
        glossary.read_text(encoding="utf-8").replace(
            "Vendor Lock-in:", "Anbieterbindung (Vendor Lock-in):"
        ),
        encoding="utf-8",
    )
    changed = ingest(corpus, config)
    assert changed.updated >= 1 and changed.added == 0
    assert 1 <= changed.embedded <= 2, "only the changed passage is embedded again"
    manifest = read_manifest(config.index_dir)
    assert manifest is not None and manifest.generation != first.generation

    removed_chunks = len(split_document(load_folder(corpus).documents[0]))
    (corpus / "das-bisschen-it.md").unlink()
    removed = ingest(corpus, config)
    assert removed.removed == removed_chunks
    assert removed.embedded == 0
    manifest = read_manifest(config.index_dir)
    assert manifest is not None and "das-bisschen-it" not in manifest.documents


def test_broken_files_are_reported_and_skipped(corpus: Path, tmp_path: Path) -> None:
    (corpus / "kaputt.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (corpus / "latin1.txt").write_bytes("Datensicherung für Größe".encode("latin-1"))
    (corpus / "leistungen.html").write_text(
        "<html lang='de'><head><title>Unsere Leistungen</title></head><body>"
        "<h2>Managed Backup</h2><p>Wir sichern Ihre Server täglich.</p></body></html>",
        encoding="utf-8",
    )
    report = ingest(corpus, _config(tmp_path))
    broken = {e.path.name: e.reason for e in report.errors}
    assert set(broken) == {"kaputt.pdf", "latin1.txt"}
    assert "PDF" in broken["kaputt.pdf"]
    assert "UTF-8" in broken["latin1.txt"]
    assert report.documents == 6, "the five documents and the HTML page still ingest"


def test_pdf_is_loaded(tmp_path: Path) -> None:
    pypdf = pytest.importorskip("pypdf")
    folder = tmp_path / "pdf"
    folder.mkdir()
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_metadata({"/Title": "Leer"})
    with open(folder / "leer.pdf", "wb") as fh:
        writer.write(fh)
    result = load_folder(folder)
    # A PDF without text is reported, not indexed as an empty document.
    assert [e.path.name for e in result.errors] == ["leer.pdf"]
    assert "no extractable text" in result.errors[0].reason


def test_ingest_json_summary(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from server.cli import app

    monkeypatch.setenv("ADVISOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ADVISOR_EMBEDDING_MODEL", "hash:64")
    result = CliRunner().invoke(app, ["ingest", str(corpus), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(summary) >= {
        "documents",
        "chunks",
        "added",
        "updated",
        "removed",
        "unchanged",
        "seconds",
    }
    assert summary["documents"] == 5 and summary["added"] == summary["chunks"]
    bad = CliRunner().invoke(app, ["ingest", str(tmp_path / "nope")])
    assert bad.exit_code == 2
