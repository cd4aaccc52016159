import { AsyncLocalStorage } from 'node:async_hooks';
import { PlatformError } from '@platform-host/contracts';
import type {
  HealthCheckResult,
  Logger,
  MessageHandler,
  MessageQueue,
  OutgoingMessage,
  QueueMessage,
  SubscribeOptions,
  Subscription,
} from '@platform-host/contracts';

/** Options of {@link MemoryMessageQueue}. */
export interface MemoryMessageQueueOptions {
  /** How long a delivered message may stay unacknowledged before it is redelivered. Default 30000. */
  readonly visibilityTimeoutMs?: number;
  /** Messages kept per topic; beyond that the oldest are dropped. Default 100000. */
  readonly maxMessagesPerTopic?: number;
  /**
   * Wait before redelivering a message whose handler threw, doubled per further delivery up to
   * {@link MAX_RETRY_BACKOFF_MS}. Default 50.
   */
  readonly retryBackoffMs?: number;
  /** Receives a warning for each handler failure. */
  readonly logger?: Logger;
}

/** Upper bound of the backoff before redelivering a message whose handler threw. */
export const MAX_RETRY_BACKOFF_MS = 5000;

const DEFAULT_MAX_IN_FLIGHT = 100;

/** One published message as the topic log keeps it. */
interface StoredMessage {
  readonly offset: number;
  readonly id: string;
  readonly key: string | undefined;
  readonly value: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  readonly publishedAt: Date;
}

/** An append-only log; offsets keep growing when the oldest messages are dropped. */
interface Topic {
  readonly name: string;
  readonly log: Map<number, StoredMessage>;
  /** Offset of the oldest retained message. */
  firstOffset: number;
  /** Offset the next published message gets. */
  nextOffset: number;
  readonly groups: Map<string, ConsumerGroup>;
}

/** A message delivered to a group at least once and not acknowledged yet. */
interface PendingMessage {
  readonly message: StoredMessage;
  deliveryCount: number;
  /** The subscription it is delivered to; `undefined` while it waits for redelivery. */
  holder: MemorySubscription | undefined;
  /** The visibility timeout while held, the retry backoff while waiting. */
  timer: NodeJS.Timeout | undefined;
}

/** The state a broker keeps per (topic, group): a cursor and a pending set, like a Redis Streams group. */
interface ConsumerGroup {
  readonly name: string;
  readonly topic: Topic;
  /** Offset of the next message this group has never been delivered. */
  cursor: number;
  /** Delivered, unacknowledged messages by id. */
  readonly pending: Map<string, PendingMessage>;
  /** Pending messages due for redelivery, in the order they became due. */
  readonly due: Set<PendingMessage>;
  subscriptions: MemorySubscription[];
  /** Index in `subscriptions` where the round robin continues. */
  nextSubscription: number;
  pumpScheduled: boolean;
}

/** A subscription: one consumer of one group. Its handler runs for one message at a time. */
class MemorySubscription implements Subscription {
  /** Messages delivered to it and not acknowledged (the `maxInFlight` count). */
  readonly held = new Set<PendingMessage>();
  /** The running handler call, if any. */
  running: Promise<void> | undefined;
  closed = false;
  #closing: Promise<void> | undefined;

  constructor(
    readonly group: ConsumerGroup,
    readonly consumer: string,
    readonly handler: MessageHandler,
    readonly autoAck: boolean,
    readonly maxInFlight: number,
    private readonly closeSubscription: (subscription: MemorySubscription) => Promise<void>,
  ) {}

  get available(): boolean {
    return !this.closed && this.running === undefined && this.held.size < this.maxInFlight;
  }

  close(): Promise<void> {
    this.#closing ??= this.closeSubscription(this);
    return this.#closing;
  }
}

/** Tells a handler's own `close()` / `disconnect()` call apart, which must not wait for itself. */
const runningHandler = new AsyncLocalStorage<MemorySubscription>();

const encoder = new TextEncoder();

function positiveInteger(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new RangeError(`${what} must be an integer of at least 1, got ${value}`);
  return value;
}

