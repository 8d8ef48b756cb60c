# The two set-up commands: `make run` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export FLOWDECK_DATA_DIR ?= $(CURDIR)/.flowdeck

.PHONY: run test browser-test lock lint format bench clean ui ui-test

# Exactly what CI tested: every package pinned with its hashes in
# requirements.lock (`make lock` refreshes it from pyproject.toml).
# Then the client SDK and CLI (sdk/, `flowdeck`), editable: its dependencies
# are in the lock, so --no-deps.
$(VENV)/.installed: requirements.lock sdk/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e sdk/
	touch $@

# Resolve pyproject.toml's ranges (with the dev extra) to the newest versions
# and pin them with hashes. Run it on purpose and commit the lock on its own.
lock: $(VENV)/.installed
	$(PY) -m pip install --quiet 'uv>=0.9,<1'
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --generate-hashes \
		--python-version 3.11 --python-platform linux --no-header --upgrade \
		-o requirements.lock

run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py bootstrap
	$(PY) manage.py check
	$(PY) manage.py run_embedded --port $(PORT)

test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache
	$(MAKE) --no-print-directory ui-test
	$(PY) -m pytest -m "not browser" $(PYTEST_ARGS)
	$(MAKE) --no-print-directory browser-test

# Browser tests in a pytest process of their own: Playwright's sync API runs
# greenlets and an event loop in the test thread, which must not share an
# interpreter with the rest of the suite (it crashed it once). Exit code 5 is
# "no tests collected" (PYTEST_ARGS selected none here).
browser-test: $(VENV)/.installed
	$(PY) -m pytest -m browser $(PYTEST_ARGS) || test $$? -eq 5

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

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
