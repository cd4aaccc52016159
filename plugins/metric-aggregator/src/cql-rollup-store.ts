import { randomUUID } from 'node:crypto';
import { isOutcomeUnknown } from '@platform-host/contracts';
import type { BatchStatement, Database, QueueMessage, Row, SqlParam } from '@platform-host/contracts';
import type { AggregatedEvent } from './event.js';
import {
  isStillExclusive,
  LEDGER_HOLD_LIMIT_MS,
  offsetOf,
  partitionOf,
  type FlushOutcome,
  type PendingEvent,
  type RollupStoreOptions,
} from './rollup-store.js';
import type { RollupSink } from './rollup-sink.js';
import { earliestWindowEndMs, windowStartSeconds } from './windows.js';

/**
 * How long a flush lease lasts unless renewed (seconds). A worker killed while it holds the lease
 * delays the other workers of its group by at most this long. The lease is renewed before every
 * batch, so it is lost only when one batch (bounded by the driver's request timeout) and the pause
 * before it together take longer.
 */
export const FLUSH_LEASE_TTL_SECONDS = 15;

/**
 * Ledger rows and dirty lists are written with this TTL (7 days): the bound for rows a crash left
 * behind (the rows of acknowledged messages are deleted after {@link LEDGER_HOLD_LIMIT_MS}).
 */
export const CQL_ORPHAN_TTL_SECONDS = 7 * 86_400;

/**
 * How long an in-doubt logged batch is re-sent before the worker gives up and stops (ms): 4 lease
 * TTLs by default. Each try renews the lease first.
 */
export const IN_DOUBT_SETTLE_BOUND_MS = 60_000;

/** How long a writer that took over the lease waits for a previous holder's batches before the flush fails (ms). */
export const TAKEOVER_WAIT_BOUND_MS = 60_000;

/**
 * The request timeout of the driver (`DB_CASSANDRA_REQUEST_TIMEOUT`, 12 s by default): after it a
 * request sent has been answered, dropped by the client, or (Cassandra's `native_transport_timeout`
 * and `write_request_timeout`) dropped or written by the server.
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 12_000;

/** Margin for the clocks of this process and the Cassandra node when comparing batchlog entry times (ms). */
const BATCHLOG_CLOCK_MARGIN_MS = 1000;

/** Estimated bytes of the statements of one logged batch: well under Cassandra's default 50 KiB batch_size_fail_threshold. */
const BATCH_BYTES = 24 * 1024;
/** Values in one `IN (...)` list. */
const IN_LIMIT = 100;
/** Windows recomputed or closed at a time. */
const WINDOW_CONCURRENCY = 8;
/** Milliseconds of Redis Streams entry ids per ledger partition. */
const LEDGER_BUCKET_MS = 10_000;

/** Absolute aggregate of one rollup key: of one writer (a part) or merged (a row). */
interface Aggregate {
  readonly windowSeconds: number;
  readonly windowStartSeconds: number;
  readonly dimensions: string;
  eventCount: number;
  valueCount: number;
  valueSum: number;
  valueMin: number;
  valueMax: number;
}

/** A message a flush records in order (partition-offsets: by partition and offset). */
interface Recorded {
  readonly message: QueueMessage;
  /** Present for an applied event; absent for one handled otherwise (duplicate, late, dead letter). */
  readonly event?: AggregatedEvent;
}

/** Options of {@link CqlRollupStore}. */
export interface CqlRollupStoreOptions extends RollupStoreOptions {
  /** This writer's id (default a random UUID, new for every process). */
  readonly writer?: string;
  /** Flush lease TTL in seconds (default {@link FLUSH_LEASE_TTL_SECONDS}). */
  readonly leaseTtlSeconds?: number;
  /** How long to wait for the lease before the flush fails (ms; default 4 × the TTL). */
  readonly leaseWaitMs?: number;
  /** How long an in-doubt batch is re-sent before the store gives up, fatally (ms; default {@link IN_DOUBT_SETTLE_BOUND_MS}). */
  readonly inDoubtSettleBoundMs?: number;
  /** How long a takeover waits for a previous holder's batches (ms; default {@link TAKEOVER_WAIT_BOUND_MS}). */
  readonly takeoverWaitMs?: number;
  /**
   * The driver's request timeout (ms): how long a batch may be in flight. Default: the adapter's
   * `requestTimeoutMs` (`DB_CASSANDRA_REQUEST_TIMEOUT`) when it has one, else {@link DEFAULT_REQUEST_TIMEOUT_MS}.
   */
  readonly requestTimeoutMs?: number;
  /** Pause of the retry loops (default a timer); tests may count the calls. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** A lease that was taken over by another writer while this one worked. */
export class FlushLeaseLostError extends Error {}

/**
 * A logged batch whose outcome stayed unknown: it may still be applied (from Cassandra's batchlog)
 * and this writer could not settle it by re-sending it. The writer must not apply anything more:
 * every later flush of this store throws this error, and the worker exits non-zero so that the
 * host restarts it. Its lease holder record stays, so the next holder waits for the batchlog.
 */
export class InDoubtBatchError extends Error {
  /** Always true: the worker stops (see {@link isFatalStoreError}). */
  readonly fatal = true;
}

/**
 * The lease was taken over from a writer that never gave it back, and its batches may still be in
 * Cassandra's batchlog after {@link CqlRollupStoreOptions.takeoverWaitMs}: the flush fails (the
 * events stay pending, readiness fails) and the next flush waits again.
 */
export class PreviousHolderPendingError extends Error {}

/** Whether `error` means the worker must stop instead of flushing again ({@link InDoubtBatchError}). */
export function isFatalStoreError(error: unknown): boolean {
  return error instanceof Error && (error as Error & { fatal?: unknown }).fatal === true;
}

/**
 * metric_aggregator's store on Cassandra (dialect `cql`, issue 15): exactly-once effects on
 * metric_rollups without multi-partition transactions.
 *
 * This process is a *writer* with its own id. It keeps in memory the absolute aggregates it has
 * applied per rollup key (for windows not closed yet) and each flush, holding the group's flush
 * lease (a lightweight transaction on the watermark row, as PostgreSQL's `FOR UPDATE`):
 * 1. when the previous holder never gave the lease back (`lease_holder`), waits until none of its
 *    batches can still land (in flight, or in Cassandra's batchlog); then finishes the dirty lists
 *    of writers that crashed, and closes windows a crash left open;
 * 2. leaves out what was applied before (per-partition high-water offsets, or the ledger of ids),
 *    dead-letters events whose window the stored watermark closed;
 * 3. records itself as `lease_holder`, then writes, in logged batches each consistent on its own,
 *    the writer's absolute parts of the keys it touched, what it applied (offsets or ledger ids)
 *    and its dirty list of windows; a batch whose outcome is unknown is re-sent until it settles;
 * 4. recomputes the touched metric_rollups rows as the merge of every writer's parts, clears the
 *    dirty list;
 * 5. moves the watermark and gives the lease back (clearing `lease_holder`) in one lightweight
 *    transaction (only if it still holds it), then closes the windows the watermark passed and
 *    deletes their parts.
 * The caller acknowledges after that. See the module README, "What is guaranteed on Cassandra".
 */
export class CqlRollupStore implements RollupSink {
  readonly #db: Database;
  readonly #options: RollupStoreOptions;
  readonly #writer: string;
  readonly #leaseTtlSeconds: number;
  readonly #leaseWaitMs: number;
  readonly #monotonicNow: () => number;
  /** Absolute aggregates this writer applied, per key `size|start|dimensions` (windows not closed). */
  readonly #parts = new Map<string, Aggregate>();
  /**
   * Messages written by a flush that failed afterwards: durable, so the next flush reports them as
   * applied instead of applying them again.
   */
  readonly #writtenNotReported = new Map<string, { readonly message: QueueMessage; readonly at: number }>();
  /** Ledger ids of each flush, by bucket, until their deletion. */
  readonly #ledgerIds = new Map<string, Map<string, string[]>>();
  readonly #acknowledged: Array<{ readonly at: number; readonly flushId: string }> = [];
  #leaseRenewedAt = Number.NEGATIVE_INFINITY;
  readonly #settleBoundMs: number;
  readonly #takeoverWaitMs: number;
  readonly #requestTimeoutMs: number;
  readonly #sleep: (ms: number) => Promise<void>;
  /** Set for the current lease once `lease_holder` names this writer (before its first logged batch). */
  #holderRecorded = false;
  /** The running {@link CqlRollupStore.#recordHolder} of the current lease. */
  #holderRecording: Promise<void> | undefined;
  /** Counts the leases taken, so that a late answer is not taken for the current lease's. */
  #leaseEpoch = 0;
  /** A logged batch of this writer whose outcome is unknown and not settled: `lease_holder` must stay. */
  #unsettled = false;
  /** Holding the lease, the previous holder's batches have not been waited for yet: `lease_holder` must stay. */
  #takeoverPending = false;
  /** Once set, the store refuses to flush: see {@link InDoubtBatchError}. */
  #fatal: InDoubtBatchError | undefined;

