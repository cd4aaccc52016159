import { inspect } from 'node:util';
import { newCorrelationId, withCorrelationId } from '../correlation.js';
import type { Connectable, HealthCheckable } from '../health.js';

/**
 * Header names the platform itself reads and writes on messages. Every adapter keeps headers
 * byte-for-byte, so a header set by one module arrives unchanged at the next.
 */
export const MESSAGE_HEADERS = {
  /** The correlation id of the publisher's context; consumers run their handler with it bound. */
  correlationId: 'correlation-id',
} as const;

/**
 * Headers of a dead letter (DESIGN.md decision 15). A dead letter keeps the original key, value
 * and headers and adds these; `reason` is a short snake_case word fixed by the module or the queue
 * (`max_deliveries` when the queue gave up), `error` a secret-free one-line message.
 */
export const DEAD_LETTER_HEADERS = {
  reason: 'reason',
  error: 'error',
  originalTopic: 'original-topic',
  originalPartition: 'original-partition',
  originalOffset: 'original-offset',
  originalId: 'original-id',
  group: 'consumer-group',
  deliveryCount: 'delivery-count',
  deadLetteredAt: 'dead-lettered-at',
} as const;

/** The reason a queue gives a message it dead-letters after `maxDeliveries` failed deliveries. */
export const MAX_DELIVERIES_REASON = 'max_deliveries';

/** The topic dead letters of `topic` go to unless a subscription names another. */
export function deadLetterTopic(topic: string): string {
  return `${topic}.dead-letter`;
}

