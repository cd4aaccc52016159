#!/usr/bin/env bash
# make demo-stream: metric_aggregator on Redis Streams and PostgreSQL, end to end.
#   1. starts a throwaway native PostgreSQL and Redis (deploy/native/infra.sh) in a state folder and
#      on ports of its own, so servers already running on the default ports are left alone;
#   2. publishes a generated sample (one hour of events, a few invalid) with redis-cli --pipe;
#   3. runs `platform-host run metric_aggregator --mq redis-stream` until its group has no lag and
#      nothing pending (every event applied or dead-lettered, and acknowledged);
#   4. prints the rollups of that hour (psql), stops the worker with SIGTERM, stops the servers.
# Overrides: PLATFORM_NATIVE_STATE, PLATFORM_PG_PORT (default 55532), PLATFORM_REDIS_PORT (56479),
# DEMO_EVENTS (default 6000).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PLATFORM_NATIVE_STATE="${PLATFORM_NATIVE_STATE:-${TMPDIR:-/tmp}/platform-demo-stream}"
export PLATFORM_PG_PORT="${PLATFORM_PG_PORT:-55532}"
export PLATFORM_REDIS_PORT="${PLATFORM_REDIS_PORT:-56479}"
EVENTS="${DEMO_EVENTS:-6000}"
INFRA="$ROOT/deploy/native/infra.sh"
WORKER_LOG="$PLATFORM_NATIVE_STATE/metric_aggregator.log"
worker_pid=""

cleanup() {
  if [[ -n "$worker_pid" ]] && kill -0 "$worker_pid" 2>/dev/null; then kill -TERM "$worker_pid" || true; wait "$worker_pid" || true; fi
  echo "== stopping the demo servers (ports $PLATFORM_PG_PORT, $PLATFORM_REDIS_PORT)"
  bash "$INFRA" down postgres redis >/dev/null || true
}
trap cleanup EXIT

echo "== starting PostgreSQL on $PLATFORM_PG_PORT and Redis on $PLATFORM_REDIS_PORT (state $PLATFORM_NATIVE_STATE)"
bash "$INFRA" up postgres redis >/dev/null
set -a
# shellcheck disable=SC1091
source "$PLATFORM_NATIVE_STATE/env"
set +a
redis() { redis-cli -h 127.0.0.1 -p "$PLATFORM_REDIS_PORT" -n 1 "$@"; }
# A fresh database and stream on every run (a watermark left by an earlier run would make this
# run's events late).
redis DEL mq:events mq:events.dead-letter >/dev/null
PGOPTIONS='--client-min-messages=warning' psql "$DB_POSTGRES_URL" -X -q -c 'DROP DATABASE IF EXISTS metric_demo' -c 'CREATE DATABASE metric_demo'
DB_POSTGRES_URL="${DB_POSTGRES_URL%/*}/metric_demo"
export DB_POSTGRES_URL

HOUR_MS=$(( ($(date +%s) / 3600 - 2) * 3600 * 1000 ))
HOUR_ISO="$(date -u -d "@$(( HOUR_MS / 1000 ))" +%Y-%m-%dT%H:%M:%SZ)"
echo "== publishing $EVENTS events of the hour from $HOUR_ISO with redis-cli --pipe"
node scripts/demo-stream-events.mjs mq:events "$EVENTS" "$HOUR_MS" | redis-cli -h 127.0.0.1 -p "$PLATFORM_REDIS_PORT" -n 1 --pipe | tail -n 1

echo "== platform-host run metric_aggregator --mq redis-stream (log: $WORKER_LOG)"
node host/runtime/bin/platform-host.js run metric_aggregator --mq redis-stream --log json --health-port 0 >"$WORKER_LOG" 2>&1 &
worker_pid=$!
lag_and_pending() {
  redis XINFO GROUPS mq:events 2>/dev/null | awk 'prev=="lag"{lag=$0} prev=="pending"{pending=$0} {prev=$0} END{print lag+0, pending+0, (lag=="" ? "unknown" : "known")}'
}
deadline=$(( $(date +%s) + 120 ))
until read -r lag pending known <<<"$(lag_and_pending)" && [[ "$known" == known && "$lag" == 0 && "$pending" == 0 ]]; do
  kill -0 "$worker_pid" 2>/dev/null || { cat "$WORKER_LOG"; echo "the worker exited" >&2; exit 1; }
  (( $(date +%s) < deadline )) || { echo "the group did not reach zero lag in 120 s" >&2; exit 1; }
  sleep 0.2
done
echo "   group metric_aggregator: lag 0, pending 0"
echo "   dead letters: $(redis XLEN mq:events.dead-letter) (reasons: $(redis XRANGE mq:events.dead-letter - + | grep -A1 '^h:reason$' | grep -v -e '^h:reason$' -e '^--$' | sort | uniq -c | tr -s ' \n' ' '))"

echo "== rollups of the hour $HOUR_ISO (1h windows, and the 1m windows summed per event type)"
psql "$DB_POSTGRES_URL" -X -q -P pager=off -c "
SELECT dimensions->>'event_type' AS event_type, event_count, value_count,
       round(value_sum::numeric, 2) AS value_sum, value_min, value_max, round(value_avg::numeric, 4) AS value_avg,
       closed_at IS NOT NULL AS closed
FROM metric_rollups WHERE window_seconds = 3600 AND window_start = '$HOUR_ISO' ORDER BY 1;" -c "
SELECT dimensions->>'event_type' AS event_type, count(*) AS minute_windows, sum(event_count) AS events,
       count(*) FILTER (WHERE closed_at IS NOT NULL) AS closed
FROM metric_rollups WHERE window_seconds = 60 AND window_start >= '$HOUR_ISO' AND window_start < timestamptz '$HOUR_ISO' + interval '1 hour'
GROUP BY 1 ORDER BY 1;"

echo "== SIGTERM to the worker"
kill -TERM "$worker_pid"
code=0
wait "$worker_pid" || code=$?
worker_pid=""
echo "   worker exited with $code; $(grep -o '"message":"Metric aggregator stopped","context":{[^}]*}[^}]*}' "$WORKER_LOG" | sed 's/"message":"Metric aggregator stopped","context"://')"
exit "$code"