  constructor(options: CqlRollupStoreOptions) {
    this.#db = options.db;
    this.#options = options;
    this.#writer = options.writer ?? randomUUID();
    this.#leaseTtlSeconds = options.leaseTtlSeconds ?? FLUSH_LEASE_TTL_SECONDS;
    this.#leaseWaitMs = options.leaseWaitMs ?? 4 * this.#leaseTtlSeconds * 1000;
    this.#monotonicNow = options.monotonicNow ?? (() => performance.now());
    this.#settleBoundMs = options.inDoubtSettleBoundMs ?? IN_DOUBT_SETTLE_BOUND_MS;
    this.#takeoverWaitMs = options.takeoverWaitMs ?? TAKEOVER_WAIT_BOUND_MS;
    const adapterTimeout = (options.db as Database & { readonly requestTimeoutMs?: unknown }).requestTimeoutMs;
    this.#requestTimeoutMs =
      options.requestTimeoutMs ?? (typeof adapterTimeout === 'number' ? adapterTimeout : DEFAULT_REQUEST_TIMEOUT_MS);
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** This writer's id (its parts rows carry it). */
  get writer(): string {
    return this.#writer;
  }

  /**
   * Creates the group's watermark row when missing, under the lease waits for what a previous
   * holder that never gave the lease back may still land (as long as it takes: the worker is not
   * consuming yet), finishes what crashed writers left (dirty lists, windows to close), and returns
   * the stored watermark (epoch ms).
   */
  async loadWatermark(): Promise<number | undefined> {
    const { group, topic } = this.#options;
    await this.#db.execute(
      'INSERT INTO metric_aggregator_watermarks (consumer_group, topic, updated_at) VALUES (?, ?, ?) IF NOT EXISTS',
      [group, topic, new Date()],
    );
    if (this.#fatal !== undefined) throw this.#fatal;
    for (;;) {
      await this.#acquireLease();
      try {
        const stored = await this.#prepareHoldingLease();
        await this.#releaseLease(undefined);
        return stored;
      } catch (error) {
        await this.#releaseLease(undefined).catch(() => undefined);
        // Not started yet (not consuming): keep waiting for the previous holder's batches (logged).
        if (!(error instanceof PreviousHolderPendingError)) throw error;
      }
    }
  }

  /**
   * The first steps of every flush, holding the lease: waits for what a previous holder that never
   * gave the lease back may still have in flight, then finishes crashed writers' dirty lists and
   * closes what a crash left open. Returns the stored watermark.
   */
  async #prepareHoldingLease(): Promise<number | undefined> {
    const { watermarkMs, leaseHolder } = await this.#watermarkRow();
    if (leaseHolder !== null && leaseHolder !== this.#writer) {
      this.#takeoverPending = true;
      await this.#awaitPreviousHolder(leaseHolder);
      this.#takeoverPending = false;
    }
    // lease_holder names this writer only when its own release failed: none of its batches is in flight.
    if (leaseHolder === this.#writer) this.#holderRecorded = true;
    await this.#finishCrashedWriters();
    if (watermarkMs !== undefined) await this.#closeWindows(watermarkMs);
    return watermarkMs;
  }

  /** Records that the worker acknowledged the messages of a flush (its ledger rows go after the hold limit). */
  acknowledged(flushId: string | undefined): void {
    if (flushId === undefined) return;
    this.#acknowledged.push({ at: this.#monotonicNow(), flushId });
  }

  /** The stored high-water offsets of `partitions`: every offset up to one of them was applied or dead-lettered. */
  async highWaterOffsets(partitions: readonly number[]): Promise<Map<number, bigint>> {
    const { group, topic } = this.#options;
    const result = new Map<number, bigint>();
    for (const chunk of chunks([...new Set(partitions)], IN_LIMIT)) {
      const rows = await this.#db.fetchAll<{ partition: number; applied_offset: bigint | number | string }>(
        `SELECT partition, applied_offset FROM metric_aggregator_partition_offsets
         WHERE consumer_group = ? AND topic = ? AND partition IN ?`,
        [group, topic, chunk],
      );
      for (const row of rows) result.set(Number(row.partition), BigInt(row.applied_offset));
    }
    return result;
  }

