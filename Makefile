# sessionkit: build and test entry points. `make help` lists the targets.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.sessionkit-installed
EXTRAS ?= redis
# Dependency groups (pyproject's [dependency-groups], never published) for working on sessionkit.
GROUPS ?= test dev
PYTEST_ARGS ?=
LINT_PATHS := sessionkit tests demo_project soak benchmarks manage.py
# Branch coverage of sessionkit/ fails `make test` (and `make test-sqlite`) under this total.
COVERAGE_MIN ?= 95
# Each pass measures branch coverage of sessionkit/. Within `make test` the passes add to
# one .coverage (erased first) and the last one, test-sqlite, reports the combined total.
COV_APPEND ?=
COV = --cov=sessionkit --cov-branch $(COV_APPEND)
# Examples per property in `make fuzz` (about 25 s in all on this 2-CPU machine).
FUZZ_EXAMPLES ?= 2500
# e.g. SOAK_ARGS="--clients 80 --seconds 15" (the budget stays 60 s unless --budget says).
SOAK_ARGS ?=
# make test, tox and CI refuse to run without Django's own session suite (never skip it).
export SESSIONKIT_TEST_REQUIRE_DJANGO_SUITE := 1

.DEFAULT_GOAL := help
BENCH_STAMP := $(VENV)/.sessionkit-bench-installed
DEMO_STAMP := $(VENV)/.sessionkit-demo-installed
PORT ?= 8000

.PHONY: help venv dist-check memcached chromium screenshots django-suite coverage-erase test test-sqlite test-postgres test-notz fuzz soak bench bench-micro matrix lint format typecheck tox demo clean distclean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "error: sessionkit needs Python 3.11+; '$(PYTHON)' is $$($(PYTHON) -V 2>&1)." >&2; \
	  echo "       run e.g. 'make PYTHON=python3.12 ...'" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]' $(foreach g,$(GROUPS),--group $(g))
	@touch $@

$(BENCH_STAMP): pyproject.toml | $(STAMP)
	$(PY) -m pip install --quiet -e '.[redis]' --group test --group bench
	@touch $@

