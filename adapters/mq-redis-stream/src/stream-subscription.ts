import { setTimeout as sleep } from 'node:timers/promises';
import {
  MAX_DELIVERIES_REASON,
  MESSAGE_HEADERS,
  deadLetterTopic,
  newCorrelationId,
  reportQueueDeadLetter,
  withCorrelationId,
} from '@platform-host/contracts';
import type { BatchHandler, Logger, QueueMessage, SubscribeOptions, Subscription } from '@platform-host/contracts';
import type { Redis } from 'ioredis';
import { entryTime, parseAutoClaimReply, parseEntry, parsePendingCounts, parseReadReply } from './stream-entries.js';
import type { StreamEntry } from './stream-entries.js';

/** What a subscription needs from the queue that created it. */
export interface SubscriptionHost {
  /** The shared connection, for acknowledgements and hand-backs (never blocked). */
  readonly redis: Redis;
  readonly claimIdleMs: number;
  /** First delay of a redelivery after a throwing handler, doubled per delivery up to {@link MAX_RETRY_BACKOFF_MS}. */
  readonly retryBackoffMs: number;
  readonly logger: Logger | undefined;
  streamKey(topic: string): string;
  /** Publishes the dead letter of `message` and acknowledges it, atomically. */
  deadLetterNow(message: QueueMessage, topic: string, reason: string, error: unknown): Promise<void>;
  /** Makes `ids` claimable by any consumer of the group after `delayMs` (see {@link StreamSubscription.nack}). */
  makeClaimable(
    key: string,
    group: string,
    consumer: string,
    ids: readonly string[],
    retryCount?: number,
  ): Promise<void>;
  forget(subscription: StreamSubscription): void;
}

/** Everything a {@link StreamSubscription} is built from. */
export interface StreamSubscriptionSettings {
  readonly topic: string;
  readonly handler: BatchHandler;
  readonly options: SubscribeOptions;
  readonly consumer: string;
  /** A connection of its own: XREADGROUP blocks it. */
  readonly connection: Redis;
}

/** The longest delay of a redelivery after a throwing handler. */
export const MAX_RETRY_BACKOFF_MS = 5000;

/** The longest BLOCK of one XREADGROUP, so the loop comes back regularly (claims, reconnects). */
const MAX_BLOCK_MS = 1000;

/**
 * ioredis's grace beyond a read's BLOCK before it resolves the read with `null` client-side (its
 * `blockingTimeoutGrace`, set to this on the subscription connection).
 */
export const READ_TIMEOUT_GRACE_MS = 100;

/**
 * One subscription: a loop on a dedicated connection that claims entries left idle by any consumer
 * of the group (XAUTOCLAIM), reads new ones (XREADGROUP with a bounded BLOCK), and hands them to
 * the handler one batch at a time.
 */
export class StreamSubscription implements Subscription {
  readonly topic: string;
  readonly group: string;
  readonly consumer: string;
  readonly deadLetterTopic: string;
  readonly #host: SubscriptionHost;
  readonly #handler: BatchHandler;
  readonly #options: SubscribeOptions;
  readonly #connection: Redis;
  readonly #key: string;
  readonly #maxBatchSize: number;
  readonly #maxInFlight: number;
  readonly #maxDeliveries: number;
  readonly #deadLettering: boolean;
  /** How often the loop looks for idle entries to claim when nothing told it to. */
  readonly #claimCheckMs: number;
  /** Delivered and neither acknowledged, nacked nor dead-lettered, by id (the latest delivery). */
  readonly #inFlight = new Map<string, QueueMessage>();
  /** Read while paused or closing: delivered on resume, handed back on close. */
  #buffer: QueueMessage[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  #claimCursor = '0-0';
  #nextClaimAt = 0;
  #paused = false;
  #closing = false;
  #closed: Promise<void> | undefined;
  #loop: Promise<void> = Promise.resolve();
  #wake: (() => void) | undefined;
  /** The server-side id of the dedicated connection, for CLIENT UNBLOCK. */
  #clientId: number | undefined;
  /** The highest id a `>` read of this subscription returned (`-` before any). */
  #lastReadId = '-';

