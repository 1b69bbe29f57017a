# gtekit developer commands. `make quickstart` and `make test` work on a fresh machine:
# they create .venv, install torch 2.13.0 (CPU) first, then gtekit.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: install install-test quickstart ablations adapt-eval test faults test-fast check claims bench lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Exact versions from the committed locks (requirements/*.lock, with hashes): torch first, then the lock
# with --no-deps, then gtekit itself. `make lock` regenerates the locks.
INSTALL_LOCK = $(PIP) --no-deps --require-hashes -r
INSTALL_SELF = $(PIP) --no-deps --no-build-isolation -e .

$(VENV)/.installed: pyproject.toml requirements/base.lock | $(BIN)/python
	$(PIP) torch==2.13.0
	$(INSTALL_LOCK) requirements/base.lock
	$(INSTALL_SELF)
	touch $@

$(VENV)/.installed-test: requirements/test.lock $(VENV)/.installed
	$(INSTALL_LOCK) requirements/test.lock
	$(INSTALL_SELF)
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

## quickstart: GTE's stages on offline data (pre-train, mine, fine-tune, merge on dev, compare on test), ~22 min
quickstart: $(VENV)/.installed
	$(BIN)/gtekit run recipes/quickstart.yaml

## ablations: GTE Tables 9, 10, 11, batch size and τ in miniature (recipes/ablations.yaml), then the tables,
## plots and docs/results/ablations.json (docs/ablations.md), ~40 min on 2 cores; a rerun goes on where it stopped
ablations: $(VENV)/.installed
	$(BIN)/python -m benchmarks.ablations $(ARGS)

## adapt-eval: gtekit adapt on each evaluation corpus of benchmarks/adapt_sets (documents only), then base vs
## adapted on the sets' real queries and the general tasks (docs/results/adapt-eval.json, docs/adapt.md), ~30 min a set
adapt-eval: $(VENV)/.installed
	$(BIN)/python -m benchmarks.adapt_eval $(ARGS)

## test: the whole suite (unit tests on tiny random models + a few marked MiniLM tests), then `make faults`
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -m "not faults"
	$(MAKE) --no-print-directory faults

## faults: crashes injected at seeded points (SIGKILL, truncated files, hostile requests), outputs compared
## byte for byte with uninterrupted runs; prints how many faults were injected and bytes compared
FAULTS_REPORT ?= .pytest_cache/faults.jsonl
faults: $(VENV)/.installed-test
	mkdir -p $(dir $(FAULTS_REPORT)) && rm -f $(FAULTS_REPORT)
	GTEKIT_FAULTS_REPORT=$(abspath $(FAULTS_REPORT)) $(BIN)/python -m pytest -q -m faults
	$(BIN)/python -m tests.fault_injection $(FAULTS_REPORT)

## test-fast: skip the tests that load the real MiniLM
test-fast: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -m "not minilm and not slow"

## check: lint (ruff), then the package contracts (lint-imports: packages import downwards, no import cycle;
## [tool.importlinter] in pyproject.toml) and the package rules of tests/test_package_layout.py
check: $(VENV)/.installed-test
	$(BIN)/ruff check gtekit tests benchmarks
	$(BIN)/lint-imports --no-cache
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_package_layout.py

## claims: every number of a measured README table is in the committed results file its comment names
claims: $(VENV)/.installed-test
	$(BIN)/python -m benchmarks.claims

## bench: gtekit's training step vs sentence-transformers (matmul peaks, pairs/s, MFU, memory curve);
## writes benchmarks/results/train-bench-DATE-TIME-HOST.json. Options: make bench ARGS="--batch 1024"
bench: $(VENV)/.installed-test
	$(BIN)/python -m benchmarks.run $(ARGS)

## lock: regenerate requirements/{test,base}.lock from pyproject.toml (pip-compile with hashes, torch left out:
## it is installed first). Keeps the locked versions that still fit; ARGS=--upgrade moves to the newest.
LOCK_VENV ?= .venv-lock
LOCK_OPTIONS = --generate-hashes --unsafe-package torch --unsafe-package gtekit --strip-extras \
	--no-emit-index-url --no-emit-find-links --quiet -c requirements/torch.txt $(ARGS)
lock:
	test -x $(LOCK_VENV)/bin/pip-compile || ($(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install -q pip-tools)
	$(LOCK_VENV)/bin/pip-compile pyproject.toml --extra test $(LOCK_OPTIONS) -o requirements/test.lock
	$(LOCK_VENV)/bin/pip-compile pyproject.toml -c requirements/test.lock $(LOCK_OPTIONS) -o requirements/base.lock

clean:
	rm -rf $(VENV) $(LOCK_VENV) runs .pytest_cache .ruff_cache
