import { setTimeout as sleep } from 'node:timers/promises';
import type {
  Database,
  Heartbeat,
  HealthCheckResult,
  Lifecycle,
  Logger,
  Metrics,
  MessageQueue,
  QueueMessage,
  Subscription,
  TopicPartition,
} from '@platform-host/contracts';
import { PendingDeadLetters, retryBackoffMs } from '@platform-host/contracts';
import { countDeadLetter, declareAggregatorMetrics, type AggregatorMetrics } from './aggregator-metrics.js';
import { decodeEvent, type DeadLetterReason } from './event.js';
import { offsetOf, partitionOf, type FlushInput, type FlushOutcome, type PendingEvent } from './rollup-store.js';
import { isFatalStoreError } from './cql-rollup-store.js';
import { createRollupSink, type RollupSink } from './rollup-sink.js';
import type { AggregatorSettings } from './settings.js';
import { earliestWindowEndMs, WatermarkClock } from './windows.js';

/** What the aggregator needs from the host. */
export interface AggregatorDependencies {
  readonly db: Database;
  readonly mq: MessageQueue;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly lifecycle: Pick<Lifecycle, 'heartbeat' | 'addReadinessCheck'>;
  readonly settings: AggregatorSettings;
  /** Wall clock in epoch ms (default `Date.now`); tests move it. */
  readonly now?: () => number;
  /** Monotonic clock in ms (default `performance.now`). */
  readonly monotonicNow?: () => number;
  /** Quiet time after which the watermark follows the wall clock (default: see {@link idleAfterMs}). */
  readonly idleAfterMs?: number;
  /**
   * Pending events at which intake waits for the running flush (default 4 × `--batch-size`); a
   * flush starts in the background at half of it, before the interval. Only the events being
   * taken in count: those of the flush being written do not (see {@link MetricAggregator}).
   */
  readonly maxPendingEvents?: number;
}

/** A flush started and not holding its events yet (see {@link MetricAggregator.flush}). */
interface WaitingFlush {
  /** Settles when the flush has committed and acknowledged (or failed). */
  done: Promise<void>;
  /** Resolves once the flush took the pending events (or ended without taking any). */
  readonly taken: Promise<void>;
}

/** Totals of one run, logged at the end (and read by tests). */
export interface AggregatorTotals {
  applied: number;
  duplicates: number;
  deadLettered: Record<DeadLetterReason, number>;
  flushes: number;
}

/**
 * The quiet time after which the watermark starts to follow the wall clock: three flush
 * intervals, at least 5 s, so a short gap in delivery (a slow flush, a claim) is not taken for an
 * idle stream.
 */
export function idleAfterMs(flushIntervalMs: number): number {
  return Math.max(5000, 3 * flushIntervalMs);
}

/**
 * Pending events are written once no batch has been delivered for this long (a tenth of
 * `--flush-interval`), without waiting for the interval: the end of a backlog is committed and
 * acknowledged at once, while a steady stream is still written in flushes of the interval (or of
 * the size at which intake flushes).
 */
export function quietFlushMs(flushIntervalMs: number): number {
  return Math.max(1, Math.floor(flushIntervalMs / 10));
}

/**
 * metric_aggregator's worker: consumes the topic, validates each event, dead-letters what cannot be
 * aggregated, keeps valid events pending and writes them every `--flush-interval` (or when
 * `maxPendingEvents` are pending) in one transaction through {@link RollupStore}, acknowledging
 * them after the commit.
 *
 * Double-buffered: a flush takes the pending events away as it starts, and intake goes on filling
 * a new set while the transaction runs, so decoding and the database overlap. One flush runs at a
 * time (`flush()` chains them); backpressure applies to the set being filled only: at
 * `maxPendingEvents` intake waits until the running flush is done (not for a second one), then
 * hands what it holds to the next flush and goes on.
 */
