# Grid Service Platform: `make up`, `make test`, `make down`. See README.md.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STACK := deploy/native/stack.sh
SERVICES := deploy/native/services.sh
PYTEST_ARGS ?=

.PHONY: up down test install stack lint typecheck browser-deps clean smoke lint-deploy

$(VENV)/.installed: pyproject.toml constraints.txt
	@command -v python3 >/dev/null || { echo "python3 not found: install Python 3.11+"; exit 1; }
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	@touch $@

install: $(VENV)/.installed
	@$(STACK) install

stack: install
	@$(STACK) start

up: stack
	@$(VENV)/bin/gridctl topics
	@$(VENV)/bin/gridctl demo
	@$(SERVICES) start
	@deploy/native/demo-banner.sh

# The suite includes the console's browser test, so the browser comes first (installed once).
test: stack browser-deps
	$(PY) -m pytest $(PYTEST_ARGS)

# The console's browser test drives Debian's Chromium; CJK fonts make its screenshots readable.
# Installed once (the check is quick); without root, sudo is used when it needs no password.
browser-deps:
	@command -v chromium >/dev/null && fc-list 2>/dev/null | grep -qi wenquanyi || { \
	  echo "installing Debian's chromium and a CJK font for the console's browser test (once)..."; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else \
	    echo "need root to install them: run 'sudo make browser-deps' once (or apt-get install chromium fonts-wqy-microhei)"; \
	    exit 1; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; }

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check shared services tests bench
	$(VENV)/bin/ruff format --check shared services tests bench

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

# A clean virtual environment with the package as the image installs it (no extras), every entry point
# started with the containers' environment against the native stack, /readyz awaited.
smoke: stack
	deploy/smoke/clean_install.sh

# Offline static checks of deploy/: compose, Kubernetes manifests, Dockerfile (linters cached under .run/cache).
lint-deploy: $(VENV)/.installed
	$(VENV)/bin/ruff check deploy/smoke deploy/image
	$(VENV)/bin/ruff format --check deploy/smoke deploy/image
	$(VENV)/bin/mypy --strict deploy/smoke/entry_points.py deploy/image/healthcheck.py
	deploy/lint/lint.sh

down:
	@$(SERVICES) stop
	@$(STACK) stop

clean: down
	rm -rf .run
