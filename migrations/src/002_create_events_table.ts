import type { Database } from '@platform-host/contracts';

/** The raw events table (seed 5.6). */
export async function up(db: Database): Promise<void> {
  await db.execute(`CREATE TABLE events (
  id BIGSERIAL PRIMARY KEY,
  event_type VARCHAR(255) NOT NULL,
  payload JSONB NOT NULL,
  source VARCHAR(255),
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  processed_at TIMESTAMPTZ
)`);
  await db.execute('CREATE INDEX idx_events_type ON events (event_type)');
  await db.execute('CREATE INDEX idx_events_created ON events (created_at)');
}

/** Drops the table and, with it, its indexes. */
export async function down(db: Database): Promise<void> {
  await db.execute('DROP TABLE IF EXISTS events');
}
