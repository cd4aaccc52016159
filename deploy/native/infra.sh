#!/usr/bin/env bash
# Start/stop/inspect all throwaway native test servers (or the named ones).
#
#   deploy/native/infra.sh install [server...]   # install/build everything (cached)
#   deploy/native/infra.sh up      [server...]   # start; prints KEY=value lines on stdout
#   deploy/native/infra.sh down    [server...]   # stop (no process left behind)
#   deploy/native/infra.sh status  [server...]   # exit 0 only if all named servers answer
#   deploy/native/infra.sh env     [server...]   # print the KEY=value lines (no start)
#   deploy/native/infra.sh clean   [server...]   # stop and delete their state (data, logs)
#   deploy/native/infra.sh smoke   [server...]   # round trip with an independent client each
#
# Servers: postgres redis kafka cassandra object-store vault (all by default).
# After `up`, $PLATFORM_NATIVE_STATE/env (default /tmp/platform-native/env) holds
# the KEY=value lines of every running server: set -a; . /tmp/platform-native/env; set +a
set -euo pipefail
NATIVE_NAME=infra
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL_SERVERS=(postgres redis kafka cassandra object-store vault)

usage() {
  sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

cmd="${1:-}"
[[ -n "$cmd" ]] || usage
shift
servers=("$@")
(( ${#servers[@]} )) || servers=("${ALL_SERVERS[@]}")
for s in "${servers[@]}"; do
  case "$s" in
    postgres|redis|kafka|cassandra|object-store|vault) ;;
    openbao) die "use the name 'vault' for the OpenBao server" ;;
    s3|minio) die "use the name 'object-store' for the S3 server" ;;
    *) die "unknown server '$s' (known: ${ALL_SERVERS[*]})" ;;
  esac
done

run() { "$NATIVE_DIR/$1.sh" "$2"; }

case "$cmd" in
  install)
    for s in "${servers[@]}"; do
      t=$(now)
      run "$s" install
      log "$s installed ($(( $(now) - t ))s)"
    done
    ;;
  up|start)
    # Install sequentially (apt/mvn/go must not race), then start the servers
    # in parallel; each start waits until its server answers.
    for s in "${servers[@]}"; do run "$s" install; done
    ensure_dir "$NATIVE_STATE/infra"
    t0=$(now)
    pids=()
    for s in "${servers[@]}"; do
      run "$s" start >"$NATIVE_STATE/infra/$s.out" &
      pids+=("$!")
    done
    failed=()
    for i in "${!servers[@]}"; do
      wait "${pids[$i]}" || failed+=("${servers[$i]}")
    done
    if (( ${#failed[@]} )); then
      die "failed to start: ${failed[*]} (see the messages above and the logs under $NATIVE_STATE/<server>/)"
    fi
    log "all started in $(( $(now) - t0 ))s; env written to $NATIVE_STATE/env"
    for s in "${servers[@]}"; do cat "$NATIVE_STATE/infra/$s.out"; done
    ;;
  down|stop)
    # Stop in parallel (each stop waits for its own processes to be gone).
    pids=()
    for s in "${servers[@]}"; do
      run "$s" stop &
      pids+=("$!")
    done
    rc=0
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    exit "$rc"
    ;;
  status)
    rc=0
    for s in "${servers[@]}"; do run "$s" status || rc=1; done
    exit "$rc"
    ;;
  env)
    for s in "${servers[@]}"; do run "$s" env; done
    ;;
  clean)
    for s in "${servers[@]}"; do run "$s" clean; done
    ;;
  smoke)
    exec "$NATIVE_DIR/smoke.sh" "${servers[@]}"
    ;;
  *) usage ;;
esac
