#!/usr/bin/env bash
# Runs the python-socketio interop tests against the Swift conformance server.
# Creates .venv-interop (python3 -m venv) on first use and installs Tests/interop/requirements.txt from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv-interop/bin/python ]; then
    python3 -m venv .venv-interop
fi
if ! .venv-interop/bin/python -c 'import socketio, requests, websocket, pytest' 2>/dev/null; then
    .venv-interop/bin/pip install --quiet -r Tests/interop/requirements.txt
fi

swift build --product socketio-conformance-server
SIO_SERVER_BIN="$(swift build --show-bin-path)/socketio-conformance-server" \
    exec .venv-interop/bin/python -m pytest -q Tests/interop "$@"
