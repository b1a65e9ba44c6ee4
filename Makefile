# Set-up and entry points; the README's two commands call these targets.
PYTHON ?= python

.PHONY: install install-dev demo test lint format

install:
	$(PYTHON) -m pip install torch==2.13.0 || $(PYTHON) -m pip install "torch>=2.4"
	$(PYTHON) -m pip install -e .

install-dev:
	$(PYTHON) -m pip install torch==2.13.0 || $(PYTHON) -m pip install "torch>=2.4"
	$(PYTHON) -m pip install -e ".[dev]"

demo: install
	$(PYTHON) -m fpr_agents.reasoner

test: install-dev
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m pytest -q

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

format:
	$(PYTHON) -m ruff check --fix .
	$(PYTHON) -m ruff format .
