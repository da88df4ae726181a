# carewatch: `make demo` starts the whole product, `make test` runs every test.
# Both create .venv and install what they need on first use.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NATIVE := .native/.stamp

.PHONY: install demo test lint unit services browser benchmarks lock clean

# constraints.txt pins every dependency to the versions the suite last passed with, so a
# fresh clone installs what was tested; `make lock` re-resolves it from pyproject.toml.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

# Optional compiled scoring: Cython builds the per-mention scoring modules into .native/
# (never beside the .py files); listener.scoring loads them only while their sources are
# unchanged. No compiler or a failed build: one line, and scoring stays pure Python.
$(NATIVE): $(STAMP) scripts/build_native.py $(wildcard listener/scoring/*.py listener/scoring/*.pxd)
	@$(BIN)/python scripts/build_native.py
	@mkdir -p .native && touch $(NATIVE)

install: $(STAMP) $(NATIVE)

demo: install
	$(BIN)/carewatch demo

services:
	@bash scripts/ensure-services.sh

browser:
	@bash scripts/ensure-chromium.sh

# ruff; the layer contracts in pyproject.toml (imports point down, no cycles); mypy on the
# foundation and storage.
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# Two pytest-xdist workers (this project's machines have 2 cores; most slow tests wait on
# processes and servers, so the two overlap). --dist loadfile keeps each test file on one
# worker: its module fixtures (a dashboard, a Chromium) start once and its tests keep their
# order. TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

test: install services browser lint
	$(PYTEST)

unit: install
	$(PYTEST) -m "not slow and not browser and not postgres"

benchmarks: install services
	$(BIN)/python benchmarks/run_all.py

lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -e '.[dev]'
	{ sed -n '1,2p' constraints.txt; .lock-venv/bin/python -m pip freeze --exclude-editable \
	  | grep -v '^-e'; } > constraints.txt.new && mv constraints.txt.new constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .native artifacts .pytest_cache .ruff_cache *.egg-info