export class MetricAggregator {
  readonly totals: AggregatorTotals = {
    applied: 0,
    duplicates: 0,
    deadLettered: { malformed_json: 0, invalid_event: 0, future_timestamp: 0, late: 0 },
    flushes: 0,
  };
  readonly #deps: AggregatorDependencies;
  readonly #settings: AggregatorSettings;
  readonly #labels: { readonly topic: string; readonly group: string };
  readonly #metrics: AggregatorMetrics;
  readonly #now: () => number;
  readonly #monotonicNow: () => number;
  readonly #maxPending: number;
  readonly #clock: WatermarkClock;
  readonly #store: RollupSink;
  #pending = new Map<string, PendingEvent>();
  /**
   * Partitioned queues: messages this worker dead-lettered itself since the last flush (their dead
   * letters are durable), whose offsets the next flush records with the high-water offsets.
   */
  #deadLetteredSinceFlush: QueueMessage[] = [];
  /**
   * Dead letters started and not durable yet. A flush awaits them and records no high-water offset
   * at or above one still not durable (a failed publish is retried), so an offset never covers a
   * dead letter a crash could lose.
   */
  readonly #deadLetters: PendingDeadLetters;
  /**
   * Partitioned queues: the stored high-water offset of each partition held, read when it was
   * assigned. A message at or below it was applied or dead-lettered by an earlier owner (a copy
   * redelivered after a crash): it is acknowledged without being dead-lettered again.
   */
  readonly #assignedHighWater = new Map<number, bigint>();
  /** A delivered batch is being handled: the timer does not flush until its dead letters are published. */
  #handling = false;
  #subscription: Subscription | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Restarted by every delivered batch; fires once intake has been quiet (see {@link quietFlushMs}). */
  #quietTimer: NodeJS.Timeout | undefined;
  #heartbeat: Heartbeat | undefined;
  /**
   * The flush started and not holding its events yet (waiting for the one before, or for the
   * lock): a `flush()` asked for meanwhile is that one, as it takes everything pending when it runs.
   */
  #waiting: WaitingFlush | undefined;
  /**
   * Settles once the newest flush that was started has settled its outcome (see {@link #runFlush}):
   * the next flush takes its events only after that, so a failed flush's events are back in
   * {@link #pending}, and a committed one's watermark adopted, before the next one reads them.
   */
  #lastSettled: Promise<void> = Promise.resolve();
  /** Settles once the newest flush that was started is done (acknowledged, or failed). */
  #lastDone: Promise<void> = Promise.resolve();
  /** A flush holds its events (taken, not settled yet). */
  #flushing = false;
  #storedWatermarkMs: number | undefined;
  #lastFlushError: string | undefined;
  /** Aborted by `stop()`: a backpressure wait for a failing store gives up and lets the subscription close. */
  readonly #stopping = new AbortController();

