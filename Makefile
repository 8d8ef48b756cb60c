# The two set-up commands: `make run` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export FLOWDECK_DATA_DIR ?= $(CURDIR)/.flowdeck

.PHONY: run test lint format bench clean ui ui-test

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py bootstrap
	$(PY) manage.py check
	$(PY) manage.py run_embedded --port $(PORT)

test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(MAKE) --no-print-directory ui-test
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(VENV)/.installed
	$(PY) benchmarks/engine.py
	$(PY) benchmarks/throughput.py

# The browser UI: sources in frontend/, the built bundle committed in static/ui/
# (so `make run` needs no Node). `make ui` rebuilds it after a change.
frontend/node_modules/.package-lock.json: frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund

ui: frontend/node_modules/.package-lock.json
	cd frontend && npm run build

ui-test: frontend/node_modules/.package-lock.json
	cd frontend && npm run typecheck && npm test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
