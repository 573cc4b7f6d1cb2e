"""The shared stores: sessions in SQLite and in PostgreSQL (a real server on loopback) behave
alike; parallel turns on one conversation keep every fact, whichever instance stores them; a
retried turn is stored once; SQLite waits out a locked file; a writer killed with SIGKILL
leaves a sound store with every acknowledged turn; the index generation lives in the Chroma
server, where every instance finds it, and cleanup keeps what may still be read."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from server.sessions import SessionState, SessionStore, new_session_id

ROOT = Path(__file__).resolve().parents[1]
KNOWLEDGE = ROOT / "knowledge"

BACKENDS = [
    pytest.param("sqlite", marks=pytest.mark.unit),
    pytest.param("postgresql", marks=pytest.mark.integration),
]
# One message per profile fact: eight turns, eight distinct facts.
FACTS = {
    "Wir haben 45 Mitarbeiter.": ("employees", 45),
    "Wir haben 40 PCs.": ("pcs", 40),
    "Wir haben 3 Standorte.": ("locations", 3),
    "Wir haben einen Key-User.": ("key_user", True),
    "Wir brauchen 24/7-Betrieb.": ("needs_24x7", True),
    "Wir unterliegen der KRITIS-Regulierung.": ("regulated", True),
    "Wir wachsen stark.": ("growth", True),
    "Viele arbeiten im Homeoffice.": ("remote_work", True),
}


@pytest.fixture(params=BACKENDS)
def where(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store lives: an SQLite file, or a fresh database of the test's PostgreSQL."""
    if request.param == "sqlite":
        return str(tmp_path / "sessions.sqlite3")
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def two_instances(where: str) -> Iterator[tuple[SessionStore, SessionStore]]:
    """Two stores on one database, as two advisor instances (or workers) open it."""
    first, second = SessionStore(where), SessionStore(where)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


# --- one store, two backends -----------------------------------------------------------------


def test_both_backends_keep_the_same_things(
    two_instances: tuple[SessionStore, SessionStore],
) -> None:
    a, b = two_instances
    state = SessionState(id=new_session_id(), language="de")
    state.profile["employees"] = 45
    assert a.save_turn(state, "Wir haben 45 Mitarbeiter.", "Danke.", "fact")
    seen = b.get(state.id)
    assert seen is not None and seen.profile == {"employees": 45} and seen.turns == 1
    assert b.messages(state.id) == [("user", "Wir haben 45 Mitarbeiter."), ("assistant", "Danke.")]
    assert [r["role"] for r in b.transcript(state.id)] == ["user", "assistant"]
    assert b.recent()[0]["id"] == state.id and b.recent()[0]["turns"] == 1

    a.remember("teams:1", '{"text": "hallo"}')
    assert b.recall("teams:1") == '{"text": "hallo"}'
    a.remember("teams:1", '{"text": "neu"}')  # the newest reply wins
    assert b.recall("teams:1") == '{"text": "neu"}' and b.recall("teams:2") is None

    a.bind_channel("teams:conv", state.id)
    assert b.channel_session("teams:conv") == state.id
    other = new_session_id()
    b.bind_channel("teams:conv", other)
    assert a.channel_session("teams:conv") == other

    row = {"author": "erika", "rating": "up", "reason": "", "message": "m", "answer": "a"}
    first, second = a.add_feedback(row), b.add_feedback({**row, "rating": "down"})
    assert second > first > 0
    assert [f["rating"] for f in a.feedback()] == ["up", "down"]

    version, edits = b.curated_edits()
    assert (version, edits) == (0, [])
    a.add_curated_edit("backup-test", '{"id": "backup-test"}', "erika")
    b.add_curated_edit("backup-test", '{"id": "backup-test", "v": 2}', "max")
    version, edits = a.curated_edits()
    assert version >= 2 and edits[0][:3] == ("backup-test", '{"id": "backup-test", "v": 2}', "max")

    assert b.delete(state.id) and not a.delete(state.id)
    assert a.get(state.id) is None and a.messages(state.id) == []


