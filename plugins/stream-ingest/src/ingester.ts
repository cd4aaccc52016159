import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  Database,
  FileSystem,
  HealthCheckResult,
  Lifecycle,
  Logger,
  MessageQueue,
  Metrics,
  QueueMessage,
  Subscription,
  TopicPartition,
} from '@platform-host/contracts';
import { PendingDeadLetters, retryBackoffMs } from '@platform-host/contracts';
import { encodeRecords } from './formats.js';
import { declareIngestMetrics, type IngestMetrics } from './ingest-metrics.js';
import { FencedError, LakeStore, type FileToCommit } from './lake-store.js';
import {
  decodeMessage,
  lakeFilePath,
  numericOffset,
  stagingPartitionPrefix,
  stagingPath,
  utcDate,
  type DeadLetterReason,
  type LakeRecord,
} from './record.js';
import type { IngestSettings } from './settings.js';

/** What the service needs from the host. */
export interface IngesterDependencies {
  readonly db: Database;
  readonly fs: FileSystem;
  readonly mq: MessageQueue;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly lifecycle: Pick<Lifecycle, 'addReadinessCheck'>;
  readonly settings: IngestSettings;
  /** Wall clock in epoch ms (default `Date.now`). */
  readonly now?: () => number;
  /**
   * Calls `callback` once, `delayMs` from now, and returns what cancels it (default: the global
   * `setTimeout`); tests pass a fake clock's, together with `now`.
   */
  readonly setTimer?: (callback: () => void, delayMs: number) => () => void;
  /**
   * Called after a partition's files were staged, before the commit transaction; tests pause a
   * writer here to play a stalled "zombie".
   */
  readonly beforeCommit?: (partition: number) => Promise<void>;
}

/** Totals of one run, logged at the end (and read by tests). */
export interface IngestTotals {
  records: number;
  files: number;
  bytes: number;
  duplicates: number;
  fenced: number;
  deadLettered: Record<DeadLetterReason, number>;
}

/** The open files of one partition this consumer owns. */
interface PartitionState {
  readonly partition: number;
  readonly generation: bigint;
  committedOffset: bigint;
  /** Highest offset delivered and taken in (committed or buffered). */
  highestSeen: bigint;
  /** Buffered records by UTC date (one file per date), in offset order. */
  byDate: Map<string, LakeRecord[]>;
  /** Every message the buffered records came from, acknowledged after the commit. */
  messages: QueueMessage[];
  bytes: number;
  count: number;
  /** Epoch ms at which the first buffered record arrived. */
  openedAt: number | undefined;
  /** Cancels the timer armed for `flushTimerDue` (see `#flushIfDue`). */
  cancelFlushTimer: (() => void) | undefined;
  /** The epoch ms the armed flush timer fires at. */
  flushTimerDue: number | undefined;
  /** Commits of this partition, one after the other (never rejects). */
  chain: Promise<void>;
  /**
   * Copies of committed files from staging to their lake path, one after the other (never
   * rejects): they run while the next commit of the partition is prepared.
   */
  publishing: Promise<void>;
  /** Commits queued behind the running one and not started yet. */
  queuedCommits: number;
  /** A failed background commit waits to be tried again (see `#commitInBackground`). */
  retrying: boolean;
  /** Set once the partition is revoked or fenced: nothing more is committed with this generation. */
  lost: boolean;
}

/**
 * stream_ingest's consumer: per owned partition it buffers valid events in one open file per UTC
 * date, dead-letters invalid ones, and commits the partition's open files when `--batch-size`
 * records or `--max-file-bytes` are reached, when `--flush-interval` has passed, on revocation and
 * on shutdown. A commit stages the bytes under `_staging`, records the files and events in one
 * transaction fenced by the partition's owner generation, copies the bytes to their lake path and
 * only then acknowledges the messages.
 */
