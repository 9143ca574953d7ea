# Every target creates .venv and installs what it needs into it: `run`, `serve` and `report`
# only what a user installs; `test`, `lint` and `bench` the dev tools too (whose pytest plugins,
# schemathesis and hypothesis, slow every pytest start by seconds).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
USER_STAMP := $(VENV)/.installed-user
DEV_STAMP := $(VENV)/.installed-dev
COV_MIN ?= 93

.PHONY: run test cov lint serve bench bench-load report clean

$(USER_STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[semantic]'
	@touch $(USER_STAMP)

$(DEV_STAMP): $(USER_STAMP)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(DEV_STAMP)

## run: the example scenarios against the embedded sandbox, then the HTML report, even when one fails
run: $(USER_STAMP)
	@status=0; $(PY) -m pytest scenarios -p no:cacheprovider --flowtest-coverage || status=$$?; \
	$(VENV)/bin/flowtest report || echo "flowtest: no HTML report (see above); the Allure results are in reports/allure-results"; \
	if [ $$status -ne 0 ]; then echo "flowtest: the run failed (pytest exit $$status); the report shows why"; fi; \
	exit $$status

## report: the HTML report (one file) from the last run's Allure results
report: $(USER_STAMP)
	$(VENV)/bin/flowtest report

## test: the whole test suite of flowtest itself, on every core, under coverage (subprocesses
## included), failing below COV_MIN percent; a quick local loop: .venv/bin/pytest -m "not slow" -x
test: $(DEV_STAMP)
	rm -rf .coverage && mkdir -p .coverage
	$(VENV)/bin/coverage run -m pytest -n auto -p no:cacheprovider
	$(VENV)/bin/coverage combine -q 2>/dev/null || $(VENV)/bin/coverage combine
	@# What combine could not read: a child the tests kill (SIGKILL) leaves its data file empty.
	rm -f .coverage/data.*
	$(VENV)/bin/coverage report --fail-under=$(COV_MIN)

## cov: make test, then the coverage report as HTML in reports/coverage (what no test reaches)
cov: test
	$(VENV)/bin/coverage html -q -d reports/coverage

## lint: ruff and mypy --strict, as CI runs them
lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check flowtest tests benchmarks conftest.py
	$(VENV)/bin/ruff format --check flowtest tests benchmarks conftest.py
	$(VENV)/bin/mypy --strict flowtest

## serve: the sandbox on http://127.0.0.1:8765
serve: $(USER_STAMP)
	$(VENV)/bin/flowtest serve

## bench: the benchmarks, and the README's table regenerated from them (not run by CI)
bench: $(DEV_STAMP)
	$(PY) benchmarks/run.py --readme README.md

## bench-load: flowtest load vs a plain Locust script and vs --flowtest-concurrency (not run by CI)
bench-load: $(DEV_STAMP)
	$(PY) benchmarks/load.py

clean:
	rm -rf $(VENV) .coverage node_modules reports/allure-results reports/allure-report .pytest_cache .mypy_cache .ruff_cache
