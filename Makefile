# riskscore — one command to set up and run the demo, one to run the tests.
PY      ?= python3.11
VENV    ?= .venv
BIN     := $(VENV)/bin
HOME_DIR ?= .riskscore
DEMO_STUDENTS ?= 20000
DEMO_YEARS ?= 6
PORT    ?= 8000
export RISKSCORE_HOME ?= $(abspath $(HOME_DIR))

.PHONY: help install demo demo-data test test-fast lint typecheck bench soak clean system-deps

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/ —/'

$(BIN)/riskscore: pyproject.toml
	@command -v $(PY) >/dev/null || { echo "need $(PY) (Python 3.11)"; exit 1; }
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

install: $(BIN)/riskscore  ## create .venv and install riskscore with dev extras

system-deps:  ## PostgreSQL, chromium and wrk from Debian (needs root; used by tests and benchmarks)
	bash scripts/system-deps.sh

demo: install  ## install, generate data, build features, train, register, promote, score, monitor, serve
	bash scripts/demo.sh

demo-data: install  ## only generate the synthetic cohort and the feature table
	$(BIN)/riskscore synth --students $(DEMO_STUDENTS) --years $(DEMO_YEARS) --first-year 2019-20 --seed 7 --out $(RISKSCORE_HOME)/data
	$(BIN)/riskscore features --data $(RISKSCORE_HOME)/data --out $(RISKSCORE_HOME)/data/features.parquet

test: install  ## the whole suite; as root it installs and starts PostgreSQL and chromium first
	bash scripts/test.sh

test-fast: install  ## the suite without browser, e2e, slow and Spark tests
	$(BIN)/pytest -q -p no:cacheprovider -m "not browser and not e2e and not slow and not spark" tests

lint: install  ## ruff, mypy and the architecture contract (import-linter, in pyproject.toml)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install  ## all benchmarks (riskscore on SQLite and, as root or with RISKSCORE_BENCH_POSTGRES_URL, PostgreSQL); rewrites benchmarks/RESULTS.md
	$(BIN)/pip install -q -e ".[dev,bench]"
	if [ -z "$${RISKSCORE_BENCH_POSTGRES_URL:-}" ] && [ "$$(id -u)" = 0 ]; then \
	  RISKSCORE_BENCH_POSTGRES_URL=$$(bash scripts/start-postgres.sh riskscore_bench --fresh) && export RISKSCORE_BENCH_POSTGRES_URL; fi; \
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

soak: install  ## longer fuzzing and load runs
	RISKSCORE_SOAK=1 $(BIN)/pytest -q -p no:cacheprovider -m "soak or e2e" tests/test_load.py tests/test_fuzz.py

clean:  ## remove local state (keeps .venv)
	rm -rf $(HOME_DIR) build *.egg-info
