# Two commands for a fresh machine with Python 3.11+:  make demo  and  make test
# The first Python 3.11+ on PATH, probed once. Every probe's output is silenced: a version manager's shim
# (pyenv, asdf) exists for versions that are not installed and says "command not found" when run.
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for p in python3.13 python3.12 python3.11 python3; do \
  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 \
  && echo $$p && break; done 2>/dev/null)
endif
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test test-sqlite test-postgres insider mutants lint bench cleanup-day drill clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

demo: setup  ## the demo database on SQLite (kept between runs; FRESH=1 rebuilds it), its logins, serve it
	$(BIN)/jifen demo $(if $(FRESH),--fresh) --host 127.0.0.1 --port 8000 --workers 2

test: setup  ## lint, type-check, then the whole suite on SQLite and on PostgreSQL
	$(BIN)/ruff check service tests
	$(BIN)/ruff format --check service tests
	$(BIN)/mypy service
	$(BIN)/pytest -q -p no:cacheprovider
	JIFEN_TEST_DATABASE=postgres $(BIN)/pytest -q -p no:cacheprovider

test-sqlite: setup
	$(BIN)/pytest -q

test-postgres: setup
	JIFEN_TEST_DATABASE=postgres $(BIN)/pytest -q

insider: setup  ## the automated insider (tests/integration/test_insider.py), longer, on SQLite then PostgreSQL
	JIFEN_INSIDER_EXAMPLES=$${JIFEN_INSIDER_EXAMPLES:-25} JIFEN_INSIDER_STEPS=$${JIFEN_INSIDER_STEPS:-60} JIFEN_INSIDER_RANDOM=1 \
	  $(BIN)/pytest -q -s -p no:cacheprovider tests/integration/test_insider.py
	JIFEN_INSIDER_EXAMPLES=$${JIFEN_INSIDER_EXAMPLES:-25} JIFEN_INSIDER_STEPS=$${JIFEN_INSIDER_STEPS:-60} JIFEN_INSIDER_RANDOM=1 \
	  JIFEN_TEST_DATABASE=postgres $(BIN)/pytest -q -s -p no:cacheprovider tests/integration/test_insider.py

mutants: setup  ## break rules on purpose (tests/mutants.py), one at a time: the tests must catch each
	$(BIN)/python tests/mutants.py

lint: setup
	$(BIN)/ruff check service tests && $(BIN)/ruff format --check service tests && $(BIN)/mypy service

bench: setup  ## benchmarks (not part of the test suite); wrk is the HTTP load generator
	command -v wrk >/dev/null || apt-get install -y wrk
	for b in bench/*_bench.py; do $(BIN)/python $$b || exit 1; done

cleanup-day: setup  ## a city's clean-up day (bench/cleanup_day_bench.py, 10-15 min at full scale); SCALE=0.02 runs small
	command -v wrk >/dev/null || apt-get install -y wrk
	$(BIN)/python bench/cleanup_day_bench.py --scale $${SCALE:-1}

drill: setup  ## failover drill: Patroni + etcd (Debian packages), kill -9 the primary under bank traffic
	command -v patroni >/dev/null && command -v etcd >/dev/null || apt-get install -y patroni etcd-server
	$(BIN)/python bench/failover_drill.py --seconds $${DRILL_SECONDS:-60}

clean:
	rm -rf $(VENV) jifen-demo.db* .pytest_cache .mypy_cache .ruff_cache
