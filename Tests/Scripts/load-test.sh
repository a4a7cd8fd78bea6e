#!/usr/bin/env bash
# A bounded load test of `mnemo serve` on loopback: concurrent memory searches and adds for a fixed time
# (default 60 s), then p50/p99 latency, throughput and errors as a Markdown table (Tests/Scripts/load_client.py).
#
#   Tests/Scripts/load-test.sh [MNEMO_BINARY]      (default .build/release/mnemo; `make release` builds it)
#
# Environment: LOAD_SECONDS (60), LOAD_SEARCHERS (6), LOAD_ADDERS (2), MNEMO_THREADS.
# The store is a fresh temporary one, seeded with Examples/corpus; the server and the store are removed at
# the end. Exits non-zero if any request failed. Not a test: run it by hand on a quiet machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${1:-$ROOT/.build/release/mnemo}"
SECONDS_TOTAL="${LOAD_SECONDS:-60}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
[ -x "$BIN" ] || { echo "load-test: no binary at $BIN (make release)" >&2; exit 1; }
bash "$ROOT/Tests/Scripts/clients-venv.sh" >/dev/null
PY="$ROOT/.venv-clients/bin/python"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then kill -INT "$SERVER_PID"; wait "$SERVER_PID" || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN" index "$ROOT/Examples/corpus" --store "$WORK/store" >/dev/null 2>&1
"$BIN" serve --port 0 --store "$WORK/store" 2> "$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 1 300); do
    PORT=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$WORK/server.log" 2>/dev/null | sed 's/.*://' || true)
    [ -n "$PORT" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
    sleep 0.1
done
[ -n "${PORT:-}" ] || { echo "load-test: the server did not start" >&2; exit 1; }

echo "load-test: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), server on 127.0.0.1:$PORT"
status=0
"$PY" "$ROOT/Tests/Scripts/load_client.py" "http://127.0.0.1:$PORT" --seconds "$SECONDS_TOTAL" \
    --searchers "${LOAD_SEARCHERS:-6}" --adders "${LOAD_ADDERS:-2}" || status=$?
echo
"$PY" - "http://127.0.0.1:$PORT/v1/memory/stats" <<'PY' || true
import json, sys, urllib.request
s = json.load(urllib.request.urlopen(sys.argv[1], timeout=30))
print(f"store after the run: {s['documents']} documents, {s['chunks']} chunks")
PY
exit $status