  /** One flush (see the class comment). Resolves once every write is durable; the caller then acknowledges. */
  async flush(
    pending: readonly PendingEvent[],
    watermarkCandidateMs: number | undefined,
    deadLettered: readonly QueueMessage[] = [],
  ): Promise<FlushOutcome> {
    if (this.#fatal !== undefined) throw this.#fatal;
    await this.#acquireLease();
    let released = false;
    try {
      const outcome = await this.#flushHoldingLease(pending, watermarkCandidateMs, deadLettered, () => {
        released = true;
      });
      return outcome;
    } finally {
      if (!released) {
        await this.#holderRecording?.catch(() => undefined);
        await this.#releaseLease(undefined).catch(() => undefined);
      }
    }
  }

  async #flushHoldingLease(
    pending: readonly PendingEvent[],
    watermarkCandidateMs: number | undefined,
    deadLettered: readonly QueueMessage[],
    markReleased: () => void,
  ): Promise<FlushOutcome> {
    const { windowSeconds, record } = this.#options;
    const storedMs = await this.#prepareHoldingLease();

    const now = this.#monotonicNow();
    const released: QueueMessage[] = [];
    const applied: QueueMessage[] = [];
    const duplicates: QueueMessage[] = [];
    const late: QueueMessage[] = [];
    const candidates: PendingEvent[] = [];
    // Bounded: after the hold limit a copy is either handed back (held too long) or, delivered
    // anew, found in the ledger or below the offsets those batches wrote (their ledger rows are
    // left to their TTL, see #writeParts' caller).
    for (const [id, written] of this.#writtenNotReported) {
      if (now - written.at > LEDGER_HOLD_LIMIT_MS) this.#writtenNotReported.delete(id);
    }
    for (const entry of pending) {
      if (this.#writtenNotReported.has(entry.message.id)) applied.push(entry.message);
      else if (record === 'ledger' && now - entry.receivedAt > LEDGER_HOLD_LIMIT_MS) released.push(entry.message);
      else candidates.push(entry);
    }
    for (const message of applied) this.#writtenNotReported.delete(message.id);
    // Likely to write: record this writer as lease_holder while the ledger or offsets are read
    // (awaited before the first logged batch, see #writeParts).
    if (candidates.length > 0) void this.#recordingHolder();
    const highWater =
      record === 'partition-offsets'
        ? await this.highWaterOffsets([...candidates.map((e) => e.message), ...deadLettered].map(partitionOf))
        : new Map<number, bigint>();
    const already =
      record === 'ledger' ? await this.#inLedger(candidates) : (message: QueueMessage) => isBelow(highWater, message);
    const toApply: PendingEvent[] = [];
    /** Keys of duplicates: recomputed too, so a crash between a batch and its recompute heals on redelivery. */
    const recheck: PendingEvent[] = [];
    for (const entry of candidates) {
      if (already(entry.message)) {
        duplicates.push(entry.message);
        recheck.push(entry);
      } else if (storedMs !== undefined && earliestWindowEndMs(entry.event.timeMs, windowSeconds) <= storedMs) {
        late.push(entry.message);
      } else {
        toApply.push(entry);
      }
    }
    for (const message of late) {
      await this.#options.queue.deadLetter(
        message,
        'late',
        'the event is for a window the watermark of its group has already closed',
      );
    }

    const flushId = record === 'ledger' && toApply.length > 0 ? randomUUID() : undefined;
    let touched: Set<string>;
    try {
      touched = await this.#writeParts(toApply, [...duplicates, ...late, ...deadLettered], highWater, flushId);
    } catch (error) {
      // Not acknowledged: this flush's ledger rows are never pruned by this writer (their TTL is).
      if (flushId !== undefined) this.#ledgerIds.delete(flushId);
      throw error;
    }
    for (const message of toApply.map((entry) => entry.message)) applied.push(message);
    for (const entry of recheck) for (const key of this.#keysOf(entry.event)) touched.add(key);

    await this.#recompute(touched);
    if (toApply.length > 0) await this.#setDirty(this.#writer, '', 3600);

    const watermarkMs =
      storedMs === undefined
        ? watermarkCandidateMs
        : watermarkCandidateMs === undefined
          ? storedMs
          : Math.max(storedMs, watermarkCandidateMs);
    await this.#holderRecording?.catch(() => undefined);
    await this.#releaseLease(watermarkMs !== undefined && watermarkMs !== storedMs ? watermarkMs : undefined);
    markReleased();
    if (watermarkMs !== undefined && watermarkMs !== storedMs) {
      await this.#closeWindows(watermarkMs);
      this.#forgetClosed(watermarkMs);
    }
    return { applied, duplicates, late, released, rows: touched.size, watermarkMs, flushId };
  }

  /**
   * Writes this writer's absolute parts for `toApply` together with what it applied, in logged
   * batches each consistent on its own: a batch carries the parts of the keys its messages touched
   * (including every earlier batch's messages), their offsets or ledger ids, the open windows and
   * the dirty list. Returns the keys touched.
   */
  async #writeParts(
    toApply: readonly PendingEvent[],
    alsoHandled: readonly QueueMessage[],
    storedHighWater: ReadonlyMap<number, bigint>,
    flushId: string | undefined,
  ): Promise<Set<string>> {
    const { record } = this.#options;
    const touched = new Set<string>();
    const items: Recorded[] = toApply.map((entry) => ({ message: entry.message, event: entry.event }));
    if (record === 'partition-offsets') {
      for (const message of alsoHandled) items.push({ message });
      items.sort((a, b) => {
        const byPartition = partitionOf(a.message) - partitionOf(b.message);
        if (byPartition !== 0) return byPartition;
        const left = offsetOf(a.message);
        const right = offsetOf(b.message);
        return left < right ? -1 : left > right ? 1 : 0;
      });
    }
    if (items.length === 0) return touched;
    const working = new Map<string, Aggregate>();
    const windows = new Set<string>();
    const highWater = new Map(storedHighWater);
    const written: QueueMessage[] = [];
    let chunkKeys = new Set<string>();
    let chunkIds: QueueMessage[] = [];
    let chunkOffsets = new Set<number>();
    let chunkMessages: QueueMessage[] = [];
    let bytes = 0;

    const emit = async (): Promise<void> => {
      if (chunkKeys.size === 0 && chunkIds.length === 0 && chunkOffsets.size === 0) return;
      const statements: BatchStatement[] = [];
      const updatedAt = new Date();
      const chunkWindows = new Set<string>();
      for (const key of chunkKeys) {
        const part = working.get(key);
        if (part === undefined) continue;
        chunkWindows.add(windowKey(part.windowSeconds, part.windowStartSeconds));
        statements.push({
          sql: `INSERT INTO metric_rollup_parts (window_seconds, window_start, dimensions, writer, event_count, value_count,
                value_sum, value_min, value_max, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          params: [
            part.windowSeconds,
            new Date(part.windowStartSeconds * 1000),
            part.dimensions,
            this.#writer,
            ...aggregateValues(part),
            updatedAt,
          ],
        });
      }
      for (const window of chunkWindows) {
        windows.add(window);
        const [size, start] = parseWindowKey(window);
        statements.push({
          sql: 'INSERT INTO metric_rollup_open_windows (window_seconds, window_start) VALUES (?, ?)',
          params: [size, new Date(start * 1000)],
        });
      }
      if (record === 'partition-offsets') {
        for (const partition of chunkOffsets) {
          statements.push({
            sql: `INSERT INTO metric_aggregator_partition_offsets (consumer_group, topic, partition, applied_offset, updated_at)
                  VALUES (?, ?, ?, ?, ?)`,
            params: [this.#options.group, this.#options.topic, partition, highWater.get(partition) ?? 0n, updatedAt],
          });
        }
      } else if (flushId !== undefined) {
        const byBucket = this.#ledgerIds.get(flushId) ?? new Map<string, string[]>();
        this.#ledgerIds.set(flushId, byBucket);
        for (const message of chunkIds) {
          const bucket = ledgerBucket(message.id);
          statements.push({
            sql: `INSERT INTO metric_aggregator_applied_messages (consumer_group, topic, bucket, message_id, applied_at)
                  VALUES (?, ?, ?, ?, ?) USING TTL ${CQL_ORPHAN_TTL_SECONDS}`,
            params: [this.#options.group, this.#options.topic, bucket, message.id, updatedAt],
          });
          const ids = byBucket.get(bucket) ?? [];
          ids.push(message.id);
          byBucket.set(bucket, ids);
        }
      }
      if (windows.size > 0) {
        statements.push(this.#dirtyStatement(this.#writer, JSON.stringify([...windows]), CQL_ORPHAN_TTL_SECONDS));
      }
      await this.#recordingHolder();
      await this.#renewLeaseIfDue();
      await this.#sendLoggedBatch(statements);
      // Durable: this writer's parts now hold these messages.
      for (const key of chunkKeys) {
        const part = working.get(key);
        if (part !== undefined) this.#parts.set(key, { ...part });
      }
      for (const message of chunkMessages) written.push(message);
      chunkKeys = new Set();
      chunkIds = [];
      chunkOffsets = new Set();
      chunkMessages = [];
      bytes = 0;
    };

    try {
      for (const item of items) {
        if (item.event !== undefined) {
          const { event } = item;
          for (const size of this.#options.windowSeconds) {
            const start = windowStartSeconds(event.timeMs, size);
            const key = rollupKey(size, start, event.dimensionsKey);
            let part = working.get(key);
            if (part === undefined) {
              const known = this.#parts.get(key);
              part = known === undefined ? emptyAggregate(size, start, event.dimensionsKey) : { ...known };
              working.set(key, part);
            }
            addEvent(part, event);
            touched.add(key);
            if (!chunkKeys.has(key)) {
              chunkKeys.add(key);
              bytes += 120 + event.dimensionsKey.length;
            }
          }
          chunkMessages.push(item.message);
          if (record === 'ledger') {
            chunkIds.push(item.message);
            bytes += 80 + item.message.id.length + this.#options.group.length + this.#options.topic.length;
          }
        }
        if (record === 'partition-offsets') {
          const partition = partitionOf(item.message);
          const offset = offsetOf(item.message);
          const known = highWater.get(partition);
          if (known === undefined || offset > known) highWater.set(partition, offset);
          if (!chunkOffsets.has(partition)) {
            chunkOffsets.add(partition);
            bytes += 80 + this.#options.group.length + this.#options.topic.length;
          }
        }
        if (bytes >= BATCH_BYTES) await emit();
      }
      await emit();
    } catch (error) {
      const at = this.#monotonicNow();
      for (const message of written) this.#writtenNotReported.set(message.id, { message, at });
      throw error;
    }
    return touched;
  }

  /** The rollup keys of an event, one per window size. */
  #keysOf(event: AggregatedEvent): string[] {
    return this.#options.windowSeconds.map((size) =>
      rollupKey(size, windowStartSeconds(event.timeMs, size), event.dimensionsKey),
    );
  }

  /**
   * Recomputes the metric_rollups rows of `keys` as the merge of every writer's parts (counts and
   * sums add up, min of mins, max of maxes, avg = sum / count); `closed_at` is left as it is.
   */
  async #recompute(keys: ReadonlySet<string>): Promise<void> {
    const byWindow = new Map<string, string[]>();
    for (const key of keys) {
      const [size, start, dimensions] = parseRollupKey(key);
      const window = windowKey(size, start);
      const list = byWindow.get(window) ?? [];
      list.push(dimensions);
      byWindow.set(window, list);
    }
    await forEachLimited([...byWindow], WINDOW_CONCURRENCY, async ([window, dimensions]) => {
      const [size, start] = parseWindowKey(window);
      for (const chunk of chunks(dimensions, IN_LIMIT)) await this.#recomputeRows(size, start, chunk);
    });
  }

  /** Recomputes the rows of one window: those of `dimensions`, or every row with parts when omitted. */
  async #recomputeRows(size: number, start: number, dimensions?: readonly string[]): Promise<void> {
    const windowStart = new Date(start * 1000);
    const where = `WHERE window_seconds = ? AND window_start = ?${dimensions === undefined ? '' : ' AND dimensions IN ?'}`;
    const params = dimensions === undefined ? [size, windowStart] : [size, windowStart, [...dimensions]];
    // A closed row is final: never recomputed (its window's parts are deleted after closing; a
    // writer that paused past the lease could otherwise rewrite it from a partial set of parts).
    // Read together with the parts.
    const [parts, rows] = await Promise.all([
      this.#db.fetchAll<PartRow>(
        `SELECT dimensions, event_count, value_count, value_sum, value_min, value_max FROM metric_rollup_parts ${where}`,
        params,
      ),
      this.#db.fetchAll<{ dimensions: string; closed_at: Date | null }>(
        `SELECT dimensions, closed_at FROM metric_rollups ${where}`,
        params,
      ),
    ]);
    const merged = new Map<string, Aggregate>();
    for (const part of parts) {
      const row = merged.get(part.dimensions) ?? emptyAggregate(size, start, part.dimensions);
      row.eventCount += Number(part.event_count ?? 0);
      const valueCount = Number(part.value_count ?? 0);
      if (valueCount > 0) {
        row.valueCount += valueCount;
        row.valueSum += part.value_sum ?? 0;
        row.valueMin = Math.min(row.valueMin, part.value_min ?? Number.POSITIVE_INFINITY);
        row.valueMax = Math.max(row.valueMax, part.value_max ?? Number.NEGATIVE_INFINITY);
      }
      merged.set(part.dimensions, row);
    }
    for (const row of rows) if (row.closed_at !== null) merged.delete(row.dimensions);
    if (merged.size === 0) return;
    const updatedAt = new Date();
    const statements: BatchStatement[] = [...merged.values()].map((row) => {
      const values = aggregateValues(row);
      return {
        sql: `INSERT INTO metric_rollups (window_seconds, window_start, dimensions, event_count, value_count, value_sum,
              value_min, value_max, value_avg, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        params: [
          size,
          windowStart,
          row.dimensions,
          ...values,
          row.valueCount > 0 ? row.valueSum / row.valueCount : null,
          updatedAt,
        ],
      };
    });
    // One partition: an unlogged batch is applied as one mutation.
    for (const chunk of chunks(statements, IN_LIMIT)) await this.#db.batch(chunk, { logged: false });
  }

  /**
   * Recomputes the windows of every dirty list found (called holding the lease, so no writer is
   * between its batch and its recompute: a dirty list is what a crashed writer left) and clears it.
   */
  async #finishCrashedWriters(): Promise<void> {
    const { group, topic } = this.#options;
    const writers = await this.#db.fetchAll<{ writer: string; dirty: string | null }>(
      'SELECT writer, dirty FROM metric_aggregator_writers WHERE consumer_group = ? AND topic = ?',
      [group, topic],
    );
    for (const { writer, dirty } of writers) {
      if (dirty === null || dirty === '') continue;
      const windows = parseDirty(dirty);
      await forEachLimited(windows, WINDOW_CONCURRENCY, async (window) => {
        const [size, start] = parseWindowKey(window);
        await this.#recomputeRows(size, start);
      });
      await this.#setDirty(writer, '', 3600);
    }
  }

  #dirtyStatement(writer: string, dirty: string, ttlSeconds: number): BatchStatement {
    return {
      sql: `UPDATE metric_aggregator_writers USING TTL ${ttlSeconds} SET dirty = ?, updated_at = ?
            WHERE consumer_group = ? AND topic = ? AND writer = ?`,
      params: [dirty, new Date(), this.#options.group, this.#options.topic, writer],
    };
  }

  async #setDirty(writer: string, dirty: string, ttlSeconds: number): Promise<void> {
    const statement = this.#dirtyStatement(writer, dirty, ttlSeconds);
    await this.#db.execute(statement.sql, statement.params);
  }

  /**
   * Sets `closed_at` on the rows of every open window whose end is at or before `watermarkMs`,
   * deletes the window's parts, then removes those windows from metric_rollup_open_windows.
   * Idempotent: a row already closed keeps its `closed_at`. Safe to delete the parts: no event is
   * applied to a window the stored watermark closed (the late check, holding the lease), every
   * dirty list that could name it was finished at the start of the flush that moved the watermark,
   * and {@link CqlRollupStore.#recomputeRows} never rewrites a closed row.
   */
  async #closeWindows(watermarkMs: number): Promise<void> {
    for (const size of this.#options.windowSeconds) {
      const sizeMs = size * 1000;
      // Windows [start, start + size) with start + size <= watermark.
      const lastStart = new Date(Math.floor(watermarkMs / sizeMs) * sizeMs - sizeMs);
      const open = await this.#db.fetchAll<{ window_start: Date }>(
        'SELECT window_start FROM metric_rollup_open_windows WHERE window_seconds = ? AND window_start <= ?',
        [size, lastStart],
      );
      if (open.length === 0) continue;
      const closedAt = new Date();
      await forEachLimited(open, WINDOW_CONCURRENCY, async ({ window_start: start }) => {
        const rows = await this.#db.fetchAll<{ dimensions: string; closed_at: Date | null }>(
          'SELECT dimensions, closed_at FROM metric_rollups WHERE window_seconds = ? AND window_start = ?',
          [size, start],
        );
        const statements: BatchStatement[] = rows
          .filter((row) => row.closed_at === null)
          .map((row) => ({
            sql: `UPDATE metric_rollups SET closed_at = ?, updated_at = ?
                  WHERE window_seconds = ? AND window_start = ? AND dimensions = ?`,
            params: [closedAt, closedAt, size, start, row.dimensions],
          }));
        for (const chunk of chunks(statements, IN_LIMIT)) await this.#db.batch(chunk, { logged: false });
        // Every row of the window is final now (closed_at set, never recomputed again), so its
        // parts are not needed: one partition delete (a single tombstone: a reader sees all the
        // parts or none).
        await this.#db.execute('DELETE FROM metric_rollup_parts WHERE window_seconds = ? AND window_start = ?', [
          size,
          start,
        ]);
      });
      await this.#db.execute('DELETE FROM metric_rollup_open_windows WHERE window_seconds = ? AND window_start <= ?', [
        size,
        lastStart,
      ]);
    }
  }

  /** Drops from memory the parts of windows the watermark closed: no event is applied to them again. */
  #forgetClosed(watermarkMs: number): void {
    for (const [key, part] of this.#parts) {
      if ((part.windowStartSeconds + part.windowSeconds) * 1000 <= watermarkMs) this.#parts.delete(key);
    }
  }

  /**
   * A test of "applied before" against the ledger, called holding the lease. Not only the
   * redelivered messages are looked up: a message this worker received first (deliveryCount 1) may
   * have been claimed by another worker while it waited here (for the lease, longer than the claim
   * time), applied and acknowledged by that one. A first delivery the queue still promises to this
   * consumer alone (`exclusiveUntil`, as the PostgreSQL store) is not: no other consumer has been
   * handed it, and one handed it from now on flushes after this writer gives the lease back. One
   * query per ledger partition (ten seconds of entry ids) and hundred ids.
   */
  async #inLedger(pending: readonly PendingEvent[]): Promise<(message: QueueMessage) => boolean> {
    const { group, topic } = this.#options;
    await this.#pruneLedger();
    const now = this.#monotonicNow();
    const byBucket = new Map<string, string[]>();
    for (const entry of pending) {
      if (isStillExclusive(entry.message, now)) continue;
      const bucket = ledgerBucket(entry.message.id);
      const ids = byBucket.get(bucket) ?? [];
      ids.push(entry.message.id);
      byBucket.set(bucket, ids);
    }
    const found = new Set<string>();
    const queries: Array<[string, string[]]> = [];
    for (const [bucket, ids] of byBucket) for (const chunk of chunks(ids, IN_LIMIT)) queries.push([bucket, chunk]);
    await forEachLimited(queries, WINDOW_CONCURRENCY, async ([bucket, ids]) => {
      const rows = await this.#db.fetchAll<{ message_id: string }>(
        `SELECT message_id FROM metric_aggregator_applied_messages
         WHERE consumer_group = ? AND topic = ? AND bucket = ? AND message_id IN ?`,
        [group, topic, bucket, ids],
      );
      for (const row of rows) found.add(row.message_id);
    });
    return (message) => found.has(message.id);
  }

  /**
   * Deletes the ledger rows of flushes acknowledged at least {@link LEDGER_HOLD_LIMIT_MS} ago (as
   * the PostgreSQL store does): a worker never applies a message it has held longer, so no copy
   * still held elsewhere can be applied once its row is gone.
   */
  async #pruneLedger(): Promise<void> {
    const { group, topic } = this.#options;
    const now = this.#monotonicNow();
    while (this.#acknowledged.length > 0 && now - (this.#acknowledged[0]?.at ?? now) >= LEDGER_HOLD_LIMIT_MS) {
      const entry = this.#acknowledged.shift();
      if (entry === undefined) break;
      const byBucket = this.#ledgerIds.get(entry.flushId);
      this.#ledgerIds.delete(entry.flushId);
      for (const [bucket, ids] of byBucket ?? []) {
        for (const chunk of chunks(ids, IN_LIMIT)) {
          await this.#db.execute(
            `DELETE FROM metric_aggregator_applied_messages
             WHERE consumer_group = ? AND topic = ? AND bucket = ? AND message_id IN ?`,
            [group, topic, bucket, chunk],
          );
        }
      }
    }
  }

  /** The stored watermark and the writer recorded as holding the lease (read holding the lease). */
  async #watermarkRow(): Promise<{ watermarkMs: number | undefined; leaseHolder: string | null }> {
    const row = await this.#db.fetchOne<{ watermark: Date | null; lease_holder: string | null }>(
      'SELECT watermark, lease_holder FROM metric_aggregator_watermarks WHERE consumer_group = ? AND topic = ?',
      [this.#options.group, this.#options.topic],
    );
    if (row === null) {
      throw new Error(`the watermark row of group ${this.#options.group}, topic ${this.#options.topic} is missing`);
    }
    return { watermarkMs: row.watermark === null ? undefined : row.watermark.getTime(), leaseHolder: row.lease_holder };
  }

  /**
   * Takeover: `previous` took the lease and never gave it back (killed, or its lease ran out while
   * it worked), so a logged batch it sent may still land: one in flight, or one whose batchlog entry
   * Cassandra replays later (every 10 s, batches older than 2 × write_request_timeout). Applying
   * its messages before that lands would count them twice. So, before any ledger or offset lookup
   * (and before finishing dirty lists), this waits:
   * 1. for a batch still in flight: `previous` renews the lease before a batch once a third of the
   *    TTL has passed, so its last batch left at least two thirds of the TTL before the lease ran
   *    out, that is before this writer took it; a request is answered or dropped within the request
   *    timeout, so the wait is the request timeout minus two thirds of the TTL (2 s by default);
   * 2. until Cassandra's batchlog (`system.batches` of every node of the local data center, see
   *    {@link CqlRollupStore.#batchlogTimes}) holds no batch written before the end of step 1. A batchlog entry is
   *    deleted once its mutations are applied, so then every batch `previous` sent has landed.
   * Renews the lease meanwhile. After {@link CqlRollupStoreOptions.takeoverWaitMs} the flush fails
   * with {@link PreviousHolderPendingError} (logged, naming the group) and the next flush waits
   * again: the safe side (no progress) rather than a double count.
   */
  async #awaitPreviousHolder(previous: string): Promise<void> {
    const { group, topic } = this.#options;
    const started = this.#monotonicNow();
    const inFlightMs = Math.max(0, this.#requestTimeoutMs - (2 * this.#leaseTtlSeconds * 1000) / 3);
    const stepMs = (this.#leaseTtlSeconds * 1000) / 6;
    for (let left = inFlightMs; left > 0; left -= stepMs) {
      await this.#sleep(Math.min(left, stepMs));
      await this.#renewLease();
    }
    const threshold = Date.now() + BATCHLOG_CLOCK_MARGIN_MS;
    let delay = 50;
    for (;;) {
      let pending: number | string;
      try {
        pending = (await this.#batchlogTimes()).filter((writtenAt) => writtenAt.getTime() <= threshold).length;
      } catch (error) {
        pending = `unknown (${error instanceof Error ? error.message : String(error)})`; // Not confirmed: keep waiting.
      }
      if (pending === 0) break;
      if (this.#monotonicNow() - started >= this.#takeoverWaitMs) {
        const message = `the flush lease of group ${group}, topic ${topic} was taken over from writer ${previous}, which never gave it back, and Cassandra's batchlog still holds batches written before the takeover (${pending}) after ${this.#takeoverWaitMs} ms: nothing is applied until they land (they could count twice)`;
        this.#options.log?.error(`Takeover waits for the batchlog: ${message}`, {
          group,
          topic,
          previous_holder: previous,
        });
        throw new PreviousHolderPendingError(message);
      }
      await this.#sleep(delay);
      delay = Math.min(1000, delay * 2);
      await this.#renewLeaseIfDue();
    }
    this.#options.log?.info('Took over the flush lease from a writer that never gave it back', {
      group,
      topic,
      previous_holder: previous,
      waited_ms: Math.round(this.#monotonicNow() - started),
    });
  }

  /**
   * When the batches in Cassandra's batchlog were written: on every node of the local data center
   * when the database can read each node (the Cassandra adapter's `fetchAllOnEachNode`: a
   * coordinator of a multi-node cluster stores its batchlog entries on other nodes), else on the
   * node that answers (the whole batchlog on a single node).
   */
  async #batchlogTimes(): Promise<Date[]> {
    const sql = 'SELECT toUnixTimestamp(id) AS written_at FROM system.batches';
    const reader = this.#db as Database & Partial<EachNodeReader>;
    if (typeof reader.fetchAllOnEachNode === 'function') {
      const byNode = await reader.fetchAllOnEachNode<{ written_at: Date }>(sql);
      return [...byNode.values()].flat().map((row) => row.written_at);
    }
    return (await this.#db.fetchAll<{ written_at: Date }>(sql)).map((row) => row.written_at);
  }

  /**
   * {@link CqlRollupStore.#recordHolder} once per lease: starts it when not started (or done), and
   * returns it. A failure is seen by whoever awaits it (the first logged batch).
   */
  #recordingHolder(): Promise<void> {
    if (this.#holderRecorded) return Promise.resolve();
    if (this.#holderRecording === undefined) {
      const recording = this.#recordHolder();
      recording.catch(() => {
        if (this.#holderRecording === recording) this.#holderRecording = undefined; // The next batch tries again.
      });
      this.#holderRecording = recording;
    }
    return this.#holderRecording;
  }

  /**
   * Records this writer as `lease_holder` (no TTL; a lightweight transaction that applies only
   * while it holds the lease), before its first logged batch under the current lease.
   */
  async #recordHolder(): Promise<void> {
    const lease = this.#leaseEpoch;
    const applied = await this.#db.execute(
      `UPDATE metric_aggregator_watermarks SET lease_holder = ?
       WHERE consumer_group = ? AND topic = ? IF owner = ?`,
      [this.#writer, this.#options.group, this.#options.topic, this.#writer],
    );
    if (applied !== 1) throw new FlushLeaseLostError(`writer ${this.#writer} lost the flush lease before a batch`);
    if (lease === this.#leaseEpoch) this.#holderRecorded = true;
  }

  /**
   * Sends one logged batch of parts and records. When its outcome is unknown (`PH_ERR_DB_TIMEOUT`:
   * a write timeout, a client-side timeout, a connection closed after sending) the batch may still
   * be applied from the batchlog, so it is not abandoned: the *identical* statements (same absolute
   * parts, same ledger ids or offsets, same `updated_at`) are sent again with backoff, the lease
   * renewed before each try, until one succeeds. If the lease is lost or
   * {@link CqlRollupStoreOptions.inDoubtSettleBoundMs} passes, the store turns fatal
   * ({@link InDoubtBatchError}).
   *
   * Why re-sending is safe: the statements are idempotent (absolute values, not increments), and
   * cassandra-driver 4.x stamps each execution with a client timestamp from its default
   * `MonotonicTimestampGenerator` (strictly increasing within this process; one timestamp for every
   * mutation of a batch, which the batchlog keeps and a replay applies). Every re-send and every
   * later write of this writer therefore carries a newer timestamp than the in-doubt attempt, so a
   * replay of that attempt arriving late loses under last-write-wins: it can neither move a part
   * back to an older absolute value nor an offset back, nor bring back a cleared dirty list.
   */
  async #sendLoggedBatch(statements: readonly BatchStatement[]): Promise<void> {
    try {
      await this.#db.batch(statements);
      return;
    } catch (error) {
      if (!isOutcomeUnknown(error)) throw error;
      this.#unsettled = true;
      this.#options.log?.warn('A logged batch timed out, its outcome is unknown: sending the same batch again', {
        group: this.#options.group,
        topic: this.#options.topic,
        statements: statements.length,
        error,
      });
    }
    const started = this.#monotonicNow();
    let delay = 100;
    let attempts = 1;
    let last: unknown;
    while (this.#monotonicNow() - started < this.#settleBoundMs) {
      await this.#sleep(delay);
      delay = Math.min(2000, delay * 2);
      try {
        await this.#renewLease();
      } catch (error) {
        if (error instanceof FlushLeaseLostError) throw this.#turnFatal(`it lost the flush lease (${error.message})`);
        last = error; // The renewal's own outcome is unknown: no batch without a confirmed lease.
        continue;
      }
      attempts += 1;
      try {
        await this.#db.batch(statements);
        this.#unsettled = false;
        this.#options.log?.info('The in-doubt batch is settled: the same batch was applied again', {
          group: this.#options.group,
          topic: this.#options.topic,
          attempts,
        });
        return;
      } catch (error) {
        last = error;
      }
    }
    throw this.#turnFatal(
      `it stayed unsettled for ${this.#settleBoundMs} ms over ${attempts} attempts (last error: ${last instanceof Error ? last.message : String(last)})`,
    );
  }

  #turnFatal(why: string): InDoubtBatchError {
    const { group, topic } = this.#options;
    this.#fatal = new InDoubtBatchError(
      `writer ${this.#writer} of group ${group}, topic ${topic} has a logged batch whose outcome is unknown and ${why}: it may still be applied from Cassandra's batchlog, so this worker applies nothing more and stops (the next lease holder waits for the batchlog)`,
    );
    this.#options.log?.error(this.#fatal.message, { group, topic, writer: this.#writer });
    return this.#fatal;
  }

  /**
   * Takes the group's flush lease: `owner`, written with a TTL by a lightweight transaction that
   * applies only while no other writer holds it. Waits (with backoff) while another writer does;
   * a writer killed while holding it delays the others by at most the TTL.
   */
  async #acquireLease(): Promise<void> {
    const { group, topic } = this.#options;
    const deadline = this.#monotonicNow() + this.#leaseWaitMs;
    let delay = 10;
    for (;;) {
      const row = await this.#db
        .fetchOne<{ '[applied]': boolean; owner?: string | null }>(
          `UPDATE metric_aggregator_watermarks USING TTL ${this.#leaseTtlSeconds} SET owner = ?
           WHERE consumer_group = ? AND topic = ? IF owner = null`,
          [this.#writer, group, topic],
        )
        .catch(() => null); // A contended lightweight transaction may time out: read again below.
      if (row?.['[applied]'] === true || row?.owner === this.#writer) {
        this.#leaseRenewedAt = this.#monotonicNow();
        this.#leaseEpoch += 1;
        this.#holderRecorded = false;
        this.#holderRecording = undefined;
        this.#takeoverPending = false;
        return;
      }
      if (this.#monotonicNow() >= deadline) {
        throw new Error(
          `the flush lease of group ${group}, topic ${topic} stayed held by writer ${String(row?.owner)} for ${this.#leaseWaitMs} ms`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(250, delay * 2);
    }
  }

  /** Renews the lease before a batch once a third of its TTL has passed; throws when it was lost. */
  async #renewLeaseIfDue(): Promise<void> {
    if (this.#monotonicNow() - this.#leaseRenewedAt < (this.#leaseTtlSeconds * 1000) / 3) return;
    await this.#renewLease();
  }

  /** Renews the lease now; {@link FlushLeaseLostError} when another writer holds it. */
  async #renewLease(): Promise<void> {
    const applied = await this.#db.execute(
      `UPDATE metric_aggregator_watermarks USING TTL ${this.#leaseTtlSeconds} SET owner = ?
       WHERE consumer_group = ? AND topic = ? IF owner = ?`,
      [this.#writer, this.#options.group, this.#options.topic, this.#writer],
    );
    if (applied !== 1) throw new FlushLeaseLostError(`writer ${this.#writer} lost the flush lease before a batch`);
    this.#leaseRenewedAt = this.#monotonicNow();
  }

  /**
   * Gives the lease back, moving the watermark to `watermarkMs` in the same lightweight transaction
   * (which applies only while this writer still holds the lease). Throws when it no longer did.
   * Clears `lease_holder` too, unless a batch of this writer is still in doubt, or the takeover
   * wait for a previous holder did not end (then that holder's name stays and the next holder
   * waits for it).
   */
  async #releaseLease(watermarkMs: number | undefined): Promise<void> {
    const { group, topic } = this.#options;
    const params: SqlParam[] = watermarkMs === undefined ? [] : [new Date(watermarkMs)];
    const clearHolder = !this.#unsettled && !this.#takeoverPending;
    const applied = await this.#db.execute(
      `UPDATE metric_aggregator_watermarks SET owner = null${clearHolder ? ', lease_holder = null' : ''}${watermarkMs === undefined ? '' : ', watermark = ?'},
       updated_at = ? WHERE consumer_group = ? AND topic = ? IF owner = ?`,
      [...params, new Date(), group, topic, this.#writer],
    );
    if (applied !== 1) {
      throw new FlushLeaseLostError(
        `writer ${this.#writer} lost the flush lease of group ${group}, topic ${topic} before it moved the watermark`,
      );
    }
  }
}

