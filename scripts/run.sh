#!/usr/bin/env bash
# Builds MarketHub (host and plugins, release mode) and serves with config.yaml, or the file given as $1.
# The default configuration needs no API key and no database server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release
exec .build/release/markethub serve --config "${1:-config.yaml}"
