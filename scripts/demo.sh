#!/usr/bin/env bash
# `make demo`: the main job end to end on a simulated board, with the same dbch commands
# a bench engineer types. Runs on a private bench under build/demo-sim and stops every
# board it started, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
export DBCH_SIM_HOME="$PWD/build/demo-sim"
BOARD="${DEMO_BOARD:-PICO_WAVESHARE_SX1262}"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() { dbch sim stop --all >/dev/null 2>&1 || true; }
trap cleanup EXIT

step "The SEC configuration table versions, and what changed between them"
dbch tables list
echo
dbch tables diff sec-2017-12-draft sec-2018-03

step "Boards this project knows (each has a simulated twin)"
dbch boards list

step "Start a simulated $BOARD (MicroPython unix VM, heap capped, littlefs flash, pty console)"
dbch sim start --board "$BOARD" --id demo --erase
PORT="sim:demo"

step "Deploy the agent with mpremote (mpy-cross compiled, only changed files copied)"
dbch deploy --port "$PORT" --board "$BOARD"

step "Talk to the agent over its framed link"
dbch hello --port "$PORT"
echo
dbch status --port "$PORT"

step "Stop the board (no processes left behind)"
dbch sim stop demo
echo
echo "demo finished"