/** A database that reads a node-local table on each node (the Cassandra adapter). */
interface EachNodeReader {
  fetchAllOnEachNode<T extends Row = Row>(sql: string, params?: readonly SqlParam[]): Promise<Map<string, T[]>>;
}

interface PartRow {
  dimensions: string;
  event_count: bigint | number | null;
  value_count: bigint | number | null;
  value_sum: number | null;
  value_min: number | null;
  value_max: number | null;
  [column: string]: unknown;
}

function emptyAggregate(windowSeconds: number, windowStartSeconds: number, dimensions: string): Aggregate {
  return {
    windowSeconds,
    windowStartSeconds,
    dimensions,
    eventCount: 0,
    valueCount: 0,
    valueSum: 0,
    valueMin: Number.POSITIVE_INFINITY,
    valueMax: Number.NEGATIVE_INFINITY,
  };
}

function addEvent(aggregate: Aggregate, event: AggregatedEvent): void {
  aggregate.eventCount += 1;
  if (event.value === undefined) return;
  aggregate.valueCount += 1;
  aggregate.valueSum += event.value;
  if (event.value < aggregate.valueMin) aggregate.valueMin = event.value;
  if (event.value > aggregate.valueMax) aggregate.valueMax = event.value;
}

/** event_count, value_count, value_sum, value_min, value_max of an aggregate (NULL values when it has none). */
function aggregateValues(aggregate: Aggregate): SqlParam[] {
  const hasValues = aggregate.valueCount > 0;
  return [
    aggregate.eventCount,
    aggregate.valueCount,
    hasValues ? aggregate.valueSum : null,
    hasValues ? aggregate.valueMin : null,
    hasValues ? aggregate.valueMax : null,
  ];
}

