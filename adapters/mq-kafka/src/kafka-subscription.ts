import { setTimeout as sleep } from 'node:timers/promises';
import {
  MAX_DELIVERIES_REASON,
  MESSAGE_HEADERS,
  deadLetterTopic,
  newCorrelationId,
  reportQueueDeadLetter,
  withCorrelationId,
} from '@platform-host/contracts';
import type {
  BatchHandler,
  Logger,
  QueueMessage,
  SubscribeOptions,
  Subscription,
  TopicPartition,
} from '@platform-host/contracts';
import type { Assignment, KafkaConsumer, LibrdKafkaError, Message } from 'node-rdkafka';
import { ByteSlabs } from './byte-slabs.js';
import { DeliveryCounts, PartitionLedger } from './partition-ledger.js';

/** The librdkafka codes the rebalance callback receives. */
export const REBALANCE_CODES = { assign: -175, revoke: -174 } as const;

/** The rebalance callback a subscription gives its consumer (node-rdkafka's `rebalance_cb`). */
export type RebalanceCallback = (error: LibrdKafkaError | undefined, assignment: Assignment[]) => void;

/** What a subscription needs from the queue that created it. */
export interface SubscriptionHost {
  readonly logger: Logger | undefined;
  /** Deliveries per offset, shared by the queue's subscriptions (see {@link DeliveryCounts}). */
  readonly counts: DeliveryCounts;
  /** First delay of a redelivery after a throwing handler, doubled per delivery up to {@link MAX_RETRY_BACKOFF_MS}. */
  readonly retryBackoffMs: number;
  /** Longest wait of `subscribe()` for the first assignment. */
  readonly assignmentWaitMs: number;
  /** A new, not yet connected consumer of `group` with `rebalance` as its rebalance callback. */
  createConsumer(options: SubscribeOptions, rebalance: RebalanceCallback): KafkaConsumer;
  /** Connects `consumer` (with the queue's deadline and error naming the brokers). */
  connectConsumer(consumer: KafkaConsumer): Promise<void>;
  /** Publishes the dead letter of `message` to `topic` and resolves once the broker has it. */
  publishDeadLetter(message: QueueMessage, topic: string, reason: string, error: unknown): Promise<void>;
  forget(subscription: KafkaSubscription): void;
}

/** The longest delay of a redelivery after a throwing handler. */
export const MAX_RETRY_BACKOFF_MS = 5000;

/** Longest wait of one consume call for its first message, so pause and close act quickly. */
const MAX_POLL_WAIT_MS = 100;

/** Deadline of the committed-offset and watermark lookups of an assignment. */
const LOOKUP_TIMEOUT_MS = 5000;

/** librdkafka's logical offset of the end of a partition (`RD_KAFKA_OFFSET_END`), resolved when fetching starts. */
const OFFSET_END = -1;

/** How long a full in-flight window may last before fetching is paused at the broker too. */
const ROOM_WAIT_MS = 200;

/** Headers of a record that has none (shared: the message's headers are read-only). */
const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * A fetched record, kept until it is delivered (and while a nack waits for its redelivery). Its key
 * and headers are decoded when first read, not per fetched message, and it counts its deliveries
 * during this holding of the partition.
 */
class Fetched {
  /** Deliveries of this record by this holding of its partition. */
  deliveries = 0;
  readonly #rawKey: Message['key'];
  readonly #rawHeaders: Message['headers'];
  #key: string | undefined;
  #headers: Readonly<Record<string, string>> | undefined;

  constructor(
    readonly offset: number,
    readonly value: Uint8Array,
    readonly timestamp: number,
    rawKey: Message['key'],
    rawHeaders: Message['headers'],
  ) {
    this.#rawKey = rawKey;
    this.#rawHeaders = rawHeaders;
  }

