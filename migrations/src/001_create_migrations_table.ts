import type { Database } from '@platform-host/contracts';

/** The runner's own statement (`trackingTableSql()`), copied so that this migration never changes. */
export const TRACKING_TABLE_SQL = `CREATE TABLE IF NOT EXISTS _migrations (
  id SERIAL PRIMARY KEY,
  name VARCHAR(255) NOT NULL UNIQUE,
  checksum CHAR(64),
  applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
)`;

/**
 * Bootstrap: the `_migrations` tracking table (seed 5.6). The runner creates the same table with
 * the same statement before it applies anything (it has to, to record this very migration), so on
 * a runner-managed database this is a no-op; it documents the table and creates it for tools that
 * apply the migrations without the runner.
 */
export async function up(db: Database): Promise<void> {
  await db.execute(TRACKING_TABLE_SQL);
}

/**
 * Deliberately does nothing. The tracking table belongs to the runner, not to this migration: the
 * runner deletes this migration's row and then calls down() in the same transaction, and dropping
 * the table here would erase the history of every other migration and make the next step of
 * `migrate down --count N` fail on a missing table. Rolling back 001 just marks it as not applied.
 */
export async function down(_db: Database): Promise<void> {}