function rollupKey(size: number, start: number, dimensions: string): string {
  return `${size}|${start}|${dimensions}`;
}

function parseRollupKey(key: string): [number, number, string] {
  const first = key.indexOf('|');
  const second = key.indexOf('|', first + 1);
  return [Number(key.slice(0, first)), Number(key.slice(first + 1, second)), key.slice(second + 1)];
}

function windowKey(size: number, start: number): string {
  return `${size}|${start}`;
}

function parseWindowKey(key: string): [number, number] {
  const [size, start] = key.split('|');
  return [Number(size), Number(start)];
}

/** The windows of a dirty list; throws naming the value when it is not one. */
function parseDirty(dirty: string): string[] {
  const parsed: unknown = JSON.parse(dirty);
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string' && /^\d+\|-?\d+$/.test(item))) {
    throw new Error(`a dirty list of metric_aggregator_writers is not a JSON list of "size|start" windows: ${dirty}`);
  }
  return parsed as string[];
}

/** Whether a message of a partitioned queue is at or below its partition's high-water offset. */
function isBelow(highWater: ReadonlyMap<number, bigint>, message: QueueMessage): boolean {
  const mark = highWater.get(partitionOf(message));
  return mark !== undefined && offsetOf(message) <= mark;
}

/**
 * The ledger partition of a message id: ten seconds of Redis Streams entry ids (`<ms>-<seq>`), so
 * a flush's redelivered ids (received close together) fall in few partitions; other ids hash into
 * one of 16.
 */
export function ledgerBucket(id: string): string {
  const match = /^(\d+)-\d+$/.exec(id);
  if (match?.[1] !== undefined) return `t${Math.floor(Number(match[1]) / LEDGER_BUCKET_MS)}`;
  let hash = 2166136261;
  for (let index = 0; index < id.length; index += 1) hash = Math.imul(hash ^ id.charCodeAt(index), 16777619) >>> 0;
  return `h${hash % 16}`;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let start = 0; start < items.length; start += size) out.push(items.slice(start, start + size));
  return out;
}

/** Runs `work` over `items`, at most `limit` at a time; rejects with the first failure. */
async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await work(item);
    }
  });
  await Promise.all(runners);
}
