# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv and
# install the pinned dependencies (requirements.lock) first; nothing else is needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make test` runs the fault tests bounded (hundreds of power cuts, a few hundred fuzzed
# frames); `make soak` runs them long, with these counts.
SOAK_POWER_CUTS ?= 2000
SOAK_WL55_POWER_CUTS ?= 1000
SOAK_FUZZ_EXAMPLES ?= 3000
SOAK_LINK_OPS ?= 500
SOAK_REPLAYS ?= 1000
SOAK_FUZZ_BURST ?= 100000
SOAK_FLOOD_SECONDS ?= 60
SOAK_DEPLOY_CUTS ?= 40
# per twin kind and flood kind (1 ms, 20 ms, 1 ms over serve-port): 6 x 84 = 504 boots
SOAK_BOOT_WINDOW_TRIALS ?= 84
SOAK_TRUTH_CUTS ?= 30
SOAK_RESET_REPL_TRIALS ?= 1000
SOAK_KIT_HOURS ?= 24
SOAK_KIT_SCALE ?= 100
FAULT_TESTS := tests/test_power_cuts.py tests/test_fuzz.py tests/test_link_faults.py \
	tests/test_security.py tests/test_radio_faults.py tests/test_resources.py tests/test_lock.py \
	tests/test_deploy.py tests/test_boot_window.py tests/test_truthful_retries.py

.PHONY: all bytecode demo test check test-boards lint bench soak clean system firmware micropython mutants

all: test

$(STAMP): requirements.lock host_tools/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ needed (tomllib)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# A venv made before labgrid holds pyserial's own `serial`: remove it first, as replacing
	# it in place would delete the files pyserial-labgrid writes to the same package.
	if $(BIN)/python -m pip show pyserial 2>/dev/null | grep -qx 'Version: 3.5'; then \
		$(BIN)/python -m pip uninstall --quiet -y pyserial; fi
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	# editable as a plain path in a .pth file: no import hook to load at every start-up
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
		--config-settings editable_mode=compat -e host_tools
	$(MAKE) --no-print-directory bytecode
	touch $(STAMP)

# Compiled modules, as pip writes them for an installed package: without them every `dbch`
# start compiles its imports again (17 ms of a 60 ms `dbch status` where the environment
# sets PYTHONDONTWRITEBYTECODE). A stale file is ignored, so this only ever saves time.
bytecode:
	$(BIN)/python -m compileall -q host_tools/dbch > /dev/null

# Debian packages (Chromium, the Cortex-M toolchain, QEMU): one script lists them all.
system:
	scripts/setup-debian.sh

demo: $(STAMP) system
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/demo.sh

lint: $(STAMP)
	$(BIN)/ruff check host_tools tests
	$(BIN)/ruff check firmware  # MicroPython idioms: firmware/ruff.toml
	$(BIN)/ruff format --check host_tools tests

# DBCH_REQUIRE_SYSTEM: tests that need a Debian package fail, not skip, when it is missing.
# Four workers on two cores: most tests wait on a simulated board (the whole run keeps 1.2
# cores busy), so more workers overlap the waits (measured with MicroPython's source, 676
# tests: 4 min 55 s with four, 5 min 41 s with three). A module's tests stay on one worker
# (loadscope): they share its boards.
TEST_JOBS ?= 4
PARALLEL := -n $(TEST_JOBS) --dist loadscope
# The soak's modules are few and long (the power cuts alone are half an hour): its tests go
# to whichever worker is free (worksteal), a module's boards set up on each worker using them.
SOAK_JOBS ?= 3  # (the soak's figures in docs/security.md were measured with three)
SOAK_PARALLEL := -n $(SOAK_JOBS) --dist worksteal

test: lint system
	DBCH_REQUIRE_SYSTEM=1 $(BIN)/pytest $(PARALLEL)

# The quick loop: lint, then every test that starts no simulated board, no QEMU twin and
# no labgrid lab (markers: tests/conftest.py). A minute; `make test` runs everything.
check: lint
	$(BIN)/pytest -q -n 2 --dist loadscope -m "not unix_twin and not qemu_twin and not labgrid"

# Just the tests that need MicroPython's source (board builds, QEMU twins): on a machine
# with a checkout, run them on purpose; without one they skip, saying how to get it.
test-boards: system $(STAMP)
	DBCH_REQUIRE_SYSTEM=1 $(BIN)/pytest $(PARALLEL) -m micropython_source

# MicroPython's source never enters this repository. This clones the pinned commits
# (boards/micropython.toml: MicroPython, stm32lib, CMSIS_6, tinyusb) into the default place,
# $$XDG_CACHE_HOME/dbch/micropython; MICROPYTHON_DIR=... names your own checkout instead.
micropython: $(STAMP) system
	$(BIN)/dbch firmware source --fetch

# A board's MicroPython image with the agent frozen in, and its 32-bit QEMU twin; fails
# when the image does not fit. MICROPYTHON_DIR=... builds from your own checkout.
BOARD ?= NUCLEO_WL55
firmware: $(STAMP) system
	$(BIN)/dbch firmware build --board $(BOARD)
	$(BIN)/dbch firmware build --board $(BOARD) --twin

# Each safety layer switched off on its own must fail its tests (tests/mutants/mutants.toml).
# Slow (one test run per mutant), so not part of make test; the result goes to
# build/mutants.json and, by hand, to docs/security.md.
mutants: $(STAMP) system
	$(BIN)/python tests/mutants/run.py

bench: $(STAMP) bytecode
	$(BIN)/dbch bench

soak: $(STAMP) system
	DBCH_POWER_CUTS=$(SOAK_POWER_CUTS) DBCH_WL55_POWER_CUTS=$(SOAK_WL55_POWER_CUTS) \
	DBCH_FUZZ_EXAMPLES=$(SOAK_FUZZ_EXAMPLES) \
	DBCH_LINK_OPS=$(SOAK_LINK_OPS) DBCH_REPLAYS=$(SOAK_REPLAYS) \
	DBCH_FUZZ_BURST=$(SOAK_FUZZ_BURST) DBCH_FLOOD_SECONDS=$(SOAK_FLOOD_SECONDS) \
	DBCH_DEPLOY_CUTS=$(SOAK_DEPLOY_CUTS) DBCH_BOOT_WINDOW_TRIALS=$(SOAK_BOOT_WINDOW_TRIALS) \
	DBCH_TRUTH_CUTS=$(SOAK_TRUTH_CUTS) DBCH_RESET_REPL_TRIALS=$(SOAK_RESET_REPL_TRIALS) \
	$(BIN)/pytest $(SOAK_PARALLEL) -p no:cacheprovider --timeout 3600 --durations=25 $(FAULT_TESTS)
	# A field kit's whole day at 100x (14.4 minutes), alone: crossing Critical fits 57.6 s of
	# airtime into a bench hour, 36 s of real time (the crossing took 19 s alone, measured),
	# which wants the board's CPU to itself.
	DBCH_KIT_HOURS=$(SOAK_KIT_HOURS) DBCH_KIT_SCALE=$(SOAK_KIT_SCALE) \
	$(BIN)/pytest -p no:cacheprovider --timeout 3600 tests/test_kit.py -k recorded_day

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
