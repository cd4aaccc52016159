import type { Database } from '@platform-host/contracts';

/**
 * The rollup table of issue 11 (its columns and primary key are fixed: dashboards and other modules
 * read them), plus a partial index that lets the worker close the open windows the watermark has
 * passed without scanning closed ones.
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
  await db.execute(
    'CREATE INDEX idx_metric_rollups_open_windows ON metric_rollups (window_seconds, window_start) WHERE closed_at IS NULL',
  );
}

/** Drops the table and its index. */
export async function down(db: Database): Promise<void> {
  await db.execute('DROP TABLE IF EXISTS metric_rollups');
}
