import type { Database } from '@platform-host/contracts';

/**
 * Until host API 2.0 this table was the shared migration 003. On a database where that one is
 * applied, the runner records this migration in its place instead of creating the table again.
 */
export const replaces = { owner: 'shared', name: '003_create_cleaned_events_table' } as const;

/**
 * The cleaned events table, written by batch_etl (seed 5.6, with one change).
 *
 * The seed deduplicates with `UNIQUE (event_type, payload, event_date)`. That cannot work for real
 * payloads: a btree index entry is limited to about 2.7 kB (a third of a page), so inserting any
 * payload larger than that fails with "index row size exceeds btree maximum". Instead the writer
 * stores `dedup_key`, the hex sha256 of the normalized event type, the event date and the
 * canonical payload (keys sorted), and the unique index is on that fixed 64-character column.
 */
export async function up(db: Database): Promise<void> {
  await db.execute(`CREATE TABLE cleaned_events (
  id BIGSERIAL PRIMARY KEY,
  event_type VARCHAR(255) NOT NULL,
  payload JSONB NOT NULL,
  source VARCHAR(255) NOT NULL,
  event_date DATE NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  dedup_key CHAR(64) NOT NULL
)`);
  await db.execute('CREATE UNIQUE INDEX idx_cleaned_events_dedup_key ON cleaned_events (dedup_key)');
  await db.execute('CREATE INDEX idx_cleaned_events_date ON cleaned_events (event_date)');
  await db.execute('CREATE INDEX idx_cleaned_events_type ON cleaned_events (event_type, event_date)');
}

/** Drops the table and, with it, its indexes. */
export async function down(db: Database): Promise<void> {
  await db.execute('DROP TABLE IF EXISTS cleaned_events');
}
