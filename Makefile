# Everything runs from the project's own virtualenv in .venv, created on demand.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
STAGE ?= dev
# Node 20 is past end of life for jsii; CDK still works, so keep the banner quiet.
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONPATH := functions:.

# A bare `make` lists the targets instead of (re)building the virtualenv.
.DEFAULT_GOAL := help

.PHONY: help venv dev test lint format synth deploy bench bench-scale clean fuzz load

help: ## list the targets with what they do (the `##` comment after each)
	@grep -E '^[A-Za-z_-]+:.*## ' $(MAKEFILE_LIST) \
		| awk 'BEGIN {FS = ":.*## "}; {printf "  %-10s %s\n", $$1, $$2}'

$(INSTALLED): requirements.txt requirements-lake.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(INSTALLED) ## create .venv from requirements-dev.txt (every target that needs it does this)

dev: venv ## run the whole product locally on http://127.0.0.1:8000 (PORT=... overrides)
	$(PY) -m devtools.dev

.PHONY: admin-key
admin-key: venv ## create an admin API key (NAME=...) in the configured key table; printed once
	@test -n "$(NAME)" || { echo "usage: make admin-key NAME=<who it is for>"; exit 2; }
	$(PY) -m devtools.admin_key --name "$(NAME)"

.PHONY: stats-check
stats-check: venv ## recount every series from the bars; reports (and exits 1 on) any drift of series_stats
	$(PY) -m devtools.check_stats

.PHONY: backfill
backfill: venv ## backfill now, locally: SYMBOLS=AAPL,BTC-USD START=2024-01-01 END=2024-03-31 TIMEFRAMES=1d,1h (all optional)
	$(PY) -m devtools.run_backfill --symbols "$(SYMBOLS)" --timeframes "$(TIMEFRAMES)" --start "$(START)" --end "$(END)"

.PHONY: sql
sql: venv ## DuckDB over the local lake make dev writes: views bars, splits, dividends (Q="SELECT ..." runs one query)
	$(PY) -m devtools.sql --query "$(Q)"

test: venv ## the full test suite against a real (embedded) PostgreSQL
	bash scripts/ensure-browser.sh
	$(PY) -m pytest -n 2 --dist loadfile

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

synth: venv node_modules/.package-lock.json ## cdk synth of both stacks into cdk.out/ (offline, no Docker)
	npx cdk synth --quiet -c stage=$(STAGE)

deploy: venv node_modules/.package-lock.json ## cdk deploy (needs AWS credentials); STAGE=prod for production
	npx cdk deploy --all -c stage=$(STAGE)

bench: venv ## benchmarks against their floors; rewrites docs/PERFORMANCE.md
	$(PY) -m bench $(BENCH_ARGS)

bench-scale: venv ## the warehouse at 10 M and 100 M bars (not in CI: ~20 min, ~35 GB of disk, checked first)
	$(PY) -m bench.scale

fuzz: venv ## schema fuzzing of every operation with many examples (FUZZ_EXAMPLES, default 200), fresh randomness
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-200} FUZZ_RANDOM=1 $(PY) -m pytest tests/reliability/test_api_fuzzing.py -q -s

load: venv ## bounded load on 127.0.0.1 (LOAD_ARGS="--clients 8 --requests 6000 --seconds 60"); rewrites docs/RELIABILITY.md
	$(PY) -m devtools.load --write-docs $(LOAD_ARGS)

lint: venv ## ruff (lint + format check), mypy (strict) and the import rule, as CI and pre-commit run them
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: venv ## fix what ruff can (ruff check --fix) and format (ruff format)
	$(VENV)/bin/ruff check --fix --exit-zero .
	$(VENV)/bin/ruff format .

clean: ## remove local state: the embedded database, cdk.out and tool caches (not .venv)
	rm -rf .local cdk.out .pytest_cache .mypy_cache .ruff_cache
