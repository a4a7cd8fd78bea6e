#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL: a primary on a free loopback port and a streaming
# standby made from it with pg_basebackup, both in a temporary directory owned by an unprivileged
# user (initdb refuses root), stopped and removed when the command ends, however it ends.
#
#   Tests/Scripts/with-postgres.sh swift test
#
# The command sees:
#   MNEMO_TEST_POSTGRES          postgresql://mnemo@127.0.0.1:PORT/postgres  (the primary; trust auth)
#   MNEMO_TEST_POSTGRES_STANDBY  the same on the standby's port
#   MNEMO_TEST_POSTGRES_BIN      the server's bin directory (createdb, psql, pg_ctl)
#   MNEMO_TEST_POSTGRES_DATA     the clusters' directory (primary/, standby/), for tests that stop a server
#   MNEMO_TEST_POSTGRES_AS       the prefix that runs a command as the servers' user (empty unless root)
#   MNEMO_TEST_POSTGRES_PASSWORD_URL  the primary as role mnemo_pw, which needs the password correct-horse-battery
# PostgreSQL 15 comes from Debian (.ci/setup.sh installs it).
set -euo pipefail
say() { printf 'with-postgres: %s\n' "$*" >&2; }

BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$BIN/initdb" ] || { say "no PostgreSQL server (apt-get install postgresql); run .ci/setup.sh"; exit 1; }

ROOT=$(mktemp -d /tmp/mnemo-pg.XXXXXX)
RUN=()
if [ "$(id -u)" -eq 0 ]; then
  # The server must not run as root: run it as `nobody`, which owns nothing else here.
  chown nobody "$ROOT"
  RUN=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups --)
fi
as_pg() { "${RUN[@]}" env HOME="$ROOT" "$@"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
PRIMARY_PORT=$(free_port)
STANDBY_PORT=$(free_port)

stop() {
  local rc=$?
  for d in standby primary; do
    [ -f "$ROOT/$d/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$ROOT/$d" -m immediate -w stop >/dev/null 2>&1 || true
  done
  rm -rf "$ROOT"
  exit $rc
}
trap stop EXIT INT TERM

as_pg "$BIN/initdb" -D "$ROOT/primary" -U mnemo --auth=trust -E UTF8 --locale=C.UTF-8 >"$ROOT/initdb.log" 2>&1 \
  || { cat "$ROOT/initdb.log" >&2; exit 1; }
cat >>"$ROOT/primary/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PRIMARY_PORT
unix_socket_directories = '$ROOT'
wal_level = replica
max_wal_senders = 4
max_connections = 200
fsync = on
EOF
echo "host replication mnemo 127.0.0.1/32 trust" >>"$ROOT/primary/pg_hba.conf"
# One role that must give a password (first match wins in pg_hba.conf), for the credential tests.
sed -i '1i host all mnemo_pw 127.0.0.1/32 scram-sha-256' "$ROOT/primary/pg_hba.conf"
as_pg "$BIN/pg_ctl" -D "$ROOT/primary" -l "$ROOT/primary.log" -w start >/dev/null \
  || { cat "$ROOT/primary.log" >&2; exit 1; }

as_pg "$BIN/psql" -h 127.0.0.1 -p "$PRIMARY_PORT" -U mnemo -d postgres -qc \
  "CREATE ROLE mnemo_pw LOGIN PASSWORD 'correct-horse-battery'; GRANT ALL ON SCHEMA public TO mnemo_pw" >/dev/null
as_pg "$BIN/pg_basebackup" -h 127.0.0.1 -p "$PRIMARY_PORT" -U mnemo -D "$ROOT/standby" -R -X stream >/dev/null 2>&1 \
  || { say "pg_basebackup failed"; exit 1; }
sed -i "s/^port = .*/port = $STANDBY_PORT/" "$ROOT/standby/postgresql.conf"
as_pg "$BIN/pg_ctl" -D "$ROOT/standby" -l "$ROOT/standby.log" -w start >/dev/null \
  || { cat "$ROOT/standby.log" >&2; exit 1; }

export MNEMO_TEST_POSTGRES="postgresql://mnemo@127.0.0.1:$PRIMARY_PORT/postgres"
export MNEMO_TEST_POSTGRES_STANDBY="postgresql://mnemo@127.0.0.1:$STANDBY_PORT/postgres"
export MNEMO_TEST_POSTGRES_BIN="$BIN"
export MNEMO_TEST_POSTGRES_DATA="$ROOT"
export MNEMO_TEST_POSTGRES_PASSWORD_URL="postgresql://mnemo_pw@127.0.0.1:$PRIMARY_PORT/postgres"
export MNEMO_TEST_POSTGRES_AS="${RUN[*]:-}"
say "primary on 127.0.0.1:$PRIMARY_PORT, standby on 127.0.0.1:$STANDBY_PORT ($ROOT)"
"$@"
