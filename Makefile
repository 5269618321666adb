# Carat — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PORT ?= 8000
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: run test install lint format check-deploy services browser-deps clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

## make run: set up, load the demo program, start web + worker + beat (SQLite, no servers).
## Development mode is asked for here: the settings' default is production.
run: export DJANGO_DEBUG = true
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py setup_roles
	$(PY) manage.py loaddemo
	$(PY) manage.py setup_periodic_tasks
	$(PY) manage.py wallet_dev_certs
	@echo ""
	@echo "  Carat is starting on http://127.0.0.1:$(PORT)/"
	@echo "    Member account   http://127.0.0.1:$(PORT)/account/   member@carat.example / carat-demo"
	@echo "    POS scan page    http://127.0.0.1:$(PORT)/pos/       shop@carat.example / carat-demo (Antwerp)"
	@echo "    CRM console      http://127.0.0.1:$(PORT)/admin/     marketing@carat.example / carat-demo"
	@echo "                     (store manager: manager@carat.example, integrations: integration@carat.example)"
	@echo "    API docs         http://127.0.0.1:$(PORT)/api/docs/"
	@echo ""
	CARAT_RUN_PORT=$(PORT) PORT=$(PORT) $(BIN)/honcho start

## make test: the whole suite on PostgreSQL (DATABASE_URL overrides the local default).
test: install browser-deps
	$(PY) -m pytest

## make drill: fault drills (broker down, worker killed mid-send, PostgreSQL restart under
## load, the console on a streaming replica on 5498) on a private PostgreSQL (5499) and
## Redis (6391); results in drills/results.md.
.PHONY: drill
drill: install
	$(PY) drills/run.py

browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "chromium could not be installed: browser tests will be skipped"; }

## make lint: format, lint, and the layering contract (pyproject's [tool.importlinter]).
lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check-deploy: install
	DJANGO_DEBUG=false DJANGO_SECRET_KEY=$$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=') \
	  DJANGO_ALLOWED_HOSTS=carat.example DATABASE_URL=sqlite:///var/check.sqlite3 \
	  $(PY) manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) var db.sqlite3

## make bench: the scale benchmark on PostgreSQL (1,000,000 members; not part of `make test`).
.PHONY: bench bench-small
bench: install
	$(PY) bench/run.py

bench-small: install
	$(PY) bench/run.py --small
