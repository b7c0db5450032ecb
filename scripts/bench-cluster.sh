#!/usr/bin/env bash
# Fan-out through Redis: one host against two clustered hosts (deliveries/s and delivery spread percentiles).
# Builds markethub and the plugins in release mode (unless MARKETHUB_BIN names a build), then runs Benchmarks/ClusterFanOut/cluster_fanout.py with
# the interop virtual environment (scripts/test-interop.sh creates it). Arguments go to the script:
#   scripts/bench-cluster.sh --clients 8 --seconds 15 --speed 100
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv-interop/bin/python ]; then
    python3 -m venv .venv-interop
fi
if ! .venv-interop/bin/python -c 'import socketio, requests, websocket' 2>/dev/null; then
    .venv-interop/bin/pip install --quiet -r Tests/interop/requirements.txt
fi
# MARKETHUB_BIN set: use that build (its plugins next to it) instead of building release.
if [ -z "${MARKETHUB_BIN:-}" ]; then
    for product in markethub RecordedProvider EmbeddedCache SocketIOTransport; do
        swift build -c release --product "$product"
    done
    MARKETHUB_BIN="$(swift build -c release --show-bin-path)/markethub"
fi
MARKETHUB_BIN="$MARKETHUB_BIN" exec .venv-interop/bin/python Benchmarks/ClusterFanOut/cluster_fanout.py "$@"
