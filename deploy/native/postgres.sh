#!/usr/bin/env bash
# Throwaway PostgreSQL 15 (Debian postgresql-15) on 127.0.0.1:${PLATFORM_PG_PORT:-55432}
# with a database "platform", trust auth and fsync off.
# Usage: postgres.sh {install|start|stop|restart|status|env|clean}
set -euo pipefail
NATIVE_NAME=postgres
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_PORT="${PLATFORM_PG_PORT:-55432}"
PG_DB="${PLATFORM_PG_DATABASE:-platform}"
PG_VERSION="${PLATFORM_PG_VERSION:-15}"
PG_BIN="/usr/lib/postgresql/$PG_VERSION/bin"
SERVER_STATE="$NATIVE_STATE/postgres"
PG_DATA="$SERVER_STATE/data"
PG_SOCK="$SERVER_STATE/run"
PG_LOG="$SERVER_STATE/postgres.log"

# initdb/pg_ctl refuse to run as root: run them as the postgres user then.
as_pg() {
  if [[ "$(id -u)" == 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_ready() { "$PG_BIN/pg_isready" -q -h "$NATIVE_HOST" -p "$PG_PORT" -d postgres -U postgres; }

# pid of the postmaster of our data directory, if it runs.
pg_pid() {
  [[ -f "$PG_DATA/postmaster.pid" ]] || return 1
  local pid
  pid="$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null | tr -dc '0-9')"
  [[ -n "$pid" ]] && pid_alive "$pid" && pid_cmdline_has "$pid" "$PG_DATA" || return 1
  printf '%s\n' "$pid"
}

cmd_install() {
  ensure_apt_packages "postgresql-$PG_VERSION" "postgresql-client-$PG_VERSION"
  [[ -x "$PG_BIN/initdb" ]] || die "$PG_BIN/initdb not found after installing postgresql-$PG_VERSION"
}

cmd_env() {
  cat <<EOF
DB_POSTGRES_URL=postgresql://postgres@$NATIVE_HOST:$PG_PORT/$PG_DB
EOF
}

ensure_database() {
  if [[ "$("$PG_BIN/psql" -h "$NATIVE_HOST" -p "$PG_PORT" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]]; then
    log "creating database $PG_DB"
    "$PG_BIN/createdb" -h "$NATIVE_HOST" -p "$PG_PORT" -U postgres "$PG_DB" >&2
  fi
}

cmd_start() {
  cmd_install
  local pid=""
  if pid="$(pg_pid)"; then
    if ! pg_ready; then
      log "already starting (pid $pid); waiting for it"
      wait_until "$NATIVE_START_TIMEOUT" "postgres answers pg_isready on port $PG_PORT" "$PG_LOG" "$pid" pg_ready
    fi
    log "already running (pid $pid) on port $PG_PORT"
    ensure_database
    cmd_env | publish_env postgres
    return 0
  fi
  require_port_free "$PG_PORT" PLATFORM_PG_PORT
  ensure_dir "$NATIVE_STATE"
  chmod 755 "$NATIVE_STATE" 2>/dev/null || true
  ensure_dir "$SERVER_STATE" "$PG_SOCK"
  if [[ "$(id -u)" == 0 ]]; then
    chown postgres:postgres "$SERVER_STATE" "$PG_SOCK"
    runuser -u postgres -- test -w "$SERVER_STATE" \
      || die "user postgres cannot write $SERVER_STATE (is a parent directory of PLATFORM_NATIVE_STATE=$NATIVE_STATE private?)"
  fi
  if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
    rm -rf "$PG_DATA"
    log "initdb $PG_DATA"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" --auth=trust --username=postgres --encoding=UTF8 --locale=C.UTF-8 \
      >>"$PG_LOG" 2>&1 || { show_log_tail "$PG_LOG"; die "initdb failed; log: $PG_LOG"; }
  fi
  : >>"$PG_LOG"
  [[ "$(id -u)" == 0 ]] && chown postgres:postgres "$PG_LOG"
  log "starting on $NATIVE_HOST:$PG_PORT (data $PG_DATA, log $PG_LOG)"
  # pg_ctl -W: do not wait here, we wait with pg_isready below (clear timeout).
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -W -o \
    "-c listen_addresses=$NATIVE_HOST -c port=$PG_PORT -c unix_socket_directories=$PG_SOCK -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >&2 8>&- || { show_log_tail "$PG_LOG"; die "pg_ctl start failed; log: $PG_LOG"; }
  local deadline=$(( $(now) + 10 ))
  until pid="$(pg_pid)"; do
    (( $(now) >= deadline )) && { show_log_tail "$PG_LOG"; die "postmaster did not start; log: $PG_LOG"; }
    sleep 0.2
  done
  wait_until "$NATIVE_START_TIMEOUT" "postgres answers pg_isready on port $PG_PORT" "$PG_LOG" "$pid" pg_ready
  ensure_database
  cmd_env | publish_env postgres
}

cmd_stop() {
  local pid=""
  if pid="$(pg_pid)"; then
    log "stopping (pid $pid)"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t "$NATIVE_STOP_TIMEOUT" stop >&2 || true
    terminate_pid "$pid"
  else
    log "not running"
  fi
  kill_leftovers "$PG_DATA"
  if [[ -n "$pid" ]]; then
    wait_port_closed "$PG_PORT" || true
  fi
  unpublish_env postgres
}

cmd_status() {
  local pid=""
  pid="$(pg_pid || true)"
  if pg_ready && [[ -n "$pid" ]]; then
    status_line up "$PG_PORT" "$pid" "db=$PG_DB data=$PG_DATA"
  else
    status_line down "$PG_PORT" "$pid" "log=$PG_LOG"
    return 1
  fi
}

native_main "$@"