def test_expired_conversations_and_replies_are_purged(where: str) -> None:
    store = SessionStore(where, ttl_seconds=60)
    try:
        old, fresh = SessionState(id=new_session_id()), SessionState(id=new_session_id())
        store.save_turn(old, "frage", "antwort", "fact", replay=("idem:old-key", "{}"))
        store.save_turn(fresh, "frage", "antwort", "fact")
        store.db.run(
            lambda tx: tx.execute(
                "UPDATE sessions SET updated = ? WHERE id = ?", (time.time() - 120, old.id)
            )
        )
        store.db.run(
            lambda tx: tx.execute("UPDATE replays SET created = ?", (time.time() - 2 * 86_400,))
        )
        assert store.get(old.id) is None and store.recall("idem:old-key") is None
        assert store.purge_expired() == 1
        assert store.messages(old.id) == [] and len(store.messages(fresh.id)) == 2
    finally:
        store.close()


@pytest.mark.integration
def test_serve_without_its_database_says_so_in_one_line(
    indexed_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unreachable PostgreSQL stops `advisor serve` with one line naming the host, exit
    code 2, and never the password in the URL."""
    from services import free_port
    from typer.testing import CliRunner

    from server.cli import app

    port = free_port()  # nothing listens there
    monkeypatch.setenv("ADVISOR_DATA_DIR", str(indexed_dir))
    monkeypatch.setenv(
        "ADVISOR_DATABASE_URL", f"postgresql://advisor:geheim-pw@127.0.0.1:{port}/advisor"
    )
    result = CliRunner().invoke(app, ["serve", "--no-staff-token"])
    assert result.exit_code == 2, result.output
    assert f"PostgreSQL server at 127.0.0.1:{port}" in result.output
    assert "geheim-pw" not in result.output


@pytest.mark.unit
def test_a_database_url_that_is_not_postgresql_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from server.cli import app

    monkeypatch.setenv("ADVISOR_DATABASE_URL", "mysql://root:geheim-pw@db/advisor")
    result = CliRunner().invoke(app, ["search", "Backup"])
    assert result.exit_code == 2
    assert "ADVISOR_DATABASE_URL" in result.output and "PostgreSQL URL" in result.output
    assert "geheim-pw" not in result.output


# --- no lost facts ---------------------------------------------------------------------------


def test_parallel_turns_on_one_conversation_keep_every_fact(
    two_instances: tuple[SessionStore, SessionStore],
) -> None:
    """Eight turns read the conversation before any of them is stored (a barrier), then
    each stores its own fact, through either instance: all eight are kept. Writing the whole
    profile back, the last turn's would be the only one."""
    stores = two_instances
    first = SessionState(id=new_session_id())
    first.profile["employees"] = 45
    first.asked = ["pcs"]
    stores[0].save_turn(first, "Wir haben 45 Mitarbeiter.", "Wie viele PCs?", "recommend")
    facts = [(f, v) for f, v in FACTS.values() if f != "employees"] + [("it_staff", 2.0)]
    everyone_read = threading.Barrier(len(facts))

    def turn(i: int) -> None:
        store = stores[i % 2]
        state = store.get(first.id)
        assert state is not None
        everyone_read.wait(timeout=30)
        key, value = facts[i]
        state.profile[key] = value
        state.asked += [f"asked-{i}"]
        assert store.save_turn(state, f"Fakt {i}", f"Antwort {i}", "recommend")

    with ThreadPoolExecutor(len(facts)) as pool:
        list(pool.map(turn, range(len(facts))))
    final = stores[1].get(first.id)
    assert final is not None
    assert final.profile == {"employees": 45, **dict(facts)}
    assert sorted(final.asked) == sorted(["pcs"] + [f"asked-{i}" for i in range(len(facts))])
    assert final.turns == 1 + len(facts)
    history = stores[0].messages(first.id)
    # each turn's question and answer stay together
    pairs = list(zip(history[::2], history[1::2], strict=True))
    assert all(q[1].replace("Fakt", "Antwort") == a[1] for q, a in pairs[1:])


def test_a_turn_changes_only_what_it_changed(where: str) -> None:
    store = SessionStore(where)
    try:
        state = SessionState(id=new_session_id(), profile={"employees": 45, "pcs": 40})
        store.save_turn(state, "a", "b", "fact")
        mine, theirs = store.get(state.id), store.get(state.id)
        assert mine is not None and theirs is not None
        theirs.profile["pcs"] = 50  # another turn corrects the PCs meanwhile
        store.save_turn(theirs, "c", "d", "fact")
        mine.profile["employees"] = 60
        del mine.profile["pcs"]  # this turn took a fact back
        store.save_turn(mine, "e", "f", "fact")
        final = store.get(state.id)
        assert final is not None and final.profile == {"employees": 60}
    finally:
        store.close()


@pytest.fixture(scope="module")
def bot(indexed_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The real chat pipeline over the session's index (its own store is replaced per test)."""
    from server.chat import open_chatbot
    from server.index_config import index_config
    from server.retrieval import HybridRetriever, PassageIndex
    from server.settings import Settings

    settings = Settings(
        data_dir=indexed_dir,
        sessions_path=tmp_path_factory.mktemp("bot") / "sessions.sqlite3",
        environment="test",
    )
    index = PassageIndex(index_config(settings))
    chatbot = open_chatbot(settings, HybridRetriever(index))
    try:
        yield chatbot
    finally:
        chatbot.sessions.close()


@pytest.mark.slow
def test_parallel_chat_turns_keep_every_fact(
    bot: Any, two_instances: tuple[SessionStore, SessionStore]
) -> None:
    """The real answers: eight messages, each stating one fact, sent at once to one
    conversation through two instances; the conversation ends with all eight facts."""
    from server.chat import answer

    bots = [replace(bot, sessions=store) for store in two_instances]
    started = answer(bots[0], "Hallo", None)
    messages = list(FACTS)
    with ThreadPoolExecutor(len(messages)) as pool:
        replies = list(
            pool.map(lambda i: answer(bots[i % 2], messages[i], started.session_id), range(8))
        )
    for message, reply in zip(messages, replies, strict=True):
        field, value = FACTS[message]
        assert reply.profile.get(field) == value, (message, reply.profile)
    final = two_instances[1].get(started.session_id)
    assert final is not None
    assert final.profile == {field: value for field, value in FACTS.values()}
    users = [text for role, text in two_instances[0].messages(started.session_id) if role == "user"]
    assert users[0] == "Hallo" and sorted(users[1:]) == sorted(messages)


@pytest.mark.slow
def test_a_retried_turn_is_stored_once_whichever_instance_gets_it(
    bot: Any, two_instances: tuple[SessionStore, SessionStore]
) -> None:
    """The same Idempotency-Key at both instances at once (a client's retry racing its
    first try): one turn in the conversation; a later retry is answered from the store."""
    from server.chat import answer, collect, stream

    bots = [replace(bot, sessions=store) for store in two_instances]
    session = answer(bots[0], "Hallo", None).session_id
    key = "idem:" + uuid.uuid4().hex
    go = threading.Barrier(2)

    def send(i: int) -> str:
        go.wait(timeout=30)
        return collect(stream(bots[i], "Wir haben 45 Mitarbeiter.", session, replay_key=key)).answer

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(send, range(2)))
    users = [t for r, t in two_instances[0].messages(session) if r == "user"]
    assert users == ["Hallo", "Wir haben 45 Mitarbeiter."]
    stored = two_instances[1].recall(key)
    assert stored is not None and json.loads(stored)["answer"] in answers


def test_curated_edits_through_one_instance_reach_the_others(
    bot: Any, two_instances: tuple[SessionStore, SessionStore]
) -> None:
    """A staff edit stored through instance A: instance B's curated index reloads, because
    the edits' version comes from the shared store."""
    from server import staff
    from server.curated_match import CuratedStore

    a, b = two_instances
    settings = bot.settings

    def curated_over(store: SessionStore) -> CuratedStore:
        from ingest.lexical import Lexicon
        from ingest.load import load_folder

        embeddings = bot.retriever.index.embeddings
        return CuratedStore(
            settings.knowledge_dir / "answers",
            settings.knowledge_dir,
            Lexicon.load(settings.knowledge_dir / "lexicon.yaml"),
            lambda texts: __import__("numpy").asarray(
                embeddings.embed_documents(list(texts)), dtype="float32"
            ),
            bot.retriever.index.embed,
            settings.data_dir / "cache",
            bot.retriever.index.config.embedding_model,
            [d.text for d in load_folder(settings.knowledge_dir).documents],
            overrides=lambda: staff.edited_entries(store),
        )

    on_b = curated_over(b)
    entry = on_b.entries[0]
    phrase = "Wie war das noch mit " + uuid.uuid4().hex[:6] + "?"
    edited = {**entry.model_dump(), "questions": [*entry.questions, phrase]}
    staff.save_entry(replace(bot, sessions=a), entry.id, edited, "erika")
    time.sleep(CuratedStore.CHECK_EVERY_SECONDS + 0.1)
    reloaded = on_b.by_id(entry.id)
    assert reloaded is not None and phrase in reloaded.questions
    assert on_b.reloads == 1


# --- SQLite: locked files, killed writers ------------------------------------------------------


@pytest.mark.unit
def test_a_locked_sqlite_file_is_waited_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds the write lock longer than the busy timeout: the turn is
    retried until the lock is gone, not lost with "database is locked"."""
    import server.store.sqlite as backend

    monkeypatch.setattr(backend, "BUSY_TIMEOUT_MS", 100)
    path = tmp_path / "s.sqlite3"
    store = SessionStore(path)
    holder = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(1.0, lambda: holder.execute("COMMIT"))
    release.start()
    try:
        started = time.monotonic()
        state = SessionState(id=new_session_id(), profile={"employees": 45})
        assert store.save_turn(state, "frage", "antwort", "fact")
        assert time.monotonic() - started >= 0.8, "it did wait for the lock"
        assert len(store.messages(state.id)) == 2
    finally:
        release.join()
        holder.close()
        store.close()


_WRITER = textwrap.dedent(
    """
    import sys, threading
    from server.sessions import SessionState, SessionStore, new_session_id

    store = SessionStore(sys.argv[1])
    printing = threading.Lock()

    def write(worker):
        n = 0
        while True:
            state = SessionState(id=new_session_id(), profile={"employees": worker + 1})
            store.save_turn(state, f"frage {worker} {n} " + "x" * 500, "antwort " * 200, "fact")
            with printing:  # acknowledged: stored and committed
                print(state.id, flush=True)
            n += 1

    for worker in range(3):
        threading.Thread(target=write, args=(worker,), daemon=True).start()
    threading.Event().wait()
    """
)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_writer_killed_mid_write_loses_no_acknowledged_turn(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A process writing turns from three threads is killed with SIGKILL in the middle: the
    store passes its integrity check and holds every turn the writer had acknowledged,
    each whole (question, answer and profile)."""
    if backend == "sqlite":
        where = str(tmp_path / "s.sqlite3")
    else:
        where = request.getfixturevalue("postgres_url")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, where], stdout=subprocess.PIPE, env=env, cwd=ROOT
    )
    acknowledged: list[str] = []
    try:
        assert writer.stdout is not None
        deadline = time.monotonic() + 120
        while len(acknowledged) < 150:
            line = writer.stdout.readline()
            assert line, f"the writer stopped (exit {writer.poll()})"
            acknowledged.append(line.decode().strip())
            assert time.monotonic() < deadline, "too slow"
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
        # lines printed before the kill that this loop had not read yet
        acknowledged += [x for x in writer.stdout.read().decode().split("\n") if len(x) == 32]
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert writer.returncode == -signal.SIGKILL
    if backend == "sqlite":
        check = sqlite3.connect(where)
        try:
            assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert check.execute("PRAGMA foreign_key_check").fetchall() == []
        finally:
            check.close()
    store = SessionStore(where)
    try:
        for session_id in acknowledged:
            state = store.get(session_id)
            assert state is not None, f"acknowledged turn {session_id} is missing"
            assert state.turns == 1 and state.profile["employees"] in (1, 2, 3)
            assert [r for r, _ in store.messages(session_id)] == ["user", "assistant"]
        # and nothing half-written: every stored conversation has its question and answer
        counts = store.db.run(
            lambda tx: tx.execute(
                "SELECT COUNT(*) FROM sessions s WHERE (SELECT COUNT(*) FROM messages m "
                "WHERE m.session_id = s.id) <> 2"
            ).fetchone()
        )
        assert counts[0] == 0
    finally:
        store.close()


