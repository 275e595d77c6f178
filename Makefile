# Two commands set everything up on a fresh machine with Python >= 3.11:
#   make run    create .venv, install digitlab from the pinned constraints, run the main job
#   make test   the same with the test extras, then lint and run the tests (what CI runs)
#   make check  the quick loop while developing: lint and the tests that train nothing
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS := constraints.txt
PIP := $(BIN)/python -m pip install --disable-pip-version-check -q -c $(CONSTRAINTS)

.PHONY: run test check notebook bench lock clean help vendor fonts shipped-model

help:
	@echo "make run    install into $(VENV) and run the main job (digitlab quickstart)"
	@echo "make test   install the test extras into $(VENV), lint, run the tests (what CI runs)"
	@echo "make check  lint and the tests that train nothing: the quick loop while developing"
	@echo "make notebook  rebuild and execute notebooks/walkthrough.ipynb in place"
	@echo "make bench  run every benchmark (about an hour; results in benchmarks/results)"
	@echo "make lock   re-resolve the pins in $(CONSTRAINTS) from pyproject.toml"
	@echo "make shipped-model  train, export and ship the default recipe's model into the package (about 20 min)"
	@echo "make fonts  install the handwriting fonts the writers benchmark reads (apt-get)"
	@echo "make vendor install onnxruntime-web (npm ci) into the package for the on-device app"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "digitlab needs Python >= 3.11; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)

# The on-device app's runtime: onnxruntime-web from npm (pinned by package-lock.json), its wasm files
# copied into the Python package so that `digitlab app` needs no Node. npm comes from apt when missing.
VENDOR := src/digitlab/serving/web/vendor
ORT_DIST := node_modules/onnxruntime-web/dist
ORT_FILES := ort.wasm.bundle.min.mjs ort-wasm-simd-threaded.wasm ort-wasm-simd-threaded.mjs
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

$(VENDOR)/.installed: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends nodejs npm; }
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	mkdir -p $(VENDOR)
	cd $(ORT_DIST) && cp $(ORT_FILES) $(CURDIR)/$(VENDOR)/
	@touch $@

vendor: $(VENDOR)/.installed

# A stamp per extra, remade whenever the dependency declarations change.
$(VENV)/.installed-run: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP) -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(PIP) -e '.[test]'
	@touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run $(VENDOR)/.installed
	$(BIN)/digitlab quickstart

# The tests run in one process per core (pytest-xdist); those that share the real-MNIST model run in one of
# them (--dist loadgroup, see tests/conftest.py), so it is trained once.
test: $(VENV)/.installed-test $(VENDOR)/.installed
	$(BIN)/ruff check src tests benchmarks notebooks
	$(BIN)/python -m pytest -n auto --dist loadgroup

check: $(VENV)/.installed-test $(VENDOR)/.installed
	$(BIN)/ruff check src tests benchmarks notebooks
	$(BIN)/python -m pytest -m "not trains" -q

notebook: $(VENV)/.installed-test
	$(BIN)/python notebooks/walkthrough.py

# The handwriting fonts benchmarks/hands.py reads as writers MNIST lacks (Debian packages).
HAND_FONTS := fonts-dkg-handwriting fonts-breip fonts-bwht fonts-humor-sans fonts-comic-neue \
	fonts-dancingscript fonts-kaushanscript fonts-kristi

fonts:
	@dpkg -s $(HAND_FONTS) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(HAND_FONTS); }

# The model that ships in the package (src/digitlab/shipped): the default recipe, exported, with its mark model.
SHIPPED_RUN := runs/shipped/default
shipped-model: $(VENV)/.installed-test
	$(BIN)/digitlab train --recipe default --out $(SHIPPED_RUN) --overwrite --quiet
	$(BIN)/digitlab export $(SHIPPED_RUN)
	$(BIN)/digitlab train-marks $(SHIPPED_RUN)
	$(BIN)/python -m benchmarks.ship $(SHIPPED_RUN)

bench: $(VENV)/.installed-test fonts
	$(BIN)/python -m benchmarks

lock: | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[test]'
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e ' > $(CONSTRAINTS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache node_modules $(VENDOR)
