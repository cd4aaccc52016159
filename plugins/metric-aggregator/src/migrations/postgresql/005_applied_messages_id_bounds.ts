import type { Database } from '@platform-host/contracts';

/**
 * The ledger's rows carry the bounds of their ids instead of a GIN index on them.
 *
 * A flush looks up only the ids another consumer may have applied (redeliveries, and first
 * deliveries past the queue's `exclusiveUntil`), so lookups are rare, while the GIN index cost
 * every flush an entry per id (about five times the insertion of the row itself). The ids of a
 * Redis stream are `<milliseconds>-<sequence>`: `min_ms` and `max_ms` are the least and greatest
 * milliseconds of a row's ids (NULL when one id is not of that form), so a lookup unnests only
 * the rows whose bounds overlap those of the ids it looks for. With ledger rows deleted two
 * minutes after their acknowledgement, a scan of the bounds reads a few thousand small rows.
 */
export async function up(db: Database): Promise<void> {
  await db.execute('DROP INDEX IF EXISTS idx_metric_aggregator_applied_messages_ids');
  await db.execute('ALTER TABLE metric_aggregator_applied_messages ADD COLUMN min_ms BIGINT, ADD COLUMN max_ms BIGINT');
}

/** Back to the GIN index of migration 004. */
export async function down(db: Database): Promise<void> {
  await db.execute('ALTER TABLE metric_aggregator_applied_messages DROP COLUMN min_ms, DROP COLUMN max_ms');
  await db.execute(
    'CREATE INDEX idx_metric_aggregator_applied_messages_ids ON metric_aggregator_applied_messages USING gin (message_ids)',
  );
}
