# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv and
# install the pinned dependencies (requirements.lock) first; nothing else is needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Fleet and soak sizes are bounded so CI stays well inside its time limit.
SOAK_TRIALS ?= 2000

.PHONY: all demo test lint bench soak clean

all: test

$(STAMP): requirements.lock host_tools/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ needed (tomllib)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e host_tools
	touch $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/demo.sh

lint: $(STAMP)
	$(BIN)/ruff check host_tools tests
	$(BIN)/ruff format --check host_tools tests

test: lint
	DBCH_REQUIRE_CHROMIUM=$$(scripts/ensure-chromium.sh) $(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m dbch.bench

soak: $(STAMP)
	DBCH_SOAK_TRIALS=$(SOAK_TRIALS) $(BIN)/pytest -m soak -p no:cacheprovider

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
