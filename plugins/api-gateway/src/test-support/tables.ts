import type { Database } from '@platform-host/contracts';

/**
 * The tables api_gateway reads, for tests on an empty database: `cleaned_events`, `metric_rollups`
 * and `dq_check_results` exactly as the migrations of batch_etl, metric_aggregator and data_quality
 * create them (tests through the CLI apply those migrations instead).
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
    run_id UUID NOT NULL, check_name TEXT NOT NULL, table_name TEXT NOT NULL, column_name TEXT, check_type TEXT NOT NULL,
    observed_value DOUBLE PRECISION, warn_threshold TEXT, fail_threshold TEXT,
    outcome TEXT NOT NULL CHECK (outcome IN ('pass', 'warn', 'fail', 'error')), message TEXT,
    samples JSONB NOT NULL DEFAULT '[]'::jsonb, started_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, table_name, check_name))`,
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

/** The run ids of the two seeded data_quality runs (data_quality's run ids are UUIDs). */
export const QUALITY_RUN_IDS = {
  older: '00000000-0000-4000-8000-00000000000a',
  newer: '00000000-0000-4000-8000-00000000000b',
} as const;

/** Seeds two data_quality runs of two checks each, with thresholds as data_quality writes them. */
export const SEED_QUALITY_SQL = `INSERT INTO dq_check_results
  (run_id, check_name, table_name, column_name, check_type, observed_value, warn_threshold, fail_threshold, outcome,
   message, samples, started_at, finished_at)
  VALUES
  ('${QUALITY_RUN_IDS.older}', 'null_rate_source', 'cleaned_events', 'source', 'missing_percent', 0, '> 1', '> 5',
   'pass', NULL, '[]', '2026-01-15 01:00:00+00', '2026-01-15 01:00:01+00'),
  ('${QUALITY_RUN_IDS.older}', 'freshness', 'cleaned_events', NULL, 'freshness', 7200, '> 1h', '> 1d', 'warn',
   'older than 1 h', '[]', '2026-01-15 01:00:01+00', '2026-01-15 01:00:02+00'),
  ('${QUALITY_RUN_IDS.newer}', 'null_rate_source', 'cleaned_events', 'source', 'missing_percent', 20, '> 1', '> 5',
   'fail', 'too many nulls', '[{"id": 3}]', '2026-01-16 01:00:00+00', '2026-01-16 01:00:01+00'),
  ('${QUALITY_RUN_IDS.newer}', 'unique_dedup', 'cleaned_events', 'dedup_key', 'duplicate_count', 0, NULL, '> 0',
   'pass', NULL, '[]', '2026-01-16 01:00:01+00', '2026-01-16 01:00:03+00')`;

/** Creates the three tables and seeds them. */
export async function createSeededTables(db: Database, events: number): Promise<void> {
  for (const ddl of Object.values(TABLE_DDL)) await db.execute(ddl);
  await db.execute(seedEventsSql(events));
  await db.execute(SEED_ROLLUPS_SQL);
  await db.execute(SEED_QUALITY_SQL);
}
