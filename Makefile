# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all venv test lint typecheck pytest postgres chromium mosquitto demo sim screenshots clean

all: test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed; installing python3-venv"; \
		apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# The suite on PYTEST_WORKERS pytest-xdist workers (`make test PYTEST_WORKERS=1` runs it in one process). Most tests
# wait on loopback I/O and simulated latency rather than the CPU, so more workers than cores pay: BENCHMARKS.md
# ("Test suite") has the measurements behind the default. The long tests start first (tests/conftest.py); tests
# marked with one xdist_group run on one worker, one after the other.
PYTEST_WORKERS ?= 4

pytest: $(STAMP) postgres chromium mosquitto
	$(BIN)/pytest $(if $(filter-out 0 1,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist loadgroup)

test: lint typecheck pytest

# The PostgreSQL tests (tests/pg, and the store tests' postgresql half) start their own server from Debian's
# binaries (initdb + postgres, run as the `postgres` user, on 127.0.0.1, in a temporary directory: tests/pg/server.py).
# Installed here only when missing; in CI (CI=true) a machine without them fails those tests, never skips them.
postgres:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 \
		|| [ -n "$$RINGVAULT_TEST_PG_BINDIR" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "installing PostgreSQL for the tests (apt-get install postgresql)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	else \
		echo "PostgreSQL is missing: run \`sudo apt-get install postgresql\` (the tests in tests/pg need it)"; \
	fi

# The web UI's browser tests (tests/ui) drive Debian's Chromium headless through Playwright (no browser download:
# Playwright is pointed at /usr/bin/chromium). Installed here only when missing; in CI a machine without it fails
# those tests, never skips them.
chromium:
	@if [ -x /usr/bin/chromium ] || [ -n "$$RINGVAULT_TEST_CHROMIUM" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "installing Chromium for the web UI tests (apt-get install chromium)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "Chromium is missing: run \`sudo apt-get install chromium\` (the tests in tests/ui need it)"; \
	fi

# The MQTT bridge's tests (tests/mqtt) start their own Mosquitto brokers from Debian's package (on 127.0.0.1, free
# ports, a password file, in temporary directories: tests/mqtt/broker.py). Installed here only when missing; in CI
# (CI=true) a machine where it cannot be installed stops here, and a machine without it fails those tests, never
# skips them.
mosquitto:
	@if [ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null 2>&1 \
		|| [ -n "$$RINGVAULT_TEST_MOSQUITTO" ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "installing Mosquitto for the MQTT tests (apt-get install mosquitto)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >/dev/null \
		|| { echo "could not install mosquitto (the tests in tests/mqtt need it)"; [ "$$CI" != true ]; }; \
	else \
		echo "Mosquitto is missing: run \`sudo apt-get install mosquitto\` (the tests in tests/mqtt need it)"; \
		[ "$$CI" != true ]; \
	fi

demo: $(STAMP)
	$(BIN)/python -m ringvault.demo

# The web UI's screenshots (docs/screenshots/<page>.png), made by its browser tests (tests/ui).
screenshots: $(STAMP) chromium
	RINGVAULT_UI_SCREENSHOTS=docs/screenshots $(BIN)/pytest tests/ui -q $(if $(filter-out 0 1,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist loadgroup)

sim: $(STAMP)
	$(BIN)/ringvault sim --port 8765

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
