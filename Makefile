# Two commands set everything up on a fresh machine with Python >= 3.11:
#   make run    create .venv, install digitlab from the pinned constraints, run the main job
#   make test   the same with the test extras, then lint and run the tests (what CI runs)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS := constraints.txt
PIP := $(BIN)/python -m pip install --disable-pip-version-check -q -c $(CONSTRAINTS)

.PHONY: run test notebook bench lock clean help

help:
	@echo "make run    install into $(VENV) and run the main job (digitlab quickstart)"
	@echo "make test   install the test extras into $(VENV), lint, run the tests"
	@echo "make notebook  rebuild and execute notebooks/walkthrough.ipynb in place"
	@echo "make bench  run every benchmark (about an hour; results in benchmarks/results)"
	@echo "make lock   re-resolve the pins in $(CONSTRAINTS) from pyproject.toml"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "digitlab needs Python >= 3.11; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)

# A stamp per extra, remade whenever the dependency declarations change.
$(VENV)/.installed-run: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP) -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP) -e '.[test]'
	@touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/digitlab quickstart

test: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks notebooks
	$(BIN)/python -m pytest

notebook: $(VENV)/.installed-test
	$(BIN)/python notebooks/walkthrough.py

bench: $(VENV)/.installed-test
	$(BIN)/python -m benchmarks

lock: | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[test]'
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e ' > $(CONSTRAINTS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
