import type { Database } from '@platform-host/contracts';

/**
 * The service's own bookkeeping (see the module README, "Exactly once"):
 *
 * - `stream_ingest_partitions`: per topic partition, the owner generation (bumped by every new owner
 *   when the partition is assigned to it, checked under a row lock in every commit, so a writer
 *   that lost the partition cannot commit) and the last offset committed to the lake.
 * - `stream_ingest_publications`: committed files whose bytes still sit at their staging path and
 *   are being copied to their final lake path; a row is deleted once the copy is done, and the next
 *   owner of the partition finishes any copy a crash interrupted.
 */
export async function up(db: Database): Promise<void> {
  await db.execute(`CREATE TABLE stream_ingest_partitions (
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  generation BIGINT NOT NULL,
  committed_offset BIGINT NOT NULL DEFAULT -1,
  owner TEXT,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  PRIMARY KEY (topic, partition)
)`);
  await db.execute(`CREATE TABLE stream_ingest_publications (
  path TEXT PRIMARY KEY,
  staging_path TEXT NOT NULL,
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
)`);
  await db.execute(
    'CREATE INDEX idx_stream_ingest_publications_partition ON stream_ingest_publications (topic, partition)',
  );
}

/** Drops the two tables. */
export async function down(db: Database): Promise<void> {
  await db.execute('DROP TABLE IF EXISTS stream_ingest_publications');
  await db.execute('DROP TABLE IF EXISTS stream_ingest_partitions');
}
