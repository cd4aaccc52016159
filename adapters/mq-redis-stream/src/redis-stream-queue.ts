import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import {
  MESSAGE_HEADERS,
  PlatformError,
  currentCorrelationId,
  deadLetterHeaders,
  deadLetterTopic,
} from '@platform-host/contracts';
import type {
  BatchHandler,
  HealthCheckResult,
  Logger,
  MessageQueue,
  NackOptions,
  OutgoingMessage,
  QueueCapabilities,
  QueueMessage,
  SubscribeOptions,
  Subscription,
} from '@platform-host/contracts';
import { Redis } from 'ioredis';
import type { ChainableCommander, RedisOptions } from 'ioredis';
import { entryArguments } from './stream-entries.js';
import { READ_TIMEOUT_GRACE_MS, StreamMessage, StreamSubscription } from './stream-subscription.js';
import type { SubscriptionHost } from './stream-subscription.js';
import { DEAD_LETTER_COMMAND, DEAD_LETTER_SCRIPT } from './dead-letter-script.js';
import { TRIM_COMMAND, TRIM_SCRIPT } from './trim-script.js';

/** Options of {@link RedisStreamQueue}. */
export interface RedisStreamQueueOptions {
  /** `redis://[user:password@]host:port/db` (or `rediss://`). Never logged. */
  readonly url: string;
  /** Prepended to every stream key (`<prefix><topic>`). Default `mq:`. */
  readonly keyPrefix?: string;
  /**
   * Milliseconds an entry may stay delivered and unacknowledged before any consumer of its group
   * claims it (XAUTOCLAIM): the visibility timeout. Default 30000.
   */
  readonly claimIdleMs?: number;
  /**
   * Entries a stream is trimmed to after each publish (approximately, and never below what a group
   * still needs: see the README). 0 never trims. Default 1000000.
   */
  readonly maxLength?: number;
  /**
   * First delay of the redelivery of what a throwing batch handler left unacknowledged, doubled per
   * delivery up to 5 s. Default 50 ms.
   */
  readonly retryBackoffMs?: number;
  /** Deadline of `connect()`. Default 10000 ms. */
  readonly connectTimeoutMs?: number;
  /** Deadline of `healthCheck()`'s PING. Default 3000 ms. */
  readonly healthCheckTimeoutMs?: number;
  readonly logger?: Logger;
}

type State = 'new' | 'connecting' | 'connected' | 'closed';

