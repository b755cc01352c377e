# Two commands: `make run` installs trigflow into .venv and starts it; `make test` installs the test
# extras and runs the whole suite (lint, unit, store on SQLite+PostgreSQL, integration via the SDK).
# `make client` adds the official SDK and tccli to try the examples with.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: run test lint bench clean client

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "trigflow needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

# A client to try the README's and docs' examples with: the official SDK and tccli, at the versions
# pyproject.toml pins (read from it, so the two never drift). A stamp makes a second call instant.
CLIENT_REQS := import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
	print(" ".join(r for r in p["dependencies"] + p["optional-dependencies"]["test"] \
	if r.startswith(("tencentcloud-", "tccli"))))
$(VENV)/.installed-client: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q $$($(BIN)/python -c '$(CLIENT_REQS)')
	touch $@

client: $(VENV)/.installed-client
	@echo "SDK and tccli in $(VENV); tccli: $(BIN)/tccli (README: a tccli profile for trigflow)"

run: $(VENV)/.installed
	$(BIN)/trigflow up $(ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests tools bench examples
	$(BIN)/lint-imports
	$(BIN)/mypy --strict src

# The suite mostly waits (server start-ups, subprocesses, polling: ~4 min of CPU in ~12 min serially),
# so it runs in pytest-xdist workers, a file per worker at a time (module fixtures and servers stay
# shared within a file). `make test ARGS="-n 0"` or `ARGS="-p no:xdist"` runs it serially.
TEST_WORKERS ?= 4
XDIST := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
test: $(VENV)/.installed-test lint
	sh scripts/ensure-system-packages.sh
	sh scripts/ensure-services.sh
	$(BIN)/python -m pytest $(if $(findstring no:xdist,$(ARGS)),,$(XDIST)) $(ARGS)

bench: $(VENV)/.installed-test
	$(BIN)/python bench/engine_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
