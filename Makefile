# Targets shared by people and CI. Every target builds the virtualenv it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python

.PHONY: demo test check lint typecheck bench deploy clean reliability

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# The demo needs the runtime requirements plus moto's server (its embedded AWS).
$(VENV)/.demo: $(BIN)/activate requirements.txt requirements-demo.txt
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-demo.txt
	touch $@

$(VENV)/.dev: $(BIN)/activate requirements.txt requirements-demo.txt requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.demo

demo: $(VENV)/.demo
	$(PY) -m demo

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/cfn-lint infra/template.yaml infra/member-role.yaml

# Two pytest-xdist workers, each with its own moto server (the machine has 2 cores). LocalStack
# (REAPER_TEST_ENDPOINT) is one AWS that tests empty between them: there the suite runs in one process.
# Tests are handed out two at a time, slow ones first (tests/conftest.py), so neither worker is left
# with a queue of long tests while the other idles.
TEST_WORKERS ?= $(if $(REAPER_TEST_ENDPOINT),0,2)

test: lint
	$(BIN)/pytest -n $(TEST_WORKERS) --dist load --maxschedchunk 2

# The inner loop: lint, types and the unit tier (no emulator, no subprocess).
check: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest tests/unit

# Re-run the reliability tests and regenerate RELIABILITY.md from their figures.
reliability: $(VENV)/.dev
	$(BIN)/pytest tests/reliability
	$(PY) -m tests.reliability.report

bench: $(VENV)/.dev
	$(PY) -m bench

# Needs only the SAM CLI and a local python3.13 (the function's runtime), not this virtualenv; see README "Deploy to AWS".
deploy:
	sam build --template-file infra/template.yaml && sam deploy --guided

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .aws-sam
