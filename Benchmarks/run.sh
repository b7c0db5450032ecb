#!/usr/bin/env bash
# MarketHub's benchmark suite (issue 10): every product-level performance target measured in one run, printed
# as one table (also written to $OUT/results.md). Not a test: figures depend on the machine and its load, so
# each section runs its variants side by side in the same run and reports medians and ratios.
#
#   Benchmarks/run.sh                 # everything, a few minutes on an idle machine
#   SECTIONS="p1 p3" Benchmarks/run.sh
#   DRIFT_SECONDS=600 Benchmarks/run.sh   # the full 10-minute RSS drift window
#
# Sections (see Benchmarks/README.md for how to read them):
#   p1  Socket.IO fan-out (500 clients x 50 symbols x 10 quotes/s) vs bare WebSocket vs python-socketio
#   p2  publish -> client latency at 20k deliveries/s
#   p3  REST under wrk: cached /aggs (a year of daily bars; a day of minute bars), chain, quotes, bare route
#   p4  de-duplication: 1,000 identical cold /aggs requests; 1,000 clients subscribing one symbol
#   p5  candle folding and quote routing on one core
#   p6  RSS per idle client (2,000 clients) and RSS drift over a replay with subscribed clients
#   p7  start-up: process start to /health 200 with the default config
#   p8  recorded-session replay on one core: vendor frame decoding alone, and decode + dispatch to a sink
#
# Environment: SECTIONS (all), SKIP_BUILD, ROUNDS (3, wrk rounds), WRK_SECONDS (5), FANOUT_SECONDS (5),
#   CLIENTS (500), SYMBOLS (50), RATE (10), IDLE_CLIENTS (2000), DRIFT_SECONDS (60), SKIP_PYTHON,
#   WINDOW (09:30-10:00, the synthetic session replayed by P3, P4 and P6; looped),
#   BASELINE_BIN (a directory with an older release build's markethub, libSocketIOTransport.so, libMemoryCache.so,
#   libRecordedProvider.so and socketio-fanout-bench, measured side by side as "baseline"), OUT (a temp folder),
#   BIN (the release build folder; default: swift build -c release --show-bin-path).
# Needs wrk (Debian package; installed with apt-get when missing) and python3; python-socketio and aiohttp go
# into .venv-bench on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

SECTIONS="${SECTIONS:-p1 p2 p3 p4 p5 p6 p7 p8}"
ROUNDS="${ROUNDS:-3}"
WRK_SECONDS="${WRK_SECONDS:-5}"
FANOUT_SECONDS="${FANOUT_SECONDS:-5}"
CLIENTS="${CLIENTS:-500}"
SYMBOLS="${SYMBOLS:-50}"
RATE="${RATE:-10}"
IDLE_CLIENTS="${IDLE_CLIENTS:-2000}"
DRIFT_SECONDS="${DRIFT_SECONDS:-60}"
WINDOW="${WINDOW:-09:30-10:00}"
BASELINE_BIN="${BASELINE_BIN:-}"
OUT="${OUT:-$(mktemp -d /tmp/markethub-bench.XXXXXX)}"
mkdir -p "$OUT"
RESULTS="$OUT/results.tsv"
: > "$RESULTS"

