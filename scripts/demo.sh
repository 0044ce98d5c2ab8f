#!/usr/bin/env bash
# `make demo`: the main job end to end on a simulated board, with the same dbch commands
# a bench engineer types. Runs on a private bench under build/demo-sim and stops every
# board it started, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
export DBCH_SIM_HOME="$PWD/build/demo-sim"
export DBCH_KEYS="$PWD/build/demo-sim/keys"  # the demo board's bench key
BOARD="${DEMO_BOARD:-PICO_WAVESHARE_SX1262}"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() { dbch sim stop --all >/dev/null 2>&1 || true; }
trap cleanup EXIT

step "The SEC configuration table versions, and what changed between them"
dbch tables list
echo
dbch tables diff sec-2017-12-draft sec-2018-03
dbch tables diff sec-2018-03 sec-2018-03-r1

step "Boards this project knows (each has a simulated twin)"
dbch boards list

step "Start a simulated $BOARD (MicroPython unix VM, heap capped, littlefs flash, pty console)"
dbch sim start --board "$BOARD" --id demo --erase
PORT="sim:demo"

step "Deploy the agent with mpremote (mpy-cross compiled, only changed files copied)"
dbch deploy --port "$PORT" --board "$BOARD"

step "Talk to the agent over its framed link"
dbch hello --port "$PORT"

step "Apply the March 2018 table for CSP North (stored, applied to the radio, read back)"
dbch apply --port "$PORT" --table sec-2018-03-r1 --region north
dbch channel --port "$PORT"

step "Try to transmit in the masked 915 MHz band: the transmit gate refuses"
if dbch test-tx --port "$PORT" --freq 915.35MHz; then
  echo "ERROR: a 915 MHz transmission was not refused" >&2
  exit 1
fi
dbch test-tx --port "$PORT" --freq "$(dbch channel --port "$PORT" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["freq_hz"])')"

step "Traffic through the gate (duty cycle counted, LBT, 100 ms off-time)"
dbch traffic --port "$PORT" --frames 10 --size 60 --interval-ms 0

step "Status of the agent"
dbch status --port "$PORT"

step "What the simulated radio really put on the air (the witness, not the agent)"
dbch witness --sim demo --last 5

step "Check the board against the table: its configuration, its radio readback, the witness"
mkdir -p build
dbch check --port "$PORT" --table sec-2018-03-r1 --region north \
  --html build/demo-report.html --junit build/demo-junit.xml

step "A field kit: record the board unattended while traffic runs through the recorder, then the timeline"
rm -f build/demo-kit.sqlite*
dbch record --port "$PORT" --db build/demo-kit.sqlite --interval 1s &
RECORDER=$!
sleep 2
dbch traffic --port "$PORT" --frames 5 --size 60 --interval-ms 0  # reaches the board through the recorder
sleep 2
kill -TERM "$RECORDER"
wait "$RECORDER"
dbch report --db build/demo-kit.sqlite --html build/demo-kit.html || [ $? -eq 1 ]  # 1: some time unseen

step "Stop the board (no processes left behind)"
dbch sim stop demo
echo
echo "demo finished: the evidence report is build/demo-report.html, the kit's timeline build/demo-kit.html"
