# Two commands get a newcomer from a fresh clone to a running pipeline: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIPELINE_HOME := $(CURDIR)
export AIRFLOW_HOME ?= $(CURDIR)/.airflow
# A checkout run through make is a development install (a local pseudonym key is allowed).
export PIPELINE_ENV ?= development

.PHONY: install browser demo test airflow stop lint lock bench bench-peers clean

install: $(STAMP)

# Installs exactly the versions in constraints.txt (a resolved lock), so installs a month apart match.
$(STAMP): pyproject.toml setup.cfg constraints.txt samples/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# setup.cfg builds the package metadata in build/: in plugins/ (on Airflow's sys.path) it would
	@# register the report plugin a second time. Older clones have it there: remove it.
	@mkdir -p build samples/build && rm -rf plugins/*.egg-info
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# samples/ is the sample-submission generator, a development package the pipeline never imports.
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]' -e ./samples
	@touch $(STAMP)

# The sample submissions come from the development package in samples/, which then runs the demo.
demo: install
	$(BIN)/innovation-samples demo

# The report's browser test renders pages in Debian's Chromium: installed once, with apt (as root).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

# Coverage of the package is reported at the end (settings in pyproject.toml). Two pytest-xdist
# workers, each with its own PostgreSQL server and Airflow home. tests/conftest.py schedules whole
# modules (their module-scoped DAG runs are set up once), one worker for the two modules that start
# a whole Airflow deployment (never side by side), one group for the modules that read the shared
# sample warehouse (built once), and starts the long modules first; measurements in the report of
# issue 19's test-time work. TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
test: install browser
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder --cov --cov-report=term $(PYTEST_ARGS)

airflow: install
	$(BIN)/innovation-pipeline serve

stop:
	@if [ -x $(BIN)/innovation-pipeline ]; then $(BIN)/innovation-pipeline warehouse stop; fi

lint: install
	$(BIN)/ruff check plugins samples dags tests benchmarks
	$(BIN)/ruff format --check plugins samples dags tests benchmarks
	$(BIN)/innovation-pipeline sqlfluff lint
	$(BIN)/mypy

# The benchmarks' peers: dlt in the project's virtualenv (the [bench] extra, pinned in
# constraints.txt); earthmover in one of its own (it pins pandas 2.2, the project pandas 3).
BENCH_STAMP := $(VENV)/.bench-installed
EARTHMOVER_VENV := .venv-earthmover
bench-peers: $(BENCH_STAMP) $(EARTHMOVER_VENV)/.installed

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

$(EARTHMOVER_VENV)/.installed: benchmarks/earthmover-requirements.txt
	@test -x $(EARTHMOVER_VENV)/bin/python || $(PYTHON) -m venv $(EARTHMOVER_VENV)
	$(EARTHMOVER_VENV)/bin/python -m pip install --quiet -r benchmarks/earthmover-requirements.txt
	@touch $@

bench: install bench-peers
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

# Regenerates the lock from a clean resolve of pyproject.toml.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet '.[dev,bench]'
	{ echo "# Resolved with Python 3.11 from pyproject.toml; regenerate with 'make lock'."; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable | grep -v '^innovation-pipeline'; } > constraints.txt
	rm -rf .venv-lock

clean: stop
	rm -rf .warehouse .airflow build demo_output
