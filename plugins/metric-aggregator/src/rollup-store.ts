import { randomUUID } from 'node:crypto';
import type { Database, Logger, MessageQueue, QueueMessage } from '@platform-host/contracts';
import type { AggregatedEvent } from './event.js';
import { quotedArrayElement, RollupBatch } from './rollup-batch.js';
import type { RollupSink } from './rollup-sink.js';
import { earliestWindowEndMs } from './windows.js';

/** A delivered message with a valid event, waiting for the next flush. */
export interface PendingEvent {
  readonly message: QueueMessage;
  readonly event: AggregatedEvent;
  /** `performance.now()` when it was delivered (for the hold limit of the ledger). */
  readonly receivedAt: number;
}

/**
 * How the worker records what it applied: a ledger of message ids (queues without partitions, where
 * several consumers of one group interleave ids) or per-partition high-water offsets (partitioned
 * queues, where one consumer owns a partition and reads it in order).
 */
export type AppliedRecord = 'ledger' | 'partition-offsets';

/** What one flush did; the caller acknowledges `applied` and `duplicates` after it resolved. */
export interface FlushOutcome {
  readonly applied: QueueMessage[];
  /** Already applied by an earlier flush (of this worker or another): acknowledged, not counted. */
  readonly duplicates: QueueMessage[];
  /** Found late against the stored watermark: dead-lettered (and so acknowledged) before the commit. */
  readonly late: QueueMessage[];
  /** Held too long to apply safely (see {@link LEDGER_HOLD_LIMIT_MS}): left for redelivery. */
  readonly released: QueueMessage[];
  /** Rollup rows upserted. */
  readonly rows: number;
  /** The ledger row of this flush (ledger record only, when it applied something). */
  readonly flushId: string | undefined;
  /** The stored watermark after the commit (epoch ms), `undefined` while there is none. */
  readonly watermarkMs: number | undefined;
}

/**
 * Ledger rows are deleted this long after the worker acknowledged their message, and a worker
 * never applies a message it has held (delivered, not yet flushed) for longer. Together these make
 * the deletion safe: any other consumer that still holds a copy got it before the acknowledgement,
 * so by the time the row is gone it has held its copy too long and hands it back instead.
 */
export const LEDGER_HOLD_LIMIT_MS = 2 * 60_000;

/**
 * A first delivery counts as exclusive (not looked up in the ledger) until this long before its
 * `exclusiveUntil`: room for the queue server's clock running faster than this process's and for
 * its idle times being whole milliseconds.
 */
export const EXCLUSIVITY_MARGIN_MS = 1_000;

/**
 * The least and greatest milliseconds of Redis Streams entry ids (`<ms>-<seq>`), or undefined when
 * one id is not of that form (opaque ids of another queue: their rows are always looked through).
 */
export function idBounds(ids: readonly string[]): [number, number] | undefined {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const id of ids) {
    const dash = id.indexOf('-');
    const ms = dash > 0 && /^\d+-\d+$/.test(id) ? Number(id.slice(0, dash)) : Number.NaN;
    if (!Number.isSafeInteger(ms)) return undefined;
    if (ms < min) min = ms;
    if (ms > max) max = ms;
  }
  return ids.length === 0 ? undefined : [min, max];
}

/**
 * Whether no other consumer of the group can have been handed `message` by `now` (a time of the
 * store's monotonic clock): a first delivery whose queue promised exclusivity beyond the margin.
 */
export function isStillExclusive(message: QueueMessage, now: number): boolean {
  return (
    message.deliveryCount === 1 &&
    message.exclusiveUntil !== undefined &&
    now < message.exclusiveUntil - EXCLUSIVITY_MARGIN_MS
  );
}

/**
 * Rows left behind by a crash between an acknowledgement and the deletion of its rows are removed
 * once they are this old, by a worker that has itself been consuming for {@link
 * ORPHAN_PRUNE_AFTER_UPTIME_MS}: in that time every entry still pending (idle longer than the
 * queue's claim time, which must be well under an hour) has been claimed, found in the ledger and
 * acknowledged, so no row this old belongs to a message that is still pending.
 */
export const LEDGER_ORPHAN_RETENTION_MS = 24 * 3_600_000;
export const ORPHAN_PRUNE_AFTER_UPTIME_MS = 3_600_000;

