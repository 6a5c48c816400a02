# The two commands a newcomer needs: `make demo` and `make test`. Everything else is a convenience.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
export CLICKPIPE_HOME ?= $(CURDIR)/.clickpipe
export DAGSTER_HOME   := $(CLICKPIPE_HOME)/dagster
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test dev bench clean reset

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.installed-base: $(BIN)/python pyproject.toml
	$(PIP) install -e '.[dev]'
	$(BIN)/python -m pip check
	touch $@

# The tests include the Spark engine's parity tests: the spark extra (PySpark; Java 17 on PATH).
$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(PIP) install -e '.[dev,test,spark]'
	$(BIN)/python -m pip check
	touch $@ $(VENV)/.installed-base

$(VENV)/.installed-bench: $(VENV)/.installed-test
	$(PIP) install -e '.[dev,test,spark,bench]'
	$(BIN)/python -m pip check
	touch $@

## demo: set up .venv and run the whole pipeline on a generated sample, offline
demo: $(VENV)/.installed-base
	$(BIN)/clickpipe demo

## test: set up .venv with the test extras and run the test suite
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

## dev: open the Dagster UI on the same instance the demo used
dev: $(VENV)/.installed-base
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/dagster dev -w workspace.yaml

## bench: benchmarks against named peers (not a test)
bench: $(VENV)/.installed-bench
	$(BIN)/python -m bench.run_all

## reset: delete all local state (lake, Dagster instance, database, dashboard)
reset:
	rm -rf $(CLICKPIPE_HOME)

clean: reset
	rm -rf $(VENV)
