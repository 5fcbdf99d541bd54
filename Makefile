# Grid Service Platform: `make up`, `make test`, `make down`. See README.md.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STACK := deploy/native/stack.sh
SERVICES := deploy/native/services.sh
PYTEST_ARGS ?=

.PHONY: up down test install stack lint typecheck browser-deps clean

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

test: stack
	$(PY) -m pytest $(PYTEST_ARGS)

# The console's browser test drives Debian's Chromium; CJK fonts make its screenshots readable.
browser-deps:
	@command -v chromium >/dev/null && fc-list 2>/dev/null | grep -qi wenquanyi || { \
	  echo "installing Debian's chromium and a CJK font (once)..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; }

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check shared services tests bench
	$(VENV)/bin/ruff format --check shared services tests bench

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

down:
	@$(SERVICES) stop
	@$(STACK) stop

clean: down
	rm -rf .run
