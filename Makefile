# coherence: `make demo` runs the main job on the shipped example; `make test` runs the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the demo needs the package alone (a text report): not the test extras (a browser driver, Dask, ...)
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: demo demo-agreements test bench lint docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,html]'
	touch $(STAMP)

$(DEMO_STAMP): pyproject.toml $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $(DEMO_STAMP)

# demo-agreements also writes an HTML page: the package and its html extra (Jinja2), no test extras
DEMO_HTML_STAMP := $(VENV)/.installed-demo-html
$(DEMO_HTML_STAMP): pyproject.toml $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[html]'
	touch $(DEMO_HTML_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/coherence check policies/mauritius --explain --as-of 2026-11-23 || test $$? -eq 1

# the 19 real agreements as one batch: the topic matrix on the terminal, then as an HTML page (the
# second run reuses the first one's results from the store); exit 1 is their BLA-GAP findings
AGREEMENTS_HTML := build/agreements-topics.html
demo-agreements: $(DEMO_HTML_STAMP)
	@mkdir -p build
	$(BIN)/coherence batch policies/agreements/*/ --view topics --as-of 2026-11-23 --store build/agreements.sqlite -q \
		|| test $$? -eq 1
	$(BIN)/coherence batch policies/agreements/*/ --view topics --as-of 2026-11-23 --store build/agreements.sqlite -q \
		--format html --output $(AGREEMENTS_HTML) || test $$? -eq 1
	@echo "The topic matrix as a page (sortable, filterable, with each article's text): $(AGREEMENTS_HTML)"

test: $(STAMP)
	$(BIN)/python -m pytest -q

# `make bench SCALE_BENCH_FLAGS=--skip-1m` leaves out the end-to-end check of a million facts;
# the last table is every performance goal (docs/performance.md) as bound, measured, met or not (`GOALS_FLAGS=--quick`)
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/run.py
	$(BIN)/python bench/scale_bench.py $(SCALE_BENCH_FLAGS)
	$(BIN)/python bench/goals.py $(GOALS_FLAGS)

# every shipped policy set: each directory of policies/, and each agreement of policies/agreements/
SETS := $(filter-out policies/agreements/,$(wildcard policies/*/)) $(wildcard policies/agreements/*/)

# every set with the shipped reference facts (the WHO list, the conventions, the SDG targets and
# GCM objectives), as the examples are checked; the reference set itself is read once
lint: $(STAMP)
	$(BIN)/coherence lint --each rulesets $(SETS) bench/rules.rules --with policies/reference
	$(BIN)/coherence fmt --check rulesets policies bench/rules.rules

docs: $(STAMP)
	$(BIN)/python -m coherence_rules.commands.docs .

clean:
	rm -rf $(VENV) build dist *.egg-info
