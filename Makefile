# openclaw-mux — one entry point for what developers and CI run.
#   make venv      create/refresh .venv (re-installs only when requirements or pyproject change)
#   make run       the local stack (moto + API + queue worker), configured by env vars; state kept in .local-state/
#   make run-fresh the same, starting from an empty state
#   make test      lint + type check + all tests (what .ci/run runs)
#   make package   SAM template + zip for STAGE (default dev) in out/$(STAGE), linted with cfn-lint
#   make bench     benchmarks
#   make fuzz      schemathesis + hypothesis against the local stack (FUZZ_SECONDS, FUZZ_MAX_EXAMPLES)
#   make load      concurrent webhooks and sends on the local stack (LOAD_CLIENTS, LOAD_SECONDS)

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
STAGE ?= dev
PYTEST_ARGS ?=

.PHONY: venv run run-fresh test lint typecheck pytest package bench fuzz load clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

run: $(STAMP)
	$(PY) -m local

run-fresh: $(STAMP)
	$(PY) -m local --fresh

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# pytest exits 5 when it collects no tests; an empty suite is not a failure.
pytest: $(STAMP)
	@set +e; $(VENV)/bin/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 0; fi; exit $$rc

test: lint pytest

package: $(STAMP)
	$(PY) infra/package.py --stage $(STAGE) --out out/$(STAGE)

bench: $(STAMP)
	$(PY) -m bench

fuzz: $(STAMP)
	$(PY) -m fuzz

load: $(STAMP)
	$(PY) -m bench.load

clean:
	rm -rf out build dist .mypy_cache .ruff_cache .pytest_cache .chalice/deployments
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -print0 | xargs -0 rm -rf
