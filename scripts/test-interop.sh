#!/usr/bin/env bash
# Runs the python-socketio interop tests: against the Swift conformance server, and against the whole product
# (`markethub serve`; see Tests/interop/test_markethub_e2e.py).
# Creates .venv-interop (python3 -m venv) on first use and installs Tests/interop/requirements.txt from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh
python_env .venv-interop 'socketio, requests, websocket, pytest' -r Tests/interop/requirements.txt

swift build --product socketio-conformance-server
swift build --product markethub
swift build --product RecordedProvider
swift build --product EmbeddedCache
swift build --product SocketIOTransport
swift build --product MassiveProvider
swift build --product fake-massive
swift build --product MongoCache
# The cluster tests run a real redis-server (scripts/install-deps.sh) and nx-27017 (scripts/setup-test-peers.sh).
scripts/setup-test-peers.sh >/dev/null
bin="$(swift build --show-bin-path)"
SIO_SERVER_BIN="$bin/socketio-conformance-server" MARKETHUB_BIN="$bin/markethub" FAKE_MASSIVE_BIN="$bin/fake-massive" \
    exec .venv-interop/bin/python -m pytest -q Tests/interop "$@"
