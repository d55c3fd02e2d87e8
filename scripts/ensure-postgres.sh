#!/usr/bin/env bash
# A throwaway PostgreSQL server for the integration tests, on loopback: installs Debian's `postgresql`
# package when no server binaries are present, creates a cluster under /tmp on first use, starts it if it
# is not running, and prints the SQLAlchemy URL of an empty-able test database on stdout (logs go to stderr).
#   LEADSCORE_TEST_PG_URL=$(scripts/ensure-postgres.sh) pytest
# scripts/team.sh reuses it for a team stack's own cluster: LEADSCORE_TEST_PG_PORT, LEADSCORE_TEST_PG_DIR and
# LEADSCORE_PG_DB (a plain identifier) choose the port, the folder and the database.
set -euo pipefail
PORT=${LEADSCORE_TEST_PG_PORT:-54329}
DIR=${LEADSCORE_TEST_PG_DIR:-${TMPDIR:-/tmp}/leadscore-pgtest-$PORT}
DB=${LEADSCORE_PG_DB:-leadscore_test}
[[ "$DB" =~ ^[a-z_][a-z0-9_]*$ ]] || { echo "ensure-postgres: LEADSCORE_PG_DB must be a plain identifier" >&2; exit 2; }
log() { echo "ensure-postgres: $*" >&2; }

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
BIN=$(bindir || true)
if [ -z "$BIN" ] || [ ! -x "$BIN/pg_ctl" ]; then
  if [ "$(id -u)" != 0 ]; then
    log "PostgreSQL server binaries are missing; install Debian's package: sudo apt-get install -y postgresql"
    exit 1
  fi
  log "installing Debian's postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
  BIN=$(bindir)
fi

# PostgreSQL refuses to run as root: as root, the cluster belongs to the `postgres` user.
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
  as_pg() { runuser -u postgres -- "$@"; }
  OWNER=postgres
else
  as_pg() { "$@"; }
  OWNER=$(id -un)
fi

mkdir -p "$DIR"
chown "$OWNER" "$DIR"
chmod 700 "$DIR"
if [ ! -f "$DIR/data/PG_VERSION" ]; then
  log "creating a cluster in $DIR/data"
  as_pg "$BIN/initdb" -D "$DIR/data" -U postgres -A trust --no-sync -E UTF8 >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; exit 1; }
fi
if ! as_pg "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
  log "starting PostgreSQL on 127.0.0.1:$PORT"
  as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start \
    -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off" >&2 \
    || { cat "$DIR/server.log" >&2; exit 1; }
fi
PSQL=("$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -qtA)
if [ "$("${PSQL[@]}" -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
  "${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB" >&2
fi
echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/$DB"