  constructor(deps: AggregatorDependencies) {
    this.#deps = deps;
    this.#settings = deps.settings;
    // Frozen: the metrics adapter checks a frozen label set once, not on every record.
    this.#labels = Object.freeze({ topic: deps.settings.topic, group: deps.settings.group });
    this.#metrics = declareAggregatorMetrics(deps.metrics);
    this.#now = deps.now ?? Date.now;
    this.#monotonicNow = deps.monotonicNow ?? (() => performance.now());
    this.#maxPending = deps.maxPendingEvents ?? 4 * deps.settings.batchSize;
    this.#clock = new WatermarkClock(
      {
        allowedLatenessMs: deps.settings.allowedLatenessMs,
        idleAfterMs: deps.idleAfterMs ?? idleAfterMs(deps.settings.flushIntervalMs),
      },
      this.#now(),
    );
    this.#store = createRollupSink({
      db: deps.db,
      queue: deps.mq,
      group: deps.settings.group,
      topic: deps.settings.topic,
      windowSeconds: deps.settings.windowSeconds,
      record: deps.mq.capabilities.partitioned ? 'partition-offsets' : 'ledger',
      monotonicNow: this.#monotonicNow,
      log: deps.log,
    });
    this.failed = new Promise((resolve) => {
      this.#reportFailure = resolve;
    });
    const partitioned = deps.mq.capabilities.partitioned;
    this.#deadLetters = new PendingDeadLetters({
      publish: (message, reason, error) => deps.mq.deadLetter(message, reason, error),
      onDurable: (message, reason) => {
        const known = reason as DeadLetterReason;
        this.totals.deadLettered[known] += 1;
        countDeadLetter(this.#metrics, this.#labels, known);
        if (partitioned) this.#deadLetteredSinceFlush.push(message);
      },
      onFailure: (message, reason, error, retryInMs) =>
        deps.log.warn(
          'Publishing a dead letter failed: retried; no offset covering it is recorded until it is durable',
          {
            id: message.id,
            reason,
            retry_in_ms: retryInMs,
            error,
          },
        ),
    });
  }

  /**
   * Resolves with the error when the store turned fatal (a Cassandra batch whose outcome stayed
   * unknown): the worker applies nothing more, and `run()` exits non-zero so the host restarts it.
   */
  readonly failed: Promise<Error>;
  #reportFailure: (error: Error) => void = () => undefined;
  #fatal: Error | undefined;

  /** The watermark the worker works with (epoch ms), `undefined` before any. */
  get watermarkMs(): number | undefined {
    return this.#clock.watermarkMs;
  }

  /** Events delivered and not written yet. */
  get pendingEvents(): number {
    return this.#pending.size;
  }

  /** Loads the stored watermark, subscribes and starts the flush timer. */
  async start(lifecycle: AggregatorDependencies['lifecycle'] = this.#deps.lifecycle): Promise<void> {
    const { settings } = this;
    this.#storedWatermarkMs = await this.#store.loadWatermark();
    this.#clock.adopt(this.#storedWatermarkMs);
    this.#heartbeat = lifecycle.heartbeat('metric_aggregator consume loop', {
      timeoutMs: Math.max(30_000, 10 * settings.flushIntervalMs),
    });
    lifecycle.addReadinessCheck('metric_aggregator', () => this.#readiness());
    this.#subscription = await this.#deps.mq.subscribe(settings.topic, (messages) => this.#handle(messages), {
      group: settings.group,
      maxBatchSize: settings.batchSize,
      // The set being written and the set being filled, each at most one batch over maxPending
      // (the handler, not this limit, holds intake back: see #handleBatch).
      maxInFlight: 2 * (this.#maxPending + settings.batchSize),
      onAssigned: (partitions) => this.#assigned(partitions),
      onRevoked: (partitions) => this.#revoked(partitions),
    });
    this.#clock.arrived(this.#now());
    this.#timer = setInterval(() => void this.#tick(), settings.flushIntervalMs);
    this.#deps.log.info('Metric aggregator consuming', {
      topic: settings.topic,
      group: settings.group,
      windows_seconds: settings.windowSeconds,
      group_by: settings.dimensions.map((dimension) => dimension.name),
      value_field: settings.valuePath.join('.'),
      allowed_lateness_ms: settings.allowedLatenessMs,
      max_clock_skew_ms: settings.maxClockSkewMs,
      flush_interval_ms: settings.flushIntervalMs,
      batch_size: settings.batchSize,
      applied_record: this.#deps.mq.capabilities.partitioned ? 'partition-offsets' : 'ledger',
      watermark: this.#storedWatermarkMs === undefined ? null : new Date(this.#storedWatermarkMs).toISOString(),
    });
  }

  private get settings(): AggregatorSettings {
    return this.#settings;
  }

  /**
   * Stops: no more timer ticks, closes the subscription (its running handler settles, then the
   * pending events are written in one transaction and acknowledged), and a last flush for anything
   * left. Idempotent.
   */
  async stop(): Promise<void> {
    this.#stopping.abort();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#quietTimer !== undefined) clearTimeout(this.#quietTimer);
    const subscription = this.#subscription;
    this.#subscription = undefined;
    if (subscription !== undefined) {
      subscription.pause();
      await subscription.close();
    }
    if (this.#fatal === undefined) await this.flush();
    // Dead letters still not durable belong to partitions no longer held: left to the next owner.
    this.#deadLetters.abandon();
    this.#heartbeat?.stop();
    this.#deps.log.info('Metric aggregator stopped', {
      applied: this.totals.applied,
      duplicates: this.totals.duplicates,
      dead_lettered: this.totals.deadLettered,
      flushes: this.totals.flushes,
      watermark: this.#storedWatermarkMs === undefined ? null : new Date(this.#storedWatermarkMs).toISOString(),
    });
  }

  /**
   * Writes the pending events and moves the watermark (one transaction), then acknowledges; resolves
   * once they are acknowledged. Flushes take their events one at a time; a failed one keeps its
   * events pending for the next. On a store that serializes flushes in the database
   * ({@link RollupSink.flushWhenLocked}) the next flush is started at once, and its `BEGIN` and
   * lock request wait in PostgreSQL while the running one commits; it takes the pending events
   * when the lock is granted and this worker has settled the flush before. A flush asked for while
   * one is waiting to take its events is that one. Either way a flush resolves only once the
   * flushes before it are done too (a revocation's flush: every event written is acknowledged).
   */
  flush(): Promise<void> {
    if (this.#waiting !== undefined) return this.#waiting.done;
    const previousSettled = this.#lastSettled;
    const previousDone = this.#lastDone;
    let settle: () => void = () => undefined;
    this.#lastSettled = new Promise<void>((resolve) => {
      settle = resolve;
    });
    let markTaken: () => void = () => undefined;
    const taken = new Promise<void>((resolve) => {
      markTaken = resolve;
    });
    const waiting: WaitingFlush = { done: Promise.resolve(), taken };
    const release = (): void => {
      if (this.#waiting === waiting) this.#waiting = undefined;
      markTaken();
    };
    this.#waiting = waiting;
    // Started only once the flush before took its events, so after it was granted the lock: this
    // one's lock request queues behind it, never ahead (it would wait for the one before to settle).
    // Without flushWhenLocked (Cassandra) a flush starts once the one before is done, as it always did.
    const overlapping = this.#store.flushWhenLocked !== undefined;
    waiting.done = this.#runFlush(overlapping ? previousSettled : previousDone, release, settle)
      .finally(() => {
        release();
        settle();
      })
      .finally(() => previousDone);
    this.#lastDone = waiting.done.catch(() => undefined);
    return waiting.done;
  }

  async #assigned(partitions: readonly TopicPartition[]): Promise<void> {
    const numbers = partitions.map((p) => p.partition);
    if (this.#deps.mq.capabilities.partitioned) {
      for (const [partition, offset] of await this.#store.highWaterOffsets(numbers)) {
        this.#assignedHighWater.set(partition, offset);
      }
    }
    this.#deps.log.info('Partitions assigned', { partitions: numbers });
  }

  /**
   * A revoked partition's pending aggregates are written (and acknowledged) before its offsets move,
   * once the dead letters below them are durable. What that flush could not write (it failed, or the
   * events lie above a dead letter that is still not durable) is forgotten instead of kept, and so
   * are those dead letters: none of it was acknowledged, so the new owner receives it again from the
   * committed position (and the high-water offsets leave out whatever this worker did not write).
   */
  async #revoked(partitions: readonly TopicPartition[]): Promise<void> {
    const revoked = new Set(partitions.map((p) => p.partition));
    const pendingOfRevoked = [...this.#pending.values()].filter((entry) =>
      revoked.has(partitionOf(entry.message)),
    ).length;
    this.#deps.log.info('Partitions revoked: writing their pending aggregates before their offsets move', {
      partitions: [...revoked],
      pending_events: pendingOfRevoked,
    });
    let failed = false;
    try {
      await this.flush();
    } catch {
      failed = true;
    }
    let left = 0;
    for (const [id, entry] of this.#pending) {
      if (!revoked.has(partitionOf(entry.message))) continue;
      this.#pending.delete(id);
      left += 1;
    }
    this.#deadLetteredSinceFlush = this.#deadLetteredSinceFlush.filter((message) => !revoked.has(partitionOf(message)));
    const undurable = this.#deadLetters.blockingOffsets();
    this.#deadLetters.abandon(revoked);
    if (failed || left > 0) {
      this.#deps.log.warn('Revoked partitions: what could not be written is left to their next owner', {
        partitions: [...revoked],
        flush_failed: failed,
        pending_events: left,
        dead_letters_not_durable: [...revoked].filter((partition) => undurable.has(partition)).length,
      });
    }
    for (const partition of revoked) this.#assignedHighWater.delete(partition);
  }

  async #tick(): Promise<void> {
    if (this.#flushing || this.#handling) return;
    try {
      const watermark = this.#clock.tick(this.#now());
      const moved =
        watermark !== undefined && (this.#storedWatermarkMs === undefined || watermark > this.#storedWatermarkMs);
      if (this.#pending.size > 0 || this.#deadLetteredSinceFlush.length > 0 || moved) await this.flush();
      this.#heartbeat?.beat();
    } catch {
      // Logged by the flush; the events stay pending and the next tick tries again.
    }
  }

  async #handle(messages: readonly QueueMessage[]): Promise<void> {
    this.#handling = true;
    try {
      await this.#handleBatch(messages);
    } finally {
      this.#handling = false;
    }
  }

  /**
   * Whether an earlier owner of the message's partition applied or dead-lettered it (partitioned
   * queues: at or below the high-water offset read at assignment).
   */
  #handledBefore(message: QueueMessage): boolean {
    if (!this.#deps.mq.capabilities.partitioned) return false;
    const mark = this.#assignedHighWater.get(partitionOf(message));
    return mark !== undefined && offsetOf(message) <= mark;
  }

  async #handleBatch(messages: readonly QueueMessage[]): Promise<void> {
    this.#heartbeat?.beat();
    const now = this.#now();
    this.#clock.arrived(now);
    const { dimensions, valuePath, windowSeconds, maxClockSkewMs } = this.#settings;
    // Published in parallel and awaited once for the batch; a flush that records offsets awaits
    // them too (see #flushOnce), and a failed one is retried, never skipped.
    const deadLetters: Array<Promise<boolean>> = [];
    const deadLetter = (message: QueueMessage, reason: DeadLetterReason, error: string): void => {
      deadLetters.push(this.#deadLetters.deadLetter(message, reason, error));
    };
    const handledBefore: QueueMessage[] = [];
    for (const message of messages) {
      if (this.#handledBefore(message)) {
        handledBefore.push(message);
        continue;
      }
      const decoded = decodeEvent(message.value, dimensions, valuePath);
      if (!decoded.ok) {
        deadLetter(message, decoded.reason, decoded.error);
        continue;
      }
      const { event } = decoded;
      if (event.timeMs > now + maxClockSkewMs) {
        deadLetter(
          message,
          'future_timestamp',
          `the event time is ${Math.round((event.timeMs - now) / 1000)} s ahead of the wall clock (--max-clock-skew ${maxClockSkewMs / 1000} s)`,
        );
        continue;
      }
      const watermark = this.#clock.watermarkMs;
      if (watermark !== undefined && earliestWindowEndMs(event.timeMs, windowSeconds) <= watermark) {
        deadLetter(message, 'late', 'the event is for a window the watermark of its group has already closed');
        continue;
      }
      this.#clock.observe(event.timeMs);
      this.#pending.set(message.id, { message, event, receivedAt: this.#monotonicNow() });
    }
    await Promise.all(deadLetters);
    if (handledBefore.length > 0) {
      await this.#deps.mq.ack(handledBefore);
      this.totals.duplicates += handledBefore.length;
      this.#metrics.eventsDuplicate.inc(this.#labels, handledBefore.length);
    }
    this.#deps.log.debug('Batch delivered', { messages: messages.length, pending_events: this.#pending.size });
    if (this.#pending.size >= this.#maxPending) {
      // Backpressure on the set being filled: no further batch until a flush has taken it (the
      // running flush is done; a failed one has put its events back here, and the next flush takes
      // them too).
      const next = this.flush();
      next.catch(() => undefined);
      await (this.#waiting?.taken ?? next.catch(() => undefined));
      // While flushes fail, intake stays paused here and the flush is retried with backoff, never
      // thrown: a throw would hand events this worker holds back to the queue.
      if (this.#lastFlushError !== undefined) await this.#flushRetryingUntilWritten();
    }
    if (this.#pending.size >= this.#maxPending / 2 && this.#waiting === undefined) {
      // Written in the background while the next batches are taken in (once the running flush is
      // done: this one waits for the lock meanwhile).
      this.flush().catch(() => undefined);
    }
    if (this.#pending.size > 0) this.#armQuietFlush();
  }

  #armQuietFlush(): void {
    if (this.#quietTimer !== undefined) {
      this.#quietTimer.refresh();
      return;
    }
    this.#quietTimer = setTimeout(() => this.#quietFlush(), quietFlushMs(this.#settings.flushIntervalMs));
    this.#quietTimer.unref();
  }

  /** Intake has been quiet: writes what is pending, unless a flush already waits to take it. */
  #quietFlush(): void {
    if (this.#timer === undefined || this.#handling || this.#pending.size === 0 || this.#waiting !== undefined) return;
    this.flush().catch(() => undefined);
  }

  /**
   * The backpressure flush: retried with backoff while the store fails (intake stays paused, as
   * this handler has not returned; readiness reports the failed flush), never thrown. A throw would
   * hand the batch back to the queue, which redelivers it and, after `maxDeliveries`, dead-letters
   * messages that are still pending here and are applied by a later flush: both applied and
   * dead-lettered. Gives up without throwing once the store turned fatal or `stop()` began; the
   * events stay pending and unacknowledged.
   */
  async #flushRetryingUntilWritten(): Promise<void> {
    for (let failures = 1; ; failures += 1) {
      try {
        await this.flush();
        return;
      } catch {
        // Logged by the flush.
      }
      if (this.#fatal !== undefined || this.#stopping.signal.aborted) return;
      await sleep(retryBackoffMs(failures), undefined, { signal: this.#stopping.signal }).catch(() => undefined);
      if (this.#stopping.signal.aborted) return;
    }
  }

  /**
   * One flush. `previous` settles once the flush started before it settled its outcome (or, on a
   * store without `flushWhenLocked`, is done); this one takes its events only after that. `release`
   * marks the moment this flush takes the pending events (a `flush()` asked for from then on
   * starts the next one); `settle` marks that this flush's outcome is settled: its events back in
   * {@link #pending} if it failed, its watermark adopted if it committed. The acknowledgement
   * comes after that, so the next flush does not wait for it.
   */
  async #runFlush(previous: Promise<void>, release: () => void, settle: () => void): Promise<void> {
    const partitioned = this.#deps.mq.capabilities.partitioned;
    let input: FlushInput | undefined;
    let stopTimer: (() => number) | undefined;
    const locking = this.#store.flushWhenLocked !== undefined;
    // A high-water offset says "applied or dead-lettered up to here": the dead letters in flight
    // (a batch still being handled, a retry) settle first, and the events of a partition at or
    // above its lowest dead letter that is still not durable wait for a later flush. With the lock
    // they settle before the transaction: a publish attempt against a broker that does not answer
    // lasts up to the producer's timeout, and must not hold the group's watermark lock meanwhile
    // (every worker of the group waits for it). A dead letter started after that is still below
    // `blockingOffsets` when the events are taken.
    const settleDeadLetters = async (): Promise<void> => {
      if (partitioned && this.#deadLetters.size > 0) await this.#deadLetters.settle();
    };
    const take = async (): Promise<FlushInput | undefined> => {
      await previous;
      if (!locking) await settleDeadLetters();
      release();
      input = this.#takePending();
      if (input !== undefined) {
        this.#flushing = true;
        stopTimer = this.#metrics.flushDuration.startTimer(this.#labels);
      }
      return input;
    };
    let outcome: FlushOutcome | undefined;
    try {
      if (this.#store.flushWhenLocked === undefined) {
        const taken = await take();
        outcome =
          taken === undefined
            ? undefined
            : await this.#store.flush(taken.pending, taken.watermarkCandidateMs, taken.deadLettered);
      } else {
        // Nothing pending and no flush before it that could fail and hand events back: no transaction.
        if (!this.#flushing && this.#nothingToFlush()) {
          release();
          return;
        }
        await settleDeadLetters();
        outcome = await this.#store.flushWhenLocked(take);
      }
    } catch (error) {
      this.#flushing = false;
      if (input === undefined) {
        // Failed before it took anything (BEGIN, the lock): nothing to put back.
        this.#lastFlushError = error instanceof Error ? error.message : String(error);
        this.#deps.log.error('Flush failed: the events stay pending and are written by the next flush', {
          events: 0,
          error,
        });
        throw error;
      }
      const { pending: entries, deadLettered } = input;
      this.#deadLetteredSinceFlush = [...deadLettered, ...this.#deadLetteredSinceFlush];
      // Put them back (a redelivered copy that arrived meanwhile is the same message).
      for (const entry of entries) if (!this.#pending.has(entry.message.id)) this.#pending.set(entry.message.id, entry);
      this.#lastFlushError = error instanceof Error ? error.message : String(error);
      settle();
      if (isFatalStoreError(error) && this.#fatal === undefined) {
        this.#fatal = error as Error;
        if (this.#timer !== undefined) clearInterval(this.#timer);
        this.#timer = undefined;
        this.#subscription?.pause();
        this.#deps.log.error('Stopping: a write may still land, so this worker applies nothing more', {
          events: entries.length,
          error,
        });
        this.#reportFailure(this.#fatal);
        throw error;
      }
      this.#deps.log.error('Flush failed: the events stay pending and are written by the next flush', {
        events: entries.length,
        error,
      });
      throw error;
    }
    this.#flushing = false;
    if (outcome === undefined || input === undefined) return;
    const entries = input.pending;
    const seconds = stopTimer?.() ?? 0;
    this.#deps.log.debug('Flushed', {
      events: entries.length,
      rows: outcome.rows,
      duplicates: outcome.duplicates.length,
      late: outcome.late.length,
      seconds: Number(seconds.toFixed(4)),
    });
    this.#lastFlushError = undefined;
    this.totals.flushes += 1;
    this.#storedWatermarkMs = outcome.watermarkMs;
    this.#clock.adopt(outcome.watermarkMs);
    if (entries.length > 0) this.#clock.arrived(this.#now());
    settle();
    this.#metrics.flushBatchSize.observe(this.#labels, entries.length);
    this.totals.deadLettered.late += outcome.late.length;
    countDeadLetter(this.#metrics, this.#labels, 'late', outcome.late.length);
    if (outcome.released.length > 0) {
      this.#deps.log.warn('Events held too long to apply safely were left for redelivery', {
        events: outcome.released.length,
      });
    }
    const settled = [...outcome.applied, ...outcome.duplicates];
    if (settled.length > 0) {
      try {
        await this.#deps.mq.ack(settled);
        this.#store.acknowledged(outcome.flushId);
      } catch (error) {
        // Committed: a redelivery is recognised as already applied.
        this.#deps.log.warn('Acknowledging written events failed: they will be redelivered and skipped', {
          events: settled.length,
          error,
        });
      }
    }
    this.totals.applied += outcome.applied.length;
    this.totals.duplicates += outcome.duplicates.length;
    if (outcome.applied.length > 0) this.#metrics.eventsApplied.inc(this.#labels, outcome.applied.length);
    if (outcome.duplicates.length > 0) this.#metrics.eventsDuplicate.inc(this.#labels, outcome.duplicates.length);
    if (outcome.watermarkMs !== undefined) {
      this.#metrics.watermarkLag.set(this.#labels, Math.max(0, (this.#now() - outcome.watermarkMs) / 1000));
    }
  }

  /** Whether a flush now would write nothing: no events, no dead letters to record, no watermark move. */
  #nothingToFlush(): boolean {
    if (this.#pending.size > 0 || this.#deadLetteredSinceFlush.length > 0) return false;
    if (this.#deps.mq.capabilities.partitioned && this.#deadLetters.size > 0) return false;
    const candidate = this.#clock.tick(this.#now());
    return candidate === undefined || (this.#storedWatermarkMs !== undefined && candidate <= this.#storedWatermarkMs);
  }

  /**
   * Takes the events the flush writes out of {@link #pending} (all but those held behind a dead
   * letter that is not durable yet) with the watermark candidate; `undefined` when there is
   * nothing to write.
   */
  #takePending(): FlushInput | undefined {
    const partitioned = this.#deps.mq.capabilities.partitioned;
    const blocked = partitioned ? this.#deadLetters.blockingOffsets() : new Map<number, bigint>();
    const below = (message: QueueMessage): boolean => {
      const block = blocked.get(partitionOf(message));
      return block === undefined || offsetOf(message) < block;
    };
    const entries: PendingEvent[] = [];
    const held = new Map<string, PendingEvent>();
    for (const [id, entry] of this.#pending) {
      if (below(entry.message)) entries.push(entry);
      else held.set(id, entry);
    }
    const deadLettered = this.#deadLetteredSinceFlush.filter(below);
    const heldDeadLettered = this.#deadLetteredSinceFlush.filter((message) => !below(message));
    // While events wait behind a dead letter, the watermark stays: it must not close a window one of
    // them belongs to before it is applied.
    const candidate = held.size === 0 ? this.#clock.tick(this.#now()) : undefined;
    const moved =
      candidate !== undefined && (this.#storedWatermarkMs === undefined || candidate > this.#storedWatermarkMs);
    if (entries.length === 0 && deadLettered.length === 0 && !moved) return undefined;
    this.#pending = held;
    this.#deadLetteredSinceFlush = heldDeadLettered;
    return { pending: entries, watermarkCandidateMs: candidate, deadLettered };
  }

  #readiness(): HealthCheckResult {
    if (this.#lastFlushError !== undefined) return { ok: false, detail: `last flush failed: ${this.#lastFlushError}` };
    return { ok: true };
  }
}
