# cache-platform — every entry point. On a fresh Debian machine (as root) `make test` installs
# everything it needs: the Debian tools, the virtualenv with the pinned requirements, npm packages.
SHELL := /bin/bash
.DEFAULT_GOAL := help

STACK ?= dev
# STACK reaches shell commands and paths: it must be a stack name ([a-z0-9-]+) before any recipe
# runs, so `make plan STACK='prod;touch pwned'` stops here instead of running the injection.
STACK_CHARS := a b c d e f g h i j k l m n o p q r s t u v w x y z 0 1 2 3 4 5 6 7 8 9 -
strip_chars = $(if $(2),$(call strip_chars,$(subst $(firstword $(2)),,$(1)),$(wordlist 2,$(words $(2)),$(2))),$(1))
ifneq ($(or $(call strip_chars,$(value STACK),$(STACK_CHARS)),$(if $(value STACK),,empty)),)
$(error STACK must be a stack name of lowercase letters, digits and '-')
endif
VENV := .venv
PY := $(VENV)/bin/python
DEBIAN_TOOLS := redis-server redis-tools prometheus prometheus-alertmanager prometheus-redis-exporter \
	postgresql
# The command each Debian package above provides (checked before installing anything); Debian
# keeps PostgreSQL's initdb in /usr/lib/postgresql/<version>/bin, looked at too.
DEBIAN_COMMANDS := redis-server redis-cli promtool amtool prometheus-redis-exporter initdb
PYTEST := $(PY) -m pytest -p no:cacheprovider

.PHONY: help setup test test-fast test-integration test-worker lint plan bench lab drill-backup loadtest loadtest-scenario clean

help:
	@echo "make test                 set up everything, then lint, types and every test"
	@echo "make test-fast            mock and unit tests only (seconds)"
	@echo "make plan STACK=<stack>   offline plan into build/<stack>/ (make exits 2 on any failure;"
	@echo "                          cache-plan --stack <stack> keeps 0 / 1: mandatory violation / 2: bad config)"
	@echo "make bench                benchmarks: plan time and its ratio to the SDK imports, test-fast wall time, Redis failover/throughput, failover write pause, scaling, service kit, invalidation lag, Worker overhead"
	@echo "make lab STACK=<stack>    a real local Redis Cluster from the stack's redis.conf (python -m lab --help)"
	@echo "make drill-backup         backup -> wipe -> restore -> load on the lab, local S3; figures"
	@echo "make loadtest SCENARIO=<name> [EDGE=1]  an ADR validation scenario end to end (build/loadtest/<name>/)"

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
	  command -v $$c >/dev/null 2>&1 || [ -x /usr/sbin/$$c ] || [ -x /usr/bin/$$c ] || \
	  compgen -G "/usr/lib/postgresql/*/bin/$$c" >/dev/null || missing="$$missing $$c"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages (missing:$$missing)"; \
	  if [ "$$(id -u)" != 0 ]; then echo "error: run as root to install: $(DEBIAN_TOOLS)" >&2; exit 1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq --no-install-recommends $(DEBIAN_TOOLS) >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -qq --no-install-recommends $(DEBIAN_TOOLS) >/dev/null; }; \
	  for s in redis-server prometheus prometheus-alertmanager prometheus-redis-exporter postgresql; do \
	    systemctl disable --now $$s >/dev/null 2>&1 || service $$s stop >/dev/null 2>&1 || true; done; \
	fi

setup: $(VENV)/.requirements node_modules/.installed debian-tools

# --- checks and tests ----------------------------------------------------------------------
lint: $(VENV)/.requirements
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pyright

# Compiled modules and pytest's rewritten test modules are cached in __pycache__ (git-ignored)
# even where the environment sets PYTHONDONTWRITEBYTECODE: recompiling them costs each worker
# seconds on every run.
test-fast: $(VENV)/.requirements
	PYTHONDONTWRITEBYTECODE= $(PYTEST) -q -m "not integration" -n 2 --dist loadgroup tests

test-worker: node_modules/.installed $(VENV)/.requirements
	npm run --silent test:worker

test-integration: setup
	$(PYTEST) -q -m integration --durations=15 tests

test: setup lint test-fast test-worker test-integration
	@echo "make test: all checks passed"

# --- the offline plan, benchmarks, lab -----------------------------------------------------
plan: $(VENV)/.requirements
	$(PY) -m plan --stack '$(STACK)'

bench: setup
	$(PY) -m bench.plan_bench
	$(PY) -m bench.loop_bench
	$(PY) -m bench.redis_bench
	$(PY) -m bench.cachekit_bench
	$(PY) -m bench.failover_pause_bench
	$(PY) -m bench.scaling_bench
	$(PY) -m bench.invalidation_bench
	node bench/worker_bench.mjs

lab: setup
	$(PY) -m lab run --stack '$(STACK)'

# The backup runbook rehearsed: a lab, a local S3 on 127.0.0.1 (moto's server), the backup program.
drill-backup: setup
	$(PY) -m lab.backup_drill

clean:
	rm -rf build .pytest_cache .ruff_cache

# SCENARIO is checked before anything is installed (stdlib only); the scenarios are named once,
# in loadtest/scenarios.py.
.PHONY: loadtest-scenario
loadtest-scenario:
	@python3 -m loadtest.scenarios "$(SCENARIO)"

# EDGE=1 puts the edge Worker (workerd via miniflare) in front of the service.
loadtest: loadtest-scenario setup
	$(PY) -m plan --stack $(STACK) >/dev/null || test $$? -eq 1
	$(PY) -m loadtest $(SCENARIO) --conf build/$(STACK)/redis/redis.conf $(if $(EDGE),--edge)
