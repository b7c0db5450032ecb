#!/usr/bin/env bash
# Runs every test MarketHub has, from a fresh machine or an existing checkout:
#   1. installs the system packages the tests use (when missing),
#   2. builds the host and every plugin (warnings in our code fail the run),
#   3. checks formatting (swift format lint --strict),
#   4. runs the Swift test suites (real plugins, real sockets, the C plugin built with the system compiler);
#      the Socket.IO transport's suites (heartbeat timing) and the Redis suites (lease lifetimes) run on
#      their own so the heavier host suites cannot starve them of CPU on a small machine,
#   5. runs the interop tests: python-socketio clients against the Socket.IO server and against the whole
#      product (`markethub serve` with the recorded provider, the embedded cache and the transport),
#   6. runs a 2-minute fault soak and the slow-consumer test against the whole product (scripts/soak.sh,
#      scripts/slow-consumer.sh),
#   7. runs the web client in headless Chromium against the whole product (scripts/test-browser.sh),
#   8. fuzzes every decoder briefly (scripts/fuzz.sh) and the HTTP API (scripts/test-api-fuzz.sh), then checks
#      that no test API key reached a log, recording or response (scripts/scan-secrets.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/setup-test-peers.sh
export MARKETHUB_NX27017="${MARKETHUB_NX27017:-$(pwd)/.venv-test-peers}"
# Test servers keep their logs, recordings and captured responses here; scan-secrets checks them at the end.
export MARKETHUB_TEST_LOG_DIR="$(pwd)/artifacts/test-logs"
rm -rf "$MARKETHUB_TEST_LOG_DIR" && mkdir -p "$MARKETHUB_TEST_LOG_DIR"
scan_marker="$MARKETHUB_TEST_LOG_DIR/.started" && touch "$scan_marker"

echo "== build"
build_log=$(mktemp)
trap 'rm -f "$build_log"' EXIT
if ! swift build 2>&1 | tee "$build_log"; then
    echo "build failed" >&2
    exit 1
fi
root=$(pwd)
if grep -E "^${root}/(Sources|Plugins|Tests|Examples|Benchmarks)/.*: warning:" "$build_log" >/dev/null; then
    echo "warnings in project code (the project builds warning-free):" >&2
    grep -E "^${root}/(Sources|Plugins|Tests|Examples|Benchmarks)/.*: warning:" "$build_log" | sort -u >&2
    exit 1
fi

echo "== format"
swift format lint --strict --recursive Package.swift Sources Plugins Tests Benchmarks

echo "== swift test (host, plugins, caches, recorded provider)"
swift test --skip SocketIOTests --skip RedisClientTests 2>&1 | tee "$build_log"
echo "== swift test (Socket.IO transport)"
swift test --filter SocketIOTests 2>&1 | tee -a "$build_log"
echo "== swift test (Redis client and cluster node, against redis-server)"
swift test --filter RedisClientTests 2>&1 | tee -a "$build_log"
cp "$build_log" "$MARKETHUB_TEST_LOG_DIR/swift-test.log"
if grep -E "^${root}/(Sources|Plugins|Tests|Examples|Benchmarks)/.*: warning:" "$build_log" >/dev/null; then
    echo "warnings in test code:" >&2
    grep -E "^${root}/(Sources|Plugins|Tests|Examples|Benchmarks)/.*: warning:" "$build_log" | sort -u >&2
    exit 1
fi

echo "== interop (python-socketio)"
scripts/test-interop.sh

echo "== soak (2 minutes of faults, churning clients) and slow consumers"
scripts/soak.sh --minutes 2 --clients 60 && scripts/slow-consumer.sh

echo "== browser (headless Chromium)"
scripts/test-browser.sh

echo "== fuzz (libFuzzer, a short run of every decoder's harness)"
scripts/fuzz.sh --debug --runs 20000 --seconds 10

echo "== API fuzz (schemathesis against docs/openapi.yaml, short)"
scripts/test-api-fuzz.sh --examples 15

echo "== secrets (no test API key in any log, recording or captured response)"
scripts/scan-secrets.sh --since "$scan_marker"
