# Every target creates .venv and installs the project into it when needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
RESULTS := reports/allure-results

.PHONY: run test lint serve bench bench-load report clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## run: the example scenarios against the embedded sandbox, Allure results in reports/
run: $(STAMP)
	$(PY) -m pytest scenarios -p no:cacheprovider --alluredir=$(RESULTS) --clean-alluredir
	@# Without Node.js the results are still there; the report command says what to install.
	-$(VENV)/bin/flowtest report --results $(RESULTS)

## report: the HTML report (one file) from the last run's Allure results
report: $(STAMP)
	$(VENV)/bin/flowtest report --results $(RESULTS)

## test: the whole test suite of flowtest itself
test: $(STAMP)
	$(PY) -m pytest

## lint: ruff and mypy --strict, as CI runs them
lint: $(STAMP)
	$(VENV)/bin/ruff check flowtest tests benchmarks conftest.py
	$(VENV)/bin/mypy --strict flowtest

## serve: the sandbox on http://127.0.0.1:8765
serve: $(STAMP)
	$(VENV)/bin/flowtest serve

## bench: the benchmarks (not run by CI)
bench: $(STAMP)
	$(PY) benchmarks/run.py

## bench-load: flowtest load vs a plain Locust script and vs --flowtest-concurrency (not run by CI)
bench-load: $(STAMP)
	$(PY) benchmarks/load.py

clean:
	rm -rf $(VENV) node_modules reports/allure-results reports/allure-report .pytest_cache .mypy_cache .ruff_cache
