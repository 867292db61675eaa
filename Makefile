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

.PHONY: install demo test airflow stop lint lock bench clean

install: $(STAMP)

# Installs exactly the versions in constraints.txt (a resolved lock), so installs a month apart match.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

demo: install
	$(BIN)/innovation-pipeline demo

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

airflow: install
	$(BIN)/innovation-pipeline airflow standalone

stop:
	@if [ -x $(BIN)/innovation-pipeline ]; then $(BIN)/innovation-pipeline warehouse stop; fi

lint: install
	$(BIN)/ruff check plugins dags tests benchmarks
	$(BIN)/ruff format --check plugins dags tests benchmarks
	$(BIN)/innovation-pipeline sqlfluff lint

bench: install
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

# Regenerates the lock from a clean resolve of pyproject.toml.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet '.[dev]'
	{ echo "# Resolved with Python 3.11 from pyproject.toml; regenerate with 'make lock'."; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable | grep -v '^innovation-pipeline'; } > constraints.txt
	rm -rf .venv-lock

clean: stop
	rm -rf .warehouse .airflow build demo_output
