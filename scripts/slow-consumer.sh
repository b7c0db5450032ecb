#!/usr/bin/env bash
# Slow consumers against the whole product (`markethub serve`):
#   scripts/slow-consumer.sh            the test: a raw WebSocket client that subscribes to ~180 symbols and stops
#                                       reading is disconnected after the grace, server memory stays bounded, the
#                                       other client keeps receiving (Tests/soak/test_slow_consumer.py)
#   scripts/slow-consumer.sh --measure [--clients 30 --slow 3 --seconds 15 --rounds 3 --check]
#                                       other clients' quote latency p50/p99 with the heavy clients reading vs
#                                       stalled, alternating in one run (Tests/soak/slow_consumer_latency.py)
# Builds the debug product unless MARKETHUB_BIN is set; creates .venv-soak on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh
python_env .venv-soak 'socketio, aiohttp, requests, websocket, pytest' -r Tests/soak/requirements.txt
markethub_bin debug RecordedProvider MemoryCache SocketIOTransport
cd Tests/soak
if [ "${1:-}" = "--measure" ]; then
    shift
    exec ../../.venv-soak/bin/python slow_consumer_latency.py "$@"
fi
exec ../../.venv-soak/bin/python -m pytest -q -s test_slow_consumer.py "$@"
