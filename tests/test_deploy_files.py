"""The deployment files in deploy/ read as they should: the compose file (it cannot run
here, so it is parsed and its settings checked against server/settings.py), the nginx
configuration (checked by Debian's nginx with `nginx -t`) and the systemd units (parsed, and
`systemd-analyze verify` where systemd is installed)."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

# Files only; nginx -t and systemd-analyze read them without starting anything.
pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
UNITS = DEPLOY / "systemd"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# Being added by the stores work; the only ADVISOR_* variable allowed before settings.py has it.
PENDING = {"ADVISOR_DATABASE_URL"}
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|API_KEY|DATABASE_URL")
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")


def _known_variables() -> set[str]:
    from server.settings import Settings

    return {f"ADVISOR_{name.upper()}" for name in Settings.model_fields} | PENDING


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the "KEY=value" form
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _interpolate(value: str) -> str:
    """What docker compose would put there, with a stand-in for every variable."""
    stand_ins = {"ADVISOR_HOSTNAME": "advisor.example.com"}
    return INTERPOLATION.sub(lambda m: stand_ins.get(m.group(1), "stand-in-0123456789"), value)


def _env_file_lines(path: Path, commented: bool = True) -> dict[str, str]:
    """KEY=value lines of an env file; with ``commented``, also the ``# KEY=…`` examples."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if match and (commented or not match.group(1)):
            out[match.group(2)] = match.group(3).strip()
    return out


def _no_secret_value(key: str, value: str) -> bool:
    """An example names a secret without one: empty, or a ``<placeholder>`` in its place."""
    return not SECRET_NAME.search(key) or value == "" or bool(re.search(r"<\w+>", value))


# --- compose ------------------------------------------------------------------------------------


