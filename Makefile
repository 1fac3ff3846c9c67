# Two commands on a fresh machine: `make run` runs the whole system, `make test` passes the tests.
# Prerequisites: Python 3.11+, Java 17+, Maven, PostgreSQL 15+ server binaries, Go (to build helm),
# Node.js with npm (the AsyncAPI parser).
# Everything else (uv, the Python dependencies, the Kafka jars, helm) is installed by these targets.

SHELL := /bin/bash
PYTHON ?= python3
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
PYTEST_ARGS ?=

.PHONY: help install helm run test test-unit test-integration soak lint format bench schemas infra-up infra-down clean

help:
	@echo "make run      run the whole system (Kafka, PostgreSQL, services, a sample review)"
	@echo "make test     run every test against a real Kafka broker and PostgreSQL server"
	@echo "make soak     the fault-tolerance tests at full size (5,000 commands each; about 20 minutes)"
	@echo "make lint     ruff, mypy (strict on domain modules) and import-linter"
	@echo "make bench    run the benchmarks and print their figures"
	@echo "make schemas  regenerate contracts/schemas (event schemas, AsyncAPI, OpenAPI)"
	@echo "make clean    remove the virtual environment, caches and local state"

$(UV):
	$(PYTHON) -m pip install --quiet uv || $(PYTHON) -m pip install --quiet --user --break-system-packages uv

.venv/.synced: $(UV) pyproject.toml uv.lock */pyproject.toml services/*/pyproject.toml deploy/local/pyproject.toml
	$(UV) sync --frozen
	@touch $@

install: .venv/.synced

# helm for the offline checks of the Helm chart (tests/deploy), built once into ~/.cache/dhr.
helm:
	@bash deploy/helm/install-helm >/dev/null

run: install
	$(UV) run dhr-run

# pytest exits 5 when it collected no test: that is a failure here, never a pass.
test: install helm
	@set +e; $(UV) run pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: no tests were collected" >&2; exit 1; fi; \
	exit $$status

test-unit: install
	$(UV) run pytest tests/unit tests/contract $(PYTEST_ARGS)

test-integration: install
	$(UV) run pytest -m integration $(PYTEST_ARGS)

# The reliability tests at the sizes the fault-tolerance issue asks for; `make test` runs them
# smaller (tests marked `soak` are deselected unless selected).
soak: install
	$(UV) run pytest -m soak tests/reliability $(PYTEST_ARGS)

lint: install
	$(UV) run ruff check .
	$(UV) run mypy contracts/src $(wildcard services/*/src) deploy/local/src
	$(UV) run lint-imports

format: install
	$(UV) run ruff check --fix .

bench: install
	$(UV) run python tests/bench/run.py

schemas: install
	$(UV) run python -m dhr_contracts.schemas
	for service in commissioning panel learning recommendations oversight integration; do \
		$(UV) run dhr-$$service openapi > contracts/schemas/openapi/$$service.json || exit 1; \
	done

infra-up: install
	$(UV) run dhr-local up

infra-down: install
	$(UV) run dhr-local down

clean:
	-$(UV) run dhr-local down 2>/dev/null
	rm -rf .venv .local .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