  get key(): string | undefined {
    if (this.#key === undefined && this.#rawKey !== null && this.#rawKey !== undefined)
      this.#key = this.#rawKey.toString();
    return this.#key;
  }

  get headers(): Readonly<Record<string, string>> {
    this.#headers ??= decodeHeaders(this.#rawHeaders);
    return this.#headers;
  }
}

/** A nacked record waiting for its redelivery. */
interface Retry {
  readonly fetched: Fetched;
  readonly dueAt: number;
}

/** One partition while this subscription holds it. */
class HeldPartition {
  readonly ledger = new PartitionLedger();
  /** Fetched and not delivered yet, in offset order, from `bufferHead` on. */
  buffer: Fetched[] = [];
  bufferHead = 0;
  /** Nacked, in offset order: delivered again (in that order) before anything of `buffer`. */
  retry: Retry[] = [];
  /** `onAssigned` has resolved: its messages may be delivered. */
  ready = false;
  /** Being revoked: nothing more of it is delivered. */
  revoking = false;
  /** Its onRevoked hook ran (at close), so a later revocation does not run it again. */
  revokedHookRan = false;
  /**
   * Where it was assigned to start (the committed position, or the end for `startFrom: 'latest'`),
   * when known, until its first record is kept (see `KafkaSubscription.#fromStart`): a fetched
   * message below it is a leftover of an earlier assignment of the partition to this consumer,
   * which librdkafka can still hand out after the partition was assigned again; a first one above
   * it means fetching started ahead, and the partition is sought back to it.
   */
  startOffset: number | undefined;
  /** A seek back to `startOffset` is under way: what is fetched meanwhile is from before it. */
  seekingBack = false;
  /** The partition was sought back to `startOffset`: the next record fetched is taken, whatever its offset. */
  soughtBack = false;
  /** Delivered and neither acknowledged, nacked nor dead-lettered, by offset: the latest delivery of each. */
  readonly unsettled = new Map<number, KafkaQueueMessage>();
  /**
   * Deliveries of the offsets acknowledged ahead of an unacknowledged one (the commit position has
   * not passed them): they come again after a restart of the partition here.
   */
  readonly acknowledgedAhead = new Map<number, number>();

  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly countKey: string,
  ) {}

  get buffered(): number {
    return this.buffer.length - this.bufferHead;
  }

  takeBuffered(): Fetched | undefined {
    const fetched = this.buffer[this.bufferHead];
    if (fetched === undefined) return undefined;
    this.bufferHead += 1;
    if (this.bufferHead === this.buffer.length) {
      this.buffer = [];
      this.bufferHead = 0;
    } else if (this.bufferHead > 1024 && this.bufferHead * 2 > this.buffer.length) {
      this.buffer = this.buffer.slice(this.bufferHead);
      this.bufferHead = 0;
    }
    return fetched;
  }

  addRetry(fetched: Fetched, dueAt: number): void {
    if (this.retry.some((entry) => entry.fetched.offset === fetched.offset)) return;
    const index = this.retry.findIndex((entry) => entry.fetched.offset > fetched.offset);
    if (index === -1) this.retry.push({ fetched, dueAt });
    else this.retry.splice(index, 0, { fetched, dueAt });
  }

  dropRetry(offset: number): void {
    if (this.retry.length > 0) this.retry = this.retry.filter((entry) => entry.fetched.offset !== offset);
  }
}

/** A promise-based wake-up: `wait(ms)` resolves on `notify()` or after `ms`. */
class Signal {
  #wake: (() => void) | undefined;

