#!/usr/bin/env bash
# Throwaway Redis (Debian redis-server) on 127.0.0.1:${PLATFORM_REDIS_PORT:-56379},
# no persistence. DB 0 is the cache, DB 1 the stream queue.
# Usage: redis.sh {install|start|stop|restart|status|env|clean}
set -euo pipefail
NATIVE_NAME=redis
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REDIS_PORT="${PLATFORM_REDIS_PORT:-56379}"
SERVER_STATE="$NATIVE_STATE/redis"
REDIS_PIDFILE="$SERVER_STATE/redis.pid"
REDIS_LOG="$SERVER_STATE/redis.log"
# redis-server rewrites its process title to "redis-server 127.0.0.1:PORT".
REDIS_MARKER="redis-server $NATIVE_HOST:$REDIS_PORT"

redis_ping() { [[ "$(redis-cli -h "$NATIVE_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; }
redis_pid() { running_pid "$REDIS_PIDFILE" "$REDIS_MARKER"; }

cmd_install() {
  ensure_apt_packages redis-server redis-tools
}

cmd_env() {
  cat <<EOF
CACHE_REDIS_URL=redis://$NATIVE_HOST:$REDIS_PORT/0
MQ_REDIS_STREAM_URL=redis://$NATIVE_HOST:$REDIS_PORT/1
EOF
}

cmd_start() {
  cmd_install
  local pid=""
  if pid="$(redis_pid)"; then
    if ! redis_ping; then
      log "already starting (pid $pid); waiting for it"
      wait_until "$NATIVE_START_TIMEOUT" "redis answers PING on port $REDIS_PORT" "$REDIS_LOG" "$pid" redis_ping
    fi
    log "already running (pid $pid) on port $REDIS_PORT"
    cmd_env | publish_env redis
    return 0
  fi
  require_port_free "$REDIS_PORT" PLATFORM_REDIS_PORT
  ensure_dir "$SERVER_STATE"
  log "starting on $NATIVE_HOST:$REDIS_PORT (log $REDIS_LOG)"
  rm -f "$REDIS_PIDFILE"
  redis-server --port "$REDIS_PORT" --bind "$NATIVE_HOST" --protected-mode yes \
    --save '' --appendonly no --dir "$SERVER_STATE" \
    --daemonize yes --pidfile "$REDIS_PIDFILE" --logfile "$REDIS_LOG" \
    --databases 16 >&2 8>&- || { show_log_tail "$REDIS_LOG"; die "redis-server failed to start; log: $REDIS_LOG"; }
  local deadline=$(( $(now) + 10 ))
  until pid="$(read_pidfile "$REDIS_PIDFILE")"; do
    (( $(now) >= deadline )) && { show_log_tail "$REDIS_LOG"; die "redis-server wrote no pidfile; log: $REDIS_LOG"; }
    sleep 0.1
  done
  wait_until "$NATIVE_START_TIMEOUT" "redis answers PING on port $REDIS_PORT" "$REDIS_LOG" "$pid" redis_ping
  cmd_env | publish_env redis
}

cmd_stop() {
  local pid=""
  if pid="$(redis_pid)"; then
    log "stopping (pid $pid)"
    redis-cli -h "$NATIVE_HOST" -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    if wait_pid_gone "$pid" 10; then wait_reaped "$pid"; else terminate_pid "$pid"; fi
  else
    log "not running"
  fi
  rm -f "$REDIS_PIDFILE"
  kill_leftovers "$REDIS_MARKER"
  if [[ -n "$pid" ]]; then
    wait_port_closed "$REDIS_PORT" || true
  fi
  unpublish_env redis
}

cmd_status() {
  local pid=""
  pid="$(redis_pid || true)"
  if [[ -n "$pid" ]] && redis_ping; then
    status_line up "$REDIS_PORT" "$pid" "$(redis-cli -h "$NATIVE_HOST" -p "$REDIS_PORT" info server 2>/dev/null | tr -d '\r' | grep -m1 '^redis_version:' || true)"
  else
    status_line down "$REDIS_PORT" "$pid" "log=$REDIS_LOG"
    return 1
  fi
}

native_main "$@"
