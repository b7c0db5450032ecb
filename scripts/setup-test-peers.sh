#!/usr/bin/env bash
# Installs the real servers the Swift tests run against, from PyPI into a virtual environment:
#   nx-27017   a MongoDB wire-protocol server (on SQLite); the MongoCache tests start one per test on a free
#              loopback port, and use its pymongo to write corrupt documents and list indexes.
# The environment is $MARKETHUB_NX27017 when set, else .venv-test-peers in the package; the tests read the
# same variable (scripts/test.sh exports it). Set MONGODB_URI to run the MongoCache suite against your own
# server instead (the outage tests still use nx-27017, since they stop and restart the server).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${MARKETHUB_NX27017:-$(pwd)/.venv-test-peers}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import pymongo' 2>/dev/null || [ ! -x "$venv/bin/nx-27017" ]; then
    "$venv/bin/pip" install --quiet "nx-27017==0.8.1"
fi
echo "test peers ready in $venv"
