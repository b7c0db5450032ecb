#!/usr/bin/env bash
# Installs the Debian packages MarketHub needs, when any is missing:
#   zlib1g-dev       gzip recordings (the CZlib system library target links libz)
#   gcc, libc6-dev   the tests build the C example plugin and loader fixtures with the system compiler
#   binutils         nm, for the plugin export check
#   python3, venv    a test edits a database file with Python's sqlite3 module; the interop tests run
#                    python-socketio clients from a virtual environment (PyPI)
#   libmongoc-dev    MongoCache links the system libmongoc (and libbson)
#   pkg-config       SwiftPM finds libmongoc's headers and libraries through pkg-config (libmongoc-1.0)
#   redis-server     the cluster tests (RedisClientTests, Tests/interop/test_cluster_e2e.py) start their own
#   openssl, curl    the TLS test makes a self-signed certificate; the API fuzz script polls /health
# Everything else (SQLite, SwiftNIO, ...) comes from the Swift package mirror.
set -euo pipefail
missing=()
[ -f /usr/include/zlib.h ] || missing+=(zlib1g-dev)
command -v cc >/dev/null || missing+=(gcc libc6-dev)
command -v nm >/dev/null || missing+=(binutils)
command -v python3 >/dev/null || missing+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
command -v pkg-config >/dev/null || missing+=(pkg-config)
[ -f /usr/include/libmongoc-1.0/mongoc/mongoc.h ] || missing+=(libmongoc-dev)
command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
command -v openssl >/dev/null || missing+=(openssl)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing packages: ${missing[*]} (run as root, or install them with apt-get)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}"
fi