  async wait(ms: number): Promise<void> {
    const woken = new Promise<void>((resolve) => (this.#wake = resolve));
    const controller = new AbortController();
    await Promise.race([woken, sleep(ms, undefined, { signal: controller.signal }).catch(() => undefined)]);
    controller.abort();
    this.#wake = undefined;
  }

  notify(): void {
    this.#wake?.();
  }
}

/** Everything a {@link KafkaSubscription} is built from. */
export interface KafkaSubscriptionSettings {
  readonly topic: string;
  readonly handler: BatchHandler;
  readonly options: SubscribeOptions;
}

/**
 * One subscription: a KafkaConsumer of the group (cooperative-sticky), a poll loop that calls
 * `consume(n)` and keeps what it fetched per partition, and a delivery loop that hands batches to the
 * handler one at a time, partitions in offset order. Acknowledgements store the contiguous
 * acknowledged prefix of each partition (`offsetsStore`), which librdkafka commits on its interval,
 * when partitions are revoked and on close.
 */
export class KafkaSubscription implements Subscription {
  readonly topic: string;
  readonly group: string;
  readonly deadLetterTopic: string;
  readonly #host: SubscriptionHost;
  readonly #handler: BatchHandler;
  readonly #options: SubscribeOptions;
  readonly #consumer: KafkaConsumer;
  readonly #maxBatchSize: number;
  readonly #maxInFlight: number;
  readonly #maxDeliveries: number;
  readonly #deadLettering: boolean;
  readonly #pollWaitMs: number;
  readonly #held = new Map<number, HeldPartition>();
  /** Where fetched values and keys are copied to (see {@link ByteSlabs}). */
  readonly #slabs = new ByteSlabs();
  /** Messages in the partitions' `unsettled` maps, over all partitions. */
  #unsettledCount = 0;
  /** Fetched and waiting for delivery, over all partitions (buffers and retries). */
  #waiting = 0;
  readonly #deliverySignal = new Signal();
  readonly #roomSignal = new Signal();
  /** The batch the handler is running (settles once it did; never rejects). */
  #running: Promise<void> | undefined;
  /**
   * Revocations waiting for the running batch or running their hook: while there is one, no new
   * batch starts, so the wait is bounded by what was in flight when the revocation began.
   */
  #revocations = 0;
  /** Rebalance events, handled one after the other. */
  #rebalancing: Promise<void> = Promise.resolve();
  #firstAssignment: (() => void) | undefined;
  #brokerPaused = false;
  #paused = false;
  #closing = false;
  #closed: Promise<void> | undefined;
  /** The seeks back (see {@link #fromStart}) issued since the last fetch: the next fetch waits for them. */
  #seeksBack: Promise<void>[] = [];
  #pollLoop: Promise<void> = Promise.resolve();
  #deliveryLoop: Promise<void> = Promise.resolve();
  #rotation = 0;

  constructor(host: SubscriptionHost, settings: KafkaSubscriptionSettings) {
    this.#host = host;
    this.topic = settings.topic;
    this.group = settings.options.group;
    this.#handler = settings.handler;
    this.#options = settings.options;
    this.#maxBatchSize = Math.max(1, settings.options.maxBatchSize ?? 100);
    this.#maxInFlight = Math.max(this.#maxBatchSize, settings.options.maxInFlight ?? 1000);
    this.#maxDeliveries = Math.max(1, settings.options.maxDeliveries ?? 5);
    this.#deadLettering = settings.options.deadLetter?.enabled ?? true;
    this.deadLetterTopic = settings.options.deadLetter?.topic ?? deadLetterTopic(settings.topic);
    this.#pollWaitMs = Math.min(MAX_POLL_WAIT_MS, Math.max(10, settings.options.maxWaitMs ?? 50));
    this.#consumer = host.createConsumer(settings.options, (error, assignment) => this.#onRebalance(error, assignment));
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Connects, subscribes, starts both loops, and waits (boundedly) for the first assignment. */
  async start(): Promise<void> {
    await this.#host.connectConsumer(this.#consumer);
    const assigned = new Promise<void>((resolve) => (this.#firstAssignment = resolve));
    this.#consumer.setDefaultConsumeTimeout(this.#pollWaitMs);
    this.#consumer.subscribe([this.topic]);
    this.#pollLoop = this.#poll();
    this.#deliveryLoop = this.#deliver();
    const timer = setTimeout(() => this.#firstAssignment?.(), this.#host.assignmentWaitMs);
    timer.unref();
    await assigned;
    clearTimeout(timer);
  }

  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#roomSignal.notify();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#roomSignal.notify();
    this.#deliverySignal.notify();
  }

  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    this.#deliverySignal.notify();
    this.#roomSignal.notify();
    this.#firstAssignment?.();
    try {
      await this.#deliveryLoop;
      await this.#pollLoop;
      await this.#rebalancing;
      // The hooks run here, while the consumer still holds its partitions and can store offsets;
      // librdkafka commits the stored offsets when close() unassigns them.
      await this.#revoke(
        [...this.#held.values()].map(({ topic, partition }) => ({ topic, partition })),
        false,
      );
    } finally {
      await new Promise<void>((resolve) => this.#consumer.disconnect(() => resolve()));
      this.#host.forget(this);
    }
  }

  /** Messages fetched, delivered and not settled, or waiting: what `maxInFlight` bounds. */
  #room(): number {
    return this.#maxInFlight - this.#unsettledCount - this.#waiting;
  }

  #setBrokerPaused(paused: boolean): void {
    if (paused === this.#brokerPaused) return;
    const partitions = [...this.#held.values()].map(({ topic, partition }) => ({ topic, partition }));
    try {
      if (partitions.length > 0) {
        if (paused) this.#consumer.pause(partitions);
        else this.#consumer.resume(partitions);
      }
      this.#brokerPaused = paused;
    } catch (error) {
      this.#host.logger?.debug('Kafka consumer pause/resume failed', { topic: this.topic, error: errorText(error) });
    }
  }

  async #poll(): Promise<void> {
    let failures = 0;
    while (!this.#closing) {
      let hold = this.#paused || this.#room() <= 0;
      // A handler that acknowledges makes room within moments: fetching is paused at the broker
      // (which drops what librdkafka prefetched) only when the window stays full.
      if (hold && !this.#paused) {
        await this.#roomSignal.wait(ROOM_WAIT_MS);
        if (this.#closing) break;
        hold = this.#paused || this.#room() <= 0;
      }
      this.#setBrokerPaused(hold);
      try {
        // Once a seek has returned, librdkafka drops what it fetched before it: the next fetch
        // returns only records from the new position.
        if (this.#seeksBack.length > 0) await Promise.all(this.#seeksBack.splice(0));
        const messages = await this.#consume(hold ? 1 : Math.min(this.#room(), this.#maxBatchSize));
        failures = 0;
        let added = false;
        for (const message of messages) added = this.#keep(message) || added;
        if (added) this.#deliverySignal.notify();
      } catch (error) {
        if (this.#closing) break;
        failures += 1;
        if (failures === 1 || failures % 50 === 0)
          this.#host.logger?.warn('Kafka consume failed; retrying', {
            topic: this.topic,
            group: this.group,
            failures,
            error: errorText(error),
          });
        await this.#roomSignal.wait(Math.min(1000, 20 * 2 ** Math.min(failures, 6)));
      }
    }
  }

  #consume(count: number): Promise<Message[]> {
    return new Promise((resolve, reject) => {
      this.#consumer.consume(Math.max(1, count), (error, messages) => {
        if (error) reject(asError(error));
        else resolve(messages);
      });
    });
  }

  /** Keeps a fetched message for delivery; false when it is not (or no longer) ours. */
  #keep(message: Message): boolean {
    if (message.topic !== this.topic) return false;
    const held = this.#held.get(message.partition);
    if (held === undefined || held.revoking) return false;
    if (held.startOffset !== undefined && !this.#fromStart(held, message.offset)) return false;
    if (!held.ledger.fetched(message.offset)) return false;
    const { key } = message;
    held.buffer.push(
      new Fetched(
        message.offset,
        message.value === null ? new Uint8Array(0) : this.#slabs.copy(message.value),
        message.timestamp ?? Date.now(),
        Buffer.isBuffer(key) ? this.#slabs.copy(key) : key,
        message.headers,
      ),
    );
    this.#waiting += 1;
    return true;
  }

  /**
   * Until a first record of the partition is kept: whether the fetched `offset` may be. Below
   * the start it is a leftover of an earlier assignment (dropped). Above it, fetching started
   * ahead of where the partition was assigned (a reset, a seek elsewhere, a librdkafka position
   * off the assigned one) and the records in between would be skipped unseen: the partition is
   * sought back to the start, once, and what was fetched before the seek is dropped. A first
   * record above the start after that is taken: the log has a gap there (transaction markers,
   * records removed by compaction or retention, aborted transactions).
   */
  #fromStart(held: HeldPartition, offset: number): boolean {
    const start = held.startOffset;
    if (start === undefined) return true;
    if (offset < start || held.seekingBack) return false;
    if (offset > start && !held.soughtBack) {
      this.#seekBack(held, start, offset);
      return false;
    }
    held.startOffset = undefined;
    return true;
  }

  #seekBack(held: HeldPartition, startOffset: number, firstOffset: number): void {
    const { topic, partition } = held;
    this.#host.logger?.warn(
      'Kafka fetching started after the start position of an assigned partition: seeking back to it (the records in between would have been skipped; none come again if the gap holds only transaction markers or removed records)',
      { topic, group: this.group, partition, startOffset, firstOffset },
    );
    held.seekingBack = true;
    const failed = (error: unknown): void => {
      // The next record fetched tries again; nothing of the partition is kept meanwhile.
      if (this.#held.get(partition) === held)
        this.#host.logger?.warn('Kafka seek back to the start position failed; retried with the next record', {
          topic,
          group: this.group,
          partition,
          startOffset,
          error: errorText(error),
        });
    };
    this.#seeksBack.push(
      new Promise<void>((resolve) => {
        try {
          this.#consumer.seek({ topic, partition, offset: startOffset }, 0, (error) => {
            held.seekingBack = false;
            if (error) failed(error);
            else held.soughtBack = true;
            resolve();
          });
        } catch (error) {
          held.seekingBack = false;
          failed(error);
          resolve();
        }
      }),
    );
  }

  async #deliver(): Promise<void> {
    while (!this.#closing) {
      if (this.#paused || this.#revocations > 0) {
        await this.#deliverySignal.wait(1000);
        continue;
      }
      const budget = Math.min(this.#maxBatchSize, this.#maxInFlight - this.#unsettledCount);
      if (budget <= 0) {
        await this.#deliverySignal.wait(1000);
        continue;
      }
      const { batch, nextDueAt } = this.#takeBatch(budget);
      if (batch.length === 0) {
        await this.#deliverySignal.wait(Math.max(1, Math.min(1000, nextDueAt - Date.now())));
        continue;
      }
      const running = this.#handle(batch).catch(() => undefined);
      this.#running = running;
      try {
        await running;
      } finally {
        this.#running = undefined;
      }
    }
  }

  /** Up to `budget` messages: per partition the due redeliveries first, then what was fetched. */
  #takeBatch(budget: number): { batch: KafkaQueueMessage[]; nextDueAt: number } {
    const now = Date.now();
    let nextDueAt = Number.POSITIVE_INFINITY;
    const batch: KafkaQueueMessage[] = [];
    const partitions = [...this.#held.values()];
    this.#rotation = (this.#rotation + 1) % Math.max(1, partitions.length);
    for (let index = 0; index < partitions.length && batch.length < budget; index++) {
      const held = partitions[(index + this.#rotation) % partitions.length];
      if (held === undefined || !held.ready || held.revoking) continue;
      while (batch.length < budget && held.retry.length > 0) {
        const [first] = held.retry;
        if (first === undefined) break;
        if (first.dueAt > now) {
          nextDueAt = Math.min(nextDueAt, first.dueAt);
          break;
        }
        held.retry.shift();
        this.#waiting -= 1;
        if (!held.ledger.isAcknowledged(first.fetched.offset)) batch.push(this.#delivery(held, first.fetched));
      }
      // A nacked message waits: what comes after it in the partition waits too (partition order).
      if (held.retry.length > 0) continue;
      while (batch.length < budget) {
        const fetched = held.takeBuffered();
        if (fetched === undefined) break;
        this.#waiting -= 1;
        batch.push(this.#delivery(held, fetched));
      }
    }
    if (batch.length > 0) this.#roomSignal.notify();
    return { batch, nextDueAt };
  }

  /**
   * A delivery of `fetched`. Its count continues the one of an earlier holding of the partition in
   * this process when the queue kept one (see {@link #keepDeliveryCounts}); otherwise the record
   * counts its own deliveries, with no per-message entry in the shared counts.
   */
  #delivery(held: HeldPartition, fetched: Fetched): KafkaQueueMessage {
    const { counts } = this.#host;
    fetched.deliveries =
      fetched.deliveries === 0 && counts.has(held.countKey)
        ? counts.next(held.countKey, fetched.offset)
        : fetched.deliveries + 1;
    const message = new KafkaQueueMessage(this, held, fetched, fetched.deliveries);
    const before = held.unsettled.size;
    held.unsettled.set(fetched.offset, message);
    this.#unsettledCount += held.unsettled.size - before;
    return message;
  }

  /** True when `message` is its partition's latest unsettled delivery. */
  #isUnsettled(message: KafkaQueueMessage): boolean {
    return message.heldPartition.unsettled.get(message.fetched.offset) === message;
  }

  /** Takes `message` out of the unsettled ones (when it is the latest delivery of its offset). */
  #settle(message: KafkaQueueMessage): void {
    const { unsettled } = message.heldPartition;
    if (unsettled.get(message.fetched.offset) !== message) return;
    unsettled.delete(message.fetched.offset);
    this.#unsettledCount -= 1;
  }

  /**
   * Before a partition is let go: the delivery counts of its records delivered and not
   * acknowledged go to the queue's shared counts, so a later holding of the partition in this
   * process (this subscription or another) continues them.
   */
  #keepDeliveryCounts(held: HeldPartition): void {
    const position = held.ledger.commitPosition ?? Number.POSITIVE_INFINITY;
    const delivered: Array<readonly [offset: number, deliveries: number]> = [...held.acknowledgedAhead];
    for (const { fetched } of [...held.unsettled.values(), ...held.retry])
      if (fetched.deliveries > 0) delivered.push([fetched.offset, fetched.deliveries]);
    // In offset order: the shared counts are kept in offset order (see DeliveryCounts.forgetBelow).
    delivered.sort((x, y) => x[0] - y[0]);
    for (const [offset, deliveries] of delivered)
      if (offset >= position) this.#host.counts.record(held.countKey, offset, deliveries);
  }

  async #handle(batch: readonly KafkaQueueMessage[]): Promise<void> {
    const correlationId = batch[0]?.headers[MESSAGE_HEADERS.correlationId] ?? newCorrelationId();
    const open = (): KafkaQueueMessage[] => batch.filter((message) => this.#isUnsettled(message));
    try {
      await withCorrelationId(correlationId, () => this.#handler(batch));
    } catch (error) {
      const failed = open();
      const delayMs = Math.min(
        this.#host.retryBackoffMs * 2 ** ((failed[0]?.deliveryCount ?? 1) - 1),
        MAX_RETRY_BACKOFF_MS,
      );
      if (failed.length > 0)
        this.#host.logger?.warn('A message handler threw; its unacknowledged messages are redelivered', {
          topic: this.topic,
          group: this.group,
          messages: failed.length,
          deliveryCount: failed[0]?.deliveryCount ?? 1,
          retryInMs: delayMs,
          error: errorText(error),
        });
      for (const message of failed) {
        try {
          await this.nack(message, delayMs, error);
        } catch (nackError) {
          this.#host.logger?.warn('Could not dead-letter a message after its handler threw; it is redelivered', {
            topic: this.topic,
            group: this.group,
            id: message.id,
            error: errorText(nackError),
          });
          this.#scheduleRetry(message, delayMs);
        }
      }
      return;
    }
    if (this.#options.autoAck === true) this.acknowledge(open());
  }

  /** True when `message` is the latest delivery by this subscription of a partition it still holds. */
  #current(message: KafkaQueueMessage): HeldPartition | undefined {
    const held = message.heldPartition;
    return this.#held.get(held.partition) === held ? held : undefined;
  }

  /**
   * Acknowledges `messages` (all delivered by this subscription): stores each partition's new commit
   * position. Messages of a partition no longer held are ignored: another consumer owns them.
   */
  acknowledge(messages: readonly KafkaQueueMessage[]): void {
    const moved = new Set<HeldPartition>();
    for (const message of messages) {
      const held = this.#current(message);
      this.#settle(message);
      if (held === undefined) continue;
      const offset = message.fetched.offset;
      if (held.ledger.acknowledge(offset)) moved.add(held);
      if (offset >= (held.ledger.commitPosition ?? 0)) held.acknowledgedAhead.set(offset, message.deliveryCount);
      if (held.retry.length > 0) {
        const before = held.retry.length;
        held.dropRetry(offset);
        this.#waiting -= before - held.retry.length;
      }
    }
    for (const held of moved) this.#store(held);
    this.#deliverySignal.notify();
    this.#roomSignal.notify();
  }

  #store(held: HeldPartition): void {
    const position = held.ledger.commitPosition;
    if (position === undefined) return;
    for (const offset of held.acknowledgedAhead.keys()) if (offset < position) held.acknowledgedAhead.delete(offset);
    try {
      this.#consumer.offsetsStore([{ topic: held.topic, partition: held.partition, offset: position }]);
      this.#host.counts.forgetBelow(held.countKey, position);
    } catch (error) {
      this.#host.logger?.debug('Kafka offsetsStore failed (the partition is being revoked?)', {
        topic: held.topic,
        partition: held.partition,
        error: errorText(error),
      });
    }
  }

  /**
   * Hands `message` back: it is delivered again, to this subscription, `delayMs` from now, and the
   * rest of its partition waits behind it (partition order). Past `maxDeliveries` it is
   * dead-lettered instead (unless dead-lettering is off).
   */
  async nack(message: KafkaQueueMessage, delayMs: number, error?: unknown): Promise<void> {
    if (!this.#isUnsettled(message) || this.#current(message) === undefined) return;
    if (this.#deadLettering && message.deliveryCount >= this.#maxDeliveries) {
      await this.#deadLetterOverLimit(message, error);
      return;
    }
    this.#scheduleRetry(message, delayMs);
  }

  /** The queue's own dead letter of a message past `maxDeliveries`, reported to `onDeadLetter` either way. */
  async #deadLetterOverLimit(message: KafkaQueueMessage, error: unknown): Promise<void> {
    try {
      await this.deadLetter(message, MAX_DELIVERIES_REASON, error);
    } catch (failure) {
      reportQueueDeadLetter(this.#options, message, MAX_DELIVERIES_REASON, { published: false, error: failure });
      throw failure;
    }
    reportQueueDeadLetter(this.#options, message, MAX_DELIVERIES_REASON, { published: true });
  }

  #scheduleRetry(message: KafkaQueueMessage, delayMs: number): void {
    const held = this.#current(message);
    this.#settle(message);
    if (held === undefined || held.ledger.isAcknowledged(message.fetched.offset)) return;
    const before = held.retry.length;
    held.addRetry(message.fetched, Date.now() + Math.max(0, delayMs));
    this.#waiting += held.retry.length - before;
    this.#deliverySignal.notify();
  }

  /** Publishes `message` to the dead-letter topic, then acknowledges it. */
  async deadLetter(message: KafkaQueueMessage, reason: string, error: unknown): Promise<void> {
    await this.#host.publishDeadLetter(message, this.deadLetterTopic, reason, error);
    this.acknowledge([message]);
  }

  #onRebalance(error: LibrdKafkaError | undefined, assignment: Assignment[]): void {
    const partitions = assignment.map(({ topic, partition }) => ({ topic, partition }));
    const code = error?.code;
    this.#rebalancing = this.#rebalancing
      .then(async () => {
        if (code === REBALANCE_CODES.assign) await this.#assign(partitions);
        else if (code === REBALANCE_CODES.revoke) await this.#revoke(partitions, true);
        else
          this.#host.logger?.warn('Kafka rebalance error', {
            topic: this.topic,
            group: this.group,
            error: error?.message ?? 'unknown',
          });
      })
      .catch((failure: unknown) => {
        this.#host.logger?.error('Handling a Kafka rebalance failed', {
          topic: this.topic,
          group: this.group,
          error: errorText(failure),
        });
      });
  }

  async #assign(partitions: readonly TopicPartition[]): Promise<void> {
    const starts = new Map<number, number>();
    try {
      const positions = await this.#startPositions(partitions);
      this.#consumer.incrementalAssign(positions);
      for (const position of positions)
        if ('offset' in position && position.offset >= 0) starts.set(position.partition, position.offset);
    } catch (error) {
      this.#host.logger?.error('Kafka incrementalAssign failed', { topic: this.topic, error: errorText(error) });
      return;
    }
    const added: HeldPartition[] = [];
    for (const { topic, partition } of partitions) {
      if (topic !== this.topic) continue;
      const held = new HeldPartition(topic, partition, DeliveryCounts.key(this.group, topic, partition));
      held.startOffset = starts.get(partition);
      this.#held.set(partition, held);
      added.push(held);
    }
    if (this.#brokerPaused && added.length > 0)
      this.#consumer.pause(added.map(({ topic, partition }) => ({ topic, partition })));
    try {
      if (added.length > 0 || this.#firstAssignment !== undefined)
        await this.#options.onAssigned?.(added.map(({ topic, partition }) => ({ topic, partition })));
    } catch (error) {
      this.#host.logger?.warn('onAssigned threw; delivering the partitions anyway', {
        topic: this.topic,
        group: this.group,
        error: errorText(error),
      });
    } finally {
      for (const held of added) held.ready = true;
      this.#firstAssignment?.();
      this.#firstAssignment = undefined;
      this.#deliverySignal.notify();
    }
  }

  /**
   * Where assigned partitions start: their committed position, looked up here and passed to
   * `incrementalAssign` explicitly; without one, the oldest retained message (librdkafka's reset,
   * always `earliest`) or, for `startFrom: 'latest'`, the end of the partition as it is now,
   * looked up here so that a message published once `subscribe()` has resolved is delivered
   * (librdkafka would look the end up later, when fetching starts). The committed position is
   * explicit because librdkafka, left to look it up itself, now and then started a partition this
   * consumer had held before (assigned, revoked, assigned again) from the beginning although the
   * group had committed far beyond it (seen under load: the previous owner's commit acknowledged,
   * `committed()` answering it, and the partition redelivered from offset 0). A committed position
   * below the oldest retained record (retention deleted what the group had not consumed) starts at
   * that record, with a warning naming both. When the lookup fails (logged as a warning),
   * librdkafka looks the positions up as before and nothing is filtered: the leftovers this guards
   * against can then be delivered again (at least once), and a reset goes to the oldest record.
   */
  async #startPositions(partitions: readonly TopicPartition[]): Promise<Assignment[]> {
    const plain = partitions.map(({ topic, partition }) => ({ topic, partition }));
    if (plain.length === 0) return plain;
    const committed = await new Promise<ReadonlyMap<number, number | undefined> | undefined>((resolve) =>
      this.#consumer.committed(plain, LOOKUP_TIMEOUT_MS, (error, offsets) => {
        if (!error) {
          resolve(new Map(offsets.map(({ partition, offset }) => [partition, offset])));
          return;
        }
        this.#host.logger?.warn(
          'Kafka committed-offset lookup failed: librdkafka picks the start of the assigned partitions itself, and records below the committed position are not filtered (they may be delivered again)',
          {
            topic: this.topic,
            group: this.group,
            partitions: plain.map(({ partition }) => partition),
            error: errorText(error),
          },
        );
        resolve(undefined);
      }),
    );
    if (committed === undefined) return plain;
    const watermarks = (topicPartition: TopicPartition): Promise<{ low: number; high: number } | undefined> =>
      new Promise((resolve) => {
        this.#consumer.queryWatermarkOffsets(
          topicPartition.topic,
          topicPartition.partition,
          LOOKUP_TIMEOUT_MS,
          (error, offsets) => {
            if (!error) {
              resolve({ low: offsets.lowOffset, high: offsets.highOffset });
              return;
            }
            this.#host.logger?.warn(
              'Kafka end-offset lookup failed: librdkafka picks the start of the partition itself, and records below the committed position are not filtered (they may be delivered again)',
              {
                topic: this.topic,
                group: this.group,
                partition: topicPartition.partition,
                error: errorText(error),
              },
            );
            resolve(undefined);
          },
        );
      });
    return Promise.all(
      plain.map(async (topicPartition): Promise<Assignment> => {
        const position = committed.get(topicPartition.partition) ?? -1;
        if (position < 0 && this.#options.startFrom !== 'latest') return topicPartition;
        const marks = await watermarks(topicPartition);
        // A new group's end is then librdkafka's to look up (its reset would go to the oldest record).
        if (marks === undefined) return position < 0 ? { ...topicPartition, offset: OFFSET_END } : topicPartition;
        if (position < 0) return { ...topicPartition, offset: marks.high };
        // A committed position past the end (the topic was re-created, the log truncated) is left
        // to librdkafka's reset, and nothing is filtered below it: that would drop the new messages.
        if (position > marks.high) return topicPartition;
        if (position < marks.low) {
          this.#host.logger?.warn(
            'Kafka committed position is below the oldest retained record: the records in between were deleted (retention) before the group consumed them',
            {
              topic: this.topic,
              group: this.group,
              partition: topicPartition.partition,
              committedOffset: position,
              oldestOffset: marks.low,
            },
          );
          return { ...topicPartition, offset: marks.low };
        }
        return { ...topicPartition, offset: position };
      }),
    );
  }

  /**
   * Revokes `partitions`: nothing more of them is delivered; once the running batch that holds any
   * of them has settled, `onRevoked` runs (its acknowledgements still count), the final positions
   * are stored, and (`unassign`) librdkafka is told, which commits them before the group moves the
   * partitions.
   */
  async #revoke(partitions: readonly TopicPartition[], unassign: boolean): Promise<void> {
    const revoked = partitions
      .map(({ partition }) => this.#held.get(partition))
      .filter((held): held is HeldPartition => held !== undefined);
    for (const held of revoked) held.revoking = true;
    // The batch running now settles first (even one of other partitions: a batch handler may work
    // across partitions, and its hooks expect a quiet consumer). No new batch starts meanwhile, so
    // batches of other partitions that keep arriving cannot starve this wait.
    this.#revocations += 1;
    try {
      await this.#running;
      const hooked = revoked.filter((held) => !held.revokedHookRan);
      for (const held of hooked) held.revokedHookRan = true;
      try {
        if (hooked.length > 0)
          await this.#options.onRevoked?.(hooked.map(({ topic, partition }) => ({ topic, partition })));
      } catch (error) {
        this.#host.logger?.warn('onRevoked threw; the partitions are released with what was acknowledged', {
          topic: this.topic,
          group: this.group,
          error: errorText(error),
        });
      }
    } finally {
      this.#revocations -= 1;
      this.#deliverySignal.notify();
    }
    for (const held of revoked) {
      this.#store(held);
      this.#keepDeliveryCounts(held);
    }
    if (!unassign) return;
    try {
      this.#consumer.incrementalUnassign(partitions.map(({ topic, partition }) => ({ topic, partition })));
    } catch (error) {
      this.#host.logger?.debug('Kafka incrementalUnassign failed', { topic: this.topic, error: errorText(error) });
    }
    for (const held of revoked) {
      this.#held.delete(held.partition);
      this.#waiting -= held.buffered + held.retry.length;
      this.#unsettledCount -= held.unsettled.size;
      held.unsettled.clear();
    }
    this.#roomSignal.notify();
  }
}