  constructor(host: SubscriptionHost, settings: StreamSubscriptionSettings) {
    this.#host = host;
    this.topic = settings.topic;
    this.group = settings.options.group;
    this.consumer = settings.consumer;
    this.#handler = settings.handler;
    this.#options = settings.options;
    this.#connection = settings.connection;
    this.#key = host.streamKey(settings.topic);
    this.#maxBatchSize = Math.max(1, settings.options.maxBatchSize ?? 100);
    this.#maxInFlight = Math.max(this.#maxBatchSize, settings.options.maxInFlight ?? 1000);
    this.#maxDeliveries = Math.max(1, settings.options.maxDeliveries ?? 5);
    this.#deadLettering = settings.options.deadLetter?.enabled ?? true;
    this.deadLetterTopic = settings.options.deadLetter?.topic ?? deadLetterTopic(settings.topic);
    this.#claimCheckMs = Math.max(20, Math.min(MAX_BLOCK_MS, Math.floor(host.claimIdleMs / 4)));
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Creates the group if needed, tells `onAssigned`, and starts the loop. */
  async start(): Promise<void> {
    await this.#createGroup(this.#options.startFrom === 'latest' ? '$' : '0');
    this.#connection.on('ready', () => void this.#learnClientId());
    await this.#connection.connect();
    await this.#learnClientId();
    await this.#options.onAssigned?.([{ topic: this.topic, partition: 0 }]);
    this.#loop = this.#run();
  }

  /** Creates the consumer group (and the stream) unless it exists; `from` is where it starts reading. */
  async #createGroup(from: '$' | '0'): Promise<void> {
    try {
      await this.#host.redis.xgroup('CREATE', this.#key, this.group, from, 'MKSTREAM');
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith('BUSYGROUP'))) throw error;
    }
  }

  /**
   * The group vanished under a running subscription: a server restarted without persistence, or a
   * failover to a replica that never had it. It is created again from the start of what the stream
   * now holds (all of it was published after the loss, so none of it may be skipped); what had been
   * delivered and not acknowledged before is gone with the server's data, and their acks now fail.
   */
  async #recreateLostGroup(): Promise<void> {
    await this.#createGroup('0');
    this.#claimCursor = '0-0';
    this.#host.logger?.warn('Redis stream consumer group was missing on the server (it lost its data); created again', {
      topic: this.topic,
      group: this.group,
      inFlight: this.#inFlight.size,
    });
  }

  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#unblock();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#wakeUp();
  }

  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    this.#unblock();
    this.#wakeUp();
    await this.#loop;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    try {
      await this.#options.onRevoked?.([{ topic: this.topic, partition: 0 }]);
    } finally {
      // What this consumer still holds becomes claimable by the group at once; a buffered entry
      // never reached a handler, so its delivery does not count.
      const buffered = new Set(this.#buffer.map((message) => message.id));
      const held = [...this.#inFlight.values()];
      this.#inFlight.clear();
      this.#buffer = [];
      await this.#handBack(held.filter((message) => !buffered.has(message.id)));
      for (const message of held.filter((message) => buffered.has(message.id)))
        await this.#handBack([message], message.deliveryCount - 1);
      this.#host.forget(this);
      await this.#connection.quit().catch(() => this.#connection.disconnect());
    }
  }

  async #handBack(messages: readonly QueueMessage[], retryCount?: number): Promise<void> {
    if (messages.length === 0) return;
    try {
      await this.#host.makeClaimable(
        this.#key,
        this.group,
        this.consumer,
        messages.map((message) => message.id),
        retryCount,
      );
    } catch (error) {
      // They stay pending and are claimed after the claim idle time anyway.
      this.#host.logger?.warn('Could not hand back unacknowledged messages; they are claimable after the idle time', {
        topic: this.topic,
        group: this.group,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  /** `ack` of `message` by the queue: it no longer counts against `maxInFlight`. */
  settled(message: QueueMessage): void {
    if (this.#inFlight.get(message.id) === message) {
      this.#inFlight.delete(message.id);
      this.#wakeUp();
    }
  }

  /**
   * Hands `message` back: it stays in the group's pending list with an idle time set so that
   * XAUTOCLAIM (by this consumer or another) takes it again `delayMs` from now. A delay longer than
   * the claim idle time is held by refreshing the idle time until it is due.
   */
  async nack(message: QueueMessage, delayMs: number, error?: unknown): Promise<void> {
    if (this.#deadLettering && message.deliveryCount >= this.#maxDeliveries) {
      await this.#deadLetterOverLimit(message, error);
      this.settled(message);
      return;
    }
    const dueAt = Date.now() + Math.max(0, delayMs);
    await this.#holdUntil(message.id, dueAt);
    this.settled(message);
  }

  async #holdUntil(id: string, dueAt: number): Promise<void> {
    const claimIdleMs = this.#host.claimIdleMs;
    const remaining = dueAt - Date.now();
    await this.#host.redis.xclaim(
      this.#key,
      this.group,
      this.consumer,
      0,
      id,
      'IDLE',
      Math.max(0, claimIdleMs - remaining),
      'JUSTID',
    );
    if (remaining > claimIdleMs) {
      const timer = setTimeout(
        () => {
          this.#timers.delete(timer);
          if (!this.#closing) void this.#holdUntil(id, dueAt).catch(() => undefined);
        },
        Math.min(remaining - claimIdleMs, claimIdleMs / 2),
      );
      timer.unref();
      this.#timers.add(timer);
    } else {
      this.#claimSoon(dueAt);
    }
  }

  /** Makes the loop scan the pending list from its start at `at`. */
  #claimSoon(at: number): void {
    this.#claimCursor = '0-0';
    this.#nextClaimAt = Math.min(this.#nextClaimAt, at);
  }

  async deadLetter(message: QueueMessage, reason: string, error: unknown): Promise<void> {
    await this.#host.deadLetterNow(message, this.deadLetterTopic, reason, error);
    this.settled(message);
  }

  /** The queue's own dead letter of a message past `maxDeliveries`, reported to `onDeadLetter` either way. */
  async #deadLetterOverLimit(message: QueueMessage, error: unknown): Promise<void> {
    try {
      await this.#host.deadLetterNow(message, this.deadLetterTopic, MAX_DELIVERIES_REASON, error);
    } catch (failure) {
      reportQueueDeadLetter(this.#options, message, MAX_DELIVERIES_REASON, { published: false, error: failure });
      throw failure;
    }
    reportQueueDeadLetter(this.#options, message, MAX_DELIVERIES_REASON, { published: true });
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#closing) {
      if (this.#paused) {
        await this.#sleepUntilWoken();
        continue;
      }
      try {
        let batch = this.#buffer.splice(0, this.#maxBatchSize);
        if (batch.length === 0) {
          const budget = Math.min(this.#maxBatchSize, this.#maxInFlight - this.#inFlight.size);
          if (budget <= 0) {
            await this.#sleepUntilWoken();
            continue;
          }
          if (Date.now() >= this.#nextClaimAt) batch = await this.#claim(budget);
          if (batch.length === 0) batch = await this.#read(budget);
        }
        failures = 0;
        if (batch.length === 0) continue;
        if (this.#paused || this.#closing) {
          this.#buffer = [...batch, ...this.#buffer];
          continue;
        }
        await this.#deliver(batch);
      } catch (error) {
        if (this.#closing) break;
        if (error instanceof Error && error.message.startsWith('NOGROUP')) {
          // The next read, after the back-off below (so a group that keeps vanishing cannot spin
          // this loop), finds the group again; a failed re-creation is tried again the same way.
          await this.#recreateLostGroup().catch(() => undefined);
        }
        failures += 1;
        this.#host.logger?.warn('Redis stream subscription failed to fetch; retrying', {
          topic: this.topic,
          group: this.group,
          error: error instanceof Error ? error.message : String(error),
        });
        await this.#sleepUntilWoken(Math.min(2000, 50 * 2 ** failures));
      }
    }
  }

  async #claim(count: number): Promise<QueueMessage[]> {
    // XAUTOCLAIM resets the idle time of what it claims when the server runs it, after this instant.
    const exclusiveUntil = performance.now() + this.#host.claimIdleMs;
    const { cursor, entries } = parseAutoClaimReply(
      await this.#connection.callBuffer(
        'XAUTOCLAIM',
        this.#key,
        this.group,
        this.consumer,
        this.#host.claimIdleMs,
        this.#claimCursor,
        'COUNT',
        count,
      ),
    );
    this.#claimCursor = cursor;
    // A scan that has not reached the end of the pending list goes on at once.
    this.#nextClaimAt = Date.now() + (cursor === '0-0' ? this.#claimCheckMs : 0);
    if (entries.length === 0) return [];
    // One XPENDING per claimed id: a single range query from the lowest to the highest claimed id
    // limited to their number also returns this consumer's own pending entries whose ids fall in
    // between, and the claimed entries past the limit would be reported as first deliveries.
    const pipeline = this.#connection.pipeline();
    for (const entry of entries) pipeline.xpending(this.#key, this.group, entry.id, entry.id, 1, this.consumer);
    const counts = new Map<string, number>();
    for (const [error, reply] of (await pipeline.exec()) ?? []) {
      if (error) throw error;
      for (const [id, count] of parsePendingCounts(reply)) counts.set(id, count);
    }
    const messages: QueueMessage[] = [];
    for (const entry of entries) {
      const deliveryCount = counts.get(entry.id) ?? 1;
      if (this.#deadLettering && deliveryCount > this.#maxDeliveries) {
        // Claimed from a consumer that never settled it (crashed, stuck): the last delivery failed.
        const message = this.#message(entry, deliveryCount - 1, exclusiveUntil);
        try {
          await this.#deadLetterOverLimit(message, undefined);
        } catch (error) {
          // Not acknowledged: it stays pending and is claimed (and dead-lettered) again after the
          // claim idle time; the other claimed entries are delivered meanwhile.
          this.#host.logger?.warn(
            'Could not dead-letter an entry over maxDeliveries; it is tried again after the idle time',
            {
              topic: this.topic,
              group: this.group,
              id: entry.id,
              error: error instanceof Error ? error.message : String(error),
            },
          );
        }
        continue;
      }
      messages.push(this.#track(this.#message(entry, deliveryCount, exclusiveUntil)));
    }
    return messages;
  }

  async #read(count: number): Promise<QueueMessage[]> {
    const block = Math.max(1, Math.min(MAX_BLOCK_MS, this.#nextClaimAt - Date.now()));
    // The server delivers (and starts the idle time of) what this read returns after this instant.
    const exclusiveUntil = performance.now() + this.#host.claimIdleMs;
    const reply = await this.#connection.callBuffer(
      'XREADGROUP',
      'GROUP',
      this.group,
      this.consumer,
      'COUNT',
      count,
      'BLOCK',
      block,
      'STREAMS',
      this.#key,
      '>',
    );
    if (reply === null) {
      // Perhaps not an empty read but ioredis's client-side bound (BLOCK + grace) in a starved
      // process: the server may have delivered entries whose reply was then dropped. The time that
      // passed cannot tell: ioredis's timer starts from the event loop's cached time, which lags
      // the clock after a long synchronous stretch, so it can fire before BLOCK + grace have passed
      // by Date.now(). Every empty read looks (one XPENDING of this consumer's entries past the
      // last id read); an entry left there would otherwise wait for the claim time.
      return this.#recoverDropped(count, exclusiveUntil);
    }
    const entries = parseReadReply(reply);
    const last = entries[entries.length - 1];
    if (last !== undefined) this.#lastReadId = last.id;
    return entries.map((entry) => this.#track(this.#message(entry, 1, exclusiveUntil)));
  }

  /**
   * The entries a timed-out read was given by the server: pending for this consumer, after the last
   * id a read returned, delivered once and not in flight (claimed entries have been delivered at
   * least twice). Taken back with XCLAIM keeping their delivery count at 1: no handler saw them.
   * `exclusiveUntil` is the timed-out read's: another consumer may have claimed an entry since
   * then, and XCLAIM would take it back with its count set to 1 again.
   */
  async #recoverDropped(count: number, exclusiveUntil: number): Promise<QueueMessage[]> {
    const start = this.#lastReadId === '-' ? '-' : `(${this.#lastReadId}`;
    const pending = (await this.#connection.xpending(
      this.#key,
      this.group,
      start,
      '+',
      count + this.#inFlight.size,
      this.consumer,
    )) as unknown;
    const ids = [...parsePendingCounts(pending)]
      .filter(([id, deliveries]) => deliveries === 1 && !this.#inFlight.has(id))
      .map(([id]) => id)
      .slice(0, count);
    if (ids.length === 0) return [];
    const reply = await this.#connection.callBuffer(
      'XCLAIM',
      this.#key,
      this.group,
      this.consumer,
      0,
      ...ids,
      'RETRYCOUNT',
      1,
    );
    const entries = (Array.isArray(reply) ? reply : [])
      .filter((entry) => entry !== null)
      .map((entry) => parseEntry(entry, 'XCLAIM'));
    const last = entries[entries.length - 1];
    if (last !== undefined) this.#lastReadId = last.id;
    this.#host.logger?.warn('Redis stream read timed out client-side; took back the entries it was given', {
      topic: this.topic,
      group: this.group,
      consumer: this.consumer,
      entries: entries.length,
    });
    return entries.map((entry) => this.#track(this.#message(entry, 1, exclusiveUntil)));
  }

  #message(entry: StreamEntry, deliveryCount: number, exclusiveUntil: number): QueueMessage {
    return new StreamMessage(entry, this, deliveryCount, exclusiveUntil);
  }

  #track(message: QueueMessage): QueueMessage {
    this.#inFlight.set(message.id, message);
    return message;
  }

  async #deliver(batch: readonly QueueMessage[]): Promise<void> {
    const correlationId = batch[0]?.headers[MESSAGE_HEADERS.correlationId] ?? newCorrelationId();
    const open = (): QueueMessage[] => batch.filter((message) => this.#inFlight.get(message.id) === message);
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
          consumer: this.consumer,
          messages: failed.length,
          deliveryCount: failed[0]?.deliveryCount ?? 1,
          retryInMs: delayMs,
          error: error instanceof Error ? error.message : String(error),
        });
      for (const message of failed) {
        try {
          await this.nack(message, delayMs, error);
        } catch (nackError) {
          this.#host.logger?.warn(
            'Could not nack a message after its handler threw; it is claimable after the idle time',
            {
              topic: this.topic,
              group: this.group,
              id: message.id,
              error: nackError instanceof Error ? nackError.message : String(nackError),
            },
          );
        }
      }
      return;
    }
    if (this.#options.autoAck === true) {
      const unacknowledged = open();
      if (unacknowledged.length > 0) {
        await this.#host.redis.xack(this.#key, this.group, ...unacknowledged.map((message) => message.id));
        for (const message of unacknowledged) this.settled(message);
      }
    }
  }

  /** Waits until woken (ack, nack, resume, close) or `ms` passed. */
  async #sleepUntilWoken(ms = MAX_BLOCK_MS): Promise<void> {
    const woken = new Promise<void>((resolve) => (this.#wake = resolve));
    const controller = new AbortController();
    await Promise.race([woken, sleep(ms, undefined, { signal: controller.signal }).catch(() => undefined)]);
    controller.abort();
    this.#wake = undefined;
  }

  #wakeUp(): void {
    this.#wake?.();
  }

  async #learnClientId(): Promise<void> {
    try {
      this.#clientId = Number(await this.#connection.client('ID'));
    } catch {
      this.#clientId = undefined;
    }
  }

  /** Ends a blocked XREADGROUP at once (as if its BLOCK timed out), so pause and close take effect. */
  #unblock(): void {
    if (this.#clientId === undefined) return;
    void this.#host.redis.client('UNBLOCK', this.#clientId).catch(() => undefined);
  }
}