# --- the index generation in the Chroma server --------------------------------------------------


def _config(chroma: Any, index_dir: Path, prefix: str, grace: float = 600.0) -> Any:
    from ingest.index import IndexConfig

    return IndexConfig(
        index_dir=index_dir,
        lexicon_path=KNOWLEDGE / "lexicon.yaml",
        embedding_model="hash:64",  # the mechanics, not the ranking: quick to embed
        collection_prefix=prefix,
        chroma_url=chroma.url,
        generation_grace_seconds=grace,
    )


def _knowledge_with(tmp_path: Path, text: str) -> Path:
    """The knowledge folder plus one more document."""
    folder = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, folder, dirs_exist_ok=True)
    (folder / "neu.md").write_text(f"# Neu\n\n## Abschnitt\n\n{text}\n", encoding="utf-8")
    return folder


def _generations(chroma: Any, prefix: str) -> set[str]:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.HttpClient(
        host="127.0.0.1",
        port=chroma.port,
        settings=ChromaSettings(anonymized_telemetry=False),
    )
    return {
        c.name.removeprefix(prefix + "-")
        for c in client.list_collections()
        if c.name.startswith(prefix + "-g")
    }


@pytest.mark.integration
def test_an_ingest_anywhere_reaches_every_instance(
    chroma_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Instance B has nothing on its disk: it reads the generation an ingest on machine A
    recorded in the Chroma server, builds its lexical index from the chunks there, and
    switches when a later ingest records a new one."""
    import server.retrieval as retrieval
    from ingest.index import ingest
    from server.retrieval import PassageIndex

    monkeypatch.setattr(retrieval, "GENERATION_CHECK_SECONDS", 0.0)
    prefix = "t" + uuid.uuid4().hex[:8]
    machine_a, machine_b = tmp_path / "a", tmp_path / "b"
    first = ingest(KNOWLEDGE, _config(chroma_server, machine_a, prefix))
    on_b = PassageIndex(_config(chroma_server, machine_b, prefix))
    assert on_b.loaded is not None and on_b.loaded.generation == first.generation
    assert not (machine_a / "manifest.json").exists(), "the manifest lives in the server"
    word = "Zebrafinkenprotokoll"
    assert all(word not in p.text for p in on_b.search(word, 3))

    folder = _knowledge_with(tmp_path, f"Das {word} regelt die Datensicherung der Filialen.")
    second = ingest(folder, _config(chroma_server, machine_a, prefix))
    assert second.generation != first.generation and second.added == 1
    found = on_b.search(f"Was regelt das {word}?", 3)
    assert on_b.loaded.generation == second.generation
    assert word in found[0].text and found[0].scores.lexical > 0
    assert not machine_b.exists() or not any(machine_b.iterdir()), "nothing local on B"


@pytest.mark.integration
def test_cleanup_keeps_every_generation_that_may_still_be_read(
    chroma_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Superseded generations stay for the grace period after their switch, and so does a
    build another ingest has started; past it they go, the current one never."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    import server.retrieval as retrieval
    from ingest.index import ingest
    from server.retrieval import PassageIndex

    monkeypatch.setattr(retrieval, "GENERATION_CHECK_SECONDS", 3600.0)
    prefix = "t" + uuid.uuid4().hex[:8]
    config = _config(chroma_server, tmp_path / "a", prefix, grace=600.0)
    first = ingest(KNOWLEDGE, config).generation
    still_on_first = PassageIndex(config)  # an instance that has not checked again yet
    second = ingest(_knowledge_with(tmp_path, "Erster Zusatz."), config).generation
    # a build another ingest has just started: no manifest names it yet
    in_flight = time.strftime("g%Y%m%d%H%M%S", time.gmtime()) + "abcdef"
    client = chromadb.HttpClient(
        host="127.0.0.1",
        port=chroma_server.port,
        settings=ChromaSettings(anonymized_telemetry=False),
    )
    client.create_collection(f"{prefix}-{in_flight}", embedding_function=None)
    third = ingest(_knowledge_with(tmp_path, "Zweiter Zusatz."), config).generation
    assert _generations(chroma_server, prefix) == {first, second, in_flight, third}
    # the instance still on the first generation searches it whole, dense half included
    passages = still_on_first.search("Wie oft sollte man Backups testen?", 10)
    assert still_on_first.loaded is not None and still_on_first.loaded.generation == first
    assert any(p.scores.dense != 0.0 for p in passages), passages

    # an ingest with a short grace period, run after it has passed: only the current stays
    short = replace(config, generation_grace_seconds=1.0)
    time.sleep(2.1)
    again = ingest(_knowledge_with(tmp_path, "Zweiter Zusatz."), short)
    assert again.generation == third and again.embedded == 0
    assert _generations(chroma_server, prefix) == {third}