/** `host:port/db` of a Redis URL, without credentials, for messages. */
export function describeServer(url: string): string {
  try {
    const parsed = new URL(url);
    const db = parsed.pathname.replace(/^\//, '') || '0';
    return `${parsed.hostname}:${parsed.port || '6379'}/${db}`;
  } catch {
    return '(an unparsable MQ_REDIS_STREAM_URL)';
  }
}

let consumerSerial = 0;

/**
 * A {@link MessageQueue} on Redis Streams (ioredis): one stream per topic, consumer groups,
 * XAUTOCLAIM redelivery and atomic dead-lettering.
 *
 * - **Entries** have the fields `value`, optional `key` and one `h:<name>` per header; `id` and
 *   `offset` are the stream entry id, `partition` is undefined.
 * - **Delivery**: each subscription has its own connection that loops over XAUTOCLAIM (entries of
 *   the group idle longer than `claimIdleMs`, from any consumer) and `XREADGROUP ... BLOCK` of at
 *   most one second, so a read never hangs across a reconnect. Batches are delivered one at a time.
 * - **Acknowledgement** is XACK. `nack` keeps the entry pending and sets its idle time so that it is
 *   claimed again after `delayMs`; a throwing handler nacks what it had not acknowledged. A message
 *   that reaches `maxDeliveries` is copied to the dead-letter stream and acknowledged in one MULTI.
 * - **Durability** is the server's: an accepted XADD or XACK is as durable as its persistence
 *   settings (`appendonly`, `appendfsync`) make it.
 */
export class RedisStreamQueue implements MessageQueue {
  readonly capabilities: QueueCapabilities = {
    orderedByKey: false,
    partitioned: false,
    delayedRedelivery: true,
  };
  readonly #url: string;
  readonly #server: string;
  readonly #keyPrefix: string;
  readonly #claimIdleMs: number;
  readonly #maxLength: number;
  readonly #connectTimeoutMs: number;
  readonly #retryBackoffMs: number;
  readonly #healthCheckTimeoutMs: number;
  readonly #logger: Logger | undefined;
  readonly #subscriptions = new Set<StreamSubscription>();
  /** The consumer name nack uses for a message no open subscription of this queue delivered. */
  readonly #fallbackConsumer = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  #redis: Redis | undefined;
  #state: State = 'new';

  constructor(options: RedisStreamQueueOptions) {
    this.#url = options.url;
    this.#server = describeServer(options.url);
    this.#keyPrefix = options.keyPrefix ?? 'mq:';
    this.#claimIdleMs = options.claimIdleMs ?? 30_000;
    this.#maxLength = options.maxLength ?? 1_000_000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.#retryBackoffMs = Math.max(0, options.retryBackoffMs ?? 50);
    this.#healthCheckTimeoutMs = options.healthCheckTimeoutMs ?? 3_000;
    this.#logger = options.logger;
  }

  /** The Redis key of `topic`'s stream. */
  streamKey(topic: string): string {
    return `${this.#keyPrefix}${topic}`;
  }

  #connectionOptions(): RedisOptions {
    return {
      lazyConnect: true,
      connectTimeout: this.#connectTimeoutMs,
      maxRetriesPerRequest: 3,
      // The stream replies (XREADGROUP, XAUTOCLAIM, XPENDING) are read raw with callBuffer in their
      // RESP2 shapes. ioredis 6 defaults to RESP3, whose "legacy" mapping flattens XREADGROUP's map
      // reply ([key, entries] instead of [[key, entries]]), so the protocol is pinned to 2.
      protocol: 2,
    };
  }

  async connect(): Promise<void> {
    if (this.#state === 'connected' || this.#state === 'connecting') return;
    if (this.#state === 'closed') throw this.#notConnected('connect');
    this.#state = 'connecting';
    const redis = new Redis(this.#url, this.#connectionOptions());
    redis.defineCommand(TRIM_COMMAND, { numberOfKeys: 1, lua: TRIM_SCRIPT });
    redis.defineCommand(DEAD_LETTER_COMMAND, { numberOfKeys: 2, lua: DEAD_LETTER_SCRIPT });
    // ioredis reports connection errors as events; without a listener Node would print them.
    redis.on('error', (error: Error) => {
      this.#logger?.debug('Redis stream connection error', { server: this.#server, error: error.message });
    });
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${this.#connectTimeoutMs} ms`)),
        this.#connectTimeoutMs,
      );
    });
    try {
      await Promise.race([redis.connect().then(() => redis.ping()), deadline]);
    } catch (error) {
      redis.disconnect();
      this.#state = 'new';
      throw new PlatformError('PH_ERR_CONNECT', `Could not connect to Redis at ${this.#server}: ${errorText(error)}`, {
        hint: 'Check MQ_REDIS_STREAM_URL and that the server is running.',
        cause: error,
      });
    } finally {
      clearTimeout(timer);
    }
    this.#redis = redis;
    this.#state = 'connected';
  }

  async disconnect(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    await Promise.allSettled([...this.#subscriptions].map((subscription) => subscription.close()));
    const redis = this.#redis;
    this.#redis = undefined;
    if (redis !== undefined) await redis.quit().catch(() => redis.disconnect());
  }

  async healthCheck(): Promise<HealthCheckResult> {
    const redis = this.#redis;
    if (redis === undefined || this.#state !== 'connected')
      return { ok: false, detail: 'not connected (connect() has not run, or disconnect() has)' };
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<HealthCheckResult>((resolve) => {
      timer = setTimeout(
        () =>
          resolve({
            ok: false,
            detail: `Redis at ${this.#server} did not answer PING within ${this.#healthCheckTimeoutMs} ms`,
          }),
        this.#healthCheckTimeoutMs,
      );
      timer.unref();
    });
    const answered = redis.ping().then(
      (): HealthCheckResult => ({ ok: true }),
      (error: unknown): HealthCheckResult => ({
        ok: false,
        detail: `Redis at ${this.#server} failed PING: ${errorText(error)}`,
      }),
    );
    try {
      return await Promise.race([answered, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  #require(action: string): Redis {
    const redis = this.#redis;
    if (redis === undefined || this.#state !== 'connected') throw this.#notConnected(action);
    return redis;
  }

  /**
   * The shared connection for what subscriptions do on their own account (hand-backs and dead
   * letters while they close), which `disconnect()` keeps open until every subscription closed.
   */
  #internal(action: string): Redis {
    if (this.#redis === undefined) throw this.#notConnected(action);
    return this.#redis;
  }

  #notConnected(action: string): PlatformError {
    return new PlatformError(
      'PH_ERR_NOT_CONNECTED',
      `RedisStreamQueue.${action}() was called before connect() or after disconnect()`,
      { hint: 'The host connects adapters before running a module; in tests, await mq.connect() first.' },
    );
  }

  /** Queues the XADD of `message`, with the publisher's correlation id unless it has one. */
  #addEntry(
    pipeline: ChainableCommander,
    key: string,
    message: OutgoingMessage,
    correlationId: string | undefined,
  ): void {
    const headers =
      correlationId === undefined || message.headers?.[MESSAGE_HEADERS.correlationId] !== undefined
        ? message.headers
        : { ...message.headers, [MESSAGE_HEADERS.correlationId]: correlationId };
    void pipeline.xadd(key, '*', ...entryArguments(message, headers ?? {}));
  }

  #trim(pipeline: ChainableCommander, topic: string): void {
    if (this.#maxLength > 0) pipeline[TRIM_COMMAND](this.streamKey(topic), this.#maxLength);
  }

  async publish(topic: string, message: OutgoingMessage): Promise<string> {
    const [id] = await this.publishBatch(topic, [message]);
    if (id === undefined) throw new PlatformError('PH_ERR_INTERNAL', 'XADD returned no id');
    return id;
  }

  async publishBatch(topic: string, messages: readonly OutgoingMessage[]): Promise<string[]> {
    const redis = this.#require('publishBatch');
    if (messages.length === 0) return [];
    const pipeline = redis.pipeline();
    const key = this.streamKey(topic);
    const correlationId = currentCorrelationId();
    for (const message of messages) this.#addEntry(pipeline, key, message, correlationId);
    this.#trim(pipeline, topic);
    const results = (await pipeline.exec()) ?? [];
    const ids: string[] = [];
    for (const [index, [error, id]] of results.slice(0, messages.length).entries()) {
      if (error !== null || typeof id !== 'string')
        throw new PlatformError(
          'PH_ERR_INTERNAL',
          `Redis at ${this.#server} did not accept message ${index} of ${messages.length} on "${topic}": ${errorText(error)}`,
          { cause: error },
        );
      ids.push(id);
    }
    const trimError = results[messages.length]?.[0];
    if (trimError) this.#logger?.warn('Trimming a Redis stream failed', { topic, error: errorText(trimError) });
    return ids;
  }

  /** Every publish resolves once Redis has answered its XADD, so there is nothing left to wait for. */
  async flush(): Promise<void> {
    this.#require('flush');
  }

  async subscribe(topic: string, handler: BatchHandler, options: SubscribeOptions): Promise<Subscription> {
    const redis = this.#require('subscribe');
    consumerSerial += 1;
    const consumer = options.consumer ?? `${hostname()}-${process.pid}-${consumerSerial}`;
    const connection = redis.duplicate({
      lazyConnect: true,
      // Names the connection in CLIENT LIST, so an operator sees which consumer it is.
      connectionName: `platform-mq:${consumer}`,
      // A read in flight when the connection drops is not resent: the loop issues a fresh one.
      autoResendUnfulfilledCommands: false,
      // Client-side bound of every blocking read (BLOCK plus a grace), also while reconnecting.
      blockingTimeout: 2_000,
      blockingTimeoutGrace: READ_TIMEOUT_GRACE_MS,
      maxRetriesPerRequest: 1,
    });
    connection.on('error', (error: Error) => {
      this.#logger?.debug('Redis stream subscription connection error', {
        server: this.#server,
        topic,
        error: error.message,
      });
    });
    const subscription = new StreamSubscription(this.#host(), { topic, handler, options, consumer, connection });
    this.#subscriptions.add(subscription);
    try {
      await subscription.start();
    } catch (error) {
      this.#subscriptions.delete(subscription);
      connection.disconnect();
      throw error;
    }
    return subscription;
  }

  #host(): SubscriptionHost {
    const redis = this.#require('subscribe');
    return {
      redis,
      claimIdleMs: this.#claimIdleMs,
      retryBackoffMs: this.#retryBackoffMs,
      logger: this.#logger,
      streamKey: (topic) => this.streamKey(topic),
      deadLetterNow: (message, topic, reason, error) => this.#deadLetterNow(message, topic, reason, error),
      makeClaimable: (key, group, consumer, ids, retryCount) =>
        this.#makeClaimable(key, group, consumer, ids, retryCount),
      forget: (subscription) => this.#subscriptions.delete(subscription),
    };
  }

  async #makeClaimable(
    key: string,
    group: string,
    consumer: string,
    ids: readonly string[],
    retryCount?: number,
  ): Promise<void> {
    const redis = this.#internal('nack');
    const retry = retryCount === undefined ? [] : ['RETRYCOUNT', Math.max(0, retryCount)];
    await redis.call('XCLAIM', key, group, consumer, 0, ...ids, 'IDLE', this.#claimIdleMs, ...retry, 'JUSTID');
  }

  async ack(messages: QueueMessage | readonly QueueMessage[]): Promise<void> {
    const redis = this.#require('ack');
    const list: readonly QueueMessage[] = isMessage(messages) ? [messages] : messages;
    if (list.length === 0) return;
    const [first] = list;
    if (
      first !== undefined &&
      list.every((message) => message.topic === first.topic && message.group === first.group)
    ) {
      // The usual case, one batch of one subscription: one XACK.
      await redis.xack(this.streamKey(first.topic), first.group, ...list.map((message) => message.id));
    } else {
      const byGroup = new Map<string, { key: string; group: string; ids: string[] }>();
      for (const message of list) {
        const key = this.streamKey(message.topic);
        const slot = `${message.group}\u0000${key}`;
        let entry = byGroup.get(slot);
        if (entry === undefined) {
          entry = { key, group: message.group, ids: [] };
          byGroup.set(slot, entry);
        }
        entry.ids.push(message.id);
      }
      const pipeline = redis.pipeline();
      for (const { key, group, ids } of byGroup.values()) pipeline.xack(key, group, ...ids);
      for (const [error] of (await pipeline.exec()) ?? []) if (error !== null) throw error;
    }
    for (const message of list) StreamMessage.subscriptionOf(message)?.settled(message);
  }

  async nack(message: QueueMessage, options: NackOptions = {}): Promise<void> {
    this.#require('nack');
    const owner = StreamMessage.subscriptionOf(message);
    if (owner !== undefined) return owner.nack(message, options.delayMs ?? 0);
    // Not delivered by an open subscription of this queue: make it claimable by the group now.
    await this.#makeClaimable(this.streamKey(message.topic), message.group, this.#fallbackConsumer, [message.id]);
  }

  async deadLetter(message: QueueMessage, reason: string, error?: unknown): Promise<void> {
    this.#require('deadLetter');
    const owner = StreamMessage.subscriptionOf(message);
    if (owner !== undefined) return owner.deadLetter(message, reason, error);
    await this.#deadLetterNow(message, deadLetterTopic(message.topic), reason, error);
  }

  /** XADD of the dead letter, then XACK of the original, atomically and only once the XADD succeeded ({@link DEAD_LETTER_SCRIPT}). */
  async #deadLetterNow(message: QueueMessage, topic: string, reason: string, error: unknown): Promise<void> {
    const redis = this.#internal('deadLetter');
    const headers = deadLetterHeaders(message, reason, error);
    const outgoing: OutgoingMessage = {
      value: message.value,
      headers,
      ...(message.key === undefined ? {} : { key: message.key }),
    };
    await redis[DEAD_LETTER_COMMAND](
      this.streamKey(topic),
      this.streamKey(message.topic),
      message.group,
      message.id,
      ...entryArguments(outgoing, headers),
    );
  }

  /**
   * Creates the topic's stream (no-op when it exists) without writing an entry or leaving a group
   * behind: a placeholder group is created with MKSTREAM and destroyed in the same transaction.
   * `partitions` is ignored: a stream is one ordered log.
   */
  async createTopic(name: string): Promise<void> {
    const redis = this.#require('createTopic');
    const key = this.streamKey(name);
    const placeholder = `platform-create-topic-${randomUUID()}`;
    const results = await redis
      .multi()
      .xgroup('CREATE', key, placeholder, '$', 'MKSTREAM')
      .xgroup('DESTROY', key, placeholder)
      .exec();
    for (const [failure] of results ?? []) if (failure !== null) throw failure;
  }
}

function isMessage(value: QueueMessage | readonly QueueMessage[]): value is QueueMessage {
  return !Array.isArray(value);
}

function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  return typeof error === 'string' ? error : 'unknown error';
}