/** What a producer sends. */
export interface OutgoingMessage {
  /** Messages with the same key keep their relative order (same partition / stream). */
  readonly key?: string;
  readonly value: Uint8Array | string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** A message as delivered to a subscriber. */
export interface QueueMessage {
  /** Opaque, unique within the topic; stable across redeliveries of the same message. */
  readonly id: string;
  readonly topic: string;
  /** The consumer group this delivery belongs to. */
  readonly group: string;
  /** The partition the message sits in, where the backend partitions topics (Kafka, memory). */
  readonly partition: number | undefined;
  /**
   * The message's position as a string where the backend has one: the Kafka offset, the Redis
   * stream entry id, the memory queue's per-partition sequence. Stable across redeliveries.
   */
  readonly offset: string | undefined;
  readonly key: string | undefined;
  readonly value: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  /** 1 for the first delivery, then 2, 3, ... for redeliveries. */
  readonly deliveryCount: number;
  readonly publishedAt: Date;
  /**
   * Until when no other consumer of the group can be handed this message, while this delivery is
   * held (not acknowledged, nacked or handed back by a closing subscription): a time of this
   * process's monotonic clock, as `performance.now()` returns. Set by queues that redeliver by
   * visibility timeout (Redis Streams: the moment the read or claim was sent plus the claim idle
   * time), so a consumer recording what it applied needs to look a message up only once this has
   * passed, or for a redelivery. Absent where the queue makes no such promise; partitioned queues
   * (Kafka) give a partition to one consumer instead.
   */
  readonly exclusiveUntil?: number;
}

/** One partition of one topic, as assigned to or revoked from a consumer. */
export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/**
 * Called with each delivered batch. Messages of one partition arrive in partition order, and a
 * partition's next batch is delivered only after this call settles. It runs with the correlation id
 * of the batch's first message bound (see {@link eachMessage} for one id per message). The handler acknowledges what
 * it has made durable with {@link MessageQueue.ack} (unless `autoAck`). Throwing nacks every
 * message of the batch it has not acknowledged, so they are redelivered.
 */
export type BatchHandler = (messages: readonly QueueMessage[]) => Promise<void>;

/** Called for one delivered message (see {@link eachMessage}). */
export type MessageHandler = (message: QueueMessage) => Promise<void>;

/** Where and whether messages that exhaust their deliveries are dead-lettered. */
export interface DeadLetterOptions {
  /** Default true. When false, a message over `maxDeliveries` stays pending (it is never dropped). */
  readonly enabled?: boolean;
  /** Default `<topic>.dead-letter`. */
  readonly topic?: string;
}

/** How a dead letter the queue published on its own ended (see {@link SubscribeOptions.onDeadLetter}). */
export type QueueDeadLetterOutcome =
  | { readonly published: true }
  | {
      readonly published: false;
      /** Why it was not published; the queue keeps the message (redelivers it or tries again). */
      readonly error: unknown;
    };

/**
 * Options of a subscription. Defaults are the same for every adapter; an adapter documents any
 * option it cannot honour.
 */
export interface SubscribeOptions {
  /**
   * Consumer group. Every group receives every message; within a group each message goes to one
   * consumer at a time.
   */
  readonly group: string;
  /** Name of this consumer within the group (defaults to a unique per-process name). */
  readonly consumer?: string;
  /**
   * When true, the queue acknowledges every message of a batch once the handler resolves. Default
   * false: the handler (or code after it) calls {@link MessageQueue.ack} once the effect is durable.
   */
  readonly autoAck?: boolean;
  /** Most messages in one batch. Default 100. */
  readonly maxBatchSize?: number;
  /** Longest wait for a batch to fill once its first message is there, in ms. Default 50. */
  readonly maxWaitMs?: number;
  /**
   * Upper bound of messages delivered to this subscription and not yet acknowledged or nacked;
   * delivery waits while it is reached (backpressure). Default 1000, at least `maxBatchSize`.
   */
  readonly maxInFlight?: number;
  /**
   * Deliveries after which a message that is still not acknowledged is dead-lettered with reason
   * {@link MAX_DELIVERIES_REASON} instead of delivered again. Default 5.
   */
  readonly maxDeliveries?: number;
  readonly deadLetter?: DeadLetterOptions;
  /** A group that has no committed position yet starts at the oldest retained message (default) or the newest. */
  readonly startFrom?: 'earliest' | 'latest';
  /**
   * Called when partitions are assigned to this consumer, before any of their messages is delivered.
   * Backends without partitions call it once with partition 0 at subscribe time.
   */
  readonly onAssigned?: (partitions: readonly TopicPartition[]) => Promise<void> | void;
  /**
   * Called when partitions are taken away (rebalance, close), after their running handlers settled
   * and before their committed position moves: the place to make pending effects durable and ack.
   * Messages of a revoked partition acknowledged later are ignored (another consumer owns them).
   */
  readonly onRevoked?: (partitions: readonly TopicPartition[]) => Promise<void> | void;
  /**
   * Called after each attempt of the queue itself to dead-letter a message of this subscription
   * (reason {@link MAX_DELIVERIES_REASON}: a nack or a throwing handler at `maxDeliveries`, or a
   * message taken over from a consumer that never settled it), whether the dead letter was
   * published (and the message acknowledged) or not (the message stays with the queue, which
   * delivers it again or tries again). Not called for {@link MessageQueue.deadLetter}, whose promise
   * tells its outcome. The host counts failed attempts here, as it does failed `deadLetter` calls
   * (`platform_dead_letter_failures_total`, `platform_dead_letters_unpublished`). Runs synchronously
   * in the queue's code: keep it cheap; what it throws is ignored.
   */
  readonly onDeadLetter?: (message: QueueMessage, reason: string, outcome: QueueDeadLetterOutcome) => void;
}

/**
 * Calls `options.onDeadLetter` (see {@link SubscribeOptions.onDeadLetter}) for an adapter, ignoring
 * what it throws: a failing observer must not change what the queue does with the message.
 */
export function reportQueueDeadLetter(
  options: Pick<SubscribeOptions, 'onDeadLetter'>,
  message: QueueMessage,
  reason: string,
  outcome: QueueDeadLetterOutcome,
): void {
  try {
    options.onDeadLetter?.(message, reason, outcome);
  } catch {
    // An observer's failure is its own.
  }
}

/** A running subscription. */
export interface Subscription {
  /** Stops fetching new batches (running handlers go on). Idempotent. */
  pause(): void;
  /** Fetches again after {@link Subscription.pause}. Idempotent. */
  resume(): void;
  readonly paused: boolean;
  /**
   * Stops delivering, waits for running handlers, calls `onRevoked` for the partitions held and
   * leaves the group. Unacknowledged messages are redelivered to the group. Idempotent.
   */
  close(): Promise<void>;
}

/** Options of {@link MessageQueue.nack}. */
export interface NackOptions {
  /** Redeliver no sooner than this many ms from now (default 0: as soon as possible). */
  readonly delayMs?: number;
}

/** What a queue adapter can promise, checked by the conformance suite. */
export interface QueueCapabilities {
  /**
   * Messages with the same key are delivered in publish order even when several consumers of one
   * group share the topic (the key decides the partition, a partition has one consumer).
   */
  readonly orderedByKey: boolean;
  /** Topics have partitions; `QueueMessage.partition` is set and rebalance hooks see them. */
  readonly partitioned: boolean;
  /** `nack` honours `delayMs` (otherwise the message is redelivered without delay). */
  readonly delayedRedelivery: boolean;
}

/**
 * Publish/subscribe and work-queue messaging (seed 5.2.4) with **at-least-once** delivery: a message
 * is delivered again (to the same group, with a higher `deliveryCount`) until it is acknowledged —
 * after a handler throws or nacks, after the consumer stops or crashes, or after an
 * implementation-defined visibility timeout. Handlers must therefore be idempotent.
 *
 * **Acknowledgement on partitioned backends**: what a group has consumed is the *contiguous
 * acknowledged prefix* of each partition. Acknowledging offsets 1, 2 and 4 commits up to 2; offset 3
 * (and 4, again) is redelivered if the consumer dies before 3 is acknowledged. Acknowledge in any
 * order; nothing after a gap is lost.
 *
 * **Dead letters** (DESIGN.md decision 15): a message still unacknowledged after `maxDeliveries`,
 * or one a handler gives to {@link MessageQueue.deadLetter}, is published to the dead-letter topic
 * with {@link DEAD_LETTER_HEADERS}, then acknowledged. Nothing is dropped silently.
 *
 * **Correlation**: `publish` adds the `correlation-id` header of the current context (unless the
 * message has one), and handlers run with the delivered message's correlation id bound (a new one
 * when it has none), so logs follow an event across modules.
 */
export interface MessageQueue extends HealthCheckable, Connectable {
  readonly capabilities: QueueCapabilities;
  /** Publishes one message and resolves once the broker has accepted it durably; returns its id. */
  publish(topic: string, message: OutgoingMessage): Promise<string>;
  /**
   * Publishes messages in order and resolves once the broker has accepted every one; returns their
   * ids in the same order. Rejects when any message was not accepted (the others may have been:
   * publishing is at-least-once, so retrying the whole batch is safe for idempotent consumers).
   */
  publishBatch(topic: string, messages: readonly OutgoingMessage[]): Promise<string[]>;
  /** Resolves once every message published so far is accepted by the broker. */
  flush(): Promise<void>;
  /** Starts delivering batches of `topic` to `handler` as part of `options.group`. */
  subscribe(topic: string, handler: BatchHandler, options: SubscribeOptions): Promise<Subscription>;
  /**
   * Acknowledges delivered messages for their group: they are not delivered to the group again.
   * Acknowledging twice, or a message of a partition no longer held, is harmless.
   */
  ack(messages: QueueMessage | readonly QueueMessage[]): Promise<void>;
  /** Hands a message back for redelivery (after `delayMs` where the backend supports it). */
  nack(message: QueueMessage, options?: NackOptions): Promise<void>;
  /**
   * Publishes `message` to its subscription's dead-letter topic with `reason` and `error` in the
   * headers, then acknowledges it. Resolves once both are durable.
   */
  deadLetter(message: QueueMessage, reason: string, error?: unknown): Promise<void>;
  /** Creates a topic (no-op when it exists). `partitions` defaults to 1. */
  createTopic(name: string, options?: { readonly partitions?: number }): Promise<void>;
}

/**
 * A batch handler that calls `handler` for each message in order and acknowledges it when the
 * handler resolves; when it throws, the message is nacked (redelivered, after `retryDelayMs`) and
 * the rest of the batch goes on. Each call runs with that message's own correlation id bound (a new
 * one when it has none), whereas a batch handler runs with its first message's. Use it where
 * per-message processing is enough.
 */
export function eachMessage(
  queue: Pick<MessageQueue, 'ack' | 'nack'>,
  handler: MessageHandler,
  options: { readonly retryDelayMs?: number } = {},
): BatchHandler {
  return async (messages) => {
    for (const message of messages) {
      try {
        const correlationId = message.headers[MESSAGE_HEADERS.correlationId] ?? newCorrelationId();
        await withCorrelationId(correlationId, () => handler(message));
      } catch {
        await queue.nack(message, { delayMs: options.retryDelayMs ?? 0 });
        continue;
      }
      await queue.ack(message);
    }
  };
}

/** The headers of a dead letter for `message` (shared by every adapter so they agree exactly). */
export function deadLetterHeaders(
  message: QueueMessage,
  reason: string,
  error: unknown,
  now: Date = new Date(),
): Record<string, string> {
  const headers: Record<string, string> = {
    ...message.headers,
    [DEAD_LETTER_HEADERS.reason]: reason,
    [DEAD_LETTER_HEADERS.originalTopic]: message.topic,
    [DEAD_LETTER_HEADERS.originalId]: message.id,
    [DEAD_LETTER_HEADERS.group]: message.group,
    [DEAD_LETTER_HEADERS.deliveryCount]: String(message.deliveryCount),
    [DEAD_LETTER_HEADERS.deadLetteredAt]: now.toISOString(),
  };
  if (message.partition !== undefined) headers[DEAD_LETTER_HEADERS.originalPartition] = String(message.partition);
  if (message.offset !== undefined) headers[DEAD_LETTER_HEADERS.originalOffset] = message.offset;
  if (error !== undefined) {
    // A plain object would read "[object Object]"; inspect() shows its fields.
    const text = error instanceof Error ? error.message : typeof error === 'string' ? error : inspect(error);
    headers[DEAD_LETTER_HEADERS.error] = text.replace(/\s+/g, ' ').slice(0, 1000);
  }
  return headers;
}

/** Decodes a message value as UTF-8 JSON; the result is `unknown` until the caller validates it. */
export function messageJson(message: QueueMessage): unknown {
  return JSON.parse(new TextDecoder().decode(message.value));
}
