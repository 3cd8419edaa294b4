# The README's two commands: `make run` (the platform) and `make test` (the whole suite).
VENV ?= .venv
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint

$(VENV)/.runtime: requirements.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt requirements-semantic.txt $(VENV)/.runtime
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt -r requirements-semantic.txt
	touch $@

run: $(VENV)/.runtime
	HOST=$(HOST) PORT=$(PORT) VENV=$(VENV) scripts/run.sh

test: $(VENV)/.dev
	VENV=$(VENV) scripts/test.sh $(ARGS)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .
