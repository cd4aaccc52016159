# shellcheck shell=bash
# Shared helpers for the deploy/native/*.sh scripts (sourced, not executed).
#
# Conventions
#   * stdout carries only KEY=value lines (from `start` / `env`) or status lines
#     (from `status`); every other message goes to stderr.
#   * State (data, logs, pidfiles, generated configs) lives under $NATIVE_STATE,
#     downloads and builds are cached under $NATIVE_CACHE.

set -euo pipefail

NATIVE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NATIVE_STATE="${PLATFORM_NATIVE_STATE:-/tmp/platform-native}"
NATIVE_CACHE="${PLATFORM_CACHE_DIR:-${HOME:-/root}/.cache/platform-host}"
# Seconds `start` waits for a server to answer, and `stop` waits before SIGKILL.
NATIVE_START_TIMEOUT="${PLATFORM_NATIVE_START_TIMEOUT:-180}"
NATIVE_STOP_TIMEOUT="${PLATFORM_NATIVE_STOP_TIMEOUT:-30}"
NATIVE_HOST=127.0.0.1
export NATIVE_DIR NATIVE_STATE NATIVE_CACHE NATIVE_START_TIMEOUT NATIVE_STOP_TIMEOUT NATIVE_HOST

# Name of the calling server script, used in messages ("postgres", "kafka", ...).
NATIVE_NAME="${NATIVE_NAME:-native}"

log()  { printf '[%s %s] %s\n' "$(date +%H:%M:%S)" "$NATIVE_NAME" "$*" >&2; }
warn() { log "WARNING: $*"; }
die()  { log "ERROR: $*"; exit 1; }

# Print the last lines of a log file to stderr (for error messages).
show_log_tail() {
  local file="$1" lines="${2:-30}"
  if [[ -f "$file" ]]; then
    printf -- '----- last %s lines of %s -----\n' "$lines" "$file" >&2
    tail -n "$lines" "$file" >&2 || true
    printf -- '----- end of %s -----\n' "$file" >&2
  fi
}

ensure_dir() { mkdir -p "$@"; }

now() { date +%s; }

# ---------------------------------------------------------------- processes

# Print the pid stored in a pidfile, if the file exists and holds a number.
read_pidfile() {
  local file="$1" pid
  [[ -f "$file" ]] || return 1
  pid="$(head -n1 "$file" 2>/dev/null | tr -dc '0-9')"
  [[ -n "$pid" ]] || return 1
  printf '%s\n' "$pid"
}

# True while a process (any of its threads) still exists and is not a reaped-
# -to-be zombie. A JVM's main thread can be a zombie while its other threads
# are still shutting down (and holding ports), so count the threads too.
pid_alive() {
  local pid="$1" tasks
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  [[ "$(ps -o stat= -p "$pid" 2>/dev/null)" == Z* ]] || return 0
  tasks="$(find "/proc/$pid/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
  (( tasks > 1 ))
}

# True if the process' command line contains the given fixed string
# (guards against acting on a recycled pid).
pid_cmdline_has() {
  local pid="$1" needle="$2"
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$needle"
}

# Print the pid from the pidfile if that process is alive and its command line
# contains the marker; otherwise fail.
running_pid() {
  local pidfile="$1" marker="$2" pid
  pid="$(read_pidfile "$pidfile")" || return 1
  pid_alive "$pid" || return 1
  if [[ -n "$marker" ]] && ! pid_cmdline_has "$pid" "$marker"; then
    return 1
  fi
  printf '%s\n' "$pid"
}

# Wait until a pid is gone; returns 1 on timeout.
wait_pid_gone() {
  local pid="$1" timeout="$2" deadline
  deadline=$(( $(now) + timeout ))
  while pid_alive "$pid"; do
    (( $(now) >= deadline )) && return 1
    sleep 0.2
  done
  return 0
}

# SIGTERM a pid, wait up to $2 seconds, then SIGKILL it (and wait a bit).
terminate_pid() {
  local pid="$1" timeout="${2:-$NATIVE_STOP_TIMEOUT}"
  if ! pid_alive "$pid"; then wait_reaped "$pid"; return 0; fi
  log "sending SIGTERM to pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_pid_gone "$pid" "$timeout"; then
    warn "pid $pid still alive after ${timeout}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_pid_gone "$pid" 10 || die "pid $pid survived SIGKILL"
  fi
  wait_reaped "$pid"
}

# A dead daemon stays a zombie until its parent (usually init) reaps it; give
# that a moment so `pgrep` right after a stop shows nothing. Never fails.
wait_reaped() {
  local pid="$1" _
  for _ in $(seq 1 25); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  return 0
}

# Kill every process whose command line contains a fixed string (used as a
# last resort after a normal stop, so nothing of ours is left behind).
kill_leftovers() {
  local needle="$1" pids pid
  pids="$(pgrep -f -- "$needle" || true)"
  for pid in $pids; do
    [[ "$pid" == "$$" || "$pid" == "$BASHPID" ]] && continue
    pid_cmdline_has "$pid" "$needle" || continue
    warn "leftover process $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-120)) - terminating"
    terminate_pid "$pid" 10
  done
}

# Start a command detached from the caller (own session, stdin from /dev/null,
# stdout+stderr appended to a log file) and record its pid in a pidfile.
# Usage: spawn_daemon PIDFILE LOGFILE cmd args...
spawn_daemon() {
  local pidfile="$1" logfile="$2"; shift 2
  rm -f "$pidfile"
  # The inner shell writes its own pid, then execs the server, so the pidfile
  # holds the server's pid whatever setsid does about forking.
  # shellcheck disable=SC2016 # $$ and $@ are for the inner shell
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" >>"$logfile" 2>&1 </dev/null 8>&- &
  local _
  for _ in $(seq 1 50); do
    [[ -s "$pidfile" ]] && break
    sleep 0.1
  done
  [[ -s "$pidfile" ]] || die "could not start $1 (no pidfile $pidfile); see $logfile"
}

# ---------------------------------------------------------------- network

# True if something accepts TCP connections on host:port.
port_open() {
  local port="$1" host="${2:-$NATIVE_HOST}"
  # shellcheck disable=SC2016 # $0/$1 are for the inner shell
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null
}

# Wait (up to $2 seconds, default 15) until nothing listens on the given port.
wait_port_closed() {
  local port="$1" timeout="${2:-15}" deadline
  deadline=$(( $(now) + timeout ))
  while port_open "$port"; do
    if (( $(now) >= deadline )); then
      warn "port $port still answers ${timeout}s after stop"
      return 1
    fi
    sleep 0.3
  done
}

# Refuse to start when the port is taken by something that is not ours.
require_port_free() {
  local port="$1" var="$2"
  if port_open "$port"; then
    die "port $port on $NATIVE_HOST is already in use by another process; set $var to another port"
  fi
}

# Poll a probe command until it succeeds.
# Usage: wait_until TIMEOUT_S DESCRIPTION LOGFILE PID PROBE [ARGS...]
# Fails (with the log tail and the log path) on timeout or if PID dies.
wait_until() {
  local timeout="$1" what="$2" logfile="$3" pid="$4"; shift 4
  local start deadline
  start=$(now); deadline=$(( start + timeout ))
  while true; do
    if "$@" >/dev/null 2>&1; then
      log "$what after $(( $(now) - start ))s"
      return 0
    fi
    if [[ -n "$pid" ]] && ! pid_alive "$pid"; then
      show_log_tail "$logfile" 40
      die "server process $pid exited before $what; log: $logfile"
    fi
    if (( $(now) >= deadline )); then
      show_log_tail "$logfile" 40
      if [[ -n "$pid" ]]; then
        log "stopping the server that did not come up (pid $pid)"
        terminate_pid "$pid" 15 || true
      fi
      die "timed out after ${timeout}s waiting until $what; log: $logfile (raise PLATFORM_NATIVE_START_TIMEOUT if the machine is just slow)"
    fi
    sleep 0.5
  done
}

# ---------------------------------------------------------------- env files

# Publish the KEY=value lines for a server: print them on stdout and store them
# in $NATIVE_STATE/env.d/<name>.env, then rebuild $NATIVE_STATE/env from all
# running servers' files.
publish_env() {
  local name="$1" content
  content="$(cat)"
  ensure_dir "$NATIVE_STATE/env.d"
  (
    flock 9
    printf '%s\n' "$content" >"$NATIVE_STATE/env.d/$name.env"
    rebuild_env_file_locked
  ) 9>"$NATIVE_STATE/env.lock"
  printf '%s\n' "$content"
}

# Servers start and stop in parallel: a file of env.d is written or removed and
# the env file rebuilt under one lock, so no rebuild reads a file being removed
# and the last rebuild sees a complete env.d.
unpublish_env() {
  [[ -d "$NATIVE_STATE/env.d" ]] || return 0
  (
    flock 9
    rm -f "$NATIVE_STATE/env.d/$1.env"
    rebuild_env_file_locked
  ) 9>"$NATIVE_STATE/env.lock"
}

rebuild_env_file() {
  [[ -d "$NATIVE_STATE/env.d" ]] || return 0
  (
    flock 9
    rebuild_env_file_locked
  ) 9>"$NATIVE_STATE/env.lock"
}

