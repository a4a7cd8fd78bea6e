#!/usr/bin/env bash
# The shared store's benchmark (docs/SHARED-STORE.md): a throwaway PostgreSQL, three `mnemo serve` nodes
# on one database, and an embedded-store node for comparison, all on this host.
#   Tests/Scripts/bench-shared.sh [bench_shared.py options]   (after `swift build -c release --product mnemo`)
set -euo pipefail
cd "$(dirname "$0")/../.."
MNEMO=${MNEMO:-$PWD/.build/release/mnemo}
[ -x "$MNEMO" ] || { echo "build first: swift build -c release --product mnemo" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
exec_bench() {
  psql "$MNEMO_TEST_POSTGRES" -qc "CREATE DATABASE bench"
  python3 Tests/Scripts/bench_shared.py "$MNEMO" "${MNEMO_TEST_POSTGRES%/*}/bench" "$WORK" "$@"
}
export -f exec_bench
export MNEMO WORK
Tests/Scripts/with-postgres.sh bash -c 'exec_bench "$@"' _ "$@"