/**
 * In-process {@link MessageQueue} (`--mq memory`) for tests and local runs, with the semantics of
 * Kafka consumer groups and Redis Streams (`XREADGROUP` / `XACK` / `XAUTOCLAIM`):
 *
 * - A topic is an append-only log of at most `maxMessagesPerTopic` messages (the oldest are dropped).
 *   Publishing to an unknown topic creates it.
 * - Each consumer group has its own cursor. **A new group starts at the earliest retained message**
 *   (Kafka `auto.offset.reset=earliest`, Redis `XGROUP CREATE ... 0`), so messages published before a
 *   group's first subscription are not lost to it.
 * - Within a group, each message goes to one subscription at a time, round robin among the group's
 *   open subscriptions, in publish order; a subscription runs its handler for one message at a time
 *   and receives no more while `maxInFlight` messages delivered to it are unacknowledged.
 * - A delivered message stays pending until acknowledged. It is redelivered (same id, `deliveryCount`
 *   + 1, before newer messages) when its handler throws (after a backoff of `retryBackoffMs`, doubled
 *   per delivery, at most 5 s), when its subscription closes, or when it stays unacknowledged for
 *   `visibilityTimeoutMs`. A pending message dropped by retention is not redelivered, as in Redis.
 * - Delivery is asynchronous: handlers never run inside `publish()`'s call stack. Internal timers are
 *   `unref()`ed; nothing starts before `connect()`.
 * - `publish`, `subscribe`, `ack` and `createTopic` throw `PH_ERR_NOT_CONNECTED` before `connect()`
 *   and after `disconnect()`. During `disconnect()`, running handlers may still publish and ack.
 * - Topics, groups and pending messages survive `disconnect()`/`connect()` of the same instance, like
 *   a broker outliving a client; they are gone with the instance.
 */
export class MemoryMessageQueue implements MessageQueue {
  readonly #topics = new Map<string, Topic>();
  readonly #subscriptions = new Set<MemorySubscription>();
  readonly #visibilityTimeoutMs: number;
  readonly #maxMessagesPerTopic: number;
  readonly #retryBackoffMs: number;
  readonly #logger: Logger | undefined;
  #state: 'disconnected' | 'connected' | 'disconnecting' = 'disconnected';
  #disconnecting: Promise<void> | undefined;
  #consumerSerial = 0;

