#!/usr/bin/env bash
# Round trip against each running native test server with an independent
# client: psql, redis-cli, kcat (Debian), cql.py (CQL protocol), curl (S3 SigV4,
# plus a presigned GET), the `bao` CLI (KV v2 put/get) and curl (the same secret over HTTP). Servers are found through the environment (DB_POSTGRES_URL, ...); variables
# not set there come from $PLATFORM_NATIVE_STATE/env, written by `up`.
# Usage: smoke.sh [server...]   (default: all six). Exit 0 only if all pass.
set -euo pipefail
NATIVE_NAME=smoke
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ -f "$NATIVE_STATE/env" ]]; then
  while IFS='=' read -r key value; do
    [[ "$key" =~ ^[A-Z][A-Z0-9_]*$ && -z "${!key:-}" ]] && export "$key=$value"
  done <"$NATIVE_STATE/env"
fi

servers=("$@")
(( ${#servers[@]} )) || servers=(postgres redis kafka cassandra object-store vault)
tag="smoke$(date +%s)$$"
failed=()

check() {
  local name="$1"; shift
  if "$@"; then log "$name: OK"; else log "$name: FAILED"; failed+=("$name"); fi
}

smoke_postgres() {
  local out
  out="$(psql "$DB_POSTGRES_URL" -X -v ON_ERROR_STOP=1 -Atq \
    -c "CREATE TABLE $tag (id int PRIMARY KEY, v text)" \
    -c "INSERT INTO $tag VALUES (1, 'pg-ok')" \
    -c "SELECT v FROM $tag WHERE id = 1" \
    -c "DROP TABLE $tag")"
  [[ "$out" == pg-ok ]]
}

smoke_redis() {
  [[ "$(redis-cli -u "$CACHE_REDIS_URL" SET "$tag" redis-ok)" == OK ]] &&
    [[ "$(redis-cli -u "$CACHE_REDIS_URL" GET "$tag")" == redis-ok ]] &&
    redis-cli -u "$CACHE_REDIS_URL" DEL "$tag" >/dev/null &&
    redis-cli -u "$MQ_REDIS_STREAM_URL" XADD "$tag" '*' msg stream-ok >/dev/null &&
    [[ "$(redis-cli -u "$MQ_REDIS_STREAM_URL" XLEN "$tag")" == 1 ]] &&
    redis-cli -u "$MQ_REDIS_STREAM_URL" DEL "$tag" >/dev/null
}

smoke_kafka() {
  ensure_apt_packages kcat
  printf 'kafka-ok-1\nkafka-ok-2\n' | kcat -b "$MQ_KAFKA_BOOTSTRAP_SERVERS" -t "$tag" -P -q
  [[ "$(kcat -b "$MQ_KAFKA_BOOTSTRAP_SERVERS" -t "$tag" -C -o beginning -e -q | tr '\n' ' ')" == 'kafka-ok-1 kafka-ok-2 ' ]]
}

smoke_cassandra() {
  local host="${DB_CASSANDRA_HOSTS%:*}" port="${DB_CASSANDRA_HOSTS##*:}" out
  out="$(python3 "$NATIVE_DIR/cql.py" "$host" "$port" \
    "CREATE TABLE \"$DB_CASSANDRA_KEYSPACE\".$tag (id int PRIMARY KEY, v text)" \
    "INSERT INTO \"$DB_CASSANDRA_KEYSPACE\".$tag (id, v) VALUES (1, 'cql-ok')" \
    "SELECT v FROM \"$DB_CASSANDRA_KEYSPACE\".$tag WHERE id = 1" \
    "DROP TABLE \"$DB_CASSANDRA_KEYSPACE\".$tag")"
  [[ "$out" == cql-ok ]]
}

# Presigned (SigV4 query string) URL for a GET, computed with python's stdlib.
s3_presign_get() {
  python3 - "$FS_S3_ENDPOINT" "$FS_S3_REGION" "$FS_S3_ACCESS_KEY" "$FS_S3_SECRET_KEY" "$1" <<'PY'
import datetime, hashlib, hmac, sys, urllib.parse
endpoint, region, access, secret, path = sys.argv[1:]
host = urllib.parse.urlparse(endpoint).netloc
now = datetime.datetime.now(datetime.timezone.utc)
amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
scope = f"{day}/{region}/s3/aws4_request"
q = {"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": f"{access}/{scope}",
     "X-Amz-Date": amz_date, "X-Amz-Expires": "300", "X-Amz-SignedHeaders": "host"}
qs = "&".join(f"{urllib.parse.quote(k, safe='')}={urllib.parse.quote(v, safe='')}" for k, v in sorted(q.items()))
uri = urllib.parse.quote(path)
canonical = "\n".join(["GET", uri, qs, f"host:{host}\n", "host", "UNSIGNED-PAYLOAD"])
to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
key = ("AWS4" + secret).encode()
for part in (day, region, "s3", "aws4_request"):
    key = hmac.new(key, part.encode(), hashlib.sha256).digest()
sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
print(f"{endpoint}{uri}?{qs}&X-Amz-Signature={sig}")
PY
}

smoke_object_store() {
  # (curl 7.88 signs the query string as given: keep it sorted and %-encoded.)
  local url="$FS_S3_ENDPOINT/$FS_S3_BUCKET/$tag/obj.txt" sig=(--aws-sigv4 "aws:amz:$FS_S3_REGION:s3" --user "$FS_S3_ACCESS_KEY:$FS_S3_SECRET_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD')
  curl -fsS "${sig[@]}" -X PUT --data-binary 's3-ok' "$url" >/dev/null &&
    [[ "$(curl -fsS "${sig[@]}" "$url")" == s3-ok ]] &&
    curl -fsS "${sig[@]}" "$FS_S3_ENDPOINT/$FS_S3_BUCKET?list-type=2&prefix=$tag%2F" | grep -q "<Key>$tag/obj.txt</Key>" &&
    [[ "$(curl -fsS "$(s3_presign_get "/$FS_S3_BUCKET/$tag/obj.txt")")" == s3-ok ]] &&
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" == 403 ]] &&
    curl -fsS "${sig[@]}" -X DELETE "$url" >/dev/null &&
    [[ "$(curl -s -o /dev/null -w '%{http_code}' "${sig[@]}" "$url")" == 404 ]]
}

# KV v2 round trip: written with the bao CLI, read back with it and with plain curl (the JSON
# shape the adapter reads), a missing path is 404, a wrong token 403; then the secret is destroyed.
smoke_vault() {
  local bao
  bao="$("$NATIVE_DIR/vault.sh" bin)" || return 1
  BAO_ADDR="$SECRETS_VAULT_ADDR" BAO_TOKEN="$SECRETS_VAULT_TOKEN" "$bao" kv put -mount=secret "$tag" v=vault-ok >/dev/null &&
    [[ "$(BAO_ADDR="$SECRETS_VAULT_ADDR" BAO_TOKEN="$SECRETS_VAULT_TOKEN" "$bao" kv get -mount=secret -field=v "$tag")" == vault-ok ]] &&
    curl -fsS -H "X-Vault-Token: $SECRETS_VAULT_TOKEN" "$SECRETS_VAULT_ADDR/v1/secret/data/$tag" | grep -q '"data":{"v":"vault-ok"}' &&
    [[ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-Vault-Token: $SECRETS_VAULT_TOKEN" "$SECRETS_VAULT_ADDR/v1/secret/data/$tag-missing")" == 404 ]] &&
    [[ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-Vault-Token: not-$tag" "$SECRETS_VAULT_ADDR/v1/secret/data/$tag")" == 403 ]] &&
    BAO_ADDR="$SECRETS_VAULT_ADDR" BAO_TOKEN="$SECRETS_VAULT_TOKEN" "$bao" kv metadata delete -mount=secret "$tag" >/dev/null &&
    [[ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-Vault-Token: $SECRETS_VAULT_TOKEN" "$SECRETS_VAULT_ADDR/v1/secret/data/$tag")" == 404 ]]
}

for s in "${servers[@]}"; do
  case "$s" in
    postgres) check postgres smoke_postgres ;;
    redis) check redis smoke_redis ;;
    kafka) check kafka smoke_kafka ;;
    cassandra) check cassandra smoke_cassandra ;;
    object-store) check object-store smoke_object_store ;;
    vault) check vault smoke_vault ;;
    *) die "unknown server '$s'" ;;
  esac
done
passed=$(( ${#servers[@]} - ${#failed[@]} ))
echo "smoke: ${passed} passed, ${#failed[@]} failed"
(( ${#failed[@]} == 0 ))
