# The README's two commands: `make run` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000
# Two processes: the suite is I/O-bound on databases and browsers; each xdist worker gets its own
# PostgreSQL database (tests/conftest.py).
PYTEST_ARGS ?= -n 2

.PHONY: run test lint migrate seed serve clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime-installed $@

migrate: $(VENV)/.runtime-installed
	$(FLASK) db upgrade

seed: migrate
	$(FLASK) seed-demo

## make run: install, migrate, seed the demo organisation once, then serve web and worker
run: seed
	@echo
	@echo "Back office: http://$(HOST):$(PORT)/login  (public form: http://$(HOST):$(PORT)/complaint)"
	@echo
	HOST=$(HOST) PORT=$(PORT) $(BIN)/honcho start -f Procfile

## make test: the same set-up plus test tools, then lint and the whole suite
test: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .

bench: $(VENV)/.dev-installed
	@echo "see bench/RESULTS.md: how to run each benchmark, and the latest figures"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
