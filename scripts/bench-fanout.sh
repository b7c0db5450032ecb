#!/usr/bin/env bash
# Fan-out benchmark: a quote stream (SYMBOLS x RATE quotes/s) to CLIENTS WebSocket clients, measured three ways:
#   1. this repository's SocketIOServer (release build, in-process clients),
#   2. a bare Hummingbird WebSocket broadcast of the same bytes from the same process,
#   3. python-socketio (asyncio/aiohttp) publishing the same stream to the same clients.
# Prints deliveries/s and latency p50/p99 for each. Not a test: figures depend on the machine and its load.
# Environment: CLIENTS (500) SYMBOLS (50) RATE (10) DURATION (5, seconds) SKIP_PYTHON (unset).
# Installs python-socketio and aiohttp into .venv-bench on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS="${CLIENTS:-500}"
SYMBOLS="${SYMBOLS:-50}"
RATE="${RATE:-10}"
DURATION="${DURATION:-5}"
ARGS=(--clients "$CLIENTS" --symbols "$SYMBOLS" --rate "$RATE" --seconds "$DURATION")

swift build -c release --product socketio-fanout-bench
BIN="$(swift build -c release --show-bin-path)/socketio-fanout-bench"

"$BIN" --mode socketio "${ARGS[@]}"
"$BIN" --mode bare "${ARGS[@]}"

if [ -n "${SKIP_PYTHON:-}" ]; then
    exit 0
fi
. scripts/lib.sh
python_env .venv-bench 'socketio, aiohttp' -r scripts/bench/requirements.txt
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
.venv-bench/bin/python scripts/bench/python_socketio_server.py --port "$PORT" "${ARGS[@]}" > /tmp/bench-python-server.log 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    if grep -q "listening on" /tmp/bench-python-server.log; then break; fi
    sleep 0.1
done
sleep 0.5
"$BIN" --mode external --port "$PORT" "${ARGS[@]}"
