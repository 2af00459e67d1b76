# Absurd Control: `make run` for a local demo, `make test` for the suite.
# Both create .venv and install the project on first use; nothing else is needed
# but Python 3.11 (and, for browser tests, Debian's chromium, installed if root).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HASH := $(shell cksum pyproject.toml | cut -d' ' -f1)
RUN_STAMP := $(VENV)/.installed-run-$(HASH)
DEV_STAMP := $(VENV)/.installed-dev-$(HASH)
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: run manage screenshots test test-floors test-pooler lint format bench browser-deps netns-deps pooler-deps clean-db

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip

# `make run` needs only the runtime dependencies; `make test` adds the dev extra.
$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PIP) -e .
	@rm -f $(VENV)/.installed-run-*
	@touch $@

$(DEV_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PIP) -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $@ $(RUN_STAMP)

# `make run ADDR=127.0.0.1:8080` or `make run PORT=8080`: another address; BASE_URL (the
# banner, emailed approval links) follows it unless set (dashboard/dev_address.py).
ADDR ?=
PORT ?=
RUN_ADDR := $(if $(ADDR),$(ADDR),$(if $(PORT),127.0.0.1:$(PORT),127.0.0.1:8000))

run: $(RUN_STAMP)
	DEBUG=true $(PY) manage.py devserver --addrport $(RUN_ADDR)

# `make manage ARGS="changepassword admin"`: any management command with make run's settings.
manage: $(RUN_STAMP)
	@DEBUG=true $(PY) manage.py dev $(ARGS)

# The small PNGs of docs/dashboard.md, one per page at 1280 px (tools/screenshots.py).
screenshots: $(DEV_STAMP) browser-deps
	$(PY) tools/screenshots.py

browser-deps:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser tests..."; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "Could not install chromium with apt-get."; \
	else \
		echo "Browser tests need Debian's chromium: run 'sudo apt-get install chromium'."; \
	fi

# The worker-host tests (tests/hosts/) make network namespaces: iproute2 and util-linux.
netns-deps:
	@if command -v ip >/dev/null && command -v unshare >/dev/null; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		echo "Installing iproute2 and util-linux for the worker-host tests..."; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 util-linux >/dev/null) \
		|| echo "Could not install iproute2 with apt-get."; \
	else \
		echo "Worker-host tests need iproute2: run 'sudo apt-get install iproute2'."; \
	fi

# Debian's pgbouncer, for the pooler tests (tests/pgbouncer.py) and `make test-pooler`.
pooler-deps:
	@if [ -x /usr/sbin/pgbouncer ] || command -v pgbouncer >/dev/null; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's pgbouncer for the pooler tests..."; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null) \
		|| echo "Could not install pgbouncer with apt-get."; \
	else \
		echo "Pooler tests need Debian's pgbouncer: run 'sudo apt-get install pgbouncer'."; \
	fi

# The whole suite as two pytest processes side by side, each on its own test database and
# a fixed half of the folders (tools/test_halves.py): 8 minutes instead of 14 on 2 cores.
test: $(DEV_STAMP) browser-deps netns-deps pooler-deps
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) tools/test_halves.py

# The lowest versions pyproject.toml allows (constraints/floors.txt), in a venv of their own:
# the API and dashboard tests must pass on them too.
FLOORS_VENV := .venv-floors
FLOORS_PY := $(FLOORS_VENV)/bin/python
FLOORS_HASH := $(shell cat pyproject.toml constraints/floors.txt | cksum | cut -d' ' -f1)
FLOORS_STAMP := $(FLOORS_VENV)/.installed-$(FLOORS_HASH)

$(FLOORS_PY):
	$(PYTHON) -m venv $(FLOORS_VENV)
	$(FLOORS_PY) -m pip install --quiet --disable-pip-version-check --upgrade pip

$(FLOORS_STAMP): pyproject.toml constraints/floors.txt | $(FLOORS_PY)
	$(FLOORS_PY) -m pip install --quiet --disable-pip-version-check \
		-c constraints/floors.txt -e ".[dev]"
	@rm -f $(FLOORS_VENV)/.installed-*
	@touch $@

test-floors: $(FLOORS_STAMP)
	$(FLOORS_PY) -m pip list --disable-pip-version-check | grep -iE "^(django|django-ninja|django-htmx|pydantic|psycopg|schemathesis|gunicorn) "
	$(FLOORS_PY) -m pytest tests/api tests/dashboard

# The whole API and dashboard test modules once more, their web connections through PgBouncer
# in transaction mode with prepared statements off (migrations direct; tests/pgbouncer.py).
test-pooler: $(DEV_STAMP) pooler-deps
	DATABASE_POOLER=transaction ABSURD_TEST_PGBOUNCER=1 $(PY) -m pytest tests/api tests/dashboard

lint: $(DEV_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(DEV_STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# `make bench` adds the bench extra (Procrastinate and DBOS, for bench/peers.py).
BENCH_STAMP := $(VENV)/.installed-bench-$(HASH)

$(BENCH_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PIP) -e ".[dev,bench]"
	@rm -f $(VENV)/.installed-*
	@touch $@ $(DEV_STAMP) $(RUN_STAMP)

bench: $(BENCH_STAMP)
	$(PY) bench/run_all.py

clean-db:
	rm -rf .data/postgres
