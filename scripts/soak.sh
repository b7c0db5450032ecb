#!/usr/bin/env bash
# Fault soak of the whole product (Tests/soak/soak.py): `markethub serve` with the recorded provider replaying a
# synthetic session under a seeded fault script (2 upstream stream drops a minute, a 429 window every two
# minutes), MongoCache against an nx-27017 server that the soak stops and restarts, and 200 Socket.IO clients
# churning. Prints a summary (restore times, RSS start/peak/end, log lines, errors); exits 1 when an assertion
# fails.
#   scripts/soak.sh [--minutes 10] [--clients 200] [--seed 42] [--json FILE]
# Builds the debug product unless MARKETHUB_BIN is set; creates .venv-soak (Tests/soak/requirements.txt) and
# the nx-27017 environment (scripts/setup-test-peers.sh) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh
python_env .venv-soak 'socketio, aiohttp, requests, websocket, pytest' -r Tests/soak/requirements.txt
scripts/setup-test-peers.sh >/dev/null
export MARKETHUB_NX27017="${MARKETHUB_NX27017:-$(pwd)/.venv-test-peers}"

markethub_bin debug RecordedProvider MongoCache SocketIOTransport
cd Tests/soak
exec ../../.venv-soak/bin/python soak.py "$@"
