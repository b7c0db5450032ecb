#!/usr/bin/env bash
# Cache benchmark: bulk upsert (insert, then update) and range-read throughput of MemoryCache, EmbeddedCache
# and MongoCache side by side, in one run, through the host's cache wrapper (release build).
# MongoCache runs against $MONGODB_URI when set, else against nx-27017 (PyPI, installed by
# scripts/setup-test-peers.sh) started on a free loopback port with a file database in a temporary directory.
# Environment: BARS (10000) BATCH (1000) READS (200) WINDOW (390). Not a test: figures depend on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

for product in cache-bench MemoryCache EmbeddedCache MongoCache; do
    swift build -c release --product "$product"
done
bin="$(swift build -c release --show-bin-path)"

uri="${MONGODB_URI:-}"
if [ -z "$uri" ]; then
    scripts/setup-test-peers.sh >/dev/null
    venv="${MARKETHUB_NX27017:-$(pwd)/.venv-test-peers}"
    work="$(mktemp -d)"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "$venv/bin/nx-27017" --host 127.0.0.1 --port "$port" --db "$work/bench.db" \
        --log-file "$work/nx.log" --pid-file "$work/nx.pid" >/dev/null 2>&1 &
    server=$!
    trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
    for _ in $(seq 1 100); do
        if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then break; fi
        sleep 0.1
    done
    uri="mongodb://127.0.0.1:$port/markethub_bench"
    echo "MongoCache against nx-27017 on 127.0.0.1:$port"
fi

"$bin/cache-bench" --plugins "$bin" --mongo-uri "$uri" --bars "${BARS:-10000}" --batch "${BATCH:-1000}" \
    --reads "${READS:-200}" --window "${WINDOW:-390}"
