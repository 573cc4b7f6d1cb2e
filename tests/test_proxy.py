"""Debian's nginx in front of two `advisor serve` instances on loopback: the client address
the rate limit counts comes from the trusted proxy only.

nginx runs as a non-daemon with a generated configuration (pid, logs and temp paths in a
temp dir) that includes the shipped `deploy/nginx/advisor-proxy.conf`, round robin over two
instances started with ADVISOR_TRUSTED_PROXIES=127.0.0.1 and a low rate limit. Clients
connect from other loopback addresses (127.0.0.2, …), so nginx appends an untrusted address
after whatever the client forged, as it would for a visitor on the internet.

The instances count in memory, each on its own, so every assertion is per instance: nginx
names the instance that answered in a header that only this test's configuration adds.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from services import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
PROXY_SNIPPET = ROOT / "deploy" / "nginx" / "advisor-proxy.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
LIMIT = 3  # per minute and client, in each instance
UPSTREAM_HEADER = "x-test-upstream"


def _wait_for(url: str, what: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.time() + 1200  # a first start trains the router (slow on a busy machine)
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not answer {url}:\n{log.read_text(errors='replace')[-3000:]}")


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def _advisor(data_dir: Path, tmp: Path, name: str) -> Iterator[int]:
    """`advisor serve` behind a trusted proxy at 127.0.0.1, with a low rate limit."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADVISOR_")} | {
        "PYTHONPATH": str(ROOT),
        "ADVISOR_ENVIRONMENT": "test",
        "ADVISOR_DATA_DIR": str(data_dir),
        "ADVISOR_SESSIONS_PATH": str(tmp / f"{name}.sqlite3"),
        "ADVISOR_TRUSTED_PROXIES": "127.0.0.1",
        "ADVISOR_RATE_LIMIT": f"{LIMIT}/minute",
    }
    log = tmp / f"{name}.log"
    command = [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--no-staff-token"]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz", f"advisor {name}", proc, log)
        yield port
    finally:
        _stop(proc)


def nginx_config(tmp: Path, port: int, upstreams: list[int]) -> str:
    """A complete nginx.conf: no path outside ``tmp``, the shipped proxy snippet."""
    temp = {kind: tmp / kind for kind in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir()
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=0;" for p in upstreams)
    # As root, nginx's workers would switch to `nobody`, who cannot enter pytest's temp dir.
    user = "user root root;" if os.geteuid() == 0 else ""
    return f"""
{user}
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    upstream advisor {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://advisor;
            include {PROXY_SNIPPET};
            add_header {UPSTREAM_HEADER} $upstream_addr always;
        }}
    }}
}}
"""


@contextmanager
def _nginx(tmp: Path, upstreams: list[int]) -> Iterator[str]:
    if not os.access(NGINX, os.X_OK):
        pytest.fail("nginx is not installed: run `make nginx` (make test does)")
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(nginx_config(tmp, port, upstreams))
    log = tmp / "error.log"
    command = [NGINX, "-p", str(tmp), "-c", str(conf), "-e", str(log), "-g", "daemon off;"]
    check = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    with (tmp / "nginx.out").open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz", "nginx", proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc, signal.SIGQUIT)  # graceful shutdown


@pytest.fixture(scope="module")
def stack(
    indexed_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, list[int]]]:
    """nginx's URL and the two instances' ports."""
    tmp = tmp_path_factory.mktemp("proxy")
    with ExitStack() as stack:
        # one after the other: the first start of the data dir writes its caches
        first = stack.enter_context(_advisor(indexed_dir, tmp, "first"))
        second = stack.enter_context(_advisor(indexed_dir, tmp, "second"))
        url = stack.enter_context(_nginx(tmp, [first, second]))
        yield url, [first, second]


def _client(base_url: str, source: str) -> httpx.Client:
    """A client whose connections come from ``source`` (any 127.x address is this host)."""
    return httpx.Client(
        base_url=base_url, timeout=30, transport=httpx.HTTPTransport(local_address=source)
    )


def _search(client: httpx.Client, forwarded: str | None = None) -> httpx.Response:
    headers = {"x-forwarded-for": forwarded} if forwarded is not None else {}
    return client.get("/api/search", params={"q": "Kosten", "k": 1}, headers=headers)


def _by_upstream(responses: list[httpx.Response]) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = {}
    for response in responses:
        seen.setdefault(response.headers[UPSTREAM_HEADER], []).append(response.status_code)
    return seen


FORGED = [
    "198.51.100.1",
    "203.0.113.7, 198.51.100.2",
    "127.0.0.1",  # a forged trusted address
    "10.0.0.1, 127.0.0.1",
    "unknown",
    "198.51.100.3",
    "2001:db8::1",
    "198.51.100.4, 198.51.100.5",
    "",
    "192.0.2.1",
]


def test_a_client_rotating_forged_forwarded_for_through_nginx_is_one_client(
    stack: tuple[str, list[int]],
) -> None:
    url, ports = stack
    with _client(url, "127.0.0.2") as client:
        forged = [_search(client, xff) for xff in FORGED]
    per_instance = _by_upstream(forged)
    assert set(per_instance) == {f"127.0.0.1:{p}" for p in ports}, "round robin over both"
    for instance, codes in per_instance.items():
        # each instance counts 127.0.0.2, whatever it claimed: LIMIT answers, then 429
        assert codes == [200] * LIMIT + [429] * (len(codes) - LIMIT), (instance, codes)
    refused = next(r for r in forged if r.status_code == 429)
    assert "too many requests" in refused.json()["detail"]
    assert int(refused.headers["retry-after"]) >= 1

    # Another visitor behind the same proxy has a count of its own: the advisor counts the
    # address nginx appended, not nginx's own.
    with _client(url, "127.0.0.3") as other:
        fresh = [_search(other) for _ in range(LIMIT)]  # within the limit, however spread
    assert all(r.status_code == 200 for r in fresh), [r.status_code for r in fresh]


def test_the_forged_address_of_one_client_costs_another_nothing(
    stack: tuple[str, list[int]],
) -> None:
    url, _ = stack
    # 127.0.0.4 claims to be 127.0.0.5 until it is refused everywhere
    with _client(url, "127.0.0.4") as liar:
        codes = [_search(liar, "127.0.0.5").status_code for _ in range(2 * LIMIT + 2)]
    assert codes.count(200) == 2 * LIMIT and codes.count(429) == 2
    with _client(url, "127.0.0.5") as victim:
        assert [_search(victim).status_code for _ in range(2)] == [200, 200]


def test_a_direct_request_with_a_forged_header_is_counted_by_its_peer(
    stack: tuple[str, list[int]],
) -> None:
    _, ports = stack
    direct = f"http://127.0.0.1:{ports[0]}"
    # 127.0.0.6 is no trusted proxy: its X-Forwarded-For is ignored, whatever it says
    with _client(direct, "127.0.0.6") as client:
        codes = [_search(client, xff).status_code for xff in FORGED[: LIMIT + 3]]
    assert codes == [200] * LIMIT + [429] * 3
    # and the addresses it named were not charged: 198.51.100.1 is not 127.0.0.6
    with _client(direct, "127.0.0.7") as other:
        assert _search(other, "127.0.0.6").status_code == 200


def test_answers_stream_through_nginx(stack: tuple[str, list[int]]) -> None:
    url, _ = stack
    with (
        _client(url, "127.0.0.8") as client,
        client.stream(
            "POST", "/api/chat/stream", json={"message": "Was kostet ein Senior-Techniker?"}
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line.startswith("event:")]
    assert events[0] == "event: meta" and events[-1] == "event: done", events
    assert "event: delta" in events
