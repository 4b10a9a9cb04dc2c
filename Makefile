# Field CRM — every target creates the virtual environment on first use, so a fresh clone needs
# nothing but Python 3.11+ (and, for the server's PostgreSQL tests, a reachable PostgreSQL).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export QT_QPA_PLATFORM ?= offscreen

.PHONY: run test lint format bench server dist clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: start the desktop app on the default profile (migrates the store first)
run: QT_QPA_PLATFORM :=
run: $(STAMP)
	$(BIN)/crm-desktop $(ARGS)

## test: the whole test suite (server tests also on PostgreSQL when CRM_TEST_POSTGRES_URL is set)
test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

## lint: ruff (lint + format check) and mypy
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## bench: print the performance figures against the targets in DESIGN.md
bench: $(STAMP)
	$(BIN)/python -m bench

## server: run the head-office server on 127.0.0.1:8400 (SQLite file unless DATABASE_URL is set)
server: $(STAMP)
	$(BIN)/crm-server init
	$(BIN)/crm-server serve --host 127.0.0.1 --port 8400

## dist: one-folder PyInstaller build in dist/FieldCRM
dist: $(STAMP)
	$(BIN)/pyinstaller --noconfirm --clean build.spec

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache
