# The two commands of the quick start: `make dev` and `make test`. Both bootstrap what they need.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
export UV_PYTHON_DOWNLOADS := never
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
UV := $(PYTHON) -m uv

.PHONY: install dev test lint typecheck pytest fuzz services layer synth openapi bench clean

$(VENV)/.installed: pyproject.toml uv.lock
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen --extra dev --python $(PYTHON)
	$(BIN)/python -m compileall -q layers/shared/python functions >/dev/null
	@touch $@

install: $(VENV)/.installed

dev: install
	$(BIN)/workflow-scheduler dev

services:
	@scripts/start_services.sh

# Always run: the script is quick when nothing changed, and it also refreshes the 3.12 bytecode of our code.
layer: install
	scripts/build_layer.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy layers/shared/python functions infra_cdk bench

pytest: install services layer
	$(BIN)/pytest -q

# schemathesis over docs/openapi.json against a fresh local system of its own (under a minute).
fuzz: install
	$(BIN)/python scripts/fuzz.py

test: lint typecheck pytest fuzz

synth: install layer
	CDK_OUTDIR=cdk.out $(BIN)/python infra_cdk/app.py

openapi: install
	$(BIN)/workflow-scheduler openapi > docs/openapi.json

# On demand, never in the tests: the request paths at 1k, 100k and 1M triggers in a database of their own
# (bench/scale.py; about 10 minutes, most of it loading 10M firings). `make bench SIZES=1000,100000` for less.
# Then reconcile at RECONCILE_SIZES cron triggers on moto (bench/reconcile.py; 10k takes about 3 minutes, 100k about
# 30; at 1M only a sample of shards fits: `.venv/bin/python bench/reconcile.py --sizes 1000000 --sample-shards 3`).
SIZES ?= 1000,100000,1000000
RECONCILE_SIZES ?= 1000,10000
bench: install services
	$(BIN)/python bench/scale.py --sizes $(SIZES) --reconcile-sizes $(RECONCILE_SIZES)

clean:
	rm -rf $(VENV) build cdk.out .pytest_cache .mypy_cache .ruff_cache
