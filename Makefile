# Hearth: the few commands a host or a contributor needs.
#
#   make run     one node with a demo room, on the embedded memory broker
#   make test    everything CI checks: lint, types, the whole suite with coverage
#
# Python tools live in a project-local .venv made here. System packages (python3-venv,
# redis-server, chromium, and the deploy/ checkers: caddy, nginx, coturn, systemd) come from
# apt-get, and only when make runs as root; otherwise a warning names what is missing and
# the run goes on.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
# Prerequisites run in the order written (apt before the venv, lint before the suite).
.NOTPARALLEL:

VENV  := .venv
BIN   := $(VENV)/bin
PY    := $(BIN)/python
# Touched after a successful install; pip runs again only when pyproject.toml is newer.
STAMP := $(VENV)/.installed
AXE_DIR := tests/integration/browser/axe
AXE     := $(AXE_DIR)/node_modules/axe-core/axe.min.js

# Each check prints the Debian package to install when what it looks for is missing.
CHECK_VENV     := python3 -c 'import ensurepip' >/dev/null 2>&1 || echo python3-venv
CHECK_REDIS    := command -v redis-server >/dev/null || echo redis-server
CHECK_CHROMIUM := test -x /usr/bin/chromium || echo chromium
CHECK_SENTINEL := command -v redis-sentinel >/dev/null || echo redis-sentinel
# What tests/integration/test_deploy_files.py validates deploy/ with (it fails without them in CI).
CHECK_CADDY    := command -v caddy >/dev/null || echo caddy
CHECK_NGINX    := test -x /usr/sbin/nginx || echo nginx
CHECK_COTURN   := command -v turnserver >/dev/null || echo coturn
CHECK_SYSTEMD  := command -v systemd-analyze >/dev/null || echo systemd
# npm installs axe-core for the accessibility audit (tests only, never served).
CHECK_NPM      := command -v npm >/dev/null || echo npm

# $(call apt_ensure,CHECKS): install the packages the checks name, with one apt-get update,
# when running as root; otherwise warn. Does nothing when every check passes.
# Services are never started by the install (nginx's would take port 80 and fail the install
# where it is taken): a policy-rc.d that refuses every start stands in while apt runs, unless
# the machine has one already. Tests start the daemons they need themselves.
define apt_ensure
missing="$$( { $(1); } | xargs )"; \
if [ -z "$$missing" ]; then exit 0; fi; \
if [ "$$(id -u)" -eq 0 ]; then \
	echo "make: installing system packages: $$missing"; \
	policy=/usr/sbin/policy-rc.d; \
	if [ ! -e "$$policy" ]; then \
		trap 'rm -f "$$policy"' EXIT; \
		printf '#!/bin/sh\nexit 101\n' > "$$policy"; chmod 0755 "$$policy"; \
	fi; \
	apt-get update -qq; \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
else \
	echo "make: WARNING: missing system packages: $$missing" >&2; \
	echo "make: WARNING: install them with: sudo apt-get install $$missing" >&2; \
fi
endef

.PHONY: help test run lint fmt clean distclean test-packages axe

# List the targets.
help:
	@echo "make run        start one node with a demo room (prints facilitator and invite links)"
	@echo "make test       install what the tests need, then lint, type-check and run the suite"
	@echo "make lint       ruff and mypy only"
	@echo "make fmt        format the code and apply ruff's safe fixes"
	@echo "make clean      remove caches and coverage data (keeps .venv and .data)"
	@echo "make distclean  clean, and remove .venv too"

# The whole check, as CI runs it (.ci/run). Stops at the first failing step.
test: test-packages lint $(AXE)
	HYPOTHESIS_PROFILE=ci $(BIN)/pytest \
		--cov=rooms --cov-branch \
		--cov-report=term-missing:skip-covered --cov-fail-under=95

# Start one node on the memory broker with a demo room; open its two links in two browsers.
run: $(STAMP)
	exec $(BIN)/hearth serve --demo --data-dir .data

# Static checks only: lint, formatting, strict types (mypy's file list is in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Rewrite the code into house format and apply ruff's automatic fixes.
fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Remove caches, coverage data and test artifacts; the venv and .data (room definitions) stay.
clean:
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis htmlcov tests/artifacts
	rm -f .coverage .coverage.* coverage.xml
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

# Back to a fresh checkout (apart from .data): clean, plus the venv and build metadata.
distclean: clean
	rm -rf $(VENV) *.egg-info $(AXE_DIR)/node_modules

# System packages the integration tests use: redis-server, redis-sentinel and Chromium (and
# venv support), and the tools that validate deploy/: caddy, nginx, coturn, systemd-analyze.
test-packages:
	@$(call apt_ensure,$(CHECK_VENV); $(CHECK_REDIS); $(CHECK_CHROMIUM); $(CHECK_SENTINEL); \
		$(CHECK_CADDY); $(CHECK_NGINX); $(CHECK_COTURN); $(CHECK_SYSTEMD))

# axe-core for tests/integration/browser/test_accessibility.py, at the version the lock file
# pins, installed only when missing or when the lock file changes.
axe: $(AXE)
$(AXE): $(AXE_DIR)/package.json $(AXE_DIR)/package-lock.json
	@$(call apt_ensure,$(CHECK_NPM))
	npm ci --prefix $(AXE_DIR) --no-audit --no-fund --loglevel=error
	touch $@

# Install the project and its test tools into the venv, again only when pyproject.toml changes.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# Create the venv (python3-venv first, from apt when root) unless one is already there.
$(PY):
	@$(call apt_ensure,$(CHECK_VENV))
	python3 -m venv $(VENV)
