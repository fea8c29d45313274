# cache-platform — every entry point. On a fresh Debian machine (as root) `make test` installs
# everything it needs: the Debian tools, the virtualenv with the pinned requirements, npm packages.
SHELL := /bin/bash
.DEFAULT_GOAL := help

STACK ?= dev
VENV := .venv
PY := $(VENV)/bin/python
DEBIAN_TOOLS := redis-server redis-tools prometheus prometheus-alertmanager prometheus-redis-exporter
# The command each Debian package above provides (checked before installing anything).
DEBIAN_COMMANDS := redis-server redis-cli promtool amtool prometheus-redis-exporter
PYTEST := $(PY) -m pytest -p no:cacheprovider

.PHONY: help setup test test-fast test-integration test-worker lint plan bench lab clean

help:
	@echo "make test                 set up everything, then lint, types and every test"
	@echo "make test-fast            mock and unit tests only (seconds)"
	@echo "make plan STACK=<stack>   offline plan into build/<stack>/ (exit 1: mandatory violation, 2: bad config)"
	@echo "make bench                benchmarks: plan time and its ratio to the SDK imports, test-fast wall time, Redis failover/throughput, Worker overhead"
	@echo "make lab STACK=<stack>    a real local Redis Cluster from the stack's rendered redis.conf"

# --- set-up --------------------------------------------------------------------------------
$(VENV)/.requirements: requirements.txt pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

.PHONY: debian-tools
debian-tools:
	@missing=""; for c in $(DEBIAN_COMMANDS); do \
	  command -v $$c >/dev/null 2>&1 || [ -x /usr/sbin/$$c ] || [ -x /usr/bin/$$c ] || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages (missing:$$missing)"; \
	  if [ "$$(id -u)" != 0 ]; then echo "error: run as root to install: $(DEBIAN_TOOLS)" >&2; exit 1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq --no-install-recommends $(DEBIAN_TOOLS) >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -qq --no-install-recommends $(DEBIAN_TOOLS) >/dev/null; }; \
	  for s in redis-server prometheus prometheus-alertmanager prometheus-redis-exporter; do \
	    systemctl disable --now $$s >/dev/null 2>&1 || service $$s stop >/dev/null 2>&1 || true; done; \
	fi

setup: $(VENV)/.requirements node_modules/.installed debian-tools

# --- checks and tests ----------------------------------------------------------------------
lint: $(VENV)/.requirements
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pyright

test-fast: $(VENV)/.requirements
	$(PYTEST) -q -m "not integration" -n 2 tests

test-worker: node_modules/.installed $(VENV)/.requirements
	npm run --silent test:worker

test-integration: setup
	$(PYTEST) -q -m integration tests

test: setup lint test-fast test-worker test-integration
	@echo "make test: all checks passed"

# --- the offline plan, benchmarks, lab -----------------------------------------------------
plan: $(VENV)/.requirements
	$(PY) -m plan --stack $(STACK)

bench: setup
	$(PY) -m bench.plan_bench
	$(PY) -m bench.loop_bench
	$(PY) -m bench.redis_bench
	node bench/worker_bench.mjs

lab: setup
	$(PY) -m plan --stack $(STACK) >/dev/null || test $$? -eq 1
	$(PY) -m lab.cluster --conf build/$(STACK)/redis/redis.conf $$($(PY) -c \
	  'from pathlib import Path; from plan.runner import prepare_config; \
	   r = prepare_config(Path("Pulumi.$(STACK).yaml"))[2].redis; \
	   print(f"--primaries {r.primaries} --replicas {r.replicas_per_primary}")')

clean:
	rm -rf build .pytest_cache .ruff_cache
