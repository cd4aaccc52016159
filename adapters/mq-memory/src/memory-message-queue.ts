import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import {
  MAX_DELIVERIES_REASON,
  MESSAGE_HEADERS,
  PlatformError,
  currentCorrelationId,
  deadLetterHeaders,
  deadLetterTopic,
  newCorrelationId,
  reportQueueDeadLetter,
  withCorrelationId,
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
  TopicPartition,
} from '@platform-host/contracts';

/** Options of {@link MemoryMessageQueue}. */
export interface MemoryMessageQueueOptions {
  /** How long a delivered message may stay unacknowledged before it is redelivered. Default 30000. */
  readonly visibilityTimeoutMs?: number;
  /**
   * Messages retained per topic. Beyond it the oldest messages that every consumer group has
   * committed are dropped; messages a group still needs are kept (the limit is exceeded, with a
   * warning). Default 100000.
   */
  readonly maxMessagesPerTopic?: number;
  /**
   * Partitions of a topic created by `publish` or `subscribe` (not by `createTopic`, whose default
   * is 1 as the contract says). Default {@link DEFAULT_PARTITIONS}.
   */
  readonly defaultPartitions?: number;
  /**
   * Wait before redelivering the messages of a batch whose handler threw, doubled per further
   * delivery up to {@link MAX_RETRY_BACKOFF_MS}. Default 50.
   */
  readonly retryBackoffMs?: number;
  /** Receives warnings (handler failures, dead letters, failing rebalance hooks, retention). */
  readonly logger?: Logger;
}

/** Upper bound of the backoff before redelivering messages whose handler threw. */
export const MAX_RETRY_BACKOFF_MS = 5000;

/** Virtual partitions of a topic the queue creates on first use. */
export const DEFAULT_PARTITIONS = 8;

const DEFAULT_MAX_BATCH_SIZE = 100;
const DEFAULT_MAX_WAIT_MS = 50;
const DEFAULT_MAX_IN_FLIGHT = 1000;
const DEFAULT_MAX_DELIVERIES = 5;

const CAPABILITIES: QueueCapabilities = Object.freeze({
  orderedByKey: true,
  partitioned: true,
  delayedRedelivery: true,
});

/** One published message as a partition log keeps it. */
interface StoredMessage {
  readonly partition: number;
  readonly offset: number;
  readonly id: string;
  readonly key: string | undefined;
  readonly value: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
  readonly publishedAt: Date;
  /** Topic-wide publish order, so retention drops the oldest message first. */
  readonly sequence: number;
}

/** An append-only log; offsets keep growing when the oldest messages are dropped. */
interface Partition {
  readonly index: number;
  readonly log: Map<number, StoredMessage>;
  /** Offset of the oldest retained message. */
  firstOffset: number;
  /** Offset the next published message gets. */
  nextOffset: number;
}

interface Topic {
  readonly name: string;
  readonly partitions: readonly Partition[];
  readonly groups: Map<string, ConsumerGroup>;
  /** Messages retained over all partitions. */
  retained: number;
  nextSequence: number;
  /** Where the next keyless message goes. */
  nextKeyless: number;
  /** Set while retention is over its limit because a group still needs the oldest messages. */
  overLimit: boolean;
}

/** A message handed to a subscription and neither acknowledged nor handed back yet. */
interface Delivery {
  readonly slot: GroupPartition;
  readonly offset: number;
  readonly subscription: MemorySubscription;
  readonly message: QueueMessage;
  timer: NodeJS.Timeout | undefined;
  /** Its last allowed delivery outlived the visibility timeout with its consumer (logged once). */
  heldPastTimeout?: boolean;
}

/** A message handed back (nack, failed handler, visibility timeout), waiting to be redelivered. */
interface Retry {
  ready: boolean;
  timer: NodeJS.Timeout | undefined;
}

/** What a group keeps per partition: the broker's committed position plus the owner's progress. */
interface GroupPartition {
  readonly group: ConsumerGroup;
  readonly partition: Partition;
  /** The contiguous acknowledged prefix: every offset below it is done for this group. */
  committed: number;
  /** The next offset never delivered since the partition was assigned to its owner. */
  fetch: number;
  /** Acknowledged offsets above `committed` (after a gap). Forgotten on reassignment. */
  readonly acked: Set<number>;
  readonly inFlight: Map<number, Delivery>;
  readonly retries: Map<number, Retry>;
  /** Deliveries so far of each offset not committed yet (kept across reassignments). */
  readonly deliveryCounts: Map<number, number>;
  /** The error of the last failed delivery, for the dead-letter headers. */
  readonly lastErrors: Map<number, unknown>;
  owner: MemorySubscription | undefined;
  /** True once `onAssigned` of the owner has run and until revocation starts. */
  active: boolean;
}

