import type { Database } from '@platform-host/contracts';

/**
 * The history of data_quality: every run appends one row per check (issue 14); nothing is ever
 * updated or overwritten. `observed_value` is NULL when the check could not be evaluated
 * (`outcome = 'error'`) or had nothing to measure. Thresholds are kept as written in the checks
 * file (`> 5`, `not between 1 and 500`, `> 1d`).
 */
export async function up(db: Database): Promise<void> {
  await db.execute(`CREATE TABLE dq_check_results (
  run_id UUID NOT NULL,
  check_name TEXT NOT NULL,
  table_name TEXT NOT NULL,
  column_name TEXT,
  check_type TEXT NOT NULL,
  observed_value DOUBLE PRECISION,
  warn_threshold TEXT,
  fail_threshold TEXT,
  outcome TEXT NOT NULL CHECK (outcome IN ('pass', 'warn', 'fail', 'error')),
  message TEXT,
  samples JSONB NOT NULL DEFAULT '[]'::jsonb,
  started_at TIMESTAMPTZ NOT NULL,
  finished_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (run_id, table_name, check_name)
)`);
  // The previous result of a check: the newest row of its (table, name).
  await db.execute(
    'CREATE INDEX idx_dq_check_results_latest ON dq_check_results (table_name, check_name, finished_at DESC)',
  );
}

/** Drops the table and, with it, its index. */
export async function down(db: Database): Promise<void> {
  await db.execute('DROP TABLE IF EXISTS dq_check_results');
}
