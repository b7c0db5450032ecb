#!/usr/bin/env bash
# Fan-out through Redis: one host against two clustered hosts (deliveries/s and delivery spread percentiles).
# Builds markethub and the plugins in release mode (unless MARKETHUB_BIN names a build), then runs Benchmarks/ClusterFanOut/cluster_fanout.py with
# the interop virtual environment (scripts/test-interop.sh creates it). Arguments go to the script:
#   scripts/bench-cluster.sh --clients 8 --seconds 15 --speed 100
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh
python_env .venv-interop 'socketio, requests, websocket' -r Tests/interop/requirements.txt
# MARKETHUB_BIN set: use that build (its plugins next to it) instead of building release.
markethub_bin release RecordedProvider EmbeddedCache SocketIOTransport
exec .venv-interop/bin/python Benchmarks/ClusterFanOut/cluster_fanout.py "$@"
