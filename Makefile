# coherence: `make demo` runs the main job on the shipped example; `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,html]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/coherence check policies/mauritius --explain --as-of 2026-11-23 || test $$? -eq 1

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/run.py

# every shipped policy set: each directory of policies/, and each agreement of policies/agreements/
SETS := $(filter-out policies/agreements/,$(wildcard policies/*/)) $(wildcard policies/agreements/*/)

lint: $(STAMP)
	$(BIN)/coherence lint --each rulesets $(SETS) bench/rules.rules

docs: $(STAMP)
	$(BIN)/python -m coherence_rules.commands.docs .

clean:
	rm -rf $(VENV) build dist *.egg-info
