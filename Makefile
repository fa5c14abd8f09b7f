# Two entry points (see README): `make repro` runs the pipeline, `make test` runs the tests.
# Both create .venv on first use: torch==2.13.0 (CPU) first, then every other package at the
# exact version in requirements.lock (test, eos and ge2e extras included; eos-py: the Surrey .bin
# loader and the fitting benchmark's baseline; resemblyzer: the GE2E weights), then this package
# without touching them. The lock is a complete freeze, so it installs with --no-deps: nothing
# outside it comes in (resemblyzer's own deps, librosa and the webrtcvad sdist, must not).
# `make lock` rewrites requirements.lock after a dependency change in pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
LOCK_VENV := $(or $(TMPDIR),/tmp)/voice2mesh-lock-venv

.PHONY: setup repro repro-gates test lint lock

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$$(grep '^pip==' $(LOCK))"
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet --no-deps -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

repro: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

# The slower setting behind reports/gates/ (settings/gates.yaml), as a DVC experiment in the
# workspace: `dvc exp show` compares it; `git checkout params.yaml && dvc checkout` goes back.
repro-gates: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc exp run \
		$$($(BIN)/python -m voice2mesh.settings settings/gates.yaml)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# Resolve pyproject.toml's ranges afresh in a scratch venv (newest versions they allow) and
# freeze the result; review the diff, run `make test`, commit. The +cpu label of the local torch
# wheel is dropped so that the line also matches the build on PyPI.
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/pip install --quiet torch==2.13.0
	$(LOCK_VENV)/bin/pip install --quiet -e '.[test,eos]'
	$(LOCK_VENV)/bin/pip install --quiet --no-deps "$$(grep -o 'resemblyzer==[^\"]*' pyproject.toml)"
	{ sed -n '/^#/p' $(LOCK); $(LOCK_VENV)/bin/pip freeze --all --exclude-editable \
		| sed -E 's/^(torch==[^+]*)\+.*/\1/'; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)
	rm -rf $(LOCK_VENV)
