#!/usr/bin/env bash
# Chart benchmarks (issue 5). Not tests: the figures depend on the machine and its load.
#   1. Candle folding throughput: ChartBenchmark folds per-second and per-minute aggregates into candles on one
#      core (target >= 5M events/s).
#   2. Cached GET /api/market/aggs (one year of daily bars) under wrk, side by side in the same run with a bare
#      route serving the same bytes: the exact /aggs body written into the transport's webRoot and served as a
#      static file by the same SocketIOTransport. The two URLs are loaded alternately, ROUNDS times each
#      (targets >= 20k req/s and >= 0.8x the bare route).
# Environment: ROUNDS (3), DURATION (10, seconds per wrk run), CONNECTIONS (32), THREADS (1, wrk threads),
#              CACHE (MemoryCache; or EmbeddedCache), SKIP_FOLDING, SKIP_HTTP.
# Installs wrk with apt-get when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-1}"
CACHE="${CACHE:-MemoryCache}"

for product in ChartBenchmark markethub RecordedProvider "$CACHE" SocketIOTransport; do
    swift build -c release --product "$product"
done
BIN="$(swift build -c release --show-bin-path)"

if [ -z "${SKIP_FOLDING:-}" ]; then
    echo "== candle folding"
    "$BIN/ChartBenchmark" --timeframe 5m
    "$BIN/ChartBenchmark" --timeframe 1m --rounds 3
fi

if [ -n "${SKIP_HTTP:-}" ]; then
    exit 0
fi

if ! command -v wrk >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq wrk
fi

WORK="$(mktemp -d /tmp/markethub-bench-chart.XXXXXX)"
chmod 755 "$WORK"
mkdir -p "$WORK/web"
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
CACHE_CONFIG="{}"
if [ "$CACHE" = "EmbeddedCache" ]; then CACHE_CONFIG="{ path: $WORK/cache.sqlite }"; fi
cat > "$WORK/config.yaml" <<EOF
host: { logLevel: warning }
provider:
  plugin: RecordedProvider
  config: { source: synthetic, underlyings: [SPY], seed: 42, window: "09:30-09:45", speed: 1 }
cache:
  plugin: $CACHE
  config: $CACHE_CONFIG
transports:
  - plugin: SocketIOTransport
    config: { host: 127.0.0.1, port: $PORT, webRoot: $WORK/web }
plugins:
  directories: [$BIN]
EOF

"$BIN/markethub" serve --config "$WORK/config.yaml" > "$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$SERVER" 2>/dev/null; then
        cat "$WORK/serve.log"
        exit 1
    fi
    sleep 0.2
done

AGGS="http://127.0.0.1:$PORT/api/market/aggs?ticker=SPY"
curl -fsS "$AGGS" > /dev/null
curl -fsS "$AGGS" > "$WORK/web/aggs.json"
BARS="$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["bars"]), d["source"], d["resultGranularity"])' "$WORK/web/aggs.json")"
BYTES="$(wc -c < "$WORK/web/aggs.json")"
BARE="http://127.0.0.1:$PORT/aggs.json"
echo "== cached /aggs: $BARS (bars, source, granularity), $BYTES bytes; bare route: the same bytes from webRoot"
echo "   wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $ROUNDS alternating rounds, cache plugin $CACHE"

run() {
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$1" > "$WORK/wrk.txt" 2>&1
    local rps p99 errors
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$WORK/wrk.txt")"
    p99="$(awk '$1 == "99%" {print $2}' "$WORK/wrk.txt")"
    errors="$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$WORK/wrk.txt")"
    echo "$rps $p99 ${errors:-0}"
}

declare -a AGGS_RPS BARE_RPS
for round in $(seq 1 "$ROUNDS"); do
    read -r aggs_rps aggs_p99 aggs_errors < <(run "$AGGS")
    read -r bare_rps bare_p99 bare_errors < <(run "$BARE")
    AGGS_RPS+=("$aggs_rps")
    BARE_RPS+=("$bare_rps")
    printf 'round %d  /api/market/aggs %10s req/s  p99 %8s  non-2xx %s | bare %10s req/s  p99 %8s  non-2xx %s\n' \
        "$round" "$aggs_rps" "$aggs_p99" "$aggs_errors" "$bare_rps" "$bare_p99" "$bare_errors"
done
python3 - "${AGGS_RPS[*]}" "${BARE_RPS[*]}" <<'EOF'
import statistics, sys
aggs = [float(x) for x in sys.argv[1].split()]
bare = [float(x) for x in sys.argv[2].split()]
a, b = statistics.median(aggs), statistics.median(bare)
print(f"median: /api/market/aggs {a:,.0f} req/s, bare route {b:,.0f} req/s, ratio {a / b:.2f} "
      f"(targets: >= 20,000 req/s and >= 0.8x the bare route)")
EOF