has() { [[ " $SECTIONS " == *" $1 "* ]]; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# result SECTION NAME VALUE TARGET VERDICT
result() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >> "$RESULTS"; }
verdict() { python3 -c "import sys; print('met' if $1 else 'missed')"; }
median() {
    python3 -c '
import statistics, sys
values = [float(x) for x in sys.argv[1:] if x.replace(".", "", 1).isdigit()]
print(f"{statistics.median(values):.0f}" if values else "failed")' "$@"
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

if [ -z "${SKIP_BUILD:-}" ]; then
    for product in socketio-fanout-bench markethub RecordedProvider MemoryCache EmbeddedCache SocketIOTransport \
        ChartBenchmark RouterBenchmark ReplayBenchmark; do
        swift build -c release --product "$product" 2>&1 | grep -E "error|warning: .*(Sources|Plugins|Benchmarks)/" || true
    done
fi
BIN="${BIN:-$(swift build -c release --show-bin-path)}"
FANOUT="$BIN/socketio-fanout-bench"

echo "markethub benchmark suite: $(date -u +%FT%TZ) on $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); work dir $OUT"

SERVERS=()
cleanup() { for pid in "${SERVERS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

# start_markethub NAME BINDIR CONFIGDIR EXTRA_YAML -> sets SERVER_PID and SERVER_PORT
start_markethub() {
    local name="$1" bindir="$2" work="$OUT/$1"
    mkdir -p "$work/web"
    SERVER_PORT="$(free_port)"
    cat > "$work/config.yaml" <<EOF
host: { logLevel: warning }
provider:
  plugin: RecordedProvider
  config: { source: synthetic, underlyings: [SPY, QQQ, AAPL], seed: 42, window: "$WINDOW", speed: ${SPEED:-1}, loop: true }
cache:
  plugin: MemoryCache
  config: {}
transports:
  - plugin: SocketIOTransport
    config: { host: 127.0.0.1, port: $SERVER_PORT, webRoot: $work/web, maxClients: 20000 }
plugins:
  directories: [$bindir]
EOF
    "$bindir/markethub" serve --config "$work/config.yaml" > "$work/serve.log" 2>&1 &
    SERVER_PID=$!
    SERVERS+=("$SERVER_PID")
    for _ in $(seq 1 600); do
        if curl -fsS "http://127.0.0.1:$SERVER_PORT/health" >/dev/null 2>&1; then return 0; fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            cat "$work/serve.log"
            return 1
        fi
        sleep 0.1
    done
    echo "$name did not become healthy"
    return 1
}

stop_server() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

ensure_venv() {
    if [ ! -x .venv-bench/bin/python ]; then python3 -m venv .venv-bench; fi
    if ! .venv-bench/bin/python -c 'import socketio, aiohttp' 2>/dev/null; then
        .venv-bench/bin/pip install --quiet -r scripts/bench/requirements.txt
    fi
}

# fanout_line OUTPUT_LINE -> "deliveries p50 p99 max clients_cpu server_cpu"
parse_fanout() {
    python3 -c '
import re, sys
line = sys.stdin.read()
def get(key):
    m = re.search(key + r"=([0-9.]+|n/a)", line)
    return m.group(1) if m else "n/a"
print(get("deliveries/s"), get("p50"), get("p99"), get("max"), get(r"cpu\(cores\): clients"), get("server\\+publisher") if "server+publisher" in line else get("external-server"))
'
}

# ---------------------------------------------------------------- P1 fan-out
if has p1; then
    echo "== P1 fan-out: $CLIENTS clients x $SYMBOLS symbols x $RATE quotes/s ($((CLIENTS * SYMBOLS * RATE)) deliveries/s offered), ${FANOUT_SECONDS}s each"
    ARGS=(--clients "$CLIENTS" --symbols "$SYMBOLS" --rate "$RATE" --seconds "$FANOUT_SECONDS")
    declare -A FAN
    MODES=(socketio bare socketio-frames bare-frames)
    for mode in "${MODES[@]}"; do
        line="$("$FANOUT" --mode "$mode" "${ARGS[@]}" | tail -1)"
        echo "   $line"
        FAN[$mode]="$(echo "$line" | parse_fanout)"
    done
    if [ -n "$BASELINE_BIN" ] && [ -x "$BASELINE_BIN/socketio-fanout-bench" ]; then
        line="$("$BASELINE_BIN/socketio-fanout-bench" --mode socketio "${ARGS[@]}" | tail -1)"
        echo "   baseline build: $line"
        FAN[baseline]="$(echo "$line" | parse_fanout)"
    fi
    if [ -z "${SKIP_PYTHON:-}" ]; then
        ensure_venv
        PORT="$(free_port)"
        .venv-bench/bin/python scripts/bench/python_socketio_server.py --port "$PORT" "${ARGS[@]}" > "$OUT/python-server.log" 2>&1 &
        PY=$!
        SERVERS+=("$PY")
        for _ in $(seq 1 100); do grep -q "listening on" "$OUT/python-server.log" && break; sleep 0.1; done
        sleep 0.5
        line="$("$FANOUT" --mode external --port "$PORT" --server-pid "$PY" "${ARGS[@]}" | tail -1)"
        echo "   $line"
        FAN[python]="$(echo "$line" | parse_fanout)"
        stop_server "$PY"
    fi
    read -r sio_d sio_p50 sio_p99 _ sio_ccpu sio_scpu <<< "${FAN[socketio]}"
    read -r bare_d _ _ _ _ _ <<< "${FAN[bare]}"
    read -r frames_d _ frames_p99 _ _ _ <<< "${FAN[socketio-frames]}"
    result P1 "deliveries/s, $CLIENTS x $SYMBOLS (load generator CPU $sio_ccpu cores, server $sio_scpu)" "$sio_d" ">= 250,000" "$(verdict "$sio_d >= 250000")"
    result P1 "p99 publish -> receipt" "${sio_p99} ms (p50 ${sio_p50})" "<= 50 ms" "$(verdict "${sio_p99/n\/a/1e9} <= 50")"
    result P1 "vs bare WebSocket broadcast ($bare_d/s)" "$(python3 -c "print(f'{$sio_d / max(1, $bare_d):.2f}x')")" ">= 0.7x" "$(verdict "$sio_d >= 0.7 * $bare_d")"
    result P1 "frame-by-frame writes (before batching) for comparison" "$frames_d/s, p99 $frames_p99 ms" "-" "-"
    if [ -n "${FAN[python]:-}" ]; then
        read -r py_d _ _ _ _ py_cpu <<< "${FAN[python]}"
        result P1 "vs python-socketio ($py_d/s, server CPU $py_cpu cores)" "$(python3 -c "print(f'{$sio_d / max(1, $py_d):.1f}x')")" ">= 5x" "$(verdict "$sio_d >= 5 * $py_d")"
    fi
    if [ -n "${FAN[baseline]:-}" ]; then
        read -r base_d _ base_p99 _ <<< "${FAN[baseline]}"
        result P1 "baseline build ($BASELINE_BIN) for comparison" "$base_d/s, p99 $base_p99 ms" "-" "-"
    fi
fi

# ---------------------------------------------------------------- P2 latency at 20k deliveries/s
if has p2; then
    echo "== P2 latency at 20k deliveries/s (100 clients x 20 symbols x 10 quotes/s)"
    line="$("$FANOUT" --mode socketio --clients 100 --symbols 20 --rate 10 --seconds "$FANOUT_SECONDS" | tail -1)"
    echo "   $line"
    read -r d p50 p99 max _ _ <<< "$(echo "$line" | parse_fanout)"
    result P2 "publish -> client receipt at $d deliveries/s (transport only)" "p50 $p50 / p99 $p99 / max $max ms" "p99 <= 5 ms" "$(verdict "${p99/n\/a/1e9} <= 5")"
fi

# ---------------------------------------------------------------- P3 REST
wrk_run() { # URL -> "rps p99"
    wrk -t1 -c32 -d"${WRK_SECONDS}s" --latency "$1" > "$OUT/wrk.txt" 2>&1 || true
    local rps p99 errors
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$OUT/wrk.txt")"
    p99="$(awk '$1 == "99%" {print $2}' "$OUT/wrk.txt")"
    errors="$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$OUT/wrk.txt")"
    echo "${rps:-0} ${p99:-n/a} ${errors:-0}"
}

if has p3; then
    if ! command -v wrk >/dev/null 2>&1; then
        SUDO=""
        if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
        $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk
    fi
    echo "== P3 REST under wrk -t1 -c32 -d${WRK_SECONDS}s, $ROUNDS alternating rounds, median"
    declare -A URLS
    run_rest() { # NAME BINDIR
        local name="$1"
        start_markethub "$name" "$2"
        local pid="$SERVER_PID" base="http://127.0.0.1:$SERVER_PORT"
        local work="$OUT/$name"
        local day minute
        day="$base/api/market/aggs?ticker=SPY"
        curl -fsS "$day" > /dev/null && curl -fsS "$day" > "$work/web/aggs-day.json"
        # A whole past session of minute bars: the day of the second-to-last daily bar.
        minute="$base/api/market/aggs?ticker=SPY&timespan=minute&$(python3 -c '
import json, sys
bars = json.load(open(sys.argv[1]))["bars"]
start = bars[-2]["t"]
print(f"from={start}&to={start + 86_400_000 - 1}")' "$work/web/aggs-day.json")"
        curl -fsS "$minute" > /dev/null && curl -fsS "$minute" > "$work/web/aggs-minute.json"
        local expiration
        expiration="$(curl -fsS "$base/api/market/options/expirations/SPY" | python3 -c 'import json,sys; d=json.load(sys.stdin); e=d.get("expirations") or d.get("results") or []; print((e[0] if isinstance(e[0], str) else e[0].get("date", "")) if e else "")' 2>/dev/null || true)"
        local chain="$base/api/market/options/chain/SPY"
        if [ -n "$expiration" ]; then chain="$chain?expiration=$expiration"; fi
        curl -fsS "$chain" > "$work/chain.json" || true
        local contract
        contract="$(python3 -c '
import json, re, sys
text = open(sys.argv[1]).read()
m = re.search(r"O:SPY[0-9]{6}[CP][0-9]{8}", text)
print(m.group(0) if m else "")' "$work/chain.json")"
        URLS[$name:aggs-day]="$day"
        URLS[$name:aggs-minute]="$minute"
        URLS[$name:bare-day]="$base/aggs-day.json"
        # The same bytes from memory on a bare Hummingbird route set up like the transport (the stricter baseline:
        # no file system, no router middleware, no plugin boundary).
        local bare_port bare_pid=""
        bare_port="$(free_port)"
        if [ -x "$2/socketio-fanout-bench" ]; then
            "$2/socketio-fanout-bench" --mode http-bare --file "$work/web/aggs-day.json" --port "$bare_port" \
                --seconds 100000 > "$work/http-bare.log" 2>&1 &
            bare_pid=$!
            SERVERS+=("$bare_pid")
            for _ in $(seq 1 100); do
                if curl -fsS "http://127.0.0.1:$bare_port/bare" > /dev/null 2>&1; then
                    URLS[$name:bare-memory]="http://127.0.0.1:$bare_port/bare"
                    break
                fi
                sleep 0.1
            done
        fi
        URLS[$name:chain]="$chain"
        if [ -n "$contract" ]; then URLS[$name:quotes]="$base/api/market/quotes/$contract"; fi
        echo "   $name: one year daily $(wc -c < "$work/web/aggs-day.json") bytes, one day of minute bars $(wc -c < "$work/web/aggs-minute.json") bytes, contract ${contract:-none}"
        local keys=(aggs-day bare-day bare-memory aggs-minute chain quotes)
        declare -gA RPS P99
        for round in $(seq 1 "$ROUNDS"); do
            for key in "${keys[@]}"; do
                local url="${URLS[$name:$key]:-}"
                [ -n "$url" ] || continue
                read -r rps p99 errors <<< "$(wrk_run "$url")"
                RPS[$name:$key]+="$rps "
                P99[$name:$key]="$p99"
                printf '   %s round %d %-12s %10s req/s  p99 %8s  non-2xx %s\n' "$name" "$round" "$key" "$rps" "$p99" "$errors"
            done
        done
        stop_server "$pid"
        if [ -n "$bare_pid" ]; then stop_server "$bare_pid"; fi
    }
    run_rest current "$BIN"
    if [ -n "$BASELINE_BIN" ] && [ -x "$BASELINE_BIN/markethub" ]; then run_rest baseline "$BASELINE_BIN"; fi
    # shellcheck disable=SC2086
    aggs="$(median ${RPS[current:aggs-day]})"
    # shellcheck disable=SC2086
    bare="$(median ${RPS[current:bare-day]})"
    result P3 "cached /aggs, one year daily (p99 ${P99[current:aggs-day]})" "$aggs req/s" ">= 20,000" "$(verdict "$aggs >= 20000")"
    result P3 "cached /aggs vs the transport's static file route, same bytes ($bare req/s, p99 ${P99[current:bare-day]})" "$(python3 -c "print(f'{$aggs / max(1, $bare):.2f}x')")" ">= 0.8x" "$(verdict "$aggs >= 0.8 * $bare")"
    if [ -n "${RPS[current:bare-memory]:-}" ]; then
        # shellcheck disable=SC2086
        memory="$(median ${RPS[current:bare-memory]})"
        result P3 "cached /aggs vs a bare in-memory Hummingbird route, same bytes ($memory req/s, p99 ${P99[current:bare-memory]})" "$(python3 -c "print(f'{$aggs / max(1, $memory):.2f}x')")" ">= 0.8x" "$(verdict "$aggs >= 0.8 * $memory")"
    fi
    # shellcheck disable=SC2086
    result P3 "cached /aggs, one day of minute bars (p99 ${P99[current:aggs-minute]})" "$(median ${RPS[current:aggs-minute]}) req/s" "-" "-"
    # shellcheck disable=SC2086
    result P3 "options chain (p99 ${P99[current:chain]})" "$(median ${RPS[current:chain]}) req/s" "-" "-"
    if [ -n "${RPS[current:quotes]:-}" ]; then
        # shellcheck disable=SC2086
        result P3 "contract quotes (p99 ${P99[current:quotes]})" "$(median ${RPS[current:quotes]}) req/s" "-" "-"
    fi
    if [ -n "${RPS[baseline:aggs-day]:-}" ]; then
        # shellcheck disable=SC2086
        result P3 "baseline build: cached /aggs daily vs its bare route" "$(median ${RPS[baseline:aggs-day]}) vs $(median ${RPS[baseline:bare-day]}) req/s" "-" "-"
    fi
fi

# ---------------------------------------------------------------- P4 de-duplication
if has p4; then
    echo "== P4 de-duplication"
    start_markethub dedupe "$BIN"
    pid="$SERVER_PID"
    metric() { curl -fsS "http://127.0.0.1:$SERVER_PORT/metrics" | awk -v name="$1" '$1 == name {print $2}' | head -1; }
    before="$(metric markethub_aggs_provider_fetches_total)"
    python3 - "$SERVER_PORT" <<'EOF' > "$OUT/dedupe.txt"
import asyncio, sys
port = int(sys.argv[1])
async def one():
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /api/market/aggs?ticker=QQQ&timespan=day HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    await writer.drain()
    status = (await reader.readline()).split()[1]
    await reader.read()
    writer.close()
    return status
async def main():
    # Open all 1,000 connections first, then fire: the requests arrive together while the first is cold.
    statuses = await asyncio.gather(*(one() for _ in range(1000)))
    print(sum(1 for s in statuses if s == b"200"))
asyncio.run(main())
EOF
    after="$(metric markethub_aggs_provider_fetches_total)"
    fetches="$(python3 -c "print(int(float('${after:-0}') - float('${before:-0}')))")"
    result P4 "1,000 concurrent identical cold /aggs -> provider calls ($(cat "$OUT/dedupe.txt") answered 200)" "$fetches" "1" "$(verdict "$fetches == 1")"
    before="$(metric markethub_upstream_subscribes_total)"
    "$FANOUT" --mode clients --port "$SERVER_PORT" --clients 1000 --seconds 2 \
        --emit '42["live:subscribe",{"symbol":"AAPL"}]' > "$OUT/focus.txt"
    after="$(metric markethub_upstream_subscribes_total)"
    subs="$(python3 -c "print(int(float('${after:-0}') - float('${before:-0}')))")"
    result P4 "1,000 clients subscribing one symbol -> upstream subscriptions ($(tail -1 "$OUT/focus.txt"))" "$subs" "1" "$(verdict "$subs == 1")"
    stop_server "$pid"
fi

# ---------------------------------------------------------------- P5 hub throughput
if has p5; then
    echo "== P5 hub on one core"
    "$BIN/ChartBenchmark" --timeframe 1m --rounds 3 | tee "$OUT/chart.txt" | sed 's/^/   /'
    "$BIN/RouterBenchmark" | tee "$OUT/router.txt" | sed 's/^/   /'
    folding="$(grep -oE 'best [0-9.]+M events/s' "$OUT/chart.txt" | awk '{printf "%d", $2 * 1000000}')"
    routing="$(grep -oE 'throughput: +[0-9]+ quotes/s' "$OUT/router.txt" | awk '{print $2}')"
    result P5 "candle folding (1m), events/s, best of 3 rounds" "${folding:-see log}" ">= 5,000,000" "$(verdict "${folding:-0} >= 5000000")"
    result P5 "quote routing to rooms, quotes/s ($(head -1 "$OUT/router.txt" | cut -d: -f2))" "${routing:-see log}" "-" "-"
fi

# ---------------------------------------------------------------- P6 memory
if has p6; then
    echo "== P6 memory"
    start_markethub memory "$BIN"
    pid="$SERVER_PID"
    sleep 2
    idle="$(rss_kib "$pid")"
    "$FANOUT" --mode clients --port "$SERVER_PORT" --clients "$IDLE_CLIENTS" --seconds 4 > "$OUT/idle.txt" &
    loader=$!
    for _ in $(seq 1 1200); do grep -q "^connected" "$OUT/idle.txt" 2>/dev/null && break; sleep 0.1; done
    sleep 2
    loaded="$(rss_kib "$pid")"
    wait "$loader" || true
    per="$(python3 -c "print(f'{($loaded - $idle) / $IDLE_CLIENTS:.1f}')")"
    result P6 "RSS per idle client at $IDLE_CLIENTS clients ($(grep -m1 '^connected' "$OUT/idle.txt"); RSS ${idle} -> ${loaded} KiB)" "$per KiB" "<= 64 KiB" "$(verdict "$per <= 64")"
    stop_server "$pid"

    SPEED=20 start_markethub drift "$BIN"
    pid="$SERVER_PID"
    "$FANOUT" --mode clients --port "$SERVER_PORT" --clients 200 --seconds "$((DRIFT_SECONDS + 15))" \
        --emit '42["live:subscribe",{"symbol":"SPY"}]' --emit '42["live:subscribe",{"symbol":"QQQ"}]' \
        --emit '42["live:subscribe",{"symbol":"AAPL"}]' > "$OUT/drift.txt" &
    loader=$!
    for _ in $(seq 1 600); do grep -q "^connected" "$OUT/drift.txt" 2>/dev/null && break; sleep 0.1; done
    sleep 15
    start="$(rss_kib "$pid")"
    samples="$start"
    for _ in $(seq 1 "$((DRIFT_SECONDS / 10))"); do sleep 10; samples="$samples $(rss_kib "$pid")"; done
    end="$(rss_kib "$pid")"
    wait "$loader" || true
    drift="$(python3 -c "print(f'{100 * ($end - $start) / $start:.1f}')")"
    echo "   RSS samples (KiB, every 10 s): $samples"
    result P6 "RSS drift over ${DRIFT_SECONDS}s of replay at 20x, 200 clients on 3 symbols ($(tail -1 "$OUT/drift.txt"))" "$drift %" "<= 5 % (over 600 s)" "$(verdict "$drift <= 5")"
    stop_server "$pid"
fi

# ---------------------------------------------------------------- P7 start-up
if has p7; then
    echo "== P7 start-up with the default config (config.yaml; port, cache file and plugin folder moved)"
    work="$OUT/startup"
    mkdir -p "$work"
    declare -a STARTS
    for _ in 1 2 3; do
        port="$(free_port)"
        rm -f "$work/cache.sqlite"*
        sed -e "s/port: 8080/port: $port/" -e "s#path: data/markethub.sqlite#path: $work/cache.sqlite#" \
            -e "s#webRoot: Web#webRoot: $ROOT/Web#" config.yaml > "$work/config.yaml"
        printf 'plugins:\n  directories: [%s]\n' "$BIN" >> "$work/config.yaml"
        ms="$(python3 - "$BIN/markethub" "$work/config.yaml" "$port" <<'EOF'
import subprocess, sys, time, urllib.request
binary, config, port = sys.argv[1:]
started = time.monotonic()
process = subprocess.Popen([binary, "serve", "--config", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
elapsed = None
while time.monotonic() - started < 120 and process.poll() is None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
            if response.status == 200:
                elapsed = time.monotonic() - started
                break
    except Exception:
        time.sleep(0.005)
process.terminate()
process.wait()
print(f"{elapsed * 1000:.0f}" if elapsed is not None else "failed")
EOF
)"
        echo "   start to /health 200: $ms ms"
        STARTS+=("$ms")
    done
    startup="$(median "${STARTS[@]}")"
    result P7 "process start -> /health 200 (median of 3)" "$startup ms" "< 1,000 ms" "$(verdict "'$startup' != 'failed' and ${startup/failed/0} < 1000")"
fi

# ---------------------------------------------------------------- P8 replay on one core
if has p8; then
    echo "== P8 replay on one core"
    # SPY, QQQ and AAPL from 04:00 to 20:00 (595,758 frames), every symbol subscribed on every channel.
    "$BIN/ReplayBenchmark" --rounds 7 | tee "$OUT/replay.txt" | sed 's/^/   /'
    best() { grep "^$1" "$OUT/replay.txt" | grep -oE 'best [0-9]+ frames/s' | awk '{print $2}'; }
    med() { grep "^$1" "$OUT/replay.txt" | grep -oE 'median [0-9]+ frames/s' | awk '{print $2}'; }
    replay_best="$(best replay)"
    result P8 "replay decode + filter + stream state + dispatch, frames/s, best of 7 (median $(med replay))" \
        "${replay_best:-see log}" ">= 1,000,000" "$(verdict "${replay_best:-0} >= 1000000")"
    result P8 "decode only, fast reader (general reader: best $(best 'decode only, general'), median $(med 'decode only, general'))" \
        "$(best 'decode only (fast'), median $(med 'decode only (fast')" "-" "-"
fi

# ---------------------------------------------------------------- table
python3 - "$RESULTS" "$OUT/results.md" <<'EOF'
import sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
lines = ["| | measure | measured | target | |", "|---|---|---|---|---|"]
lines += [f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]} |" for r in rows]
text = "\n".join(lines)
print()
print(text)
open(sys.argv[2], "w").write(text + "\n")
EOF
echo "(table also in $OUT/results.md)"