interface ConsumerGroup {
  readonly name: string;
  readonly topic: Topic;
  readonly slots: readonly GroupPartition[];
  /** Open consumers in join order; partition `p` goes to `members[p % members.length]`. */
  members: MemorySubscription[];
  /** The rebalances of this group, run one after the other. */
  rebalancing: Promise<void>;
}

/** The resolved options of one subscription. */
interface ConsumerSettings {
  readonly consumer: string;
  readonly autoAck: boolean;
  readonly maxBatchSize: number;
  readonly maxWaitMs: number;
  readonly maxInFlight: number;
  readonly maxDeliveries: number;
  readonly deadLetterEnabled: boolean;
  readonly deadLetterTopic: string;
  readonly onAssigned: SubscribeOptions['onAssigned'];
  readonly onRevoked: SubscribeOptions['onRevoked'];
  readonly onDeadLetter: SubscribeOptions['onDeadLetter'];
}

/** One consumer of one group. It runs one batch at a time. */
class MemorySubscription implements Subscription {
  /** Messages delivered to it and not acknowledged or handed back (the `maxInFlight` count). */
  readonly inFlight = new Set<Delivery>();
  /** The running handler call, if any. */
  running: Promise<void> | undefined;
  closing = false;
  pumpScheduled = false;
  /** The `maxWaitMs` timer of a batch that is not full yet. */
  waitTimer: NodeJS.Timeout | undefined;
  waitElapsed = false;
  /** Where the next batch starts taking partitions, so no partition starves. */
  rotation = 0;
  #paused = false;
  #closed: Promise<void> | undefined;

  constructor(
    readonly group: ConsumerGroup,
    readonly settings: ConsumerSettings,
    readonly handler: BatchHandler,
    private readonly hooks: {
      readonly close: (subscription: MemorySubscription) => Promise<void>;
      readonly wake: (subscription: MemorySubscription) => void;
    },
  ) {}

  get paused(): boolean {
    return this.#paused;
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.hooks.wake(this);
  }

  close(): Promise<void> {
    this.#closed ??= this.hooks.close(this);
    return this.#closed;
  }

  stopWaiting(): void {
    clearTimeout(this.waitTimer);
    this.waitTimer = undefined;
    this.waitElapsed = false;
  }
}

/** The subscription whose handler is running, so calls from inside it do not wait for themselves. */
const runningHandler = new AsyncLocalStorage<MemorySubscription>();

const encoder = new TextEncoder();

function positiveInteger(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new RangeError(`${what} must be an integer of at least 1, got ${value}`);
  return value;
}

function nonNegativeNumber(value: number, what: string): number {
  if (!Number.isFinite(value) || value < 0)
    throw new RangeError(`${what} must be a number of at least 0, got ${value}`);
  return value;
}

/** The partition of a key: the first 32 bits of its SHA-1 (node:crypto), modulo the partition count. */
function partitionOfKey(key: string, partitions: number): number {
  return createHash('sha1').update(key).digest().readUInt32BE(0) % partitions;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * In-process {@link MessageQueue} (`--mq memory`) for tests and local runs, with the semantics of
 * Kafka consumer groups. See the package README for the full description; in short:
 *
 * - A topic has virtual partitions (`createTopic` partitions, default 1; {@link DEFAULT_PARTITIONS}
 *   for a topic created by first use). A key's partition is a hash of the key; keyless messages go
 *   round robin. Ids are `<partition>-<offset>`.
 * - Each group has a committed position per partition: the contiguous acknowledged prefix. The
 *   partitions of a topic are spread over the group's open consumers; a consumer joining or closing
 *   rebalances the group: a revoked partition's running batch settles, `onRevoked` runs (acks made
 *   in it count), then the partition restarts at its committed position with the next owner, after
 *   that owner's `onAssigned`.
 * - A message is redelivered (same id, `deliveryCount` + 1) when it is nacked, when its batch's
 *   handler throws, when it stays unacknowledged for `visibilityTimeoutMs`, and when its partition
 *   moves before it was committed. After `maxDeliveries` it is dead-lettered instead.
 * - Nothing is dropped that a group has not committed; handlers never run inside `publish()`'s call
 *   stack; internal timers are `unref()`ed and nothing starts before `connect()`.
 */
