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

if [ ! -x .venv-soak/bin/python ]; then
    python3 -m venv .venv-soak
fi
if ! .venv-soak/bin/python -c 'import socketio, aiohttp, requests, websocket, pytest' 2>/dev/null; then
    .venv-soak/bin/pip install --quiet -r Tests/soak/requirements.txt
fi
scripts/setup-test-peers.sh >/dev/null
export MARKETHUB_NX27017="${MARKETHUB_NX27017:-$(pwd)/.venv-test-peers}"

if [ -z "${MARKETHUB_BIN:-}" ]; then
    for product in markethub RecordedProvider MongoCache SocketIOTransport; do
        swift build --product "$product" >/dev/null
    done
    MARKETHUB_BIN="$(swift build --show-bin-path)/markethub"
fi
export MARKETHUB_BIN
cd Tests/soak
exec ../../.venv-soak/bin/python soak.py "$@"
