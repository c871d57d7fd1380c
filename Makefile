# The two commands of the README. Both set themselves up from nothing.
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed

.PHONY: run test lint install bench clean

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## run: seed the support demo (idempotent, offline), then the server on http://127.0.0.1:8600 (SQLite in ./.stackwright)
run: $(STAMP)
	$(VENV)/bin/stackwright demo seed
	$(VENV)/bin/stackwright serve

## test: the whole suite, SQLite and Postgres (started by scripts/postgres.sh), end to end
test: $(STAMP)
	VENV=$(VENV) scripts/test.sh

## lint: ruff over src, tests and bench; mypy over the package; the import-linter layer contract (all in pyproject.toml)
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(VENV)/bin/python bench/cli_startup.py
	$(VENV)/bin/python bench/sdk_overhead.py
	VENV=$(VENV) $(VENV)/bin/python bench/ingest.py
	$(VENV)/bin/python bench/prompts.py
	$(VENV)/bin/python bench/gateway.py
	VENV=$(VENV) $(VENV)/bin/python bench/retrieval.py
	$(VENV)/bin/python bench/evals.py
	$(VENV)/bin/python bench/guardrails.py
	$(VENV)/bin/python bench/ui.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info src/*.egg-info
