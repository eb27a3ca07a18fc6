# vanthu: `make run` brings the whole system up; `make test` runs the test suite.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
VENV := .venv
PY := $(VENV)/bin/python
UV := .tools/bin/uv
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: help install run test bench faults lint typecheck format stack-up stack-down stack-status stack-logs stack-reset clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install -q --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON_DOWNLOADS=never $(UV) sync --frozen --all-extras --python $(PYTHON)
	touch $@

install: $(VENV)/.installed ## create .venv and install the locked dependencies

run: install ## start Kafka, PostgreSQL and every service; print where to look; Ctrl-C stops them
	$(PY) -m deploy.run

test: install ## lint and type-check, bring up the stack (or reuse it), run the whole test suite
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m deploy.cli stack up
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install ## run the benchmarks (not part of `make test`; BENCH_SCALE=0.05 for a quick smoke run, BENCH_ARGS="queries audit" for some); writes tests/bench/results.{json,md}
	$(PY) -m deploy.cli stack up
	$(PY) -m tests.bench $(BENCH_ARGS)

faults: install ## the full fault run: kills, broker and Postgres restarts, poison records, bad input, intruders
	$(PY) -m deploy.cli stack up
	VANTHU_FAULTS=1 $(PY) -m pytest tests/faults $(PYTEST_ARGS)

lint: install ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install ## mypy --strict over schemas, producers, processors, api and deploy
	$(VENV)/bin/mypy

format: install ## apply ruff's formatter and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

stack-up: install ## start the local Kafka and PostgreSQL (idempotent)
	$(PY) -m deploy.cli stack up
stack-down: install ## stop everything the stack started
	$(PY) -m deploy.cli stack down
stack-status: install ## show each broker and Postgres with their ports
	$(PY) -m deploy.cli stack status
stack-logs: install ## tail every log of the stack
	$(PY) -m deploy.cli stack logs
stack-reset: install ## stop the stack and delete its data (the jar cache stays)
	$(PY) -m deploy.cli stack reset

clean: ## remove the virtualenv and tool folders (not the stack's data)
	rm -rf $(VENV) .tools
