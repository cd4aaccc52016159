import type { Database } from '@platform-host/contracts';

/**
 * Drops the index on `ingested_events.file_path`: nothing reads events by file (a file's events
 * are its `lake_files` row's offset range of the partition, which the fixed unique key
 * (topic, partition, offset) serves), and every committed event paid a second index entry for it.
 * Measured with `EXPLAIN (ANALYZE, BUFFERS, WAL)` on the commit's insert of 10,000 rows: server
 * CPU 3.7 vs 5.0-5.3 µs per row, WAL 3.19 vs 4.74 MB.
 */
export async function up(db: Database): Promise<void> {
  await db.execute('DROP INDEX IF EXISTS idx_ingested_events_file_path');
}

/** Puts the index back. */
export async function down(db: Database): Promise<void> {
  await db.execute('CREATE INDEX IF NOT EXISTS idx_ingested_events_file_path ON ingested_events (file_path)');
}