export class StreamIngester {
  readonly totals: IngestTotals = {
    records: 0,
    files: 0,
    bytes: 0,
    duplicates: 0,
    fenced: 0,
    deadLettered: { malformed_json: 0, invalid_event: 0 },
  };
  readonly #deps: IngesterDependencies;
  readonly #settings: IngestSettings;
  readonly #store: LakeStore;
  readonly #metrics: IngestMetrics;
  readonly #labels: { readonly topic: string; readonly group: string };
  readonly #now: () => number;
  readonly #setTimer: (callback: () => void, delayMs: number) => () => void;
  readonly #owner = `stream_ingest-${randomUUID()}`;
  readonly #partitions = new Map<number, PartitionState>();
  /**
   * Dead letters started and not durable yet. A commit awaits them and records no committed offset
   * at or above one still not durable (a failed publish is retried), so the committed offset never
   * covers a dead letter a crash could lose.
   */
  readonly #deadLetters: PendingDeadLetters;
  /** Aborted by `stop()`: a failed background commit is not tried again after it. */
  readonly #stopping = new AbortController();
  #subscription: Subscription | undefined;
  #lastError: string | undefined;

  constructor(deps: IngesterDependencies) {
    this.#deps = deps;
    this.#settings = deps.settings;
    this.#store = new LakeStore(deps.db, deps.settings.topic, deps.settings.outputFormat);
    this.#metrics = declareIngestMetrics(deps.metrics);
    this.#labels = { topic: deps.settings.topic, group: deps.settings.group };
    this.#now = deps.now ?? Date.now;
    this.#setTimer = deps.setTimer ?? setGlobalTimer;
    this.#deadLetters = new PendingDeadLetters({
      publish: (message, reason, error) => deps.mq.deadLetter(message, reason, error),
      onDurable: (message, reason) => {
        const known = reason as DeadLetterReason;
        this.totals.deadLettered[known] += 1;
        this.#metrics.deadLettered.inc({ ...this.#labels, reason: known });
        // Its partition's open files may have waited for it past their flush interval.
        const state = this.#partitions.get(message.partition ?? -1);
        if (state !== undefined) this.#flushIfDue(state);
      },
      onFailure: (message, reason, error, retryInMs) =>
        deps.log.warn(
          'Publishing a dead letter failed: retried; no offset covering it is committed until it is durable',
          {
            id: message.id,
            reason,
            retry_in_ms: retryInMs,
            error,
          },
        ),
    });
  }

  /** Partitions owned now. */
  get ownedPartitions(): number[] {
    return [...this.#partitions.keys()].sort((a, b) => a - b);
  }

  /** Subscribes (partitions are claimed in `onAssigned`); flush timers are armed as files open. */
  async start(): Promise<void> {
    const { settings } = this;
    this.#deps.lifecycle.addReadinessCheck('stream_ingest', () => this.#readiness());
    this.#subscription = await this.#deps.mq.subscribe(settings.topic, (messages) => this.#handle(messages), {
      group: settings.group,
      maxBatchSize: Math.min(settings.batchSize, 10_000),
      // Room for each partition's file being committed and the next one filling, over several
      // partitions: a full window stalls delivery (and the broker fetch) for a whole commit.
      maxInFlight: Math.max(1000, 8 * settings.batchSize),
      onAssigned: (partitions) => this.#assigned(partitions),
      // A revoked partition's open files are committed (and acknowledged) before its offsets move.
      onRevoked: (partitions) => this.#revoked(partitions),
    });
    this.#deps.log.info('Stream ingest consuming', {
      topic: settings.topic,
      group: settings.group,
      output_format: settings.outputFormat,
      batch_size: settings.batchSize,
      flush_interval_ms: settings.flushIntervalMs,
      max_file_bytes: settings.maxFileBytes,
      lake_prefix: settings.lakePrefix,
    });
  }

  private get settings(): IngestSettings {
    return this.#settings;
  }

  /**
   * Stops: no more flush timers, closes the subscription (its running handlers settle, then every
   * owned partition's open files are committed and acknowledged in `onRevoked`), and commits
   * anything still open. Idempotent.
   */
  async stop(): Promise<void> {
    this.#stopping.abort();
    for (const state of this.#partitions.values()) this.#cancelFlushTimer(state);
    const subscription = this.#subscription;
    this.#subscription = undefined;
    if (subscription !== undefined) {
      subscription.pause();
      await subscription.close();
    }
    await Promise.all([...this.#partitions.keys()].map((partition) => this.flushPartition(partition)));
    // Dead letters still not durable belong to partitions no longer held: left to the next owner.
    this.#deadLetters.abandon();
    this.#deps.log.info('Stream ingest stopped', {
      records: this.totals.records,
      files: this.totals.files,
      bytes: this.totals.bytes,
      duplicates: this.totals.duplicates,
      fenced: this.totals.fenced,
      dead_lettered: this.totals.deadLettered,
    });
  }

  /** Commits the open files of every owned partition now. */
  async flushAll(): Promise<void> {
    await Promise.all([...this.#partitions.keys()].map((partition) => this.flushPartition(partition)));
  }

  /**
   * Commits the open files of `partition` (one commit at a time per partition) and resolves once
   * they, and the partition's files committed before them, are at their lake path.
   */
  flushPartition(partition: number): Promise<void> {
    const state = this.#partitions.get(partition);
    if (state === undefined) return Promise.resolve();
    state.queuedCommits += 1;
    const committed = state.chain.then(() => {
      state.queuedCommits -= 1;
      return this.#flushOnce(state);
    });
    state.chain = committed.catch(() => undefined);
    return committed.then(() => state.publishing);
  }

  async #assigned(partitions: readonly TopicPartition[]): Promise<void> {
    for (const { partition } of partitions) {
      const claimed = await this.#store.claim(partition, this.#owner);
      await this.#recover(partition, claimed.generation);
      this.#partitions.set(partition, {
        partition,
        generation: claimed.generation,
        committedOffset: claimed.committedOffset,
        highestSeen: claimed.committedOffset,
        byDate: new Map(),
        messages: [],
        bytes: 0,
        count: 0,
        openedAt: undefined,
        cancelFlushTimer: undefined,
        flushTimerDue: undefined,
        chain: Promise.resolve(),
        publishing: Promise.resolve(),
        queuedCommits: 0,
        retrying: false,
        lost: false,
      });
      this.#metrics.committedOffset.set(
        { ...this.#labels, partition: String(partition) },
        Number(claimed.committedOffset),
      );
      this.#deps.log.info('Partition assigned', {
        partition,
        generation: claimed.generation.toString(),
        committed_offset: claimed.committedOffset.toString(),
      });
    }
  }

  /**
   * Finishes what a previous owner left: copies committed files still at their staging path to
   * their lake path, then deletes the staging files of older generations that never committed.
   */
  async #recover(partition: number, generation: bigint): Promise<void> {
    const { fs } = this.#deps;
    const pending = await this.#store.publications(partition);
    for (const publication of pending) {
      // The previous owner may be finishing the same copy right now (same bytes): a staging key
      // that vanished under us is fine as long as the lake file is there.
      const staged = await fs.read(publication.stagingPath).catch(() => undefined);
      if (staged !== undefined) {
        await fs.write(publication.path, staged);
        await fs.delete(publication.stagingPath);
      } else if (!(await fs.exists(publication.path))) {
        throw new Error(`committed lake file ${publication.path} is missing and so is its staging copy`);
      }
      await this.#store.published(publication.path);
    }
    const prefix = stagingPartitionPrefix(this.#settings.lakePrefix, this.#settings.topic, partition);
    let leftovers = 0;
    for (const path of await fs.list(prefix)) {
      const match = /\/g(\d+)\/[^/]+$/.exec(path);
      if (match === null || BigInt(match[1] as string) >= generation) continue;
      await fs.delete(path);
      leftovers += 1;
    }
    if (pending.length > 0 || leftovers > 0) {
      this.#deps.log.info('Recovered a partition', {
        partition,
        published: pending.length,
        uncommitted_files_removed: leftovers,
      });
    }
  }

  async #revoked(partitions: readonly TopicPartition[]): Promise<void> {
    for (const { partition } of partitions) {
      try {
        await this.flushPartition(partition);
      } catch {
        // Logged by the flush; its messages are not acknowledged and go to the next owner.
      }
      const state = this.#partitions.get(partition);
      if (state !== undefined) {
        state.lost = true;
        this.#cancelFlushTimer(state);
      }
      this.#partitions.delete(partition);
      // Not acknowledged: the next owner receives these messages (and what waited behind them) again.
      this.#deadLetters.abandon([partition]);
      this.#metrics.partitionLag.set({ ...this.#labels, partition: String(partition) }, 0);
    }
  }

  /**
   * Commits `state`'s open files if `--flush-interval` has passed since they opened; otherwise
   * arms the partition's timer for that moment (once: an armed timer for the same moment is kept),
   * or cancels it when nothing is open. Called when a file opens, closes or fails to commit, when
   * a dead letter that held a commit became durable, and by the timer itself: so a file closes at
   * its interval, not at the next tick of a periodic check.
   */
  #flushIfDue(state: PartitionState): void {
    if (state.lost || this.#stopping.signal.aborted || state.openedAt === undefined) {
      this.#cancelFlushTimer(state);
      return;
    }
    const due = state.openedAt + this.#settings.flushIntervalMs;
    const wait = due - this.#now();
    if (wait > 0) {
      if (state.flushTimerDue === due) return;
      this.#cancelFlushTimer(state);
      state.flushTimerDue = due;
      // Longer than a timer can wait (about 24.8 days): it fires early and checks again.
      state.cancelFlushTimer = this.#setTimer(
        () => {
          state.cancelFlushTimer = undefined;
          state.flushTimerDue = undefined;
          this.#flushIfDue(state);
        },
        Math.min(wait, MAX_TIMER_MS),
      );
      return;
    }
    this.#cancelFlushTimer(state);
    // A commit queued and not started yet takes these records too.
    if (state.queuedCommits === 0) this.flushPartition(state.partition).catch(() => undefined);
  }

  #cancelFlushTimer(state: PartitionState): void {
    state.cancelFlushTimer?.();
    state.cancelFlushTimer = undefined;
    state.flushTimerDue = undefined;
  }

  async #handle(messages: readonly QueueMessage[]): Promise<void> {
    const now = this.#now();
    const duplicates: QueueMessage[] = [];
    // Published in parallel and awaited once for the batch; a commit awaits them too (see
    // #flushOnce), and a failed one is retried, never skipped.
    const deadLetters: Array<Promise<boolean>> = [];
    const touched = new Set<PartitionState>();
    for (const message of messages) {
      const state = this.#partitions.get(message.partition ?? -1);
      if (state === undefined || state.lost) continue; // not ours (any more): the owner gets it
      const offset = numericOffset(message);
      if (offset !== undefined && offset <= state.committedOffset) {
        duplicates.push(message);
        continue;
      }
      if (offset !== undefined && offset <= state.highestSeen) continue; // already buffered
      const decoded = decodeMessage(message, now, offset);
      if (!decoded.ok) {
        const { reason, error } = decoded;
        deadLetters.push(this.#deadLetters.deadLetter(message, reason, error));
        if (offset !== undefined) state.highestSeen = offset;
        continue;
      }
      const { record } = decoded;
      const date = utcDate(record.timestamp);
      const list = state.byDate.get(date);
      if (list === undefined) state.byDate.set(date, [record]);
      else list.push(record);
      state.messages.push(message);
      state.count += 1;
      state.bytes += message.value.byteLength + 64;
      state.highestSeen = record._offset;
      if (state.openedAt === undefined) {
        state.openedAt = now;
        this.#flushIfDue(state);
      }
      touched.add(state);
    }
    await Promise.all(deadLetters);
    if (duplicates.length > 0) {
      await this.#deps.mq.ack(duplicates);
      this.totals.duplicates += duplicates.length;
      this.#metrics.duplicatesSkipped.inc(this.#labels, duplicates.length);
    }
    for (const state of touched) {
      this.#metrics.partitionLag.set({ ...this.#labels, partition: String(state.partition) }, state.count);
      if (state.count >= this.#settings.batchSize || state.bytes >= this.#settings.maxFileBytes) {
        // The commit runs in the background (queued behind the partition's running one, if any)
        // while delivery goes on filling the next file: the subscription's `maxInFlight` window of
        // unacknowledged messages is the backpressure, so decoding never waits for an upload or
        // a transaction while there is room. A commit already queued takes these records too.
        if (state.queuedCommits === 0 && !state.retrying) void this.#commitInBackground(state);
      }
    }
  }

  /**
   * A commit of `state`'s partition that the handler does not wait for. One that fails is tried
   * again with backoff while the partition is held and has open records (readiness reports the
   * failed flush meanwhile), so the records need neither a new batch nor the flush timer to be
   * written. It never throws into the handler: a throw would hand back records buffered here,
   * which the queue redelivers and after `maxDeliveries` dead-letters although a later commit
   * writes them.
   */
  async #commitInBackground(state: PartitionState): Promise<void> {
    for (let failures = 1; ; failures += 1) {
      try {
        await this.flushPartition(state.partition);
        return;
      } catch {
        // Logged by the flush.
      }
      if (state.lost || this.#stopping.signal.aborted) return;
      state.retrying = true;
      await sleep(retryBackoffMs(failures), undefined, { signal: this.#stopping.signal }).catch(() => undefined);
      state.retrying = false;
      if (state.lost || this.#stopping.signal.aborted || state.count === 0 || state.queuedCommits > 0) return;
    }
  }

  async #flushOnce(state: PartitionState): Promise<void> {
    if (state.count === 0 || state.lost) return;
    // The committed offset says "ingested or dead-lettered up to here": the dead letters in flight
    // (a batch still being handled, a retry) settle first, and records at or above the lowest dead
    // letter of the partition that is still not durable stay open for a later commit.
    if (this.#deadLetters.size > 0) await this.#deadLetters.settle();
    if (state.count === 0 || state.lost) return;
    const { fs, mq, log } = this.#deps;
    const { lakePrefix, topic, outputFormat } = this.#settings;
    const block = this.#deadLetters.blockingOffsets().get(state.partition);
    const { byDate, messages, count } = takeBelow(state, block);
    // Not when nothing could be taken: the records wait for a dead letter, and `onDurable` looks
    // at them again once it is durable (a timer would find them blocked again and again).
    if (count > 0) this.#flushIfDue(state);
    if (count === 0) {
      log.debug('Commit waits for a dead letter to be durable', {
        partition: state.partition,
        offset: block?.toString(),
      });
      return;
    }
    const stopTimer = this.#metrics.flushDuration.startTimer(this.#labels);
    const files: Array<FileToCommit & { readonly bytes: Uint8Array }> = [];
    let lastOffset = state.committedOffset;
    try {
      for (const [date, records] of byDate) {
        const first = records[0] as LakeRecord;
        const last = records[records.length - 1] as LakeRecord;
        if (last._offset > lastOffset) lastOffset = last._offset;
        const path = lakeFilePath(lakePrefix, topic, date, state.partition, first._offset, outputFormat);
        const staged = stagingPath(lakePrefix, path, state.partition, state.generation);
        const bytes = encodeRecords(records, outputFormat);
        await fs.write(staged, bytes);
        files.push({
          path,
          stagingPath: staged,
          records,
          bytes,
          byteCount: bytes.byteLength,
          sha256: createHash('sha256').update(bytes).digest('hex'),
        });
      }
      await this.#deps.beforeCommit?.(state.partition);
      await this.#store.commit(state.partition, state.generation, files, lastOffset, new Date(this.#now()));
    } catch (error) {
      if (error instanceof FencedError) {
        state.lost = true;
        this.#cancelFlushTimer(state);
        this.#partitions.delete(state.partition);
        this.#deadLetters.abandon([state.partition]);
        this.totals.fenced += 1;
        this.#metrics.fencedCommits.inc(this.#labels);
        log.warn('Commit refused: the partition moved to a newer owner; its records are left to it', {
          partition: state.partition,
          records: count,
          error,
        });
        for (const file of files) await fs.delete(file.stagingPath).catch(() => false);
        return;
      }
      // Put the records back in front of what arrived meanwhile; the next flush tries again.
      for (const [date, records] of byDate) state.byDate.set(date, [...records, ...(state.byDate.get(date) ?? [])]);
      state.messages = [...messages, ...state.messages];
      state.count += count;
      state.openedAt = this.#now();
      this.#flushIfDue(state);
      this.#lastError = error instanceof Error ? error.message : String(error);
      log.error('Flush failed: the records stay open and are committed by the next flush', {
        partition: state.partition,
        records: count,
        error,
      });
      throw error;
    }
    state.committedOffset = lastOffset;
    this.#lastError = undefined;
    // Committed (the database is the durable point): the messages are acknowledged now, so the
    // delivery window frees before the bytes are copied to their lake path; a crash during that
    // copy is finished by the next owner of the partition from the publication rows. The copy
    // runs on the partition's publication chain, so its next commit need not wait for it.
    await mq.ack(messages);
    const publish = async (): Promise<void> => {
      for (const file of files) {
        try {
          await fs.write(file.path, file.bytes);
          await fs.delete(file.stagingPath);
          await this.#store.published(file.path);
        } catch (error) {
          log.warn('Publishing a committed file failed: the next owner of the partition finishes it', {
            path: file.path,
            error,
          });
        }
      }
      const seconds = stopTimer();
      let bytes = 0;
      for (const file of files) bytes += file.byteCount;
      const labels = { ...this.#labels, format: outputFormat };
      this.totals.records += count;
      this.totals.files += files.length;
      this.totals.bytes += bytes;
      this.#metrics.recordsWritten.inc(labels, count);
      this.#metrics.filesWritten.inc(labels, files.length);
      this.#metrics.bytesWritten.inc(labels, bytes);
      const partitionLabels = { ...this.#labels, partition: String(state.partition) };
      this.#metrics.committedOffset.set(partitionLabels, Number(lastOffset));
      this.#metrics.partitionLag.set(partitionLabels, state.count);
      log.debug('Committed lake files', {
        partition: state.partition,
        files: files.map((file) => file.path),
        records: count,
        seconds: Number(seconds.toFixed(4)),
      });
    };
    state.publishing = state.publishing.then(publish).catch((error: unknown) => {
      log.warn('Recording a published lake file failed', { partition: state.partition, error });
    });
  }

  #readiness(): HealthCheckResult {
    if (this.#lastError !== undefined) return { ok: false, detail: `last flush failed: ${this.#lastError}` };
    return { ok: true };
  }
}

/**
 * Takes the open records (and their messages) of `state` whose offset is below `block` (all when
 * it is undefined) for one commit; the others stay open, in offset order.
 */
function takeBelow(
  state: PartitionState,
  block: bigint | undefined,
): { byDate: Map<string, LakeRecord[]>; messages: QueueMessage[]; count: number } {
  if (block === undefined) {
    const taken = { byDate: state.byDate, messages: state.messages, count: state.count };
    state.byDate = new Map();
    state.messages = [];
    state.count = 0;
    state.bytes = 0;
    state.openedAt = undefined;
    return taken;
  }
  const byDate = new Map<string, LakeRecord[]>();
  const keptByDate = new Map<string, LakeRecord[]>();
  let count = 0;
  for (const [date, records] of state.byDate) {
    const below = records.filter((record) => record._offset < block);
    const above = records.filter((record) => record._offset >= block);
    if (below.length > 0) byDate.set(date, below);
    if (above.length > 0) keptByDate.set(date, above);
    count += below.length;
  }
  const isBelow = (message: QueueMessage): boolean => message.offset !== undefined && BigInt(message.offset) < block;
  const messages = state.messages.filter(isBelow);
  const kept = state.messages.filter((message) => !isBelow(message));
  state.byDate = keptByDate;
  state.messages = kept;
  state.count -= count;
  state.bytes = kept.reduce((sum, message) => sum + message.value.byteLength + 64, 0);
  if (state.count === 0) state.openedAt = undefined;
  return { byDate, messages, count };
}

/** The longest delay `setTimeout` keeps (2^31 - 1 ms); a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The default `setTimer`: the global `setTimeout`. */
function setGlobalTimer(callback: () => void, delayMs: number): () => void {
  const timer = setTimeout(callback, delayMs);
  return () => clearTimeout(timer);
}
