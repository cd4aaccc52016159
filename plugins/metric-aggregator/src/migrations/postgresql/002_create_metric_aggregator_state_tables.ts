import type { Database } from '@platform-host/contracts';

/**
 * What the worker records in the same transaction as its rollup upserts, so that every event
 * changes metric_rollups exactly once (see the module README, "Exactly-once effects"):
 *
 * - `metric_aggregator_watermarks`: one row per consumer group and topic, the watermark (never
 *   moves back). Every flush locks it first, which also serializes the flushes of one group.
 * - `metric_aggregator_applied_messages`: the ledger of message ids applied, one row per flush with
 *   the ids it applied, for queues without partitions (Redis Streams), where several consumers of
 *   one group interleave ids. A row is deleted a while after the worker acknowledged its messages.
 * - `metric_aggregator_partition_offsets`: the highest offset applied per partition, for
 *   partitioned queues (Kafka, memory), where one consumer owns a partition and reads it in order.
 */
export async function up(db: Database): Promise<void> {
  await db.execute(`CREATE TABLE metric_aggregator_watermarks (
  consumer_group TEXT NOT NULL,
  topic TEXT NOT NULL,
  watermark TIMESTAMPTZ,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  PRIMARY KEY (consumer_group, topic)
)`);
  await db.execute(`CREATE TABLE metric_aggregator_applied_messages (
  consumer_group TEXT NOT NULL,
  topic TEXT NOT NULL,
  flush_id UUID NOT NULL,
  message_ids TEXT[] NOT NULL,
  applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  PRIMARY KEY (consumer_group, topic, flush_id)
)`);
  await db.execute(
    'CREATE INDEX idx_metric_aggregator_applied_messages_applied_at ON metric_aggregator_applied_messages (applied_at)',
  );
  await db.execute(`CREATE TABLE metric_aggregator_partition_offsets (
  consumer_group TEXT NOT NULL,
  topic TEXT NOT NULL,
  partition INTEGER NOT NULL,
  applied_offset BIGINT NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  PRIMARY KEY (consumer_group, topic, partition)
)`);
}

/** Drops the three tables. */
export async function down(db: Database): Promise<void> {
  await db.execute('DROP TABLE IF EXISTS metric_aggregator_partition_offsets');
  await db.execute('DROP TABLE IF EXISTS metric_aggregator_applied_messages');
  await db.execute('DROP TABLE IF EXISTS metric_aggregator_watermarks');
}
