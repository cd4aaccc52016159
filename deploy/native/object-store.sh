#!/usr/bin/env bash
# Throwaway S3-compatible object store: MinIO built from source with
# `go install github.com/minio/minio@<pinned commit>` (Go module proxy), on
# 127.0.0.1:${PLATFORM_S3_PORT:-59000}, with a bucket "platform-test".
# The binary and the Go module/build caches live under $PLATFORM_CACHE_DIR/go.
# Usage: object-store.sh {install|start|stop|restart|status|env|clean}
set -euo pipefail
NATIVE_NAME=object-store
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# MinIO tags releases as RELEASE.<date> (not semver), so pin a commit through
# its Go pseudo-version: v0.0.0-<commit time>-<commit hash>
# (7aac2a2c5b7c = 2026-02-12, the last commit of github.com/minio/minio).
MINIO_VERSION="${PLATFORM_MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
S3_PORT="${PLATFORM_S3_PORT:-59000}"
S3_CONSOLE_PORT="${PLATFORM_S3_CONSOLE_PORT:-59001}"
S3_ACCESS_KEY="${PLATFORM_S3_ACCESS_KEY:-minioadmin}"
S3_SECRET_KEY="${PLATFORM_S3_SECRET_KEY:-minioadmin}"
S3_BUCKET="${PLATFORM_S3_BUCKET:-platform-test}"
S3_REGION="${PLATFORM_S3_REGION:-us-east-1}"
GO_CACHE_ROOT="$NATIVE_CACHE/go"
MINIO_BIN_DIR="$GO_CACHE_ROOT/bin/minio-$MINIO_VERSION"
MINIO_BIN="$MINIO_BIN_DIR/minio"
SERVER_STATE="$NATIVE_STATE/object-store"
S3_DATA="$SERVER_STATE/data"
S3_LOG="$SERVER_STATE/minio.log"
S3_PIDFILE="$SERVER_STATE/minio.pid"
S3_ENDPOINT="http://$NATIVE_HOST:$S3_PORT"

s3_pid() { running_pid "$S3_PIDFILE" "$S3_DATA"; }
s3_live() { curl -fsS -o /dev/null --max-time 2 "$S3_ENDPOINT/minio/health/live"; }
s3_ready() { curl -fsS -o /dev/null --max-time 2 "$S3_ENDPOINT/minio/health/ready"; }

# Signed (SigV4) S3 request with curl's built-in --aws-sigv4; prints the HTTP code.
s3_curl() {
  local method="$1" path="$2"; shift 2
  curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -X "$method" \
    --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@" "$S3_ENDPOINT/$path"
}

find_go() {
  if command -v go >/dev/null 2>&1; then command -v go; return 0; fi
  if [[ -x /usr/local/go/bin/go ]]; then echo /usr/local/go/bin/go; return 0; fi
  # Debian's go is older than MinIO needs; with GOTOOLCHAIN=auto (the default)
  # it fetches the required toolchain from the Go module proxy.
  ensure_apt_packages golang-go
  command -v go
}

cmd_install() {
  command -v curl >/dev/null 2>&1 || ensure_apt_packages curl ca-certificates
  if [[ -x "$MINIO_BIN" ]]; then
    return 0
  fi
  local go
  go="$(find_go)"
  ensure_dir "$GO_CACHE_ROOT/mod" "$GO_CACHE_ROOT/build" "$MINIO_BIN_DIR"
  log "building github.com/minio/minio@$MINIO_VERSION with $($go version | cut -d' ' -f3) (cold: ~10-20 min on 2 cores; cached afterwards in $GO_CACHE_ROOT)"
  local start; start=$(now)
  if ! env GOMODCACHE="$GO_CACHE_ROOT/mod" GOCACHE="$GO_CACHE_ROOT/build" GOBIN="$MINIO_BIN_DIR" \
      GOFLAGS="-buildvcs=false -modcacherw" \
      "$go" install "github.com/minio/minio@$MINIO_VERSION" >&2; then
    die "go install github.com/minio/minio@$MINIO_VERSION failed"
  fi
  [[ -x "$MINIO_BIN" ]] || die "go install finished but $MINIO_BIN is missing"
  log "built $MINIO_BIN in $(( $(now) - start ))s"
}

cmd_env() {
  cat <<EOF
FS_MINIO_ENDPOINT=$S3_ENDPOINT
FS_MINIO_ACCESS_KEY=$S3_ACCESS_KEY
FS_MINIO_SECRET_KEY=$S3_SECRET_KEY
FS_MINIO_BUCKET=$S3_BUCKET
FS_S3_ENDPOINT=$S3_ENDPOINT
FS_S3_REGION=$S3_REGION
FS_S3_ACCESS_KEY=$S3_ACCESS_KEY
FS_S3_SECRET_KEY=$S3_SECRET_KEY
FS_S3_BUCKET=$S3_BUCKET
EOF
}

ensure_bucket() {
  local code
  code="$(s3_curl HEAD "$S3_BUCKET")" || true
  if [[ "$code" == 200 ]]; then
    return 0
  fi
  log "creating bucket $S3_BUCKET"
  code="$(s3_curl PUT "$S3_BUCKET")" || true
  [[ "$code" == 200 || "$code" == 409 ]] || die "creating bucket $S3_BUCKET failed (HTTP $code); log: $S3_LOG"
}

cmd_start() {
  cmd_install
  local pid
  if pid="$(s3_pid)"; then
    if ! s3_ready; then
      log "already starting (pid $pid); waiting for it"
      wait_until "$NATIVE_START_TIMEOUT" "minio answers on port $S3_PORT" "$S3_LOG" "$pid" s3_ready
    fi
    log "already running (pid $pid) on port $S3_PORT"
    ensure_bucket
    cmd_env | publish_env object-store
    return 0
  fi
  require_port_free "$S3_PORT" PLATFORM_S3_PORT
  require_port_free "$S3_CONSOLE_PORT" PLATFORM_S3_CONSOLE_PORT
  ensure_dir "$S3_DATA"
  log "starting MinIO on $S3_ENDPOINT (data $S3_DATA, log $S3_LOG)"
  if [[ -f "$S3_LOG" ]]; then mv -f "$S3_LOG" "$S3_LOG.previous"; fi
  spawn_daemon "$S3_PIDFILE" "$S3_LOG" \
    env MINIO_ROOT_USER="$S3_ACCESS_KEY" MINIO_ROOT_PASSWORD="$S3_SECRET_KEY" \
    MINIO_SITE_REGION="$S3_REGION" MINIO_BROWSER=off MINIO_UPDATE=off \
    "$MINIO_BIN" server --quiet --anonymous \
    --address "$NATIVE_HOST:$S3_PORT" --console-address "$NATIVE_HOST:$S3_CONSOLE_PORT" "$S3_DATA"
  pid="$(read_pidfile "$S3_PIDFILE")"
  wait_until "$NATIVE_START_TIMEOUT" "minio answers /minio/health/ready on port $S3_PORT" "$S3_LOG" "$pid" s3_ready
  ensure_bucket
  cmd_env | publish_env object-store
}

cmd_stop() {
  local pid=""
  if pid="$(s3_pid)"; then
    log "stopping (pid $pid)"
    terminate_pid "$pid"
  else
    log "not running"
  fi
  rm -f "$S3_PIDFILE"
  kill_leftovers "$S3_DATA"
  if [[ -n "$pid" ]]; then
    wait_port_closed "$S3_PORT" || true
  fi
  unpublish_env object-store
}

cmd_status() {
  local pid=""
  pid="$(s3_pid || true)"
  if [[ -n "$pid" ]] && s3_ready; then
    status_line up "$S3_PORT" "$pid" "bucket=$S3_BUCKET($(s3_curl HEAD "$S3_BUCKET" || true)) endpoint=$S3_ENDPOINT"
  else
    status_line down "$S3_PORT" "$pid" "log=$S3_LOG"
    return 1
  fi
}

native_main "$@"