rebuild_env_file_locked() {
  local tmp="$NATIVE_STATE/env.tmp.$$.$BASHPID"
  {
    echo "# generated by deploy/native; source with: set -a; . $NATIVE_STATE/env; set +a"
    local f name
    # Fixed order first, then anything else.
    for name in postgres redis kafka cassandra object-store vault; do
      f="$NATIVE_STATE/env.d/$name.env"
      if [[ -f "$f" ]]; then cat "$f"; fi
    done
    for f in "$NATIVE_STATE"/env.d/*.env; do
      case "$(basename "$f" .env)" in postgres|redis|kafka|cassandra|object-store|vault) continue ;; esac
      if [[ -f "$f" ]]; then cat "$f"; fi
    done
  } >"$tmp"
  mv -f "$tmp" "$NATIVE_STATE/env"
}

# ---------------------------------------------------------------- installs

# Install Debian packages that are missing (no-op when all are installed).
# Services of freshly installed packages are kept from starting.
ensure_apt_packages() {
  local missing=() p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  (( ${#missing[@]} == 0 )) && return 0
  local sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null || die "missing Debian packages ${missing[*]}; install them as root: apt-get install -y ${missing[*]}"
    sudo=(sudo)
  fi
  log "installing Debian packages: ${missing[*]}"
  # Keep the packages' own init scripts from starting default instances
  # (e.g. redis on 6379, the postgres 'main' cluster on 5432).
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    created_policy=1
  fi
  local rc=0
  {
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
      || { "${sudo[@]}" apt-get update -q && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; }
  } >&2 || rc=$?
  if (( created_policy )); then "${sudo[@]}" rm -f "$policy"; fi
  (( rc == 0 )) || die "apt-get install ${missing[*]} failed"
}

# Print the path of a java >= 17 (JAVA_HOME first, then PATH); install
# openjdk-17-jre-headless when there is none.
find_java() {
  local candidates=() j v
  [[ -n "${JAVA_HOME:-}" ]] && candidates+=("$JAVA_HOME/bin/java")
  command -v java >/dev/null 2>&1 && candidates+=("$(command -v java)")
  candidates+=(/usr/lib/jvm/java-17-openjdk-amd64/bin/java /usr/lib/jvm/java-17-openjdk-arm64/bin/java)
  for j in "${candidates[@]}"; do
    [[ -x "$j" ]] || continue
    v="$("$j" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2; exit}')"
    if [[ -n "$v" && "${v%%.*}" -ge 17 ]]; then
      printf '%s\n' "$j"; return 0
    fi
  done
  ensure_apt_packages openjdk-17-jre-headless
  for j in /usr/lib/jvm/java-17-openjdk-*/bin/java; do
    [[ -x "$j" ]] && { printf '%s\n' "$j"; return 0; }
  done
  die "no java >= 17 found"
}

# Copy the runtime dependencies of a pom into a libs directory, using a Maven
# local repository under the cache dir. A stamp (hash of the pom) makes it a
# no-op when the libs are already there.
# Usage: maven_fetch_libs POM LIBS_DIR
maven_fetch_libs() {
  local pom="$1" libs="$2" stamp hash
  stamp="$libs/.complete"
  hash="$(sha256sum "$pom" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$hash" ]]; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || ensure_apt_packages maven
  log "fetching Maven artifacts for $(basename "$(dirname "$pom")") into $libs"
  rm -rf "$libs.tmp"
  ensure_dir "$NATIVE_CACHE/m2"
  # (Debian's mvn 3.8 prints stray ANSI resets even with -B -q: strip them.)
  if ! mvn -B -q -Dstyle.color=never -f "$pom" -Dmaven.repo.local="$NATIVE_CACHE/m2" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$libs.tmp" 2>&1 \
      | sed -e 's/\x1b\[[0-9;]*m//g' -e '/^$/d' >&2; then
    rm -rf "$libs.tmp"
    die "mvn dependency:copy-dependencies failed for $pom"
  fi
  rm -rf "$libs"
  mv "$libs.tmp" "$libs"
  printf '%s\n' "$hash" >"$stamp"
  log "$(find "$libs" -name '*.jar' | wc -l) jars in $libs ($(du -sh "$libs" | cut -f1))"
}

# ---------------------------------------------------------------- dispatch

# Each server script defines cmd_install, cmd_start, cmd_stop, cmd_status,
# cmd_env (and optionally cmd_clean) and ends with: native_main "$@"
native_main() {
  local cmd="${1:-}"
  case "$cmd" in
    install|start|stop|restart|clean)
      # One start/stop of a server at a time (concurrent callers queue up).
      # Fd 8 is closed for every server process we launch (see spawn_daemon).
      ensure_dir "$NATIVE_STATE"
      exec 8>"$NATIVE_STATE/.$NATIVE_NAME.lock"
      flock -w 900 8 || die "could not lock $NATIVE_STATE/.$NATIVE_NAME.lock"
      ;;
  esac
  case "$cmd" in
    install|start|stop|status|env) "cmd_$cmd" ;;
    restart) cmd_stop; cmd_start ;;
    clean)
      cmd_stop
      log "removing $SERVER_STATE"
      rm -rf "$SERVER_STATE"
      ;;
    *)
      echo "usage: $0 {install|start|stop|restart|status|env|clean}" >&2
      exit 2
      ;;
  esac
}

# One status line on stdout: "<name> up|down port=<p> pid=<pid> <extra>".
status_line() {
  local state="$1" port="$2" pid="$3" extra="${4:-}"
  printf '%-12s %-5s port=%-6s pid=%-8s %s\n' "$NATIVE_NAME" "$state" "$port" "${pid:--}" "$extra"
}
