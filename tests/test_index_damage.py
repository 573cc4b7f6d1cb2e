"""`advisor serve` on a missing or damaged index: one line naming `advisor ingest`, exit code 2.

Each variant damages a copy of the session's real index (embedded Chroma, packaged model) on
disk. Every variant runs the command in this process (quick); a sample of them runs the real
`python -m server.cli serve` in subprocesses side by side, for the exit code and stderr as a
shell sees them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KNOWLEDGE = ROOT / "knowledge"

pytestmark = pytest.mark.integration

Damage = Callable[[Path], None]


def _manifest(data: Path) -> Path:
    return data / "index" / "manifest.json"


def _lexical(data: Path) -> Path:
    return next((data / "index").glob("lexical-g*"))


def _edit_manifest(data: Path, **changes: object) -> None:
    manifest = json.loads(_manifest(data).read_text())
    for key, value in changes.items():
        if value is None:
            del manifest[key]
        else:
            manifest[key] = value
    _manifest(data).write_text(json.dumps(manifest))


def _collection(data: Path):  # type: ignore[no-untyped-def]
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.PersistentClient(
        path=str(data / "index" / "chroma"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    return client.get_collection(json.loads(_manifest(data).read_text())["collection"])


def _drop_passages(data: Path, how_many: int | None) -> None:
    collection = _collection(data)
    ids = collection.get()["ids"]
    collection.delete(ids=ids[:how_many] if how_many else ids)


def _truncate(path: Path, size: int) -> None:
    path.write_bytes(path.read_bytes()[:size])


def _garbage_chroma_dir(data: Path) -> None:
    chroma = data / "index" / "chroma"
    shutil.rmtree(chroma)
    chroma.mkdir()
    (chroma / "chroma.sqlite3").write_text("not a database")
    (chroma / "junk.bin").write_bytes(os.urandom(512))


def _manifest_as_folder(data: Path) -> None:
    _manifest(data).unlink()
    _manifest(data).mkdir()


DAMAGE: dict[str, Damage] = {
    "data dir missing": lambda d: shutil.rmtree(d),
    "index dir missing": lambda d: shutil.rmtree(d / "index"),
    "manifest missing": lambda d: _manifest(d).unlink(),
    "manifest empty": lambda d: _manifest(d).write_text(""),
    "manifest truncated": lambda d: _truncate(_manifest(d), 57),
    "manifest garbage bytes": lambda d: _manifest(d).write_bytes(os.urandom(300)),
    "manifest another shape": lambda d: _manifest(d).write_text('["advisor"]'),
    "manifest without collection": lambda d: _edit_manifest(d, collection=None),
    "manifest is a folder": _manifest_as_folder,
    "wrong collection name": lambda d: _edit_manifest(d, collection="advisor-g1999010100abcd"),
    "chroma sqlite deleted": lambda d: (d / "index" / "chroma" / "chroma.sqlite3").unlink(),
    "chroma sqlite garbage": lambda d: (d / "index" / "chroma" / "chroma.sqlite3").write_bytes(
        os.urandom(4096)
    ),
    "chroma sqlite truncated": lambda d: _truncate(d / "index" / "chroma" / "chroma.sqlite3", 8192),
    "chroma dir of garbage files": _garbage_chroma_dir,
    "chroma dir missing": lambda d: shutil.rmtree(d / "index" / "chroma"),
    "empty collection": lambda d: _drop_passages(d, None),
    "collection missing passages": lambda d: _drop_passages(d, 10),
    "lexical index missing": lambda d: shutil.rmtree(_lexical(d)),
    "lexical metadata garbage": lambda d: (_lexical(d) / "advisor_lexical.json").write_text("{{"),
    "lexical matrix deleted": lambda d: (_lexical(d) / "data.csc.index.npy").unlink(),
    "lexical matrix truncated": lambda d: _truncate(_lexical(d) / "data.csc.index.npy", 40),
}


def _damaged_copy(indexed_dir: Path, where: Path, damage: Damage) -> Path:
    data = where / "data"
    shutil.copytree(indexed_dir / "index", data / "index")
    damage(data)
    return data


def _serve(data: Path, sessions: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADVISOR_")}
    env.update(
        **extra,
        PYTHONPATH=str(ROOT),  # this checkout's code, whatever the venv's editable install says
        ADVISOR_DATA_DIR=str(data),
        ADVISOR_SESSIONS_PATH=str(sessions),
        COLUMNS="60",  # a narrow terminal must not wrap the line
    )
    return subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--no-staff-token", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# Damage of each kind the real command must survive: the manifest, the Chroma store, the
# passages, the lexical index.
IN_SUBPROCESS = [
    "data dir missing",
    "manifest garbage bytes",
    "chroma sqlite garbage",
    "empty collection",
    "lexical matrix truncated",
]


@pytest.fixture(scope="module")
def started(
    indexed_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, subprocess.CompletedProcess[str]]:
    """`advisor serve` in a subprocess on a sample of damaged copies, side by side."""
    copies = {
        name: _damaged_copy(indexed_dir, tmp_path_factory.mktemp("damaged"), DAMAGE[name])
        for name in IN_SUBPROCESS
    }
    with ThreadPoolExecutor(max_workers=len(copies)) as pool:
        runs = {
            name: pool.submit(_serve, data, data.parent / "sessions.sqlite3")
            for name, data in copies.items()
        }
        return {name: run.result() for name, run in runs.items()}


def _one_line_naming_ingest(code: int | None, stderr: str) -> None:
    lines = stderr.strip().splitlines()
    assert code == 2, stderr[-2000:]
    assert len(lines) == 1, stderr[-2000:]
    assert "Traceback" not in stderr
    assert lines[0].startswith("error: ") and "`advisor ingest`" in lines[0]


@pytest.mark.parametrize("variant", list(DAMAGE))
def test_serve_on_a_damaged_index_says_run_ingest_in_one_line(
    variant: str, indexed_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from server.cli import app

    def serving(*args: object, **kwargs: object) -> None:
        raise AssertionError("the damaged index was served")

    monkeypatch.setattr("uvicorn.run", serving)
    data = _damaged_copy(indexed_dir, tmp_path, DAMAGE[variant])
    env = {"ADVISOR_DATA_DIR": str(data), "ADVISOR_SESSIONS_PATH": str(tmp_path / "s.sqlite3")}
    result = CliRunner().invoke(app, ["serve", "--no-staff-token"], env=env)
    assert isinstance(result.exception, SystemExit | None), result.exception
    _one_line_naming_ingest(result.exit_code, result.stderr)
    assert result.stdout.strip() == "", "nothing served, no staff token printed"


@pytest.mark.parametrize("variant", IN_SUBPROCESS)
def test_the_real_command_exits_2_with_one_line(
    variant: str, started: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    result = started[variant]
    _one_line_naming_ingest(result.returncode, result.stderr)
    assert result.stdout.strip() == ""


# A damaged manifest means embedding everything again: the hash embedder keeps that quick.
# A lost lexical index is rebuilt beside the stored vectors of the packaged model.
@pytest.mark.parametrize(
    ("variant", "model"),
    [("manifest garbage bytes", "hash:64"), ("lexical index missing", "packaged:all-MiniLM-L6-v2")],
)
def test_advisor_ingest_repairs_what_serve_named(
    variant: str, model: str, indexed_dir: Path, tmp_path: Path
) -> None:
    from ingest.index import ingest
    from server.index_config import index_config
    from server.retrieval import PassageIndex
    from server.settings import Settings

    data = _damaged_copy(indexed_dir, tmp_path, DAMAGE[variant])
    settings = Settings(data_dir=data, environment="test", embedding_model=model)
    report = ingest(KNOWLEDGE, index_config(settings))
    assert report.errors == []
    index = PassageIndex(index_config(settings))
    passages = index.search("Was kostet ein Senior-Techniker pro Jahr?", 3)
    assert any("70.000 und 100.000 Euro" in p.text for p in passages)
    assert passages[0].scores.dense != 0.0


def test_serve_without_its_chroma_server_says_so_in_one_line(
    indexed_dir: Path, tmp_path: Path
) -> None:
    """Not an index problem: no ingest can help, the line names the server instead."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once the socket is closed
    data = _damaged_copy(indexed_dir, tmp_path, lambda d: None)
    result = _serve(data, tmp_path / "s.sqlite3", ADVISOR_CHROMA_URL=f"http://127.0.0.1:{port}")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
    assert f"Chroma server at http://127.0.0.1:{port}" in lines[0]
