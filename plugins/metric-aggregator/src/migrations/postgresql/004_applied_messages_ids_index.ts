import type { Database } from '@platform-host/contracts';

/**
 * A GIN index on the ledger's message ids. Every flush on a queue without partitions looks up
 * every id it is about to apply (not only redeliveries: the first copy of an entry can still be in
 * one worker's hands when another worker claims it, applies it and commits first), so the lookup
 * must not scan the ledger's rows: `message_ids && $ids` finds the few rows that share an id
 * through this index.
 */
export async function up(db: Database): Promise<void> {
  await db.execute(
    'CREATE INDEX idx_metric_aggregator_applied_messages_ids ON metric_aggregator_applied_messages USING gin (message_ids)',
  );
}

/** Drops the index (lookups then scan the ledger). */
export async function down(db: Database): Promise<void> {
  await db.execute('DROP INDEX IF EXISTS idx_metric_aggregator_applied_messages_ids');
}
