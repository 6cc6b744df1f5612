# AnomaLens has two commands:
#   make run    set up .venv, migrate, create an admin login, start the web
#               server on http://127.0.0.1:8000/ and the background worker
#   make test   install the test requirements and run the whole test suite
#               (make test-postgres runs it on PostgreSQL with Redis as broker)
# Everything else here is a step of those two.

SHELL := /bin/bash
.DEFAULT_GOAL := run

# PYTHON: interpreter that creates the virtual environment. Default: python3.11.
PYTHON ?= python3.11
# VENV: folder of the virtual environment. Default: .venv in the project.
VENV ?= .venv
# ADDRESS: where the web server listens. Default: 127.0.0.1:8000 (loopback only).
ADDRESS ?= 127.0.0.1:8000
# PYTEST_ARGS: options for pytest. Default: one worker process per CPU (xdist),
# each with its own test database.
PYTEST_ARGS ?= -n auto
# FIRST_START: a step run after migrate and before the server starts, for
# work that must happen once a fresh database exists (demo data, a first
# trained model). Default: run `manage.py first_start` if an app provides that
# command, else nothing. Override on the command line: make run FIRST_START=true
FIRST_START ?= if $(PY) manage.py help first_start >/dev/null 2>&1; then \
	$(PY) manage.py first_start; fi

# TEST_DATABASE_URL / TEST_REDIS_URL: the PostgreSQL database and Redis
# database of `make test-postgres`. The suite creates and drops its own
# test_<name> databases (one per xdist worker) on that server.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/anomalens_ci
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

PY := $(VENV)/bin/python

.PHONY: run test test-postgres

run: $(VENV)/.installed-runtime
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v0
	@$(PY) -m anomalens_site.create_admin
	@$(FIRST_START)
	@echo "Starting the web server on http://$(ADDRESS)/ and the background worker."
	@echo "Press Ctrl-C to stop both."
	@trap 'kill $$server $$worker 2>/dev/null; wait' EXIT; \
	$(PY) manage.py qcluster & worker=$$!; \
	$(PY) manage.py runserver $(ADDRESS) & server=$$!; \
	wait -n $$server $$worker

test: $(VENV)/.installed-dev
	$(PY) -m pytest $(PYTEST_ARGS)

test-postgres: $(VENV)/.installed-dev
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
		$(PY) -m pytest $(PYTEST_ARGS)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Stamp files: reinstall only when a requirements file changes.
$(VENV)/.installed-runtime: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed-runtime