/** The SQL of the merge upsert: counts and sums add up, min/min, max/max, the average is recomputed. */
const UPSERT_ROLLUPS = `INSERT INTO metric_rollups AS r
  (window_seconds, window_start, dimensions, event_count, value_count, value_sum, value_min, value_max, value_avg, closed_at, updated_at)
SELECT t.ws, to_timestamp(t.start), t.dims::jsonb, t.ec, t.vc, t.vs, t.vmin, t.vmax,
  CASE WHEN t.vc > 0 THEN t.vs / t.vc END, NULL, now()
FROM unnest($1::integer[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[],
  $6::double precision[], $7::double precision[], $8::double precision[])
  AS t(ws, start, dims, ec, vc, vs, vmin, vmax)
ON CONFLICT (window_seconds, window_start, dimensions) DO UPDATE SET
  event_count = r.event_count + EXCLUDED.event_count,
  value_count = r.value_count + EXCLUDED.value_count,
  value_sum = CASE WHEN r.value_count + EXCLUDED.value_count = 0 THEN NULL
    ELSE COALESCE(r.value_sum, 0) + COALESCE(EXCLUDED.value_sum, 0) END,
  value_min = LEAST(r.value_min, EXCLUDED.value_min),
  value_max = GREATEST(r.value_max, EXCLUDED.value_max),
  value_avg = CASE WHEN r.value_count + EXCLUDED.value_count = 0 THEN NULL
    ELSE (COALESCE(r.value_sum, 0) + COALESCE(EXCLUDED.value_sum, 0)) / (r.value_count + EXCLUDED.value_count) END,
  updated_at = now()`;

/** What one flush writes (see {@link RollupStore.flushWhenLocked}). */
export interface FlushInput {
  readonly pending: readonly PendingEvent[];
  /** The worker's watermark candidate (epoch ms); the stored one never moves back. */
  readonly watermarkCandidateMs: number | undefined;
  /** Messages the worker dead-lettered itself since the last flush (see {@link RollupStore.flush}). */
  readonly deadLettered: readonly QueueMessage[];
}

/** Options of {@link RollupStore}. */
export interface RollupStoreOptions {
  readonly db: Database;
  readonly queue: Pick<MessageQueue, 'deadLetter'>;
  readonly group: string;
  readonly topic: string;
  readonly windowSeconds: readonly number[];
  readonly record: AppliedRecord;
  /** Monotonic milliseconds (default `performance.now()`). */
  readonly monotonicNow?: () => number;
  /** Where the store reports what the worker cannot (the Cassandra store: in-doubt batches, takeovers). */
  readonly log?: Pick<Logger, 'info' | 'warn' | 'error'>;
}

/**
 * The database side of the worker: every flush is one transaction that locks the group's
 * watermark row, leaves out what was applied before (ledger or offsets), dead-letters events whose
 * window the stored watermark has closed, upserts the rollups, records what it applied, moves the
 * watermark forward and closes the windows it passed.
 */
export class RollupStore implements RollupSink {
  readonly #db: Database;
  readonly #options: RollupStoreOptions;
  readonly #monotonicNow: () => number;
  readonly #startedAt: number;
  /** Flushes whose messages were acknowledged, waiting {@link LEDGER_HOLD_LIMIT_MS} before their ledger rows go. */
  readonly #acknowledged: Array<{ readonly at: number; readonly flushId: string }> = [];
  #lastOrphanPrune = Number.NEGATIVE_INFINITY;

  constructor(options: RollupStoreOptions) {
    this.#db = options.db;
    this.#options = options;
    this.#monotonicNow = options.monotonicNow ?? (() => performance.now());
    this.#startedAt = this.#monotonicNow();
  }