/**
 * A delivered message. It knows the subscription that delivered it (a private field rather than a
 * WeakMap, which costs the garbage collector dearly at hundreds of thousands of messages a second),
 * so that `ack` and `nack` reach that subscription's in-flight accounting.
 */
export class StreamMessage implements QueueMessage {
  readonly id: string;
  readonly topic: string;
  readonly group: string;
  readonly partition = undefined;
  readonly offset: string;
  readonly key: string | undefined;
  readonly value: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  readonly deliveryCount: number;
  readonly exclusiveUntil: number;
  readonly #subscription: StreamSubscription;

  constructor(entry: StreamEntry, subscription: StreamSubscription, deliveryCount: number, exclusiveUntil: number) {
    this.id = entry.id;
    this.topic = subscription.topic;
    this.group = subscription.group;
    this.offset = entry.id;
    this.key = entry.key;
    this.value = entry.value;
    this.headers = entry.headers;
    this.deliveryCount = deliveryCount;
    this.exclusiveUntil = exclusiveUntil;
    this.#subscription = subscription;
  }

  /** The time Redis stamped on the entry id (computed when read: most handlers never look). */
  get publishedAt(): Date {
    return entryTime(this.id);
  }

  /** The subscription that delivered `message`, when it is one of ours. */
  static subscriptionOf(message: QueueMessage): StreamSubscription | undefined {
    return #subscription in message ? message.#subscription : undefined;
  }
}
