#!/usr/bin/env bash
# API fuzzing: schemathesis generates requests from docs/openapi.yaml and sends them to a running
# `markethub serve` (synthetic provider, embedded cache, Socket.IO transport on a free loopback port).
# Fails on any 5xx, any response that does not match the schema, and any other schemathesis check except two:
# positive_data_acceptance (the API has cross-parameter rules OpenAPI cannot express: from <= to,
# strikeMin <= strikeMax, a contract expiring on the given expiration, real calendar dates; breaking them is
# a correct 400). Response times are only bounded at 120 s (look-ups of unknown symbols wait on the provider
# and the machine may be loaded; timing is not a property of the schema).
#
#   scripts/test-api-fuzz.sh [--examples N]     N examples per operation and phase (default 100: > 1000 cases)
#
# MARKETHUB_BIN_DIR, when set, names a directory holding an already built markethub and its plugins.
#
# Creates .venv-api-fuzz on first use and installs Tests/api-fuzz/requirements.txt from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

examples=100
while [ $# -gt 0 ]; do
    case "$1" in
        --examples) examples="$2"; shift 2 ;;
        *) echo "usage: $0 [--examples N]" >&2; exit 2 ;;
    esac
done

. scripts/lib.sh
python_env .venv-api-fuzz schemathesis -r Tests/api-fuzz/requirements.txt

if [ -z "${MARKETHUB_BIN_DIR:-}" ]; then
    for product in markethub RecordedProvider EmbeddedCache SocketIOTransport; do
        swift build --product "$product" >/dev/null
    done
fi
bin="${MARKETHUB_BIN_DIR:-$(swift build --show-bin-path)}"

work=$(mktemp -d /tmp/markethub-api-fuzz.XXXXXX)
chmod 755 "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/config.yaml" <<YAML
host: { logLevel: info }
provider:
  plugin: RecordedProvider
  config: { source: synthetic, underlyings: [SPY, QQQ, AAPL], seed: 42, speed: 1, loop: true }
cache:
  plugin: EmbeddedCache
  config: { path: $work/cache.sqlite }
transports:
  - plugin: SocketIOTransport
    config: { host: 127.0.0.1, port: $port }
YAML
log="${MARKETHUB_TEST_LOG_DIR:-$work}/api-fuzz-serve.log"
mkdir -p "$(dirname "$log")"
(cd "$root" && exec "$bin/markethub" serve --config "$work/config.yaml") >"$log" 2>&1 &
server=$!
cleanup() {
    if kill -0 "$server" 2>/dev/null; then
        kill -TERM "$server"
        wait "$server" || true
    fi
}
trap cleanup EXIT
up=false
for _ in $(seq 1 900); do
    if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then up=true; break; fi
    kill -0 "$server" 2>/dev/null || break
    sleep 0.2
done
if [ "$up" != true ]; then
    tail -50 "$log" >&2
    echo "markethub serve did not start" >&2
    exit 1
fi

echo "== schemathesis against http://127.0.0.1:$port ($examples examples per operation)"
report="$work/schemathesis.txt"
set +e
.venv-api-fuzz/bin/schemathesis --no-color run "$root/docs/openapi.yaml" --url "http://127.0.0.1:$port" \
    --checks all --exclude-checks positive_data_acceptance --max-response-time 120 --max-examples "$examples" --workers 1 --request-timeout 60 --seed 1 \
    --suppress-health-check all 2>&1 | tee "$report"
result=${PIPESTATUS[0]}
set -e
if ! kill -0 "$server" 2>/dev/null; then
    echo "markethub serve died during the API fuzz run" >&2
    tail -50 "$log" >&2
    exit 1
fi
curl -fsS "http://127.0.0.1:$port/health" >/dev/null || { echo "/health failed after the run" >&2; exit 1; }
exit "$result"
