import type { Database } from '@platform-host/contracts';

/**
 * The tables api_gateway reads, for tests: `cleaned_events` as batch_etl's migration creates it,
 * and `metric_rollups` / `dq_check_results` with exactly the columns their modules (issues 7 and
 * 10) define, created here because those modules ship them.
 */
export const TABLE_DDL = {
  cleaned_events: `CREATE TABLE cleaned_events (
    id BIGSERIAL PRIMARY KEY, event_type VARCHAR(255) NOT NULL, payload JSONB NOT NULL, source VARCHAR(255) NOT NULL,
    event_date DATE NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(), dedup_key CHAR(64) NOT NULL UNIQUE)`,
  metric_rollups: `CREATE TABLE metric_rollups (
    window_seconds integer NOT NULL, window_start timestamptz NOT NULL, dimensions jsonb NOT NULL,
    event_count bigint NOT NULL, value_count bigint NOT NULL, value_sum double precision, value_min double precision,
    value_max double precision, value_avg double precision, closed_at timestamptz, updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (window_seconds, window_start, dimensions))`,
  dq_check_results: `CREATE TABLE dq_check_results (
    run_id text NOT NULL, check_name text NOT NULL, table_name text NOT NULL, column_name text, check_type text NOT NULL,
    observed_value double precision, warn_threshold double precision, fail_threshold double precision,
    outcome text NOT NULL, message text, samples jsonb, started_at timestamptz NOT NULL, finished_at timestamptz)`,
} as const;

/** The SQL that seeds `events` cleaned events (ids 1..n), types `click`/`view`, sources `web`/`app`, two dates. */
export function seedEventsSql(count: number): string {
  return `INSERT INTO cleaned_events (event_type, payload, source, event_date, dedup_key)
    SELECT CASE WHEN n % 2 = 0 THEN 'click' ELSE 'view' END, jsonb_build_object('n', n),
           CASE WHEN n % 3 = 0 THEN 'app' ELSE 'web' END,
           CASE WHEN n <= ${Math.floor(count / 2)} THEN DATE '2026-01-15' ELSE DATE '2026-01-16' END,
           lpad(n::text, 64, '0')
    FROM generate_series(1, ${count}) AS n`;
}

/** Seeds rollups: 60-second windows from 10:00 UTC, dimensions by event type. */
export const SEED_ROLLUPS_SQL = `INSERT INTO metric_rollups
  (window_seconds, window_start, dimensions, event_count, value_count, value_sum, value_min, value_max, value_avg, closed_at)
  SELECT 60, TIMESTAMPTZ '2026-01-15 10:00:00+00' + (m || ' minutes')::interval, jsonb_build_object('event_type', t),
         m + 1, m, m * 2.5, 0, m, 2.5, now()
  FROM generate_series(0, 9) AS m, unnest(ARRAY['click', 'view']) AS t`;

/** Seeds two data_quality runs of two checks each. */
export const SEED_QUALITY_SQL = `INSERT INTO dq_check_results
  (run_id, check_name, table_name, column_name, check_type, observed_value, warn_threshold, fail_threshold, outcome,
   message, samples, started_at, finished_at)
  VALUES
  ('run-a', 'null_rate_source', 'cleaned_events', 'source', 'null_rate', 0, 0.01, 0.05, 'pass', NULL, NULL,
   '2026-01-15 01:00:00+00', '2026-01-15 01:00:01+00'),
  ('run-a', 'freshness', 'cleaned_events', NULL, 'freshness', 7200, 3600, 86400, 'warn', 'older than 1 h', NULL,
   '2026-01-15 01:00:01+00', '2026-01-15 01:00:02+00'),
  ('run-b', 'null_rate_source', 'cleaned_events', 'source', 'null_rate', 0.2, 0.01, 0.05, 'fail', 'too many nulls',
   '[{"id": 3}]', '2026-01-16 01:00:00+00', '2026-01-16 01:00:01+00'),
  ('run-b', 'unique_dedup', 'cleaned_events', 'dedup_key', 'uniqueness', 0, 0, 0, 'pass', NULL, NULL,
   '2026-01-16 01:00:01+00', '2026-01-16 01:00:03+00')`;

/** Creates the three tables and seeds them. */
export async function createSeededTables(db: Database, events: number): Promise<void> {
  for (const ddl of Object.values(TABLE_DDL)) await db.execute(ddl);
  await db.execute(seedEventsSql(events));
  await db.execute(SEED_ROLLUPS_SQL);
  await db.execute(SEED_QUALITY_SQL);
}
