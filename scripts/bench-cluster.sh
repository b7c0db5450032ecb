#!/usr/bin/env bash
# Fan-out through Redis: one host against two clustered hosts (deliveries/s and delivery spread percentiles).
# Builds markethub and the plugins in release mode, then runs Benchmarks/ClusterFanOut/cluster_fanout.py with
# the interop virtual environment (scripts/test-interop.sh creates it). Arguments go to the script:
#   scripts/bench-cluster.sh --clients 20 --seconds 15 --speed 200
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv-interop/bin/python ]; then
    python3 -m venv .venv-interop
fi
if ! .venv-interop/bin/python -c 'import socketio, requests, websocket' 2>/dev/null; then
    .venv-interop/bin/pip install --quiet -r Tests/interop/requirements.txt
fi
for product in markethub RecordedProvider EmbeddedCache SocketIOTransport; do
    swift build -c release --product "$product"
done
bin="$(swift build -c release --show-bin-path)"
MARKETHUB_BIN="$bin/markethub" exec .venv-interop/bin/python Benchmarks/ClusterFanOut/cluster_fanout.py "$@"