/** A delivered Kafka record; it knows the subscription and partition it came from. */
export class KafkaQueueMessage implements QueueMessage {
  readonly topic: string;
  readonly group: string;
  readonly partition: number;
  readonly offset: string;
  readonly value: Uint8Array;
  readonly deliveryCount: number;
  readonly #subscription: KafkaSubscription;
  readonly #held: HeldPartition;
  readonly #fetched: Fetched;

  constructor(subscription: KafkaSubscription, held: HeldPartition, fetched: Fetched, deliveryCount: number) {
    this.topic = subscription.topic;
    this.group = subscription.group;
    this.partition = held.partition;
    this.offset = String(fetched.offset);
    this.value = fetched.value;
    this.deliveryCount = deliveryCount;
    this.#subscription = subscription;
    this.#held = held;
    this.#fetched = fetched;
  }

  /** `<partition>:<offset>` (see {@link messageId}), made when read. */
  get id(): string {
    return messageId(this.partition, this.#fetched.offset);
  }

  get key(): string | undefined {
    return this.#fetched.key;
  }

  /** Decoded when first read. */
  get headers(): Readonly<Record<string, string>> {
    return this.#fetched.headers;
  }

  get publishedAt(): Date {
    return new Date(this.#fetched.timestamp);
  }

  /** @internal The subscription that delivered this message. */
  get subscription(): KafkaSubscription {
    return this.#subscription;
  }

  /** @internal */
  get heldPartition(): HeldPartition {
    return this.#held;
  }

  /** @internal */
  get fetched(): Fetched {
    return this.#fetched;
  }

  /** The subscription that delivered `message`, when it is one of ours. */
  static subscriptionOf(message: QueueMessage): KafkaSubscription | undefined {
    return #subscription in message ? message.#subscription : undefined;
  }

  /** `message` as one of ours, when it is. */
  static ours(message: QueueMessage): KafkaQueueMessage | undefined {
    return #subscription in message ? message : undefined;
  }
}

/** The id of the record at `offset` of `partition`: `<partition>:<offset>`, as `publish` returns it. */
export function messageId(partition: number, offset: number): string {
  return `${partition}:${offset}`;
}

function decodeHeaders(headers: Message['headers']): Readonly<Record<string, string>> {
  if (headers === undefined || headers.length === 0) return NO_HEADERS;
  const decoded: Record<string, string> = {};
  for (const header of headers)
    for (const [name, value] of Object.entries(header))
      decoded[name] = typeof value === 'string' ? value : value.toString();
  return decoded;
}

export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'object' && error !== null && 'message' in error && typeof error.message === 'string')
    return error.message;
  return typeof error === 'string' ? error : 'unknown error';
}

/** A librdkafka error as an `Error` (node-rdkafka's errors are, but are not typed as such). */
export function asError(error: LibrdKafkaError): Error {
  return error instanceof Error ? error : Object.assign(new Error(error.message), { code: error.code });
}
