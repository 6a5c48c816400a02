# The two commands a newcomer needs: `make demo` and `make test`. Everything else is a convenience.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
export CLICKPIPE_HOME ?= $(CURDIR)/.clickpipe
export DAGSTER_HOME   := $(CLICKPIPE_HOME)/dagster
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

# The CDK app (infra/cdk) has its own venv (aws-cdk-lib + cdk-nag, ~460 MB) apart from .venv.
CDK_DIR  := infra/cdk
CDK_VENV := $(CDK_DIR)/.venv
CDK_BIN  := $(CDK_VENV)/bin
CDK_PIP  := $(CDK_BIN)/python -m pip --disable-pip-version-check -q
# jsii runs the CDK on the machine's Node 20; these silence its untested/end-of-life banners.
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: demo test test-fast dev bench clean reset synth cdk-test chromium wheelhouse aws-rehearsal postgresql

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

## test: the full suite, what CI runs: set up both venvs, then run its parts side by side (tests/run_parts.py):
##   pytest     every test of tests/ but the three tiers below, spread over $(TEST_WORKERS) workers (pytest-xdist)
##   spark      the Spark parity tests (marker spark: one local Spark for all of them)
##   daemon     the automation scenario on the real Dagster daemon and webserver (mostly waiting on its cadences)
##   cdk        the CDK app's tests (infra/cdk/.venv)
##   rehearsal  the AWS rehearsal (`make aws-rehearsal`: each Glue run starts its own Spark in the emulator)
## Every part runs to its end; each log is printed whole as the part ends (and kept in $(TEST_LOGS)), then a
## table of each part's result, wall time and (as root: a cgroup per part) CPU seconds of all it started, and how busy
## the machine's CPUs were. Each part's pytest has its own --basetemp. The exit status is non-zero if any part failed.
## PYTEST_ADDOPTS reaches every pytest run, e.g. PYTEST_ADDOPTS=--durations=30 make test.
TEST_LOGS := $(CURDIR)/.test-logs
TEST_WORKERS ?= 2
test: $(VENV)/.installed-test $(CDK_VENV)/.installed chromium postgresql
	@$(BIN)/python tests/run_parts.py --logs $(TEST_LOGS) \
	  'pytest=$(BIN)/python -m pytest -m "not spark and not daemon and not rehearsal" -n $(TEST_WORKERS)' \
	  'spark=$(BIN)/python -m pytest -m spark' \
	  'daemon=$(BIN)/python -m pytest -m daemon' \
	  'cdk=$(CDK_BIN)/python -m pytest $(CDK_DIR)/tests' \
	  'rehearsal=$(MAKE) --no-print-directory aws-rehearsal'

## aws-rehearsal: the CLICKPIPE_ENV=aws path end to end on emulators, every call under its own role from
## the synthesized template (rehearsal/README.md). Synthesizes the stack with a short Firehose buffer.
REHEARSAL_OUT := $(CDK_DIR)/cdk.out.rehearsal
aws-rehearsal: $(VENV)/.installed-test $(CDK_VENV)/.installed postgresql
	rm -rf $(REHEARSAL_OUT)
	cd $(CDK_DIR) && .venv/bin/python app.py --outdir cdk.out.rehearsal -c firehose_buffer_seconds=5 -c firehose_buffer_mib=1
	$(BIN)/python -m pytest -m rehearsal -s tests/rehearsal

## postgresql: Debian's PostgreSQL (TLS: the rehearsal's RDS), installed with apt-get when missing (as root, as CI runs)
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing postgresql (apt-get) for the AWS rehearsal's RDS stand-in"; \
	  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql openssl >/dev/null; \
	} || { echo "postgresql is missing and could not be installed: run 'apt-get install postgresql' as root" >&2; exit 1; }

## test-fast: the inner loop: every test of tests/ but the Spark parity tests (marker spark), the daemon scenario
## (daemon), the AWS rehearsal (rehearsal) and the end-to-end tests of whole programs (slow: `make test` runs them),
## spread over $(TEST_WORKERS) workers; the CDK app's tests are `make cdk-test`
test-fast: $(VENV)/.installed-test
	$(BIN)/python -m pytest -m "not spark and not daemon and not rehearsal and not slow" -n $(TEST_WORKERS) -q

## chromium: the headless browser of the dashboard test (Debian's package, driven by Playwright). Checked on
## every run; installed if missing (CI runs as root on a fresh machine; elsewhere install it yourself).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium (apt-get) for the dashboard browser test"; \
	  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	} || { echo "chromium is missing and could not be installed: run 'apt-get install chromium' as root" >&2; exit 1; }

## dev: open the Dagster UI on the same instance the demo used
dev: $(VENV)/.installed-base
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/dagster dev -w workspace.yaml

## bench: benchmarks against named peers (not a test)
bench: $(VENV)/.installed-bench
	$(BIN)/python -m bench.run_all

$(CDK_BIN)/python:
	$(PYTHON) -m venv $(CDK_VENV)
	$(CDK_PIP) install --upgrade pip

$(CDK_VENV)/.installed: $(CDK_BIN)/python $(CDK_DIR)/requirements.txt
	$(CDK_PIP) install -r $(CDK_DIR)/requirements.txt
	$(CDK_BIN)/python -m pip check
	touch $@

## synth: synthesize the CDK app into infra/cdk/cdk.out, offline, cdk-nag enforced (no CDK CLI needed)
synth: $(CDK_VENV)/.installed
	rm -rf $(CDK_DIR)/cdk.out
	cd $(CDK_DIR) && .venv/bin/python app.py

## wheelhouse: download Glue Job 2's wheels (psycopg, ADBC, pyarrow at our pins) for Glue 5.0; before deploying
wheelhouse: $(CDK_VENV)/.installed
	cd $(CDK_DIR) && .venv/bin/python wheelhouse.py

## cdk-test: the CDK app's tests (template assertions, cdk-nag, outputs_to_env)
cdk-test: $(CDK_VENV)/.installed
	$(CDK_BIN)/python -m pytest $(CDK_DIR)/tests

## reset: delete all local state (lake, Dagster instance, database, dashboard)
reset:
	rm -rf $(CLICKPIPE_HOME)

clean: reset
	rm -rf $(VENV)
