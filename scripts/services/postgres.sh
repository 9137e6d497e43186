#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for tests: `postgres.sh start|stop`.
#
# The cluster (data directory, log, password, chosen port) lives under
# ${UPDRAFT_SERVICES_DIR:-/tmp/updraft-services}/postgres/ and is never a system cluster: it is
# initdb'd there on first start, listens on 127.0.0.1 only (no unix socket, so no path-length or
# /var/run permission issues), and runs with fsync off because its data is disposable.
# Postgres refuses to run as root, so when this script runs as root the server runs as the
# `postgres` system user (created if missing).
#
# stdout carries only `export VAR=value` lines; progress goes to stderr.
set -euo pipefail

NAME=postgres
PG_VERSION=15
BIN="/usr/lib/postgresql/$PG_VERSION/bin"
DIR="${UPDRAFT_SERVICES_DIR:-/tmp/updraft-services}/$NAME"
DATA="$DIR/data"
LOG="$DIR/postgres.log"
PWFILE="$DIR/password"
PORTFILE="$DIR/port"
DB_NAME=updraft_test
DB_USER=postgres
RUN_USER=postgres

log() { echo "[postgres.sh] $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Runs a command as the user that owns the cluster: `postgres` when we are root, else ourselves.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$RUN_USER" -- "$@"
  else
    "$@"
  fi
}

ensure_installed() {
  if [ -x "$BIN/initdb" ] && [ -x "$BIN/pg_ctl" ]; then return; fi
  log "installing postgresql-$PG_VERSION from Debian"
  as_root apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "postgresql-$PG_VERSION" >&2 ||
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >&2
  if [ ! -x "$BIN/initdb" ]; then
    log "apt installed PostgreSQL, but $BIN/initdb is missing (expected major version $PG_VERSION)"
    exit 1
  fi
}

ensure_run_user() {
  [ "$(id -u)" = 0 ] || { RUN_USER="$(id -un)"; return; }
  if ! id "$RUN_USER" >/dev/null 2>&1; then
    log "creating system user $RUN_USER"
    useradd --system --no-create-home --shell /usr/sbin/nologin "$RUN_USER"
  fi
}

# A port nobody listens on right now; the start loop retries if another process takes it first.
free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

is_running() {
  [ -f "$DATA/PG_VERSION" ] && as_pg "$BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

url() {
  echo "postgres://$DB_USER:$(cat "$PWFILE")@127.0.0.1:$(cat "$PORTFILE")/$DB_NAME"
}

init_cluster() {
  [ -f "$DATA/PG_VERSION" ] && return
  if [ "$(id -u)" = 0 ]; then
    local root
    root="$(dirname "$DIR")"
    mkdir -p "$root"
    # The services root is often a `mktemp -d` (mode 700, root's); the server's user must be able
    # to pass through it to its own directory. Search permission only: it still cannot list it.
    if ! runuser -u "$RUN_USER" -- test -x "$root"; then chmod o+x "$root"; fi
    install -d -o "$RUN_USER" -m 700 "$DIR"
  else
    mkdir -p "$DIR" && chmod 700 "$DIR"
  fi
  if ! as_pg test -w "$DIR"; then
    log "user $RUN_USER cannot write $DIR (is a parent directory closed to other users?); set UPDRAFT_SERVICES_DIR to a path it can reach"
    exit 1
  fi
  # The password only keeps other local users out; it is random per cluster and never reused.
  as_pg sh -c "umask 077; od -An -tx1 -N16 /dev/urandom | tr -d ' \n' > '$PWFILE'"
  log "initdb in $DATA"
  as_pg "$BIN/initdb" -D "$DATA" -U "$DB_USER" --pwfile="$PWFILE" \
    --auth-host=scram-sha-256 --auth-local=reject -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 || {
    log "initdb failed; its output:"
    cat "$DIR/initdb.log" >&2
    exit 1
  }
  # Settings are kept in an include file that each start rewrites (the port changes per start).
  echo "include_if_exists = 'updraft.conf'" | as_pg tee -a "$DATA/postgresql.conf" >/dev/null
}

write_settings() {
  local port="$1"
  as_pg tee "$DATA/updraft.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
# Disposable test data: durability buys nothing here and costs seconds per test run.
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
timezone = 'UTC'
log_min_messages = warning
EOF
  echo "$port" | as_pg tee "$PORTFILE" >/dev/null
}

start_server() {
  if is_running; then
    log "already running on 127.0.0.1:$(cat "$PORTFILE")"
    return
  fi
  local attempt port
  for attempt in 1 2 3 4 5; do
    port="$(free_port)"
    write_settings "$port"
    log "starting postgres $PG_VERSION on 127.0.0.1:$port (state in $DIR)"
    # pg_ctl daemonizes the postmaster (its own session), so it outlives this script.
    if as_pg "$BIN/pg_ctl" start -D "$DATA" -l "$LOG" -w -t 60 >/dev/null 2>&1; then
      return
    fi
    if grep -q 'could not bind' "$LOG" 2>/dev/null; then
      log "port $port was taken meanwhile; retrying (attempt $attempt)"
      continue
    fi
    log "postgres did not start; last log lines:"
    tail -n 30 "$LOG" >&2 || true
    exit 1
  done
  log "could not find a free port after 5 attempts"
  exit 1
}

ensure_database() {
  local exists
  exists="$(PGPASSWORD="$(cat "$PWFILE")" "$BIN/psql" -h 127.0.0.1 -p "$(cat "$PORTFILE")" -U "$DB_USER" \
    -d postgres -tAc "select 1 from pg_database where datname = '$DB_NAME'")"
  if [ "$exists" != 1 ]; then
    log "creating database $DB_NAME"
    PGPASSWORD="$(cat "$PWFILE")" "$BIN/createdb" -h 127.0.0.1 -p "$(cat "$PORTFILE")" -U "$DB_USER" "$DB_NAME"
  fi
}

stop_server() {
  if [ -f "$DATA/PG_VERSION" ]; then
    if is_running; then
      log "stopping postgres"
      as_pg "$BIN/pg_ctl" stop -D "$DATA" -m fast -w -t 30 >/dev/null 2>&1 || {
        # pg_ctl failed: stop the postmaster this script started, by the pid it recorded.
        local pid
        pid="$(head -n 1 "$DATA/postmaster.pid" 2>/dev/null || true)"
        if [ -n "$pid" ]; then
          log "pg_ctl stop failed; killing postmaster pid $pid"
          kill -KILL "$pid" 2>/dev/null || true
        fi
      }
    fi
  fi
  rm -rf "$DIR"
  log "stopped"
}

case "${1:-}" in
  start)
    ensure_installed
    ensure_run_user
    init_cluster
    start_server
    ensure_database
    log "ready"
    echo "export UPDRAFT_TEST_DATABASE_URL=$(url)"
    ;;
  stop)
    ensure_run_user
    stop_server
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
