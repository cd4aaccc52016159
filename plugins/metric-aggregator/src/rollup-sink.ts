import type { QueueMessage } from '@platform-host/contracts';
import { CqlRollupStore } from './cql-rollup-store.js';
import {
  RollupStore,
  type FlushInput,
  type FlushOutcome,
  type PendingEvent,
  type RollupStoreOptions,
} from './rollup-store.js';

/**
 * What the worker needs of the database side: the PostgreSQL {@link RollupStore} (one transaction
 * per flush) and the Cassandra {@link CqlRollupStore} (per-writer parts in logged batches) both
 * provide it. The caller acknowledges a flush's `applied` and `duplicates` only after `flush`
 * resolved.
 */
export interface RollupSink {
  /** Prepares the group's state and returns the stored watermark (epoch ms), `undefined` before any. */
  loadWatermark(): Promise<number | undefined>;
  /** Records that the messages of a flush were acknowledged (its ledger entries may go after the hold limit). */
  acknowledged(flushId: string | undefined): void;
  /** Writes `pending` and moves the watermark; durable once it resolved. */
  flush(
    pending: readonly PendingEvent[],
    watermarkCandidateMs: number | undefined,
    deadLettered?: readonly QueueMessage[],
  ): Promise<FlushOutcome>;
  /**
   * Present when the database itself serializes the flushes of a group (PostgreSQL's row lock on
   * the watermark): the flush opens its transaction and asks for the lock first, and takes its
   * input from `take` once the lock is granted; `undefined` from `take` writes nothing. The worker
   * then starts a flush while the one before is still committing. Without it (Cassandra's lease,
   * taken by polling) the worker starts a flush only once the one before has finished.
   */
  flushWhenLocked?(take: () => Promise<FlushInput | undefined>): Promise<FlushOutcome | undefined>;
  /** The stored high-water offsets of `partitions` (partition-offsets record). */
  highWaterOffsets(partitions: readonly number[]): Promise<Map<number, bigint>>;
}

/** The store for the database's dialect: {@link CqlRollupStore} on `cql`, {@link RollupStore} otherwise. */
export function createRollupSink(options: RollupStoreOptions): RollupSink {
  return options.db.dialect === 'cql' ? new CqlRollupStore(options) : new RollupStore(options);
}
