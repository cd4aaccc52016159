import type { Database } from '@platform-host/contracts';

/**
 * The rollup table of issue 11 (its columns and primary key are fixed: dashboards and other modules
 * read them). The worker closes windows through the primary key, by a range of `window_start` per
 * `window_seconds`, so the table needs no other index.
 */
export async function up(db: Database): Promise<void> {
  await db.execute(`CREATE TABLE metric_rollups (
  window_seconds INTEGER NOT NULL,
  window_start TIMESTAMPTZ NOT NULL,
  dimensions JSONB NOT NULL,
  event_count BIGINT NOT NULL,
  value_count BIGINT NOT NULL,
  value_sum DOUBLE PRECISION,
  value_min DOUBLE PRECISION,
  value_max DOUBLE PRECISION,
  value_avg DOUBLE PRECISION,
  closed_at TIMESTAMPTZ,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  PRIMARY KEY (window_seconds, window_start, dimensions)
)`);
}

/** Drops the table. */
export async function down(db: Database): Promise<void> {
  await db.execute('DROP TABLE IF EXISTS metric_rollups');
}
