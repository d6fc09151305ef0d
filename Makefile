# Two commands do all set-up on a fresh machine (Python >= 3.11):
#   make demo   create .venv, install veil, sanitize the bundled example data
#   make test   create .venv, install veil with dev tools, run ruff, mypy and pytest
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

$(BIN)/veil: pyproject.toml requirements/ner.txt hatch_build.py src/veil/transforms/_cryptobatch.c
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/ner.txt
	touch $(BIN)/veil

.PHONY: demo test lint bench bench-http bench-text bench-bulk bench-console bench-report
demo: $(BIN)/veil
	$(BIN)/veil demo

lint: $(BIN)/veil
	$(BIN)/ruff check src tests benchmarks hatch_build.py
	$(BIN)/mypy

# SoftHSM2 (a Debian package) backs the HSM tests; Debian's Chromium the console's browser
# tests (driven by Playwright, which downloads nothing). Without them those tests skip and
# say why (.ci/run requires the browser: VEIL_REQUIRE_BROWSER=1).
test: lint
	@command -v softhsm2-util >/dev/null 2>&1 || apt-get install -y -qq softhsm2 >/dev/null 2>&1 \
	  || { apt-get update -qq && apt-get install -y -qq softhsm2; } >/dev/null 2>&1 \
	  || echo "softhsm2 could not be installed: the HSM tests (tests/keys) will be skipped"
	@command -v chromium >/dev/null 2>&1 || apt-get install -y -qq chromium >/dev/null 2>&1 \
	  || { apt-get update -qq && apt-get install -y -qq chromium; } >/dev/null 2>&1 \
	  || echo "chromium could not be installed: the console browser tests will be skipped"
	$(BIN)/pytest

bench: $(BIN)/veil
	$(BIN)/python benchmarks/bench_core.py

bench-http: $(BIN)/veil
	$(BIN)/python benchmarks/bench_http.py

bench-text: $(BIN)/veil
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/bench_text.py

bench-bulk: $(BIN)/veil
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/bench_bulk.py

bench-console: $(BIN)/veil
	$(BIN)/python benchmarks/bench_console.py

# every benchmark in a quick mode (~10 min): benchmarks/report.md and its charts
bench-report: $(BIN)/veil
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/report.py
