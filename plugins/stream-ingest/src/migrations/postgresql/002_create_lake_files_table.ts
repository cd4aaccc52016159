import type { Database } from '@platform-host/contracts';

/** One row per committed lake file (issue 12; columns and primary key fixed). */
export async function up(db: Database): Promise<void> {
  await db.execute(`CREATE TABLE lake_files (
  path TEXT PRIMARY KEY,
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  first_offset BIGINT NOT NULL,
  last_offset BIGINT NOT NULL,
  record_count INTEGER NOT NULL,
  byte_count BIGINT NOT NULL,
  format TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
)`);
  await db.execute('CREATE INDEX idx_lake_files_topic_partition ON lake_files (topic, partition, last_offset)');
}

/** Drops the table. */
export async function down(db: Database): Promise<void> {
  await db.execute('DROP TABLE IF EXISTS lake_files');
}