# The demo needs Django and, for DEMO_SESSION_ENGINE=redis, the redis extra: no test tools.
$(DEMO_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[redis]'
	@touch $@

venv: $(STAMP) ## create .venv and install sessionkit with its extras (only when pyproject.toml changed)

lint: venv ## ruff check and ruff format --check
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

format: venv ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix $(LINT_PATHS)
	$(BIN)/ruff format $(LINT_PATHS)

typecheck: venv ## mypy --strict on the package and the soak
	$(BIN)/mypy sessionkit soak

# memcached for the cache store's tests (Debian's package; Redis and PostgreSQL come from
# tests/servers). Where it cannot be installed, those tests skip and say why.
memcached: ## install memcached for the cache store's tests (apt-get, as root), if missing
	@command -v memcached >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make: installing memcached (apt-get)"; \
	    (apt-get install -y -qq memcached >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq memcached >/dev/null 2>&1)) || \
	    echo "make: could not install memcached; its tests will skip"; \
	  else echo "make: no memcached on PATH; its tests will skip (apt-get install memcached)"; fi; }

# Chromium for the browser tests (tests/e2e/test_browser.py, driven by Playwright's Python
# API with this executable; never `playwright install`). Where it cannot be installed,
# those tests skip and say why.
chromium: ## install Chromium for the browser tests (apt-get, as root), if missing
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make: installing chromium (apt-get)"; \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1)) || \
	    echo "make: could not install chromium; the browser tests will skip"; \
	  else echo "make: no chromium on PATH; the browser tests will skip (apt-get install chromium)"; fi; }

screenshots: django-suite chromium ## retake the README's screenshots in docs/ (the browser tests, db store)
	SESSIONKIT_SCREENSHOTS=1 $(PY) -m pytest -q -p no:randomly tests/e2e/test_browser.py -k db $(PYTEST_ARGS)

django-suite: venv memcached ## fetch Django's own session test suite for the installed Django (once)
	$(PY) -m tests.django_suite

coverage-erase: venv
	$(BIN)/coverage erase

test-sqlite: django-suite chromium ## the whole suite on SQLite, with the branch coverage report
	$(PY) -m pytest $(COV) --cov-report=term-missing:skip-covered --cov-fail-under=$(COVERAGE_MIN) $(PYTEST_ARGS)

# The PostgreSQL pass runs the tests marked `db`. It is skipped (not failed) only while
# no test carries that mark; tests/servers/ finds or starts the server.
test-postgres: django-suite ## the tests marked `db`, on PostgreSQL
	@rc=0; $(PY) -m pytest -q --collect-only -m db -p no:cacheprovider >/dev/null 2>&1 || rc=$$?; \
	if [ $$rc -eq 5 ]; then \
	  echo "make: no tests are marked 'db' yet; PostgreSQL pass skipped"; \
	else \
	  echo "SESSIONKIT_TEST_DB=postgresql pytest -m db $(PYTEST_ARGS)"; \
	  SESSIONKIT_TEST_DB=postgresql $(PY) -m pytest -m db $(COV) --cov-report= $(PYTEST_ARGS); \
	fi

test-notz: django-suite ## the stores' conformance tests again with USE_TZ = False
	SESSIONKIT_TEST_USE_TZ=0 $(PY) -m pytest -q tests/backends $(COV) --cov-report= $(PYTEST_ARGS)

test: COV_APPEND := --cov-append
test: lint typecheck chromium coverage-erase test-notz test-postgres test-sqlite ## lint, mypy, USE_TZ=False and PostgreSQL passes, then the whole suite and coverage

fuzz: django-suite ## the fuzz target: cookie parser and signature check, a long randomised run
	HYPOTHESIS_PROFILE=fuzz SESSIONKIT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -m fuzz tests/fuzz $(PYTEST_ARGS)

soak: venv ## gunicorn under 60 clients on the Redis and PostgreSQL stores, 60 s in all
	$(PY) -m soak $(SOAK_ARGS)

demo: $(DEMO_STAMP) ## migrate, create user demo / demo-password-123, serve on 127.0.0.1:$(PORT) (PORT=8001 make demo)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py ensure_demo_user
	@echo "sessionkit demo: open http://127.0.0.1:$(PORT)/ and log in as demo / demo-password-123"
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

dist-check: venv ## build the wheel and sdist, install the wheel in a fresh venv, import it, type-check a user file
	$(PY) -m tests.packaging

clean: ## remove caches and build output (keeps .venv and the Django source cache)
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis .tox .coverage .coverage.*
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean ## also remove .venv and .cache
	rm -rf $(VENV) .cache

# CI runs the Django 6.1 environments too, for each interpreter this machine has.
matrix: venv ## tox's Django 6.0 and 6.1 envs on the Python 3.12 / 3.13 interpreters found here
	@envs=""; for v in 12 13; do \
	  if command -v python3.$$v >/dev/null || { command -v pyenv >/dev/null && pyenv versions --bare | grep -q "^3\.$$v\."; }; then \
	    envs="$$envs,py3$$v-django61"; [ $$v = 12 ] && envs="$$envs,py312-django60"; else echo "make: python3.$$v not found; skipping py3$$v-django61"; fi; done; \
	if [ -n "$$envs" ]; then $(MAKE) tox ARGS="-e $${envs#,}"; fi

tox: venv memcached chromium ## the Python x Django matrix from tox.ini (ARGS="-e py312-django61" for one env)
	@extra=""; if command -v pyenv >/dev/null; then root=$$(pyenv root); \
	  for v in $$(pyenv versions --bare | grep -E '^3\.1[1-9]\.[0-9]+$$'); do extra="$$extra$$root/versions/$$v/bin:"; done; fi; \
	PATH="$$extra$$PATH" $(BIN)/tox $(ARGS)

# Not part of `make test`. Knobs (environment or make variables): ROUNDS=3 DURATION=2
# CONNECTIONS=2 COOKIES=16 SERVERS=gunicorn,uvicorn TARGETS=... SCENARIOS=... QUICK=1
# BENCH_SHARED_SERVERS=1; see benchmarks/README.md. Installs wrk with apt-get if missing.
bench: $(BENCH_STAMP) ## end-to-end benchmark (gunicorn/uvicorn + wrk): benchmarks/results/latest.{md,png}
	$(PY) -m benchmarks.run

bench-micro: $(BENCH_STAMP) ## microbenchmarks (pytest-benchmark) of signing, cookie parsing, loading a session
	$(PY) -m pytest benchmarks/micro --ds=benchmarks.app.settings -p no:randomly -p no:cacheprovider \
	  --benchmark-only --benchmark-sort=name --benchmark-columns=min,median,mean,ops,rounds $(PYTEST_ARGS)
