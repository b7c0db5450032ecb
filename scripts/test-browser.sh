#!/usr/bin/env bash
# Runs the web client's tests in a real browser: Debian's Chromium, headless, driven by Debian's chromedriver
# through Selenium (PyPI, in .venv-browser), against `markethub serve` with the recorded provider, the
# embedded cache and the Socket.IO transport serving Web/. Screenshots land in artifacts/browser/.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing packages: ${missing[*]} (run as root, or install them with apt-get)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}"
fi

. scripts/lib.sh
python_env .venv-browser 'selenium, requests, pytest' -r Tests/browser/requirements.txt

swift build --product markethub
for plugin in RecordedProvider EmbeddedCache SocketIOTransport; do swift build --product "$plugin"; done
bin="$(swift build --show-bin-path)"
mkdir -p artifacts/browser
MARKETHUB_BIN="$bin/markethub" exec .venv-browser/bin/python -m pytest -q Tests/browser "$@"
