# The README's two commands: `make run` and `make test`. Both work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMA_PORT ?= 8765
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run test install ingest serve lint typecheck eval bench clean browser nginx services

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 2; }
	$(PYTHON) -m venv $(VENV)

# torch first, pinned to the local CPU wheel: a plain torch requirement would pull CUDA builds.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Idempotent: embeds only what changed, does nothing when the index is current.
ingest: install
	$(BIN)/advisor ingest

serve: install
	$(BIN)/advisor serve --host 127.0.0.1 --port 8000

run: ingest serve

lint: install
	$(BIN)/ruff check server ingest tests
	$(BIN)/mypy

eval: ingest
	$(BIN)/advisor eval tests/eval/dev.yaml tests/eval/tuning

bench: install
	$(BIN)/python docs/benchmark.py

# Debian's chromium for the browser tests (Playwright drives it; it never downloads a browser).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }
	@/usr/bin/chromium --version

# Debian's nginx for tests/test_proxy.py (the test runs it itself, as a non-daemon on a
# loopback port with its own config; the package's own service is not used), and openssl for
# the certificate tests/test_deploy_files.py checks the TLS configuration with.
nginx:
	@{ test -x /usr/sbin/nginx && test -x /usr/bin/openssl; } || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nginx openssl >/dev/null; }
	@/usr/sbin/nginx -v

# Debian's PostgreSQL and Redis for the store tests: each test starts its own server on a
# loopback port (tests/services.py); nothing runs as a system service.
services:
	@{ ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && test -x /usr/bin/redis-server; } || \
		{ $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install \
		-y -qq --no-install-recommends postgresql redis-server >/dev/null; }
	@ls /usr/lib/postgresql/*/bin/postgres && /usr/bin/redis-server --version

test: install browser nginx services
	$(BIN)/ruff check server ingest tests
	$(BIN)/mypy
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
