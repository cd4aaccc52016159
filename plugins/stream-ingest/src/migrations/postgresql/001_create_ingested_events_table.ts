import type { Database } from '@platform-host/contracts';

/**
 * One row per event written to the lake (issue 12; columns and unique key fixed). The unique key
 * (topic, partition, offset) is what makes a second commit of the same message impossible.
 */
export async function up(db: Database): Promise<void> {
  await db.execute(`CREATE TABLE ingested_events (
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  "offset" BIGINT NOT NULL,
  event_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  source TEXT,
  event_timestamp TIMESTAMPTZ NOT NULL,
  file_path TEXT NOT NULL,
  ingested_at TIMESTAMPTZ NOT NULL,
  UNIQUE (topic, partition, "offset")
)`);
  await db.execute('CREATE INDEX idx_ingested_events_file_path ON ingested_events (file_path)');
}

/** Drops the table. */
export async function down(db: Database): Promise<void> {
  await db.execute('DROP TABLE IF EXISTS ingested_events');
}
