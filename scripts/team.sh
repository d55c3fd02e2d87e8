#!/usr/bin/env bash
# A team stack on one machine, under one folder: PostgreSQL (its own cluster, Debian's server installed by
# scripts/ensure-postgres.sh when missing), `mlflow server` with its backend on that database and artifacts proxied
# from <folder>/artifacts (runs record mlflow-artifacts:/ URIs: clients need only the server URL, and the folder can
# move), and the workspace (`leadscore serve`). leadscore's tables share the database with MLflow's (all prefixed
# leadscore_).
#   scripts/team.sh up   [FOLDER]    # default .team; prints the URLs and the users, writes pid files
#   scripts/team.sh down [FOLDER]    # stops what `up` started
# Environment: TEAM_PG_PORT (54330), TEAM_MLFLOW_PORT (5050), TEAM_SERVE_PORT (8050); TEAM_DB_URL uses an existing
# PostgreSQL database instead of starting a cluster; LEADSCORE_SOURCES, LEADSCORE_HOME (default: this project).
# Exit codes: 0 up/down, 1 a service failed to start (its log is named), 2 bad usage or a port already taken.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
BIN=${LEADSCORE_BIN:-$HERE/.venv/bin}
ACTION=${1:-}
DIR=${2:-${TEAM_DIR:-.team}}
PG_PORT=${TEAM_PG_PORT:-54330}
MLFLOW_PORT=${TEAM_MLFLOW_PORT:-5050}
SERVE_PORT=${TEAM_SERVE_PORT:-8050}
log() { echo "team: $*" >&2; }

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_http() {  # url, seconds, pid
  local url=$1 seconds=$2 pid=$3
  for _ in $(seq $((seconds * 5))); do
    kill -0 "$pid" 2>/dev/null || return 1
    "$BIN/python" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" "$url" \
      2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

masked() { SHOWN_URL=$1 "$BIN/python" -c "import os, sqlalchemy as sa; print(sa.make_url(os.environ['SHOWN_URL']).render_as_string(hide_password=True))"; }

stop_pid() {  # a pid file of ours: stop that process (and its children), wait, remove the file
  local file=$1 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 25); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done  # 5 s to finish requests
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

up() {
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  mkdir -p "$DIR/artifacts" "$DIR/logs" "$DIR/run" "$DIR/scores"
  if [ -f "$DIR/run/mlflow.pid" ] && kill -0 "$(cat "$DIR/run/mlflow.pid")" 2>/dev/null; then
    log "a stack is already up in $DIR (scripts/team.sh down $DIR first)"; exit 2
  fi
  local ports=("$MLFLOW_PORT" "$SERVE_PORT")
  [ -z "${TEAM_DB_URL:-}" ] && ports+=("$PG_PORT")
  for port in "${ports[@]}"; do
    if port_taken "$port"; then
      log "port $port on 127.0.0.1 is already taken: choose another (TEAM_PG_PORT, TEAM_MLFLOW_PORT, TEAM_SERVE_PORT)"
      exit 2
    fi
  done
  local db_url
  if [ -n "${TEAM_DB_URL:-}" ]; then
    db_url=$TEAM_DB_URL
  else
    db_url=$(LEADSCORE_TEST_PG_PORT=$PG_PORT LEADSCORE_TEST_PG_DIR="$DIR/postgres" LEADSCORE_PG_DB=leadscore \
             "$HERE/scripts/ensure-postgres.sh")
    echo "$DIR/postgres" > "$DIR/run/postgres.dir"
  fi
  local home=${LEADSCORE_HOME:-$HERE}
  local tracking="http://127.0.0.1:$MLFLOW_PORT"
  umask 077  # the services' environment holds the database URL: readable by the owner only
  cat > "$DIR/team.env" <<ENV
# The services' environment (systemd EnvironmentFile=, or: set -a; . $DIR/team.env; set +a). Holds the database URL.
LEADSCORE_DB_URL=$db_url
MLFLOW_TRACKING_URI=$tracking
LEADSCORE_HOME=$home
LEADSCORE_SOURCES=${LEADSCORE_SOURCES:-data/demo}
LEADSCORE_SCORES_DIR=$DIR/scores
MLFLOW_BACKEND_STORE_URI=$db_url
LEADSCORE_ARTIFACTS_DIR=$DIR/artifacts
LEADSCORE_SECRET_KEY=$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(32))')
ENV
  cat > "$DIR/client.env" <<ENV
# What a data scientist's machine needs: URLs only, no database password.
MLFLOW_TRACKING_URI=$tracking
LEADSCORE_WORKSPACE_URL=http://127.0.0.1:$SERVE_PORT
ENV
  umask 022
  # Both start at once (each spends most of its start importing); the workspace reaches MLflow only per request.
  # The database URL goes through the environment, never the command line (which `ps` shows every user).
  MLFLOW_BACKEND_STORE_URI=$db_url setsid "$BIN/mlflow" server --artifacts-destination "$DIR/artifacts" \
    --serve-artifacts --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 \
    >"$DIR/logs/mlflow.log" 2>&1 < /dev/null &
  echo $! > "$DIR/run/mlflow.pid"
  (set -a; . "$DIR/team.env"; set +a; cd "$home"
   exec setsid "$BIN/leadscore" serve --host 127.0.0.1 --port "$SERVE_PORT" \
     >"$DIR/logs/serve.log" 2>&1 < /dev/null) &
  echo $! > "$DIR/run/serve.pid"
  if ! wait_http "$tracking/health" 120 "$(cat "$DIR/run/mlflow.pid")"; then
    log "mlflow server did not start: see $DIR/logs/mlflow.log"; down_all; exit 1
  fi
  if ! wait_http "http://127.0.0.1:$SERVE_PORT/health" 60 "$(cat "$DIR/run/serve.pid")"; then
    log "the workspace did not start: see $DIR/logs/serve.log"; down_all; exit 1
  fi
  echo "MLflow:    $tracking              (MLFLOW_TRACKING_URI: all a client needs; artifacts in $DIR/artifacts)"
  echo "Workspace: http://127.0.0.1:$SERVE_PORT"
  echo "Database:  $(masked "$db_url")   (services only: $DIR/team.env)"
  echo "Users:"
  (set -a; . "$DIR/team.env"; set +a; cd "$home"; "$BIN/leadscore" user list) || true
  echo "Stop with: scripts/team.sh down $DIR"
}

down_all() {
  stop_pid "$DIR/run/serve.pid"
  stop_pid "$DIR/run/mlflow.pid"
  if [ -f "$DIR/run/postgres.dir" ]; then
    local data bindir
    data="$(cat "$DIR/run/postgres.dir")/data"
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$bindir/pg_ctl" -D "$data" -m fast -w stop >&2 || true
    else "$bindir/pg_ctl" -D "$data" -m fast -w stop >&2 || true; fi
    rm -f "$DIR/run/postgres.dir"
  fi
}

case "$ACTION" in
  up) up ;;
  down) [ -d "$DIR" ] || { log "no stack in $DIR"; exit 2; }; DIR=$(cd "$DIR" && pwd); down_all; log "stopped" ;;
  *) echo "usage: scripts/team.sh up|down [FOLDER]" >&2; exit 2 ;;
esac