def test_compose_has_the_services_of_a_production_setup(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"advisor", "chroma", "postgres", "redis", "proxy"} <= set(services)
    assert services["chroma"]["image"].startswith("chromadb/chroma:")
    chroma_command = [*services["chroma"].get("entrypoint", []), *services["chroma"]["command"]]
    assert chroma_command[:2] == ["chroma", "run"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    proxy = services["proxy"]
    assert proxy["image"].startswith(("nginx:", "caddy:"))
    assert "443:443" in proxy["ports"]
    # only the proxy is reachable from outside
    published = [name for name, s in services.items() if s.get("ports")]
    assert published == ["proxy"]


def test_compose_sets_only_advisor_variables_that_exist(compose: dict[str, Any]) -> None:
    known = _known_variables()
    seen = set()
    for name, service in compose["services"].items():
        for key in _environment(service):
            if key.startswith("ADVISOR_"):
                seen.add(key)
                assert key in known, f"{name}: {key} is not in server/settings.py"
    for path in (DEPLOY / "advisor.secrets.env.example", DEPLOY / "env.example"):
        for key in _env_file_lines(path):
            if key.startswith("ADVISOR_") and key != "ADVISOR_HOSTNAME":  # compose's own
                assert key in known, f"{path.name}: {key} is not in server/settings.py"
    assert {
        "ADVISOR_CHROMA_URL",
        "ADVISOR_DATABASE_URL",
        "ADVISOR_RATE_LIMIT_STORAGE",
        "ADVISOR_TRUSTED_PROXIES",
        "ADVISOR_WORKERS",
    } <= seen


def test_the_advisor_settings_of_compose_are_valid_and_point_at_its_services(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from server.settings import Settings

    services = compose["services"]
    env = {k: _interpolate(v) for k, v in _environment(services["advisor"]).items()}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.environment == "production"
    assert settings.workers >= 2
    assert urlparse(settings.chroma_url or "").hostname == "chroma"
    assert urlparse(settings.rate_limit_storage).hostname == "redis"
    assert settings.rate_limit_storage.startswith("redis://"), "workers must share the counts"
    database = urlparse(env["ADVISOR_DATABASE_URL"])
    assert database.scheme == "postgresql" and database.hostname == "postgres"
    # the only trusted proxy is the proxy container, at its fixed address in the subnet
    proxy_address = services["proxy"]["networks"]["backend"]["ipv4_address"]
    assert settings.trusted_proxies == [proxy_address]
    subnet = compose["networks"]["backend"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(proxy_address) in ipaddress.ip_network(subnet)
    # the advisor and its stores are on the backend network only
    for name in ("advisor", "chroma", "postgres", "redis"):
        assert services[name]["networks"] == ["backend"], name
    assert compose["networks"]["backend"]["internal"] is True
    # the ingest job writes the same index the advisor reads
    assert _environment(services["ingest"]) == _environment(services["advisor"])
    assert services["ingest"]["volumes"] == services["advisor"]["volumes"]


def test_compose_holds_no_secret(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in _environment(service).items():
            if not SECRET_NAME.search(key):
                continue
            url = urlparse(value)
            if url.scheme and "@" in value:  # a URL: its password must be a variable
                assert url.password is None or INTERPOLATION.fullmatch(url.password), (name, key)
            else:
                assert INTERPOLATION.fullmatch(value), f"{name}: {key} is written inline"
    advisor = compose["services"]["advisor"]
    assert "ADVISOR_STAFF_TOKEN" not in _environment(advisor)
    env_files = [f["path"] if isinstance(f, dict) else f for f in advisor["env_file"]]
    assert env_files == ["advisor.secrets.env"]
    ignored = (DEPLOY / ".gitignore").read_text().split()
    assert {"advisor.secrets.env", ".env", "tls/"} <= set(ignored)
    # the examples name the secrets without a value
    for path in (DEPLOY / "advisor.secrets.env.example", DEPLOY / "env.example"):
        for key, value in _env_file_lines(path).items():
            assert _no_secret_value(key, value), f"{path.name}: {key} has a value"


def test_no_file_in_deploy_holds_a_key_or_a_long_random_string() -> None:
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert "PRIVATE KEY" not in text, path
            assert not re.search(r"\b[0-9a-f]{32,}\b|\b[A-Za-z0-9+/]{40,}={0,2}", text), path


def test_the_files_compose_mounts_exist(compose: dict[str, Any]) -> None:
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./") and source != "./tls":  # tls/ is the operator's
                assert (DEPLOY / source).exists(), source
        build = service.get("build")
        if build:
            assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()


def test_the_image_sets_only_advisor_variables_that_exist() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    for key in re.findall(r"\b(ADVISOR_\w+)=", text):
        assert key in _known_variables(), key
    assert "torch==2.13.0" in text and "download.pytorch.org/whl/cpu" in text
    assert "HF_HUB_OFFLINE=1" in text


# --- nginx ----------------------------------------------------------------------------------------


def test_the_proxy_snippet_appends_the_peer_to_x_forwarded_for() -> None:
    snippet = (DEPLOY / "nginx" / "advisor-proxy.conf").read_text(encoding="utf-8")
    directives = [line.split("#")[0].strip() for line in snippet.splitlines()]
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in directives
    assert "proxy_buffering off;" in directives  # Server-Sent Events


def test_the_proxy_times_agree_with_the_advisors_time_limits() -> None:
    from server.settings import Settings

    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    site = (DEPLOY / "nginx" / "advisor.conf").read_text(encoding="utf-8")

    def seconds(pattern: str) -> float:
        match = re.search(pattern, site, re.DOTALL)
        assert match, pattern
        return float(match.group(1))

    # nginx drops an idle upstream connection before the advisor closes it
    assert seconds(r"upstream advisor \{[^}]*keepalive_timeout (\d+)s;") < (
        defaults.keep_alive_seconds
    )
    # the advisor's own 503 arrives before nginx gives up with a 504
    assert seconds(r"location / \{[^}]*proxy_read_timeout (\d+)s;") > (
        defaults.request_timeout_seconds
    )
    assert seconds(r"location /api/staff/ \{[^}]*proxy_read_timeout (\d+)s;") > (
        defaults.staff_request_timeout_seconds
    )
    assert "Strict-Transport-Security" in site


def test_nginx_accepts_the_tls_configuration(tmp_path: Path) -> None:
    if not os.access(NGINX, os.X_OK):
        pytest.fail("nginx is not installed: run `make nginx` (make test does)")
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("openssl is not installed (Debian: apt-get install openssl)")
    tls = tmp_path / "tls"
    tls.mkdir()
    request = [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    request += ["-subj", "/CN=localhost", "-keyout", str(tls / "privkey.pem")]
    subprocess.run(
        [*request, "-out", str(tls / "fullchain.pem")],
        check=True,
        capture_output=True,
    )
    # the file as shipped, with the container's paths and service name made local
    site = (DEPLOY / "nginx" / "advisor.conf").read_text(encoding="utf-8")
    site = site.replace("/etc/nginx/advisor-proxy.conf", str(DEPLOY / "nginx/advisor-proxy.conf"))
    site = site.replace("/etc/nginx/tls/", f"{tls}/").replace("advisor:8000", "127.0.0.1:8000")
    (tmp_path / "advisor.conf").write_text(site)
    temp = " ".join(
        f"{kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nevents {{}}\n"
        f"http {{ access_log off; {temp} include {tmp_path}/advisor.conf; }}\n"
    )
    check = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    assert "syntax is ok" in check.stderr


# --- systemd --------------------------------------------------------------------------------------


def _unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file as sections of keys, each with every value it was given (systemd allows
    repeats); a line outside a section or without ``=`` fails."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, f"{path.name}:{number}: {raw!r}"
        key, value = line.split("=", 1)
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_the_systemd_units_read_as_units() -> None:
    advisor = _unit(UNITS / "advisor.service")
    chroma = _unit(UNITS / "chroma.service")
    for unit in (advisor, chroma):
        assert set(unit) == {"Unit", "Service", "Install"}
        service = unit["Service"]
        assert service["User"] != ["root"]
        assert all(cmd.startswith("/") for cmd in service["ExecStart"])
        assert unit["Install"]["WantedBy"] == ["multi-user.target"]
    assert "chroma.service" in advisor["Unit"]["Requires"][0]
    assert advisor["Service"]["EnvironmentFile"] == ["/etc/advisor/advisor.env"]
    assert advisor["Service"]["ExecStart"][0].endswith("advisor serve --no-staff-token")
    assert advisor["Service"]["ExecStartPre"][0].endswith("advisor ingest")
    assert "chroma run" in chroma["Service"]["ExecStart"][0]


def test_the_systemd_environment_example_matches_the_units() -> None:
    from server.settings import Settings

    example = UNITS / "advisor.env.example"
    env = _env_file_lines(example)
    known = _known_variables()
    assert set(env) <= known, set(env) - known
    for key, value in env.items():
        assert _no_secret_value(key, value), f"{key} has a value in the example"
    values = {
        k.removeprefix("ADVISOR_").lower(): v
        for k, v in _env_file_lines(example, commented=False).items()
    }
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    # the advisor reaches the Chroma server that chroma.service starts
    chroma = " ".join(_unit(UNITS / "chroma.service")["Service"]["ExecStart"])
    port = re.search(r"--port (\d+)", chroma)
    assert port and urlparse(settings.chroma_url or "").port == int(port.group(1))
    # nginx on the same machine is the one trusted proxy; the advisor listens on loopback only
    assert settings.trusted_proxies == ["127.0.0.1", "::1"]
    assert settings.host == "127.0.0.1"
    assert settings.rate_limit_storage.startswith("redis://")


def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (the units are still parsed above)")
    # The commands live in /opt/advisor/.venv on a server; here, in this virtualenv.
    venv_bin = Path(sys.executable).parent
    copies = []
    for unit in UNITS.glob("*.service"):
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace("/opt/advisor/.venv/bin/", f"{venv_bin}/"))
        copies.append(str(copy))
    result = subprocess.run(
        [analyze, "verify", "--man=no", *copies], capture_output=True, text=True
    )
    # verify exits 0 on unknown keys and bad values too; it only prints them
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr
    )