export class MemoryMessageQueue implements MessageQueue {
  readonly capabilities: QueueCapabilities = CAPABILITIES;
  readonly #topics = new Map<string, Topic>();
  readonly #subscriptions = new Set<MemorySubscription>();
  readonly #deliveries = new WeakMap<QueueMessage, Delivery>();
  readonly #visibilityTimeoutMs: number;
  readonly #maxMessagesPerTopic: number;
  readonly #defaultPartitions: number;
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
    this.#defaultPartitions = positiveInteger(
      options.defaultPartitions ?? DEFAULT_PARTITIONS,
      'MemoryMessageQueue defaultPartitions',
    );
    this.#retryBackoffMs = nonNegativeNumber(options.retryBackoffMs ?? 50, 'MemoryMessageQueue retryBackoffMs');
    this.#logger = options.logger;
  }

  async connect(): Promise<void> {
    if (this.#disconnecting !== undefined) await this.#disconnecting;
    this.#state = 'connected';
  }

  /** Closes every subscription (draining running handlers), then refuses further calls. Idempotent. */
  async disconnect(): Promise<void> {
    if (this.#state === 'disconnecting') return this.#disconnecting;
    if (this.#state === 'disconnected') return;
    this.#state = 'disconnecting';
    const subscriptions = [...this.#subscriptions];
    // Everyone leaves at once, so no partition is handed to a consumer that is about to close.
    for (const subscription of subscriptions) this.#leave(subscription);
    this.#disconnecting = (async () => {
      await Promise.all(subscriptions.map((subscription) => subscription.close()));
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
    const partitions = positiveInteger(options.partitions ?? 1, `Partitions of topic "${name}"`);
    if (!this.#topics.has(name)) this.#topics.set(name, this.#newTopic(name, partitions));
  }

  async publish(topicName: string, message: OutgoingMessage): Promise<string> {
    this.#assertUsable(`publish to topic "${topicName}"`, true);
    const [id] = this.#publishAll(topicName, [message]);
    return id ?? '';
  }

  async publishBatch(topicName: string, messages: readonly OutgoingMessage[]): Promise<string[]> {
    this.#assertUsable(`publish to topic "${topicName}"`, true);
    if (!Array.isArray(messages))
      throw new TypeError(`publishBatch to topic "${topicName}" needs an array of messages`);
    return this.#publishAll(topicName, messages);
  }

  /** Publishing is synchronous here: everything published is already accepted. Never throws. */
  async flush(): Promise<void> {}

  async subscribe(topicName: string, handler: BatchHandler, options: SubscribeOptions): Promise<Subscription> {
    this.#assertUsable(`subscribe to topic "${topicName}"`, false);
    if (typeof options.group !== 'string' || options.group === '') {
      throw new RangeError(`Subscribing to topic "${topicName}" needs a non-empty consumer group name`);
    }
    const settings = this.#settings(topicName, options);
    const topic = this.#topic(topicName);
    let group = topic.groups.get(options.group);
    if (group === undefined) {
      const slots: GroupPartition[] = [];
      group = { name: options.group, topic, slots, members: [], rebalancing: Promise.resolve() };
      for (const partition of topic.partitions) {
        const start = options.startFrom === 'latest' ? partition.nextOffset : partition.firstOffset;
        slots.push({
          group,
          partition,
          committed: start,
          fetch: start,
          acked: new Set(),
          inFlight: new Map(),
          retries: new Map(),
          deliveryCounts: new Map(),
          lastErrors: new Map(),
          owner: undefined,
          active: false,
        });
      }
      topic.groups.set(group.name, group);
    }
    const subscription = new MemorySubscription(group, settings, handler, {
      close: (closing) => this.#closeSubscription(closing),
      wake: (woken) => this.#schedulePump(woken),
    });
    group.members.push(subscription);
    this.#subscriptions.add(subscription);
    const rebalanced = this.#rebalance(group);
    // A handler of the same group subscribing cannot wait: the rebalance may wait for that handler.
    if (runningHandler.getStore()?.group !== group) await rebalanced;
    return subscription;
  }

  async ack(messages: QueueMessage | readonly QueueMessage[]): Promise<void> {
    const list: readonly QueueMessage[] = Array.isArray(messages) ? messages : [messages as QueueMessage];
    const [first] = list;
    if (first === undefined) return;
    this.#assertUsable(`acknowledge message "${first.id}" of topic "${first.topic}"`, true);
    for (const message of list) {
      const delivery = this.#current(message);
      if (delivery !== undefined) this.#acknowledge(delivery);
    }
  }

  async nack(message: QueueMessage, options: NackOptions = {}): Promise<void> {
    this.#assertUsable(`nack message "${message.id}" of topic "${message.topic}"`, true);
    const delayMs = nonNegativeNumber(options.delayMs ?? 0, `delayMs of the nack of message "${message.id}"`);
    const delivery = this.#current(message);
    if (delivery !== undefined) this.#handBack(delivery, delayMs, undefined);
  }

  /**
   * Publishes `message` to its subscription's dead-letter topic and acknowledges it. A message its
   * consumer no longer holds (acknowledged already, or its partition was revoked) is left alone:
   * its new holder gets it again.
   */
  async deadLetter(message: QueueMessage, reason: string, error?: unknown): Promise<void> {
    this.#assertUsable(`dead-letter message "${message.id}" of topic "${message.topic}"`, true);
    if (typeof reason !== 'string' || reason === '') {
      throw new RangeError(`Dead-lettering message "${message.id}" of topic "${message.topic}" needs a reason`);
    }
    const delivery = this.#current(message);
    if (delivery === undefined) return;
    this.#settle(delivery);
    this.#deadLetterAndCommit(delivery.slot, delivery.offset, delivery.message, delivery.subscription, reason, error);
  }

  // ---- publishing -------------------------------------------------------------------------------

  #publishAll(topicName: string, messages: readonly OutgoingMessage[]): string[] {
    for (const message of messages) {
      const value: unknown = message?.value;
      if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
        throw new TypeError(`The value of a message for topic "${topicName}" must be a string or a Uint8Array`);
      }
    }
    const correlationId = currentCorrelationId();
    const topic = this.#topic(topicName);
    const ids = messages.map((message) => {
      const headers: Record<string, string> = { ...message.headers };
      if (headers[MESSAGE_HEADERS.correlationId] === undefined && correlationId !== undefined) {
        headers[MESSAGE_HEADERS.correlationId] = correlationId;
      }
      return this.#append(topic, message.key, message.value, headers).id;
    });
    this.#applyRetention(topic);
    this.#wakeTopic(topic);
    return ids;
  }

  #append(
    topic: Topic,
    key: string | undefined,
    value: Uint8Array | string,
    headers: Record<string, string>,
  ): StoredMessage {
    const count = topic.partitions.length;
    const index = key === undefined ? topic.nextKeyless++ % count : partitionOfKey(key, count);
    const partition = topic.partitions[index];
    if (partition === undefined)
      throw new PlatformError('PH_ERR_INTERNAL', `Topic "${topic.name}" has no partition ${index}`);
    const offset = partition.nextOffset++;
    const stored: StoredMessage = {
      partition: index,
      offset,
      id: `${index}-${offset}`,
      key,
      // Copied, so a caller reusing its buffer does not change a published message.
      value: typeof value === 'string' ? encoder.encode(value) : new Uint8Array(value),
      headers: Object.freeze(headers),
      publishedAt: new Date(),
      sequence: topic.nextSequence++,
    };
    partition.log.set(offset, stored);
    topic.retained += 1;
    return stored;
  }

  /** Drops the oldest messages beyond the limit, but only those every group has committed. */
  #applyRetention(topic: Topic): void {
    while (topic.retained > this.#maxMessagesPerTopic) {
      let oldest: Partition | undefined;
      let oldestSequence = Infinity;
      for (const partition of topic.partitions) {
        if (partition.firstOffset >= partition.nextOffset) continue;
        const needed = Math.min(
          ...[...topic.groups.values()].map((group) => group.slots[partition.index]?.committed ?? 0),
        );
        const head = partition.log.get(partition.firstOffset);
        if (head !== undefined && partition.firstOffset < needed && head.sequence < oldestSequence) {
          oldest = partition;
          oldestSequence = head.sequence;
        }
      }
      if (oldest === undefined) {
        if (!topic.overLimit) {
          topic.overLimit = true;
          this.#logger?.warn(
            'Topic retains more than its limit: a consumer group has not committed the oldest messages',
            {
              topic: topic.name,
              retained: topic.retained,
              maxMessagesPerTopic: this.#maxMessagesPerTopic,
            },
          );
        }
        return;
      }
      oldest.log.delete(oldest.firstOffset++);
      topic.retained -= 1;
    }
    topic.overLimit = false;
  }

  // ---- delivery ---------------------------------------------------------------------------------

  #wakeTopic(topic: Topic): void {
    for (const group of topic.groups.values()) for (const member of group.members) this.#schedulePump(member);
  }

  #schedulePump(subscription: MemorySubscription): void {
    if (subscription.pumpScheduled) return;
    subscription.pumpScheduled = true;
    setImmediate(() => {
      subscription.pumpScheduled = false;
      this.#pump(subscription);
    });
  }

  /** Starts the subscription's next batch when it is idle, has room and a batch is ready. */
  #pump(subscription: MemorySubscription): void {
    if (this.#state !== 'connected' || subscription.closing || subscription.paused) return;
    if (subscription.running !== undefined) return;
    const { maxBatchSize, maxInFlight, maxWaitMs } = subscription.settings;
    const room = Math.min(maxBatchSize, maxInFlight - subscription.inFlight.size);
    if (room <= 0) return;
    const slots = subscription.group.slots.filter((slot) => slot.owner === subscription && slot.active);
    let available = 0;
    for (const slot of slots) {
      for (const retry of slot.retries.values()) if (retry.ready) available += 1;
      available += slot.partition.nextOffset - slot.fetch;
      if (available >= room) break;
    }
    if (available === 0) {
      subscription.stopWaiting();
      return;
    }
    if (available < room && maxWaitMs > 0 && !subscription.waitElapsed) {
      subscription.waitTimer ??= setTimeout(() => {
        subscription.waitTimer = undefined;
        subscription.waitElapsed = true;
        this.#pump(subscription);
      }, maxWaitMs).unref();
      return;
    }
    subscription.stopWaiting();
    const batch: QueueMessage[] = [];
    const start = subscription.rotation++ % slots.length;
    for (let step = 0; step < slots.length && batch.length < room; step++) {
      const slot = slots[(start + step) % slots.length];
      if (slot !== undefined) this.#take(subscription, slot, room, batch);
    }
    if (batch.length === 0) {
      // Everything due was dead-lettered; look again.
      this.#schedulePump(subscription);
      return;
    }
    this.#runBatch(subscription, batch);
  }

  /** Adds a partition's due redeliveries, then its next new messages, in offset order. */
  #take(subscription: MemorySubscription, slot: GroupPartition, room: number, batch: QueueMessage[]): void {
    const due = [...slot.retries].filter(([, retry]) => retry.ready).map(([offset]) => offset);
    due.sort((a, b) => a - b);
    for (const offset of due) {
      if (batch.length >= room) return;
      slot.retries.delete(offset);
      this.#deliverOrDeadLetter(subscription, slot, offset, batch);
    }
    while (batch.length < room && slot.fetch < slot.partition.nextOffset) {
      this.#deliverOrDeadLetter(subscription, slot, slot.fetch++, batch);
    }
  }

  #deliverOrDeadLetter(
    subscription: MemorySubscription,
    slot: GroupPartition,
    offset: number,
    batch: QueueMessage[],
  ): void {
    const stored = slot.partition.log.get(offset);
    if (stored === undefined) {
      throw new PlatformError(
        'PH_ERR_INTERNAL',
        `Topic "${slot.group.topic.name}" partition ${slot.partition.index} has no message at offset ${offset}`,
      );
    }
    const previous = slot.deliveryCounts.get(offset) ?? 0;
    const { settings } = subscription;
    if (previous >= settings.maxDeliveries && settings.deadLetterEnabled) {
      // It moved partitions after its last allowed delivery failed: give up on it now.
      const message = this.#queueMessage(slot, stored, previous);
      this.#deadLetterAndCommit(
        slot,
        offset,
        message,
        subscription,
        MAX_DELIVERIES_REASON,
        slot.lastErrors.get(offset),
      );
      // Appending to the dead-letter topic cannot fail here: always published.
      reportQueueDeadLetter(subscription.settings, message, MAX_DELIVERIES_REASON, { published: true });
      return;
    }
    const message = this.#queueMessage(slot, stored, previous + 1);
    slot.deliveryCounts.set(offset, previous + 1);
    const delivery: Delivery = { slot, offset, subscription, message, timer: undefined };
    delivery.timer = setTimeout(() => this.#visibilityExpired(delivery), this.#visibilityTimeoutMs).unref();
    slot.inFlight.set(offset, delivery);
    subscription.inFlight.add(delivery);
    this.#deliveries.set(message, delivery);
    batch.push(message);
  }

  #queueMessage(slot: GroupPartition, stored: StoredMessage, deliveryCount: number): QueueMessage {
    return Object.freeze({
      id: stored.id,
      topic: slot.group.topic.name,
      group: slot.group.name,
      partition: stored.partition,
      offset: String(stored.offset),
      key: stored.key,
      // A copy per delivery, so a handler that changes it does not change a redelivery.
      value: stored.value.slice(),
      headers: stored.headers,
      deliveryCount,
      publishedAt: new Date(stored.publishedAt),
    });
  }

  /**
   * Runs the handler for one batch with the correlation id of its first message bound (a new one
   * when it has none); {@link eachMessage} binds each message's own id.
   */
  #runBatch(subscription: MemorySubscription, batch: readonly QueueMessage[]): void {
    const messages = Object.freeze([...batch]);
    const correlationId = messages[0]?.headers[MESSAGE_HEADERS.correlationId] ?? newCorrelationId();
    subscription.running = (async () => {
      try {
        await runningHandler.run(subscription, () =>
          withCorrelationId(correlationId, () => subscription.handler(messages)),
        );
      } catch (error) {
        const unacknowledged = messages.flatMap((message) => this.#current(message) ?? []);
        if (unacknowledged.length === 0) return;
        const first = unacknowledged[0];
        const retryInMs = Math.min(
          this.#retryBackoffMs * 2 ** ((first?.message.deliveryCount ?? 1) - 1),
          MAX_RETRY_BACKOFF_MS,
        );
        this.#logger?.warn('Message handler failed; its unacknowledged messages will be redelivered', {
          topic: subscription.group.topic.name,
          group: subscription.group.name,
          consumer: subscription.settings.consumer,
          messageIds: unacknowledged.map((delivery) => delivery.message.id),
          deliveryCount: first?.message.deliveryCount,
          retryInMs,
          error: errorText(error),
        });
        for (const delivery of unacknowledged) this.#handBack(delivery, retryInMs, error);
        return;
      }
      if (subscription.settings.autoAck) {
        for (const message of messages) {
          const delivery = this.#current(message);
          if (delivery !== undefined) this.#acknowledge(delivery);
        }
      }
    })().finally(() => {
      subscription.running = undefined;
      this.#schedulePump(subscription);
    });
  }

  // ---- acknowledgement, redelivery, dead letters ------------------------------------------------

  /** The delivery `message` stands for, while its consumer still holds it. */
  #current(message: QueueMessage): Delivery | undefined {
    const known = this.#deliveries.get(message);
    if (known !== undefined) return known.slot.inFlight.get(known.offset) === known ? known : undefined;
    // A copy of a delivered message (for example made by a wrapper): find it by its position.
    const slot = this.#topics.get(message.topic)?.groups.get(message.group)?.slots[message.partition ?? -1];
    const delivery = slot?.inFlight.get(Number(message.offset));
    return delivery?.message.id === message.id && delivery.message.deliveryCount === message.deliveryCount
      ? delivery
      : undefined;
  }

  /** Removes a delivery from what its consumer holds (no commit, no redelivery). */
  #settle(delivery: Delivery): void {
    clearTimeout(delivery.timer);
    delivery.slot.inFlight.delete(delivery.offset);
    delivery.subscription.inFlight.delete(delivery);
    this.#schedulePump(delivery.subscription);
  }

  #acknowledge(delivery: Delivery): void {
    this.#settle(delivery);
    this.#commit(delivery.slot, delivery.offset);
  }

  /** Marks `offset` done and moves the committed position over the contiguous acknowledged prefix. */
  #commit(slot: GroupPartition, offset: number): void {
    if (offset < slot.committed) return;
    slot.acked.add(offset);
    while (slot.acked.delete(slot.committed)) {
      slot.deliveryCounts.delete(slot.committed);
      slot.lastErrors.delete(slot.committed);
      slot.committed += 1;
    }
    if (slot.group.topic.overLimit) this.#applyRetention(slot.group.topic);
  }

  /**
   * A delivery not settled within the visibility timeout: handed back for redelivery, except its
   * last allowed one (`maxDeliveries`) while the consumer that holds it is open and owns its
   * partition. That one stays with its consumer (the timeout is re-armed), because a consumer that
   * holds messages past the timeout may still apply them (metric_aggregator keeps events pending
   * through a database outage, then writes and acknowledges them): dead-lettering it then would make
   * it both applied and dead-lettered. Once the consumer lets it go (nack, a throwing handler,
   * revocation, close) it is dead-lettered as usual, by the hand-back or at its next delivery.
   */
  #visibilityExpired(delivery: Delivery): void {
    const { slot, offset, subscription, message } = delivery;
    if (slot.inFlight.get(offset) !== delivery) return;
    const { maxDeliveries, deadLetterEnabled } = subscription.settings;
    if (
      deadLetterEnabled &&
      message.deliveryCount >= maxDeliveries &&
      !subscription.closing &&
      slot.owner === subscription &&
      slot.active
    ) {
      if (!delivery.heldPastTimeout) {
        delivery.heldPastTimeout = true;
        this.#logger?.warn(
          'A message at its last delivery is held past the visibility timeout; it stays with its consumer, not dead-lettered while held',
          {
            topic: message.topic,
            group: message.group,
            consumer: subscription.settings.consumer,
            messageId: message.id,
            deliveryCount: message.deliveryCount,
            visibilityTimeoutMs: this.#visibilityTimeoutMs,
          },
        );
      }
      delivery.timer = setTimeout(() => this.#visibilityExpired(delivery), this.#visibilityTimeoutMs).unref();
      return;
    }
    this.#handBack(
      delivery,
      0,
      new Error(`not acknowledged within the visibility timeout of ${this.#visibilityTimeoutMs} ms`),
    );
  }

  /** Takes a message back for redelivery after `delayMs`, or dead-letters it after its last delivery. */
  #handBack(delivery: Delivery, delayMs: number, error: unknown): void {
    const { slot, offset, subscription, message } = delivery;
    this.#settle(delivery);
    if (error !== undefined) slot.lastErrors.set(offset, error);
    const { maxDeliveries, deadLetterEnabled } = subscription.settings;
    if (message.deliveryCount >= maxDeliveries && deadLetterEnabled) {
      this.#deadLetterAndCommit(
        slot,
        offset,
        message,
        subscription,
        MAX_DELIVERIES_REASON,
        slot.lastErrors.get(offset),
      );
      // Appending to the dead-letter topic cannot fail here: always published.
      reportQueueDeadLetter(subscription.settings, message, MAX_DELIVERIES_REASON, { published: true });
      return;
    }
    const retry: Retry = { ready: delayMs === 0, timer: undefined };
    if (delayMs > 0) {
      retry.timer = setTimeout(() => {
        retry.ready = true;
        retry.timer = undefined;
        if (slot.owner !== undefined) this.#schedulePump(slot.owner);
      }, delayMs).unref();
    }
    slot.retries.set(offset, retry);
  }

  #deadLetterAndCommit(
    slot: GroupPartition,
    offset: number,
    message: QueueMessage,
    subscription: MemorySubscription,
    reason: string,
    error: unknown,
  ): void {
    const target = this.#topic(subscription.settings.deadLetterTopic);
    const stored = this.#append(target, message.key, message.value, deadLetterHeaders(message, reason, error));
    this.#logger?.warn('Message dead-lettered', {
      topic: message.topic,
      group: message.group,
      messageId: message.id,
      deliveryCount: message.deliveryCount,
      reason,
      deadLetterTopic: target.name,
      deadLetterId: stored.id,
      ...(error === undefined ? {} : { error: errorText(error) }),
    });
    this.#commit(slot, offset);
    this.#applyRetention(target);
    this.#wakeTopic(target);
  }

  // ---- groups and rebalancing -------------------------------------------------------------------

  #rebalance(group: ConsumerGroup): Promise<void> {
    const next = group.rebalancing.then(() => this.#rebalanceNow(group));
    group.rebalancing = next;
    return next;
  }

  /** Moves every partition whose owner is not its target to the target, revoking before assigning. */
  async #rebalanceNow(group: ConsumerGroup): Promise<void> {
    const { members } = group;
    const target = (slot: GroupPartition): MemorySubscription | undefined =>
      members.length === 0 ? undefined : members[slot.partition.index % members.length];

    const revoked = new Map<MemorySubscription, GroupPartition[]>();
    for (const slot of group.slots) {
      if (slot.owner === undefined || slot.owner === target(slot)) continue;
      slot.active = false;
      revoked.set(slot.owner, [...(revoked.get(slot.owner) ?? []), slot]);
    }
    await Promise.all(
      [...revoked].map(async ([owner, slots]) => {
        if (owner.running !== undefined) await owner.running;
        await this.#callHook(owner, 'onRevoked', slots);
        for (const slot of slots) this.#restart(slot);
      }),
    );

    const assigned = new Map<MemorySubscription, GroupPartition[]>();
    for (const slot of group.slots) {
      const owner = target(slot);
      if (owner === undefined || slot.owner === owner) continue;
      slot.owner = owner;
      assigned.set(owner, [...(assigned.get(owner) ?? []), slot]);
    }
    await Promise.all(
      [...assigned].map(async ([owner, slots]) => {
        await this.#callHook(owner, 'onAssigned', slots);
        for (const slot of slots) if (slot.owner === owner) slot.active = true;
        this.#schedulePump(owner);
      }),
    );
  }

  /** Forgets the owner's progress: the next owner starts at the committed position. */
  #restart(slot: GroupPartition): void {
    for (const delivery of [...slot.inFlight.values()]) this.#settle(delivery);
    for (const retry of slot.retries.values()) clearTimeout(retry.timer);
    slot.retries.clear();
    slot.acked.clear();
    slot.fetch = slot.committed;
    slot.owner = undefined;
    slot.active = false;
  }

  async #callHook(
    subscription: MemorySubscription,
    hook: 'onAssigned' | 'onRevoked',
    slots: readonly GroupPartition[],
  ): Promise<void> {
    const callback = subscription.settings[hook];
    if (callback === undefined) return;
    const partitions: TopicPartition[] = slots.map((slot) => ({
      topic: slot.group.topic.name,
      partition: slot.partition.index,
    }));
    try {
      await callback(Object.freeze(partitions));
    } catch (error) {
      this.#logger?.warn(`The ${hook} hook of a consumer failed; the rebalance goes on`, {
        topic: subscription.group.topic.name,
        group: subscription.group.name,
        consumer: subscription.settings.consumer,
        error: errorText(error),
      });
    }
  }

  /** Takes a consumer out of its group's membership (its partitions move at the next rebalance). */
  #leave(subscription: MemorySubscription): void {
    subscription.closing = true;
    subscription.stopWaiting();
    const { group } = subscription;
    group.members = group.members.filter((member) => member !== subscription);
  }

  async #closeSubscription(subscription: MemorySubscription): Promise<void> {
    this.#leave(subscription);
    const rebalanced = this.#rebalance(subscription.group).then(async () => {
      if (subscription.running !== undefined && runningHandler.getStore() !== subscription) await subscription.running;
      this.#subscriptions.delete(subscription);
    });
    // Called from a handler of the same group: the rebalance waits for that handler, so it cannot
    // be awaited here. It completes once the handler settles.
    if (runningHandler.getStore()?.group === subscription.group) return;
    await rebalanced;
  }

  // ---- helpers ----------------------------------------------------------------------------------

  #settings(topicName: string, options: SubscribeOptions): ConsumerSettings {
    const what = (option: string): string => `${option} of group "${options.group}" on topic "${topicName}"`;
    const maxBatchSize = positiveInteger(options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE, what('maxBatchSize'));
    return {
      consumer: options.consumer ?? `consumer-${process.pid}-${++this.#consumerSerial}`,
      autoAck: options.autoAck ?? false,
      maxBatchSize,
      maxWaitMs: nonNegativeNumber(options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS, what('maxWaitMs')),
      maxInFlight: positiveInteger(
        options.maxInFlight ?? Math.max(DEFAULT_MAX_IN_FLIGHT, maxBatchSize),
        what('maxInFlight'),
      ),
      maxDeliveries: positiveInteger(options.maxDeliveries ?? DEFAULT_MAX_DELIVERIES, what('maxDeliveries')),
      deadLetterEnabled: options.deadLetter?.enabled ?? true,
      deadLetterTopic: options.deadLetter?.topic ?? deadLetterTopic(topicName),
      onAssigned: options.onAssigned,
      onRevoked: options.onRevoked,
      onDeadLetter: options.onDeadLetter,
    };
  }

  #assertUsable(action: string, allowedWhileDisconnecting: boolean): void {
    if (this.#state === 'connected' || (allowedWhileDisconnecting && this.#state === 'disconnecting')) return;
    throw new PlatformError('PH_ERR_NOT_CONNECTED', `Cannot ${action}: the memory message queue is ${this.#state}`, {
      hint: 'Call connect() first; after disconnect() the queue accepts no more calls.',
    });
  }

  #newTopic(name: string, partitionCount: number): Topic {
    const partitions: Partition[] = Array.from({ length: partitionCount }, (_, index) => ({
      index,
      log: new Map(),
      firstOffset: 0,
      nextOffset: 0,
    }));
    return { name, partitions, groups: new Map(), retained: 0, nextSequence: 0, nextKeyless: 0, overLimit: false };
  }

  #topic(name: string): Topic {
    let topic = this.#topics.get(name);
    if (topic === undefined) {
      topic = this.#newTopic(name, this.#defaultPartitions);
      this.#topics.set(name, topic);
    }
    return topic;
  }
}
