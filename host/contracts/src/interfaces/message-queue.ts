import type { Connectable, HealthCheckable } from '../health.js';

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
  readonly key: string | undefined;
  readonly value: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  /** 1 for the first delivery, then 2, 3, ... for redeliveries. */
  readonly deliveryCount: number;
  readonly publishedAt: Date;
}

/** Called for each delivered message. Throwing leaves the message unacknowledged. */
export type MessageHandler = (message: QueueMessage) => Promise<void>;

export interface SubscribeOptions {
  /**
   * Consumer group. Every group receives every message; within a group each message goes to one
   * consumer at a time.
   */
  readonly group: string;
  /** Name of this consumer within the group (defaults to a unique per-process name). */
  readonly consumer?: string;
  /**
   * When true, the queue acknowledges a message after its handler resolves. Default false: the
   * handler (or code after it) calls {@link MessageQueue.ack} once the effect is durable.
   */
  readonly autoAck?: boolean;
  /** Upper bound of messages handed to the handler and not yet acknowledged. Default 100. */
  readonly maxInFlight?: number;
}

/** A running subscription. */
export interface Subscription {
  /** Stops delivering; waits for running handlers. Unacknowledged messages will be redelivered. */
  close(): Promise<void>;
}

/**
 * Publish/subscribe and work-queue messaging (seed 5.2.4) with **at-least-once** delivery:
 * a message is delivered again (to the same group, with a higher `deliveryCount`) until it is
 * acknowledged — after a handler throws, after the consumer stops or crashes, or after an
 * implementation-defined visibility timeout. Handlers must therefore be idempotent. Ordering is
 * guaranteed only among messages with the same key, and only on first delivery.
 */
export interface MessageQueue extends HealthCheckable, Connectable {
  /** Publishes one message and resolves once the broker has accepted it; returns its id. */
  publish(topic: string, message: OutgoingMessage): Promise<string>;
  /** Starts delivering messages of `topic` to `handler` as part of `options.group`. */
  subscribe(topic: string, handler: MessageHandler, options: SubscribeOptions): Promise<Subscription>;
  /** Acknowledges a delivered message for its group; acknowledging twice is harmless. */
  ack(message: QueueMessage): Promise<void>;
  /** Creates a topic (no-op when it exists). `partitions` defaults to 1. */
  createTopic(name: string, options?: { readonly partitions?: number }): Promise<void>;
}

/** Decodes a message value as UTF-8 JSON. */
export function messageJson<T>(message: QueueMessage): T {
  return JSON.parse(new TextDecoder().decode(message.value)) as T;
}
