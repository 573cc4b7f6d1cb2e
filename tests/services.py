"""Real servers for the tests, on loopback free ports: `chroma run`, Debian's PostgreSQL and
redis-server. Each is started and stopped by a fixture in conftest.py; a missing Debian
program is a clear failure (``make services`` installs it), never a silent skip."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

__all__ = ["ChromaServer", "PostgresServer", "RedisServer", "free_port"]

START_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def warm_caches(data_dir: Path, tmp: Path) -> None:
    """One start in process first: it trains the router and the curated index into the data
    dir's cache, which the served workers then load instead of each training its own."""
    from fastapi.testclient import TestClient

    from server.app import create_app
    from server.settings import Settings

    warm = Settings(data_dir=data_dir, sessions_path=tmp / "warm.sqlite3", environment="test")
    with TestClient(create_app(warm)):
        pass


def _wait(ready: object, proc: subprocess.Popen[bytes], what: str, log: Path | None) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        if ready():  # type: ignore[operator]
            return
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log and log.is_file() else ""
            raise RuntimeError(f"{what} did not start (exit {proc.poll()}): {tail}")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes] | None, sig: signal.Signals = signal.SIGTERM) -> None:
    if proc is None or proc.poll() is not None:
        return
    with_group = True
    try:
        os.killpg(proc.pid, signal.SIGCONT)
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        with_group = False
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        if with_group:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


class ChromaServer:
    """`chroma run` on loopback that a test can freeze, kill and start again (same port and
    data directory)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
        assert chroma, "the chroma CLI ships with the chromadb package"
        self.proc = subprocess.Popen(
            [chroma, "run", "--path", str(self.path), "--host", "127.0.0.1", "--port",
             str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: signals reach all of it
        )

        def ready() -> bool:
            try:
                return httpx.get(f"{self.url}/api/v2/heartbeat", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(ready, self.proc, "chroma server", None)

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        assert self.proc is not None
        self.signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        _stop(self.proc)


def _debian_program(pattern: str, package: str) -> str:
    found = sorted(glob.glob(pattern))
    if not found:
        pytest.fail(
            f"{pattern} not found: Debian's {package} is needed (`make services` installs it)",
            pytrace=False,
        )
    return found[-1]


class PostgresServer:
    """Debian's PostgreSQL in a fresh cluster under /tmp, on a loopback port, trusting local
    connections. PostgreSQL refuses to run as root: as root, the cluster belongs to the
    postgres user and its programs run as that user."""

    def __init__(self) -> None:
        bindir = Path(_debian_program("/usr/lib/postgresql/*/bin/postgres", "postgresql")).parent
        self.bindir = bindir
        self.port = free_port()
        # not under pytest's tmp_path: the postgres user cannot enter root's 0700 folders
        self.dir = Path(tempfile.mkdtemp(prefix="advisor-pg-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")

    def _as_owner(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def start(self) -> None:
        data = self.dir / "data"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(
            self._as_owner([str(self.bindir / "initdb"), "-D", str(data), "-A", "trust",
                            "-U", self.user, "-E", "UTF8", "--no-sync"]),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        log = self.dir / "postgres.log"
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                self._as_owner([
                    str(self.bindir / "postgres"), "-D", str(data), "-p", str(self.port),
                    "-k", str(self.dir), "-c", "listen_addresses=127.0.0.1",
                    # a test cluster: durability against a crash of the machine is not tested
                    "-c", "fsync=off", "-c", "max_connections=200",
                ]),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def ready() -> bool:
            try:
                import psycopg

                psycopg.connect(self.url("postgres"), connect_timeout=1).close()
                return True
            except Exception:
                return False

        _wait(ready, self.proc, "postgresql", log)

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        # SIGINT is PostgreSQL's fast shutdown: it does not wait for clients to disconnect
        _stop(self.proc, signal.SIGINT)
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer:
    """Debian's redis-server on a loopback port, in memory only."""

    def __init__(self) -> None:
        self.program = _debian_program("/usr/bin/redis-server", "redis-server")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.program, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

        def ready() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    return sock.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        _wait(ready, self.proc, "redis-server", None)

    def stop(self) -> None:
        _stop(self.proc)
