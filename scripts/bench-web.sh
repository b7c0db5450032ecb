#!/usr/bin/env bash
# Measures the web client in headless Chromium (first chart paint with cached bars; long tasks under 100
# quote updates/s on a 200-leg chain). Uses the same set-up as the browser tests; prints figures.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv-browser/bin/python ] || ! .venv-browser/bin/python -c 'import selenium' 2>/dev/null; then
    python3 -m venv .venv-browser
    .venv-browser/bin/pip install --quiet -r Tests/browser/requirements.txt
fi
swift build -c release --product markethub
for plugin in RecordedProvider EmbeddedCache SocketIOTransport; do swift build -c release --product "$plugin"; done
MARKETHUB_BIN="$(swift build -c release --show-bin-path)/markethub" exec .venv-browser/bin/python Benchmarks/web/bench_web.py