  constructor(options: MemoryMessageQueueOptions = {}) {
    this.#visibilityTimeoutMs = positiveInteger(
      options.visibilityTimeoutMs ?? 30_000,
      'MemoryMessageQueue visibilityTimeoutMs',
    );
    this.#maxMessagesPerTopic = positiveInteger(
      options.maxMessagesPerTopic ?? 100_000,
      'MemoryMessageQueue maxMessagesPerTopic',
    );
    this.#retryBackoffMs = options.retryBackoffMs ?? 50;
    if (!Number.isFinite(this.#retryBackoffMs) || this.#retryBackoffMs < 0) {
      throw new RangeError(
        `MemoryMessageQueue retryBackoffMs must be a number of at least 0, got ${this.#retryBackoffMs}`,
      );
    }
    this.#logger = options.logger;
  }

  async connect(): Promise<void> {
    if (this.#disconnecting !== undefined) await this.#disconnecting;
    this.#state = 'connected';
    for (const topic of this.#topics.values()) for (const group of topic.groups.values()) this.#schedulePump(group);
  }

  /** Closes every subscription (waiting for running handlers), then refuses further calls. Idempotent. */
  async disconnect(): Promise<void> {
    if (this.#state === 'disconnecting') return this.#disconnecting;
    if (this.#state === 'disconnected') return;
    this.#state = 'disconnecting';
    this.#disconnecting = (async () => {
      await Promise.all([...this.#subscriptions].map((subscription) => subscription.close()));
      this.#state = 'disconnected';
      this.#disconnecting = undefined;
    })();
    return this.#disconnecting;
  }

  async healthCheck(): Promise<HealthCheckResult> {
    return this.#state === 'connected'
      ? { ok: true }
      : { ok: false, detail: `the memory message queue is ${this.#state}` };
  }

  async createTopic(name: string, options: { readonly partitions?: number } = {}): Promise<void> {
    this.#assertUsable(`create topic "${name}"`, false);
    positiveInteger(options.partitions ?? 1, `Partitions of topic "${name}"`);
    this.#topic(name);
  }

  async publish(topicName: string, message: OutgoingMessage): Promise<string> {
    this.#assertUsable(`publish to topic "${topicName}"`, true);
    const { value } = message;
    if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
      throw new TypeError(`The value of a message for topic "${topicName}" must be a string or a Uint8Array`);
    }
    const topic = this.#topic(topicName);
    const offset = topic.nextOffset++;
    const stored: StoredMessage = {
      offset,
      id: String(offset),
      key: message.key,
      // Copied, so a caller reusing its buffer does not change a published message.
      value: typeof value === 'string' ? encoder.encode(value) : new Uint8Array(value),
      headers: Object.freeze({ ...message.headers }),
      publishedAt: new Date(),
    };
    topic.log.set(offset, stored);
    while (topic.nextOffset - topic.firstOffset > this.#maxMessagesPerTopic) topic.log.delete(topic.firstOffset++);
    for (const group of topic.groups.values()) this.#schedulePump(group);
    return stored.id;
  }

  async subscribe(topicName: string, handler: MessageHandler, options: SubscribeOptions): Promise<Subscription> {
    this.#assertUsable(`subscribe to topic "${topicName}"`, false);
    if (typeof options.group !== 'string' || options.group === '') {
      throw new RangeError(`Subscribing to topic "${topicName}" needs a non-empty consumer group name`);
    }
    const maxInFlight = positiveInteger(
      options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
      `maxInFlight of group "${options.group}"`,
    );
    const topic = this.#topic(topicName);
    let group = topic.groups.get(options.group);
    if (group === undefined) {
      group = {
        name: options.group,
        topic,
        cursor: topic.firstOffset,
        pending: new Map(),
        due: new Set(),
        subscriptions: [],
        nextSubscription: 0,
        pumpScheduled: false,
      };
      topic.groups.set(group.name, group);
    }
    const subscription = new MemorySubscription(
      group,
      options.consumer ?? `consumer-${process.pid}-${++this.#consumerSerial}`,
      handler,
      options.autoAck ?? false,
      maxInFlight,
      (closing) => this.#closeSubscription(closing),
    );
    group.subscriptions.push(subscription);
    this.#subscriptions.add(subscription);
    this.#schedulePump(group);
    return subscription;
  }

  async ack(message: QueueMessage): Promise<void> {
    this.#assertUsable(`acknowledge message "${message.id}" of topic "${message.topic}"`, true);
    const group = this.#topics.get(message.topic)?.groups.get(message.group);
    if (group !== undefined) this.#acknowledge(group, message.id);
  }

  #assertUsable(action: string, allowedWhileDisconnecting: boolean): void {
    if (this.#state === 'connected' || (allowedWhileDisconnecting && this.#state === 'disconnecting')) return;
    throw new PlatformError('PH_ERR_NOT_CONNECTED', `Cannot ${action}: the memory message queue is ${this.#state}`, {
      hint: 'Call connect() first; after disconnect() the queue accepts no more calls.',
    });
  }

  #topic(name: string): Topic {
    let topic = this.#topics.get(name);
    if (topic === undefined) {
      topic = { name, log: new Map(), firstOffset: 0, nextOffset: 0, groups: new Map() };
      this.#topics.set(name, topic);
    }
    return topic;
  }

  #acknowledge(group: ConsumerGroup, id: string): void {
    const pending = group.pending.get(id);
    if (pending === undefined) return;
    clearTimeout(pending.timer);
    pending.holder?.held.delete(pending);
    pending.holder = undefined;
    group.due.delete(pending);
    group.pending.delete(id);
    this.#schedulePump(group);
  }

  /** Takes a pending message from its holder and makes it due for redelivery after `delayMs`. */
  #release(group: ConsumerGroup, pending: PendingMessage, delayMs: number): void {
    pending.holder?.held.delete(pending);
    pending.holder = undefined;
    clearTimeout(pending.timer);
    pending.timer = undefined;
    const makeDue = (): void => {
      pending.timer = undefined;
      group.due.add(pending);
      this.#schedulePump(group);
    };
    if (delayMs === 0) makeDue();
    else pending.timer = setTimeout(makeDue, delayMs).unref();
  }

  #schedulePump(group: ConsumerGroup): void {
    if (group.pumpScheduled) return;
    group.pumpScheduled = true;
    setImmediate(() => {
      group.pumpScheduled = false;
      this.#pump(group);
    });
  }

  /** Hands deliverable messages to available subscriptions until either runs out. */
  #pump(group: ConsumerGroup): void {
    if (this.#state !== 'connected') return;
    for (;;) {
      const count = group.subscriptions.length;
      let index = -1;
      for (let step = 0; step < count && index === -1; step++) {
        const candidate = (group.nextSubscription + step) % count;
        if (group.subscriptions[candidate]?.available === true) index = candidate;
      }
      const subscription = group.subscriptions[index];
      if (subscription === undefined) return;
      const pending = this.#nextDeliverable(group);
      if (pending === undefined) return;
      group.nextSubscription = (index + 1) % count;
      this.#deliver(subscription, pending);
    }
  }

  /** The next message for the group: due redeliveries first, then the first message never delivered. */
  #nextDeliverable(group: ConsumerGroup): PendingMessage | undefined {
    const { topic } = group;
    for (const pending of group.due) {
      group.due.delete(pending);
      if (pending.message.offset >= topic.firstOffset) return pending;
      group.pending.delete(pending.message.id);
    }
    group.cursor = Math.max(group.cursor, topic.firstOffset);
    if (group.cursor >= topic.nextOffset) return undefined;
    const message = topic.log.get(group.cursor++);
    if (message === undefined) {
      throw new PlatformError(
        'PH_ERR_INTERNAL',
        `Topic "${topic.name}" has no message at retained offset ${group.cursor - 1}`,
      );
    }
    const pending: PendingMessage = { message, deliveryCount: 0, holder: undefined, timer: undefined };
    group.pending.set(message.id, pending);
    return pending;
  }

  #deliver(subscription: MemorySubscription, pending: PendingMessage): void {
    const { group } = subscription;
    pending.deliveryCount += 1;
    pending.holder = subscription;
    clearTimeout(pending.timer);
    pending.timer = setTimeout(() => this.#release(group, pending, 0), this.#visibilityTimeoutMs).unref();
    subscription.held.add(pending);
    const { message } = pending;
    const delivery: QueueMessage = Object.freeze({
      id: message.id,
      topic: group.topic.name,
      group: group.name,
      key: message.key,
      value: message.value.slice(),
      headers: message.headers,
      deliveryCount: pending.deliveryCount,
      publishedAt: new Date(message.publishedAt),
    });
    subscription.running = this.#runHandler(subscription, pending, delivery).finally(() => {
      subscription.running = undefined;
      this.#schedulePump(group);
    });
  }

  async #runHandler(subscription: MemorySubscription, pending: PendingMessage, delivery: QueueMessage): Promise<void> {
    const { group } = subscription;
    try {
      await runningHandler.run(subscription, () => subscription.handler(delivery));
    } catch (error) {
      // Unless it was acknowledged anyway or already taken back by the visibility timeout.
      if (pending.holder === subscription) {
        const backoffMs = Math.min(this.#retryBackoffMs * 2 ** (pending.deliveryCount - 1), MAX_RETRY_BACKOFF_MS);
        this.#logger?.warn('Message handler failed; the message will be redelivered', {
          topic: group.topic.name,
          group: group.name,
          consumer: subscription.consumer,
          messageId: delivery.id,
          deliveryCount: delivery.deliveryCount,
          retryInMs: backoffMs,
          error: error instanceof Error ? error.message : String(error),
        });
        this.#release(group, pending, backoffMs);
      }
      return;
    }
    if (subscription.autoAck) this.#acknowledge(group, delivery.id);
  }

  async #closeSubscription(subscription: MemorySubscription): Promise<void> {
    const { group } = subscription;
    subscription.closed = true;
    group.subscriptions = group.subscriptions.filter((other) => other !== subscription);
    group.nextSubscription = 0;
    const releaseHeld = (): void => {
      for (const pending of [...subscription.held]) this.#release(group, pending, 0);
      this.#subscriptions.delete(subscription);
    };
    const { running } = subscription;
    if (running === undefined) {
      releaseHeld();
    } else if (runningHandler.getStore() === subscription) {
      // Closed from inside its own handler, which cannot be awaited here without waiting for itself.
      void running.then(releaseHeld);
    } else {
      await running;
      releaseHeld();
    }
  }
}
