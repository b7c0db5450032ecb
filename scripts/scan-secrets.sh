#!/usr/bin/env bash
# Fails when a test vendor API key appears in anything a test run left behind: logs, recordings, caches,
# saved responses and socket frames. Every test that hands markethub a vendor key uses one that starts with
# the canary prefix (MassiveProviderTests' testKey, the interop tests' keys), so a plain search finds leaks.
#
#   scripts/scan-secrets.sh [--since MARKER] [DIR ...]
#
# DIRs default to $MARKETHUB_TEST_LOG_DIR (scripts/test.sh sets it to artifacts/test-logs). With --since,
# the markethub-* and massive-* entries in ${TMPDIR:-/tmp} changed after MARKER (a file) are scanned too: that is where
# the Swift and interop tests keep their servers' logs, recordings and caches. Gzip files are searched inside.
set -euo pipefail
cd "$(dirname "$0")/.."

canary="${MARKETHUB_SECRET_CANARY:-mh-secret-canary}"
since=""
dirs=()
while [ $# -gt 0 ]; do
    case "$1" in
        --since) since="$2"; shift 2 ;;
        -*) echo "usage: $0 [--since MARKER] [DIR ...]" >&2; exit 2 ;;
        *) dirs+=("$1"); shift ;;
    esac
done
if [ ${#dirs[@]} -eq 0 ] && [ -n "${MARKETHUB_TEST_LOG_DIR:-}" ]; then dirs+=("$MARKETHUB_TEST_LOG_DIR"); fi
if [ -n "$since" ]; then
    while IFS= read -r dir; do dirs+=("$dir"); done < <(
        find "${TMPDIR:-/tmp}" -maxdepth 1 \( -name 'markethub-*' -o -name 'massive-*' \) -newer "$since" 2>/dev/null)
fi
if [ ${#dirs[@]} -eq 0 ]; then
    echo "scan-secrets: nothing to scan (give directories or set MARKETHUB_TEST_LOG_DIR)" >&2
    exit 2
fi

scanned=0
leaks=0
while IFS= read -r -d '' file; do
    scanned=$((scanned + 1))
    case "$file" in
        *.gz) found=$(gzip -dc "$file" 2>/dev/null | grep -a -c -- "$canary" || true) ;;
        *) found=$(grep -a -c -- "$canary" "$file" || true) ;;
    esac
    if [ "${found:-0}" -gt 0 ]; then
        leaks=$((leaks + 1))
        echo "LEAK: $file ($found lines contain the test API key)" >&2
    fi
done < <(find "${dirs[@]}" -type f -print0 2>/dev/null)

echo "scan-secrets: $scanned files in ${#dirs[@]} locations scanned for the test API key, $leaks with leaks"
if [ "$scanned" -eq 0 ]; then
    echo "scan-secrets: no files found: the test run did not leave its logs where expected" >&2
    exit 1
fi
[ "$leaks" -eq 0 ]
