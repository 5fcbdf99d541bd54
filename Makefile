# Grid Service Platform: `make up`, `make test`, `make down`. See README.md.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STACK := deploy/native/stack.sh
SERVICES := deploy/native/services.sh
PYTEST_ARGS ?=

.PHONY: up down test install stack lint typecheck bench-intake clean

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
	@echo
	@echo "Grid Service Platform is up."
	@echo "  intake   http://127.0.0.1:8000/docs"
	@echo "  dispatch http://127.0.0.1:8001/readyz"
	@echo "  notify   http://127.0.0.1:8002/docs"
	@echo
	@echo "Submit a request (copy and paste):"
	@echo "  curl -s -X POST http://127.0.0.1:8000/v1/districts/chengzhong/requests -H 'Content-Type: application/json' -H 'Idempotency-Key: demo-1' -d '{\"menu_item_code\":\"errand.groceries\",\"grid_id\":\"xgll-01\",\"resident_name\":\"王仁柱\",\"resident_phone\":\"13800001234\",\"text\":\"十斤米，一桶油\"}'"
	@echo "Follow its status events (Ctrl-C to stop):"
	@echo "  curl -sN http://127.0.0.1:8002/v1/requests/$$($(PY) -c "from shared.request_ids import mint_request_id; from shared.settings import PlatformSettings as S; print(mint_request_id(S().id_signing_key.get_secret_value().encode(), 'chengzhong', 'demo-1'))")/events"

test: stack
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check shared services tests
	$(VENV)/bin/ruff format --check shared services tests

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

down:
	@$(SERVICES) stop
	@$(STACK) stop

clean: down
	rm -rf .run
