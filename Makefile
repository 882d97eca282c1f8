# Two commands do all set-up on a fresh machine:
#   make run    create .venv, install the app, start it on the bundled BCG example (PORT=8501)
#   make test   install test extras (and Debian's chromium for browser tests), run every test
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint bench chromium nginx postgres r hall reference clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

# The batch kernel is compiled before the app starts (once per machine and version; the
# "Many meta-analyses" page would otherwise make its first user wait ~30 s).
run: $(VENV)/.runtime
	$(PY) -c "from metacore.batch import warm_up; warm_up()"
	$(VENV)/bin/streamlit run app.py --server.port $(PORT)

chromium:
	@test -x /usr/bin/chromium || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium)

# R with metafor: the tests run the exported R scripts in it (Debian's packages, ~15 s).
r:
	@Rscript -e 'library(metafor); library(jsonlite)' >/dev/null 2>&1 || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends r-base-core r-cran-metafor r-cran-jsonlite)

nginx:
	@test -x /usr/sbin/nginx || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q nginx-light)

# PostgreSQL server binaries: the store and accounts tests start a throwaway server (Debian's).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends postgresql)

# A lecture hall: one Streamlit process per core behind nginx with sticky sessions (PORT=8080).
hall: $(VENV)/.runtime nginx
	$(PY) deploy/hall.py --port $(or $(HALL_PORT),8080)

test: $(VENV)/.dev chromium nginx postgres r
	$(VENV)/bin/ruff check .
	$(PY) -c "from metacore.batch import warm_up; warm_up()"
	METACORE_NO_SKIPS=1 $(PY) -m pytest
	$(MAKE) docs wheel-check

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .

bench: $(VENV)/.dev chromium
	$(PY) benchmarks/bench_engine.py
	$(PY) benchmarks/bench_causal.py
	$(PY) benchmarks/bench_bayes.py
	$(PY) benchmarks/bench_app.py
	$(PY) benchmarks/bench_smallstudy.py
	$(PY) benchmarks/bench_cluster.py
	$(PY) benchmarks/bench_load.py --sessions 1 25 100
	$(PY) benchmarks/bench_batch.py
	$(PY) benchmarks/bench_many_upload.py
	$(PY) benchmarks/bench_memory.py

# The API reference from the docstrings (pdoc) into docs/api/; any warning fails the build.
# Subpackages are named because metacore's __all__ (its public names) does not list them.
.PHONY: docs wheel-check
DOC_MODULES := metacore metacore.data metacore.models metacore.diagnostics metacore.review \
               metacore.report metacore.batch metacore.store metacore.errors metacore.numbers
docs: $(VENV)/.dev
	rm -rf docs/api
	$(PY) -W error -m pdoc -o docs/api $(DOC_MODULES)

# The package as users get it: wheel and sdist built, installed into fresh virtual
# environments (core dependencies only, then [all]) under build/, and exercised there.
wheel-check:
	.ci/wheel_check.sh

# Regenerates the metafor reference values (needs R: see tests/reference/README.md).
reference: r
	Rscript tests/reference/export_datasets.R
	Rscript tests/reference/make_reference.R

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
