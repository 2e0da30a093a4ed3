# Back in Stock. `make demo` runs the whole product on a simulated store; `make test` runs every test.
# uv is bootstrapped into .tools/ when it is not on PATH; installs are always from the committed uv.lock.

UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(CURDIR)/.tools/bin/uv
endif
PYTHON ?= python3
export DO_NOT_TRACK := 1

.PHONY: install demo test serve lint

# uv goes into a private virtual environment (no system packages touched); without python3-venv, a plain
# pip install into that folder does the same.
$(CURDIR)/.tools/bin/uv:
	( $(PYTHON) -m venv $(CURDIR)/.tools \
	  && $(CURDIR)/.tools/bin/pip install --quiet --disable-pip-version-check uv ) \
	|| ( $(PYTHON) -m pip install --quiet --disable-pip-version-check --target $(CURDIR)/.tools/lib uv \
	  && mkdir -p $(CURDIR)/.tools/bin && ln -sf $(CURDIR)/.tools/lib/bin/uv $(CURDIR)/.tools/bin/uv )

# Bytecode compiled at install (~30 s once): otherwise every Dagster run worker and dbt process compiles
# dagster, dbt and their dependencies from source wherever bytecode is not written (PYTHONDONTWRITEBYTECODE,
# read-only images), ~8 s more per run start.
install: $(UV)
	$(UV) sync --frozen --compile-bytecode

demo: install
	$(UV) run --frozen backinstock demo

test: install
	$(UV) run --frozen pytest -n 2 --dist loadgroup

serve: install
	$(UV) run --frozen backinstock serve

lint: install
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
