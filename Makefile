# openclaw-mux — one entry point for what developers and CI run.
#   make venv      create/refresh .venv (re-installs only when requirements or pyproject change) and the
#                  Lambda wheel cache .venv/lambda-wheels (so `make package` needs no network afterwards)
#   make run       the local stack (moto + API + queue worker), configured by env vars; state kept in .local-state/
#   make run-fresh the same, starting from an empty state
#   make test      lint + type check + all tests (what .ci/run runs)
#   make package   SAM template + zip for STAGE (default dev) in out/$(STAGE), linted with cfn-lint
#   make infra     for `chalice deploy`: the table, queues, key, role and alarms of STAGE as their own stack
#   make bench     the issue #15 figures and the suites' tables (BENCH_QUICK=1: a shorter run; BENCH_QUEUED=n)
#   make fuzz      schemathesis + hypothesis against the local stack (FUZZ_SECONDS, FUZZ_MAX_EXAMPLES)
#   make load      concurrent webhooks and sends on the local stack (LOAD_CLIENTS, LOAD_SECONDS)
#   make browser-deps  Chromium from the OS packages, for the dashboard's browser test (root; idempotent)
#   make relay     the Discord gateway relay (relay/, `python -m relay`), configured by env vars (README)

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
STAGE ?= dev
PYTEST_ARGS ?=
# Test files run in parallel processes, a file's tests together (its module-scoped local stack started once).
PYTEST_WORKERS ?= 2

.PHONY: venv run run-fresh test lint typecheck pytest package infra bench fuzz load relay browser-deps clean

# The Lambda wheel cache is checked on every `make venv` (a few ms) and refetched only when stale.
venv: $(STAMP)
	@$(PY) -m infra.wheels --if-stale

$(STAMP): requirements.txt requirements-dev.txt relay/requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing the dependencies into $(VENV) (first run: a minute or more; pip's progress follows)…"
	$(PY) -m pip install --progress-bar on --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(PY) -m infra.wheels --if-stale
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
	@set +e; $(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 0; fi; exit $$rc

test: lint pytest

package: $(STAMP)
	$(PY) -m infra.package --stage $(STAGE) --out out/$(STAGE)

infra: $(STAMP)
	$(PY) -m infra.deploy --stage $(STAGE)

bench: $(STAMP)
	$(PY) -m bench

fuzz: $(STAMP)
	$(PY) -m fuzz

load: $(STAMP)
	$(PY) -m bench.load

relay: $(STAMP)
	$(PY) -m relay

# Debian's chromium (driven by Playwright's Python package; never `playwright install`, which downloads a browser).
browser-deps:
	@if [ -x /usr/bin/chromium ]; then echo "chromium: $$(/usr/bin/chromium --version 2>/dev/null || echo installed)"; \
	else apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; fi

clean:
	rm -rf out build dist .mypy_cache .ruff_cache .pytest_cache .chalice/deployments
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -print0 | xargs -0 rm -rf
