# Two commands: `make run` installs trigflow into .venv and starts it; `make test` installs the test
# extras and runs the whole suite (lint, unit, store on SQLite+PostgreSQL, integration via the SDK).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: run test lint bench clean

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

run: $(VENV)/.installed
	$(BIN)/trigflow up $(ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests tools bench examples
	$(BIN)/lint-imports
	$(BIN)/mypy --strict src

test: $(VENV)/.installed-test lint
	sh scripts/ensure-services.sh
	$(BIN)/python -m pytest $(ARGS)

bench: $(VENV)/.installed-test
	$(BIN)/python bench/engine_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