  /** Creates the group's watermark row when missing and returns the stored watermark (epoch ms). */
  async loadWatermark(): Promise<number | undefined> {
    const { group, topic } = this.#options;
    await this.#db.execute(
      `INSERT INTO metric_aggregator_watermarks (consumer_group, topic, watermark) VALUES ($1, $2, NULL)
       ON CONFLICT (consumer_group, topic) DO NOTHING`,
      [group, topic],
    );
    const row = await this.#db.fetchOne<{ ms: number | string | null }>(
      `SELECT round(extract(epoch FROM watermark) * 1000)::float8 AS ms FROM metric_aggregator_watermarks
       WHERE consumer_group = $1 AND topic = $2`,
      [group, topic],
    );
    return toMs(row?.ms);
  }

  /** Records that the worker acknowledged the messages of a flush (its ledger row may go after the hold limit). */
  acknowledged(flushId: string | undefined): void {
    if (flushId === undefined) return;
    this.#acknowledged.push({ at: this.#monotonicNow(), flushId });
  }

  /**
   * Writes `pending` and the watermark candidate in one transaction (see the class comment). Late
   * events are dead-lettered inside it, before the commit, so a crash can only repeat a dead letter,
   * never lose one. Resolves once the transaction committed; the caller then acknowledges.
   *
   * `deadLettered`: messages the worker dead-lettered itself since the last flush (their dead
   * letters are published). On a partitioned queue their offsets count for the high-water offsets
   * too, so a copy redelivered after a crash is recognised and not dead-lettered twice.
   */
  async flush(
    pending: readonly PendingEvent[],
    watermarkCandidateMs: number | undefined,
    deadLettered: readonly QueueMessage[] = [],
  ): Promise<FlushOutcome> {
    const outcome = await this.flushWhenLocked(() => Promise.resolve({ pending, watermarkCandidateMs, deadLettered }));
    if (outcome === undefined) throw new Error('unreachable: the flush input was given');
    return outcome;
  }

  /**
   * The same transaction, with its input taken only once the group's watermark row is locked:
   * `BEGIN` and the lock request go out at once, and `take` runs when the lock is granted (after
   * the commit of the flush before, of this worker or another). So a worker can start its next
   * flush while the previous one is still writing: PostgreSQL grants the lock as that one commits,
   * with no round trip of the client in between. `take` resolving `undefined` (nothing to write)
   * commits the transaction empty and resolves `undefined`.
   */
  async flushWhenLocked(take: () => Promise<FlushInput | undefined>): Promise<FlushOutcome | undefined> {
    const { group, topic, windowSeconds, record } = this.#options;
    return this.#db.transaction(async () => {
      const locked = await this.#db.fetchOne<{ ms: number | string | null }>(
        `SELECT round(extract(epoch FROM watermark) * 1000)::float8 AS ms FROM metric_aggregator_watermarks
         WHERE consumer_group = $1 AND topic = $2 FOR UPDATE`,
        [group, topic],
      );
      if (locked === null) throw new Error(`the watermark row of group ${group}, topic ${topic} is missing`);
      const input = await take();
      if (input === undefined) return undefined;
      const { pending, watermarkCandidateMs, deadLettered } = input;
      const storedMs = toMs(locked.ms);
      const now = this.#monotonicNow();
      const released: QueueMessage[] = [];
      let candidates = pending;
      if (record === 'ledger') {
        candidates = pending.filter((entry) => {
          if (now - entry.receivedAt <= LEDGER_HOLD_LIMIT_MS) return true;
          released.push(entry.message);
          return false;
        });
      }
      const already = await this.#alreadyApplied(candidates, now);
      const applied: QueueMessage[] = [];
      const duplicates: QueueMessage[] = [];
      const late: QueueMessage[] = [];
      const batch = new RollupBatch(windowSeconds);
      for (const entry of candidates) {
        if (already(entry.message)) duplicates.push(entry.message);
        else if (storedMs !== undefined && earliestWindowEndMs(entry.event.timeMs, windowSeconds) <= storedMs) {
          late.push(entry.message);
        } else {
          applied.push(entry.message);
          batch.add(entry.event);
        }
      }
      for (const message of late) {
        await this.#options.queue.deadLetter(
          message,
          'late',
          'the event is for a window the watermark of its group has already closed',
        );
      }
      if (batch.size > 0) {
        const c = batch.arrayLiterals();
        await this.#db.execute(UPSERT_ROLLUPS, [
          c.windowSeconds,
          c.windowStartSeconds,
          c.dimensions,
          c.eventCount,
          c.valueCount,
          c.valueSum,
          c.valueMin,
          c.valueMax,
        ]);
      }
      const flushId = await this.#recordApplied(applied, [...duplicates, ...late, ...deadLettered]);
      const watermarkMs =
        storedMs === undefined
          ? watermarkCandidateMs
          : watermarkCandidateMs === undefined
            ? storedMs
            : Math.max(storedMs, watermarkCandidateMs);
      if (watermarkMs !== undefined && watermarkMs !== storedMs) {
        await this.#db.execute(
          `UPDATE metric_aggregator_watermarks SET watermark = to_timestamp($3::float8 / 1000), updated_at = now()
           WHERE consumer_group = $1 AND topic = $2`,
          [group, topic, watermarkMs],
        );
        await this.#closeWindows(storedMs, watermarkMs);
      }
      return { applied, duplicates, late, released, rows: batch.size, watermarkMs, flushId };
    });
  }

  /**
   * The stored high-water offsets of `partitions` (partition-offsets record): every offset up to
   * one of them was applied or dead-lettered. Read when partitions are assigned.
   */
  async highWaterOffsets(partitions: readonly number[]): Promise<Map<number, bigint>> {
    const { group, topic } = this.#options;
    if (partitions.length === 0) return new Map();
    const rows = await this.#db.fetchAll<{ partition: number; applied_offset: string }>(
      `SELECT partition, applied_offset::text AS applied_offset FROM metric_aggregator_partition_offsets
       WHERE consumer_group = $1 AND topic = $2 AND partition = ANY($3::integer[])`,
      [group, topic, [...partitions]],
    );
    return new Map(rows.map((row) => [Number(row.partition), BigInt(row.applied_offset)]));
  }

  /**
   * A test of "applied before" for the messages of this flush, read under the watermark lock (`now`
   * taken after the lock was granted).
   */
  async #alreadyApplied(pending: readonly PendingEvent[], now: number): Promise<(message: QueueMessage) => boolean> {
    const { group, topic, record } = this.#options;
    if (pending.length === 0) return () => false;
    if (record === 'ledger') {
      // A redelivery may have been applied by another consumer; so may a first delivery whose
      // exclusivity has run out: a worker can still hold its copy of an entry when the entry has
      // been idle long enough for another consumer of the group to claim it (XAUTOCLAIM), apply it
      // and commit. A first delivery still exclusive cannot have been: no other consumer has been
      // handed it, and one handed it from now on flushes after this transaction (the watermark
      // lock) and finds this flush's row. This lookup runs under that lock, so a competing flush
      // either committed before it (and its ledger row is seen here) or runs after this one.
      const lookedUp = pending.filter((entry) => !isStillExclusive(entry.message, now));
      if (lookedUp.length === 0) return () => false;
      const ids = lookedUp.map((entry) => entry.message.id);
      const bounds = idBounds(ids);
      // Only the rows whose id bounds overlap those of the ids looked for are unnested (migration
      // 005); the ids are matched by a join, linear in both lists (`&&` or `= ANY(...)` would
      // compare every pair).
      const rows = await this.#db.fetchAll<{ message_id: string }>(
        `SELECT DISTINCT l.id AS message_id
         FROM (SELECT unnest(message_ids) AS id FROM metric_aggregator_applied_messages
               WHERE consumer_group = $1 AND topic = $2
                 AND (min_ms IS NULL OR $4::bigint IS NULL OR (min_ms <= $5::bigint AND max_ms >= $4::bigint))) AS l
         JOIN unnest($3::text[]) AS p(id) ON p.id = l.id`,
        [
          group,
          topic,
          `{${ids.map(quotedArrayElement).join(',')}}`,
          bounds === undefined ? null : bounds[0],
          bounds === undefined ? null : bounds[1],
        ],
      );
      const applied = new Set(rows.map((row) => row.message_id));
      return (message) => applied.has(message.id);
    }
    const highWater = await this.highWaterOffsets([...new Set(pending.map((entry) => partitionOf(entry.message)))]);
    return (message) => {
      const mark = highWater.get(partitionOf(message));
      return mark !== undefined && offsetOf(message) <= mark;
    };
  }

  /**
   * Ledger row or partition high-water offsets for what this flush handled; ledger housekeeping.
   * Returns the flush's ledger row id when it wrote one.
   */
  async #recordApplied(
    applied: readonly QueueMessage[],
    alsoHandled: readonly QueueMessage[],
  ): Promise<string | undefined> {
    const { group, topic, record } = this.#options;
    if (record === 'partition-offsets') {
      const highest = new Map<number, bigint>();
      for (const message of [...applied, ...alsoHandled]) {
        const partition = partitionOf(message);
        const offset = offsetOf(message);
        const known = highest.get(partition);
        if (known === undefined || offset > known) highest.set(partition, offset);
      }
      if (highest.size === 0) return undefined;
      await this.#db.execute(
        `INSERT INTO metric_aggregator_partition_offsets (consumer_group, topic, partition, applied_offset)
         SELECT $1, $2, p, o FROM unnest($3::integer[], $4::bigint[]) AS t(p, o)
         ON CONFLICT (consumer_group, topic, partition) DO UPDATE
         SET applied_offset = GREATEST(metric_aggregator_partition_offsets.applied_offset, EXCLUDED.applied_offset),
             updated_at = now()`,
        [group, topic, [...highest.keys()], [...highest.values()].map(String)],
      );
      return undefined;
    }
    let flushId: string | undefined;
    if (applied.length > 0) {
      flushId = randomUUID();
      const ids = applied.map((message) => message.id);
      const bounds = idBounds(ids);
      await this.#db.execute(
        `INSERT INTO metric_aggregator_applied_messages (consumer_group, topic, flush_id, message_ids, min_ms, max_ms)
         VALUES ($1, $2, $3::uuid, $4::text[], $5::bigint, $6::bigint)`,
        [
          group,
          topic,
          flushId,
          `{${ids.map(quotedArrayElement).join(',')}}`,
          bounds === undefined ? null : bounds[0],
          bounds === undefined ? null : bounds[1],
        ],
      );
    }
    const now = this.#monotonicNow();
    const due: string[] = [];
    while (this.#acknowledged.length > 0 && now - (this.#acknowledged[0]?.at ?? now) >= LEDGER_HOLD_LIMIT_MS) {
      const entry = this.#acknowledged.shift();
      if (entry !== undefined) due.push(entry.flushId);
    }
    if (due.length > 0) {
      await this.#db.execute(
        `DELETE FROM metric_aggregator_applied_messages
         WHERE consumer_group = $1 AND topic = $2 AND flush_id = ANY($3::uuid[])`,
        [group, topic, due],
      );
    }
    if (now - this.#startedAt >= ORPHAN_PRUNE_AFTER_UPTIME_MS && now - this.#lastOrphanPrune >= 60_000) {
      this.#lastOrphanPrune = now;
      await this.#db.execute(
        `DELETE FROM metric_aggregator_applied_messages
         WHERE consumer_group = $1 AND topic = $2 AND applied_at < now() - make_interval(secs => $3::float8)`,
        [group, topic, LEDGER_ORPHAN_RETENTION_MS / 1000],
      );
    }
    return flushId;
  }

  /**
   * Sets `closed_at` on the windows of each size whose end the watermark passed in this flush, a
   * range of the primary key. Every window an event was applied to ends after the stored watermark
   * (later events are late), so the windows ending up to `fromMs` were closed by the flush that
   * moved the watermark there; only the first flush of a group looks further back.
   */
  async #closeWindows(fromMs: number | undefined, toMs: number): Promise<void> {
    // Both bounds are index conditions in any plan: with `$3 IS NULL OR window_start >= ...` a
    // generic plan of the prepared statement could only filter on the lower bound, and would visit
    // every closed window of the size on each flush.
    for (const size of this.#options.windowSeconds) {
      const sizeMs = size * 1000;
      if (fromMs !== undefined && Math.floor(fromMs / sizeMs) === Math.floor(toMs / sizeMs)) continue;
      // Windows [start, start + size) with fromMs < start + size <= toMs.
      const lastStartSeconds = Math.floor(toMs / sizeMs) * size - size;
      const firstStartSeconds = fromMs === undefined ? null : Math.floor(fromMs / sizeMs) * size;
      await this.#db.execute(
        `UPDATE metric_rollups SET closed_at = now(), updated_at = now()
         WHERE window_seconds = $1 AND window_start <= to_timestamp($2::bigint)
           AND window_start >= COALESCE(to_timestamp($3::bigint), '-infinity'::timestamptz) AND closed_at IS NULL`,
        [size, lastStartSeconds, firstStartSeconds],
      );
    }
  }
}

function toMs(value: number | string | null | undefined): number | undefined {
  if (value === null || value === undefined) return undefined;
  const ms = Number(value);
  return Number.isFinite(ms) ? ms : undefined;
}

/** The partition of a message (0 on a queue without partitions). */
export function partitionOf(message: QueueMessage): number {
  return message.partition ?? 0;
}

/** The offset of a message of a partitioned queue; throws naming the message when it has none. */
export function offsetOf(message: QueueMessage): bigint {
  if (message.offset === undefined || !/^\d+$/.test(message.offset)) {
    throw new Error(
      `message ${message.id} of a partitioned topic has no numeric offset (${String(message.offset)}); the partition-offsets record needs one`,
    );
  }
  return BigInt(message.offset);
}
