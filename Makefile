# CityHub — the commands a new user types: `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
CITYHUB_HOME ?= $(CURDIR)/var
export CITYHUB_HOME

.PHONY: run install install-dev system-deps bench-deps lint typecheck test test-fast bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed  ## create .venv and install CityHub

install-dev: $(VENV)/.installed-dev  ## install CityHub with the test and lint tools

# Debian's Chromium and a CJK font for the browser tests (root or passwordless sudo).
system-deps:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi wqy; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] && echo "" || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; \
	fi

run: install  ## migrate, load the Guangzhou demo if empty, serve on http://127.0.0.1:8000
	$(BIN)/cityhub serve --init --host 127.0.0.1 --port 8000

run-sensing: install  ## the MQTT receiver alone (embedded amqtt unless CITYHUB_MQTT_URL); `make run` already runs one in its live demo (CITYHUB_SENSING_DEMO=false to use this instead)
	$(BIN)/cityhub sensing receive

lint: install-dev  ## ruff, mypy and the import contracts
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

test: install-dev system-deps lint  ## lint, types and the whole test suite (SQLite, PostgreSQL, browser)
	$(BIN)/pytest -q -n 2 --dist loadscope

# wrk drives the HTTP load in the catalog benchmark.
bench-deps:
	@command -v wrk >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] && echo "" || echo sudo ); \
	  $$SUDO apt-get install -y -qq wrk >/dev/null; }

bench: install-dev bench-deps  ## run the benchmarks and print figures for BENCHMARKS.md
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
