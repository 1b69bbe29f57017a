# gtekit developer commands. `make quickstart` and `make test` work on a fresh machine:
# they create .venv, install torch 2.13.0 (CPU) first, then gtekit.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: install install-test quickstart test test-fast check bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) torch==2.13.0
	$(PIP) -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PIP) -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

## quickstart: GTE's stages on offline data (pre-train, mine, fine-tune, compare base/PT/FT/PT+FT), ~25 min
quickstart: $(VENV)/.installed
	$(BIN)/gtekit run recipes/quickstart.yaml

## test: the whole suite (unit tests on tiny random models + a few marked MiniLM tests)
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

## test-fast: skip the tests that load the real MiniLM
test-fast: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -m "not minilm and not slow"

## check: lint
check: $(VENV)/.installed-test
	$(BIN)/ruff check gtekit tests benchmarks

## bench: gtekit's training step vs sentence-transformers (matmul peaks, pairs/s, MFU, memory curve);
## writes benchmarks/results/train-bench-DATE-TIME-HOST.json. Options: make bench ARGS="--batch 1024"
bench: $(VENV)/.installed-test
	$(BIN)/python -m benchmarks.run $(ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
