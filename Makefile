# make run | make test | make bench — see README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements.stamp
HOST ?= 127.0.0.1
PORT ?= 5000
# Empty: webmap/gunicorn_conf.py decides (2 sync workers per core; WEB_WORKERS, WEB_THREADS in the environment).
WORKERS ?=

.PHONY: setup system-deps db run dev test bench db-stop clean

NPM_STAMP := node_modules/.package-lock.stamp

setup: system-deps $(STAMP) $(NPM_STAMP)
	@$(PY) -m webmap.i18n compile

system-deps:
	@bash scripts/system-deps.sh

# Reinstalls only when requirements.txt changed since the last install.
$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

# Front-end packages, pinned in package.json and package-lock.json, served by the app itself.
$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@

db: setup
	@if [ -z "$$DATABASE_URL" ]; then $(PY) -m geodata.localdb start; fi
	$(PY) -m geodata.migrate

run: db
	$(PY) -m etl demo --if-empty
	@echo "Serving on http://$(HOST):$(PORT)"
	$(VENV)/bin/gunicorn -c webmap/gunicorn_conf.py $(if $(WORKERS),--workers $(WORKERS)) --bind $(HOST):$(PORT) --access-logfile - --no-control-socket 'webmap:create_app()'

dev: db
	$(PY) -m etl demo --if-empty
	$(VENV)/bin/flask --app webmap run --debug --host $(HOST) --port $(PORT)

test: setup
	$(PY) -m pytest

bench: db
	$(PY) -m bench

db-stop:
	@test -x $(PY) && $(PY) -m geodata.localdb stop || true

clean: db-stop
	rm -rf $(VENV) var bench/data node_modules
