# Two commands work on a fresh clone with only Python 3.11+ and make: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint install migrate seed schema bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## Serve the API with demo data and GraphiQL on http://127.0.0.1:8000/graphql
run: $(STAMP)
	$(BIN)/loyalty migrate
	$(BIN)/loyalty seed
	@echo ""
	@echo "GraphiQL: http://127.0.0.1:8000/graphql"
	@echo "Demo token (send as 'Authorization: Bearer <token>'):"
	@echo "  $(BIN)/loyalty token --member maya@example.com"
	@echo "Reference pages: http://127.0.0.1:8000/me (maya@example.com / demo-password-2026),"
	@echo "  /kiosk and /till (device credential: $(BIN)/loyalty token --device 1, or 2 for the till)"
	@echo ""
	$(BIN)/loyalty serve --host 127.0.0.1 --port 8000

## Run the whole test suite (SQLite + in-process Redis unless LOYALTY_* URLs say otherwise)
test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

migrate: $(STAMP)
	$(BIN)/loyalty migrate

seed: $(STAMP)
	$(BIN)/loyalty seed

schema: $(STAMP)
	$(BIN)/loyalty export-schema --output schema.graphql

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
