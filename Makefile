# Two entry points: `make run` (install, then serve on the embedded PostgreSQL
# unless OMS_DATABASE_URL is set) and `make test` (install, then every check).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# What running needs, and what testing adds, each pinned by a lock file (see docs/operations.md).
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed-dev

.PHONY: run test install lock lint typecheck unit bench clean

CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(BIN)/pip:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): requirements.lock pyproject.toml | $(BIN)/pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(RUN_STAMP)

$(STAMP): requirements-dev.lock pyproject.toml | $(BIN)/pip
	$(BIN)/pip install --quiet -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP) $(RUN_STAMP)

install: $(RUN_STAMP)

# Pin every dependency again after changing pyproject.toml (needs uv: pip install uv).
lock:
	uv pip compile pyproject.toml --quiet --universal --python-version 3.11 -o requirements.lock
	uv pip compile pyproject.toml --quiet --universal --python-version 3.11 --extra dev -o requirements-dev.lock

# The support page's test drives Debian's Chromium (no browser download); install it if missing.
$(CHROMIUM):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium || \
	  { $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; }

run: $(RUN_STAMP)
	$(BIN)/oms serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) $(CHROMIUM) lint typecheck
	$(BIN)/pytest

# Every benchmark beside its floor, on the PostgreSQL at OMS_BENCH_SERVER (default: 127.0.0.1:5432).
bench: $(STAMP) /usr/bin/wrk
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	# The Emmett peer, from the npm registry (left out of the run where there is no node).
	if command -v npm >/dev/null; then npm ci --prefix bench/emmett --no-audit --no-fund --silent; fi
	$(BIN)/python -m bench.run $(BENCH_ARGS)

/usr/bin/wrk:
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk || \
	  { $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk; }

unit: $(STAMP)
	$(BIN)/pytest tests/unit tests/property

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
