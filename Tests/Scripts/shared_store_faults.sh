#!/usr/bin/env bash
# The shared store when PostgreSQL goes away and comes back, on a cluster of its own:
#   Tests/Scripts/with-postgres.sh Tests/Scripts/shared_store_faults.sh MNEMO
# A node keeps answering searches from its replica while the primary is down and says it is stale on
# /health; a write meanwhile is a 503 naming the database; a node restarted during the outage starts from
# its replica, stale; once the primary is back, writes work again and the node is no longer stale. Prints "faults: ok" and exits 0, or says what failed.
set -euo pipefail
MNEMO=$1
URL=$MNEMO_TEST_POSTGRES
WORK=$(mktemp -d)
trap 'kill $SERVE 2>/dev/null || true; rm -rf "$WORK"' EXIT
fail() { echo "faults: FAILED: $*"; echo "--- serve stderr:"; tail -n 20 "$WORK/serve.err"; exit 1; }
pg() { $MNEMO_TEST_POSTGRES_AS "$MNEMO_TEST_POSTGRES_BIN/pg_ctl" -D "$MNEMO_TEST_POSTGRES_DATA/primary" -w "$@" >/dev/null; }

start_serve() {
  : >"$WORK/serve.err"
  "$MNEMO" serve --port 0 --store "$URL" --replica "$WORK/replica" >"$WORK/serve.out" 2>"$WORK/serve.err" &
  SERVE=$!
  for _ in $(seq 300); do grep -q "listening on" "$WORK/serve.err" && break; sleep 0.1; done
  PORT=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$WORK/serve.err" | sed 's/.*://' || true)
  [ -n "$PORT" ] || fail "serve did not start"
  H=http://127.0.0.1:$PORT
}
start_serve
add() { curl -s -o "$WORK/add.json" -w '%{http_code}' -X POST "$H/v1/memory/documents" -H 'Content-Type: application/json' -d "{\"text\": \"$1\", \"source\": \"$2\"}"; }
search() { curl -s -X POST "$H/v1/memory/search" -H 'Content-Type: application/json' -d "{\"query\": \"$1\", \"k\": 1, \"mode\": \"bm25\"}"; }

[ "$(add 'The spare key is under the blue flowerpot.' notes/key.md)" = 201 ] || fail "first add: $(cat "$WORK/add.json")"
search "spare key flowerpot" | grep -q notes/key.md || fail "search before the outage"

pg stop -m fast
sleep 3  # the follower notices within its 2 s wait
search "spare key flowerpot" | grep -q notes/key.md || fail "search while the primary is down: $(search 'spare key flowerpot')"
curl -s "$H/health" | grep -q '"stale":true' || fail "health while down: $(curl -s "$H/health")"
code=$(add 'The bicycle pump is in the attic.' notes/pump.md)
[ "$code" = 503 ] || fail "add while down returned $code: $(cat "$WORK/add.json")"
grep -q 'store_unavailable' "$WORK/add.json" || fail "503 body: $(cat "$WORK/add.json")"
grep -q '127.0.0.1' "$WORK/add.json" || fail "the error does not name the database: $(cat "$WORK/add.json")"

# Restarted during the outage, the node starts from its replica, stale, and still answers.
kill -INT $SERVE; wait $SERVE || fail "serve did not exit cleanly during the outage"
start_serve
grep -q "serving the replica" "$WORK/serve.err" || fail "no stale-start notice: $(cat "$WORK/serve.err")"
search "spare key flowerpot" | grep -q notes/key.md || fail "search after a restart during the outage"
curl -s "$H/health" | grep -q '"stale":true' || fail "health after a restart during the outage: $(curl -s "$H/health")"

pg start -l "$MNEMO_TEST_POSTGRES_DATA/primary.log"
for _ in $(seq 100); do [ "$(add 'The bicycle pump is in the attic.' notes/pump.md)" = 201 ] && break; sleep 0.2; done
grep -q '"changed":true' "$WORK/add.json" || fail "add after the primary came back: $(cat "$WORK/add.json")"
for _ in $(seq 50); do curl -s "$H/health" | grep -q '"stale":false' && break; sleep 0.2; done
curl -s "$H/health" | grep -q '"stale":false' || fail "still stale after the primary came back: $(curl -s "$H/health")"
search "bicycle pump attic" | grep -q notes/pump.md || fail "search after recovery"
kill -INT $SERVE; wait $SERVE || fail "serve did not exit cleanly"
echo "faults: ok"
