import { performance } from 'node:perf_hooks';
import type {
  BatchHandler,
  MessageQueue,
  NackOptions,
  OutgoingMessage,
  QueueMessage,
  SubscribeOptions,
} from '@platform-host/contracts';
import { interceptMethods, observeCall } from './intercept.js';
import { safeRecorder, scopeLabels, type PlatformMetricsScope } from './scope.js';

/** How a delivered message ended, the `outcome` label of the message metrics. */
export type MessageOutcome = 'ack' | 'nack' | 'dead_letter' | 'error';

export const MESSAGES_PROCESSED = 'platform_messages_processed_total';
export const MESSAGE_PROCESSING_DURATION = 'platform_message_processing_duration_seconds';
export const MESSAGES_PUBLISHED = 'platform_messages_published_total';
export const DEAD_LETTER_FAILURES = 'platform_dead_letter_failures_total';
export const DEAD_LETTERS_UNPUBLISHED = 'platform_dead_letters_unpublished';

/** The property a delivered message carries its delivery time in, until it is settled. */
const DELIVERED_AT = Symbol('platform-host.queue-metrics.deliveredAt');
type Stamped = QueueMessage & { [DELIVERED_AT]?: number | undefined };

/**
 * Wraps a constructed queue so that every delivered message is counted once it is settled, in
 * `platform_messages_processed_total` and `platform_message_processing_duration_seconds` (labels
 * `module`, `env`, `topic`, `group`, `outcome`):
 * - `ack` when acknowledged through this queue (or by `autoAck` once the batch handler resolved),
 * - `nack` when handed back with `nack`, `dead_letter` when given to `deadLetter`,
 * - `error` when the batch handler threw before the message was settled (the queue redelivers it).
 *
 * The duration runs from the delivery of the message's batch to the handler until that settlement,
 * so for a handler that acknowledges as it goes it is the message's own processing time. A message
 * never settled in this process (its partition revoked, the process stopped) is not counted; its
 * redelivery is. Successful `publish` / `publishBatch` calls count into
 * `platform_messages_published_total` (labels `module`, `env`, `topic`).
 *
 * A `deadLetter` call that fails, or a dead letter the queue itself could not publish (reported
 * through `SubscribeOptions.onDeadLetter`: the Kafka and Redis Streams adapters' `max_deliveries`
 * dead letters), counts into `platform_dead_letter_failures_total`, and the message
 * is held in the gauge `platform_dead_letters_unpublished` (labels `module`, `env`, `topic`,
 * `group`) until a later `deadLetter` or `ack` of it succeeds (or the queue reports its own dead letter of it published) or its partition is revoked (the
 * subscription's `onRevoked` resolved): a dead letter that can never be published (larger than the
 * dead-letter topic accepts, say) holds the offsets of its partition above it, and shows here.
 *
 * Return values, errors, `capabilities`, subscriptions and every other method are the adapter's.
 */
export function instrumentMessageQueue<Q extends MessageQueue>(queue: Q, scope: PlatformMetricsScope): Q {
  const labelNames = ['module', 'env', 'topic', 'group', 'outcome'] as const;
  const processed = scope.metrics.counter({
    name: MESSAGES_PROCESSED,
    help: 'Messages delivered to a handler, counted once each was acknowledged, nacked, dead-lettered or failed.',
    labelNames,
  });
  const duration = scope.metrics.histogram({
    name: MESSAGE_PROCESSING_DURATION,
    help: 'Time from the delivery of a message to its handler until it was acknowledged, nacked, dead-lettered or failed.',
    labelNames,
    unit: 'seconds',
  });
  const published = scope.metrics.counter({
    name: MESSAGES_PUBLISHED,
    help: 'Messages accepted by the broker from publish and publishBatch.',
    labelNames: ['module', 'env', 'topic'],
  });
  const deadLetterFailures = scope.metrics.counter({
    name: DEAD_LETTER_FAILURES,
    help: 'deadLetter calls that failed (the dead letter was not published; the consumer retries it or leaves it to the next owner).',
    labelNames: ['module', 'env', 'topic', 'group'],
  });
  const unpublished = scope.metrics.gauge({
    name: DEAD_LETTERS_UNPUBLISHED,
    help: 'Messages whose last deadLetter call failed and that are still held: not dead-lettered, acknowledged or revoked since.',
    labelNames: ['module', 'env', 'topic', 'group'],
  });
  const base = scopeLabels(scope);
  const record = safeRecorder(scope);
  /**
   * Delivered messages not settled yet, with the time their batch reached the handler: stamped on
   * the message itself (a non-enumerable symbol property) when it is extensible, else (a frozen
   * message) in a WeakMap. Every in-flight message in a WeakMap is an ephemeron the garbage
   * collector processes on each cycle, a cost that grows with the messages a consumer holds.
   */
  const frozenPending = new WeakMap<QueueMessage, number>();
  const markDelivered = (message: QueueMessage, at: number): void => {
    const stamped = message as Stamped;
    if (Object.hasOwn(stamped, DELIVERED_AT)) stamped[DELIVERED_AT] = at;
    else if (Object.isExtensible(stamped)) {
      Object.defineProperty(stamped, DELIVERED_AT, {
        value: at,
        writable: true,
        enumerable: false,
        configurable: true,
      });
    } else frozenPending.set(message, at);
  };
  /** The delivery time of `message` if it is not settled yet, forgetting it. */
  const takeDelivered = (message: QueueMessage): number | undefined => {
    const stamped = message as Stamped;
    const at = stamped[DELIVERED_AT];
    if (at !== undefined) {
      stamped[DELIVERED_AT] = undefined;
      return at;
    }
    const frozen = frozenPending.get(message);
    if (frozen !== undefined) frozenPending.delete(message);
    return frozen;
  };

  type SeriesLabels = Readonly<Record<(typeof labelNames)[number], string>>;
  /**
   * One frozen label object per series, reused for every message of it: no object is built per
   * message, and the metrics adapter checks a frozen label set once (see `validateLabels`). Looked
   * up by topic, then group, then outcome, so that no key string is built per message either.
   */
  const seriesLabels = new Map<string, Map<string, Map<MessageOutcome, SeriesLabels>>>();
  const labelsOf = (topic: string, group: string, outcome: MessageOutcome): SeriesLabels => {
    let byGroup = seriesLabels.get(topic);
    if (byGroup === undefined)
      seriesLabels.set(topic, (byGroup = new Map<string, Map<MessageOutcome, SeriesLabels>>()));
    let byOutcome = byGroup.get(group);
    if (byOutcome === undefined) byGroup.set(group, (byOutcome = new Map<MessageOutcome, SeriesLabels>()));
    let labels = byOutcome.get(outcome);
    if (labels === undefined) {
      labels = Object.freeze({ ...base, topic, group, outcome });
      byOutcome.set(outcome, labels);
    }
    return labels;
  };
  /** The published counter's label set per topic, made once. */
  const publishedLabels = new Map<string, Readonly<Record<'module' | 'env' | 'topic', string>>>();
  const publishedLabelsOf = (topic: string) => {
    let labels = publishedLabels.get(topic);
    if (labels === undefined) publishedLabels.set(topic, (labels = Object.freeze({ ...base, topic })));
    return labels;
  };

  const settle = (message: QueueMessage, outcome: MessageOutcome): void => settleAll([message], outcome);
  /**
   * Counts the settled messages with one `inc` per series (a batch is one series: one topic, one
   * group), and observes each one's duration, read from one clock reading for all of them. The
   * histogram is a per-message metric (its `_count` is the number of messages), so it is observed
   * per message; the messages of a batch share its delivery time, and so their duration.
   */
  const settleAll = (messages: readonly QueueMessage[], outcome: MessageOutcome): void => {
    record(() => {
      const now = performance.now();
      let labels: SeriesLabels | undefined;
      let count = 0;
      let others: Map<SeriesLabels, number> | undefined;
      for (const message of messages) {
        const deliveredAt = takeDelivered(message);
        if (deliveredAt === undefined) continue;
        if (labels === undefined || labels.topic !== message.topic || labels.group !== message.group) {
          const series = labelsOf(message.topic, message.group, outcome);
          if (labels === undefined) labels = series;
          else if (series !== labels) {
            // A batch of several series (not one subscription's): counted per series.
            others ??= new Map();
            others.set(series, (others.get(series) ?? 0) + 1);
            duration.observe(series, Math.max(0, now - deliveredAt) / 1000);
            continue;
          }
        }
        count += 1;
        duration.observe(labels, Math.max(0, now - deliveredAt) / 1000);
      }
      if (labels !== undefined && count > 0) processed.inc(labels, count);
      if (others !== undefined) for (const [series, n] of others) processed.inc(series, n);
    });
  };
  /** Per topic and group: the messages whose last dead letter failed, by id, with their partition. */
  const failingDeadLetters = new Map<
    string,
    {
      readonly labels: Readonly<Record<'module' | 'env' | 'topic' | 'group', string>>;
      ids: Map<string, number | undefined>;
    }
  >();
  let failingCount = 0;
  const failingOf = (topic: string, group: string) => {
    const key = `${topic}\u0000${group}`;
    let entry = failingDeadLetters.get(key);
    if (entry === undefined)
      failingDeadLetters.set(key, (entry = { labels: Object.freeze({ ...base, topic, group }), ids: new Map() }));
    return entry;
  };
  const deadLetterFailed = (message: QueueMessage): void =>
    record(() => {
      const entry = failingOf(message.topic, message.group);
      deadLetterFailures.inc(entry.labels);
      if (entry.ids.has(message.id)) return;
      entry.ids.set(message.id, message.partition);
      failingCount += 1;
      unpublished.set(entry.labels, entry.ids.size);
    });
  /** Drops from the gauge the messages of `messages` (all of `partitions` when given) that are held there. */
  const noLongerFailing = (
    topic: string,
    group: string,
    matches: (id: string, partition: number | undefined) => boolean,
  ): void =>
    record(() => {
      const entry = failingDeadLetters.get(`${topic}\u0000${group}`);
      if (entry === undefined || entry.ids.size === 0) return;
      const before = entry.ids.size;
      for (const [id, partition] of entry.ids) if (matches(id, partition)) entry.ids.delete(id);
      if (entry.ids.size === before) return;
      failingCount -= before - entry.ids.size;
      unpublished.set(entry.labels, entry.ids.size);
    });
  const settledMessages = (messages: readonly QueueMessage[]): void => {
    // Nothing to look up on the hot path while no dead letter is failing.
    if (failingCount === 0) return;
    for (const message of messages) noLongerFailing(message.topic, message.group, (id) => id === message.id);
  };
  const countPublished = (topic: string, count: number): void =>
    record(() => published.inc(publishedLabelsOf(topic), count));

  /**
   * `options` whose `onRevoked` (also when there was none) drops the revoked partitions' failing
   * dead letters once it settled, and whose `onDeadLetter` counts the queue's own dead letters
   * (`max_deliveries`) as `deadLetter` calls are counted: a failed one into the failures counter
   * and the gauge, a published one out of the gauge.
   */
  const withRevokedForgotten = (topic: string, options: SubscribeOptions): SubscribeOptions => ({
    ...options,
    onDeadLetter: (message, reason, outcome) => {
      if (outcome.published) settledMessages([message]);
      else deadLetterFailed(message);
      options.onDeadLetter?.(message, reason, outcome);
    },
    onRevoked: async (partitions) => {
      try {
        await options.onRevoked?.(partitions);
      } finally {
        const revoked = new Set(partitions.filter((p) => p.topic === topic).map((p) => p.partition));
        noLongerFailing(topic, options.group, (_id, partition) => partition !== undefined && revoked.has(partition));
      }
    },
  });

  const wrapHandler =
    (handler: BatchHandler, options: SubscribeOptions): BatchHandler =>
    (messages) => {
      const deliveredAt = performance.now();
      for (const message of messages) markDelivered(message, deliveredAt);
      return observeCall(
        () => handler(messages),
        (outcome) => {
          // A handler that threw leaves its unsettled messages to be redelivered by the queue.
          if (outcome === 'error') settleAll(messages, 'error');
          else if (options.autoAck === true) settleAll(messages, 'ack');
        },
      );
    };

  return interceptMethods<Q, MessageQueue>(queue, {
    publish: (topic: string, message: OutgoingMessage) =>
      queue.publish(topic, message).then((id) => {
        countPublished(topic, 1);
        return id;
      }),
    publishBatch: (topic: string, messages: readonly OutgoingMessage[]) =>
      queue.publishBatch(topic, messages).then((ids) => {
        countPublished(topic, ids.length);
        return ids;
      }),
    subscribe: (topic: string, handler: BatchHandler, options: SubscribeOptions) =>
      queue.subscribe(topic, wrapHandler(handler, options), withRevokedForgotten(topic, options)),
    ack: (messages: QueueMessage | readonly QueueMessage[]) =>
      queue.ack(messages).then(() => {
        const list = Array.isArray(messages) ? messages : [messages as QueueMessage];
        settleAll(list, 'ack');
        settledMessages(list);
      }),
    nack: (...args: [message: QueueMessage, options?: NackOptions]) =>
      queue.nack(...args).then(() => settle(args[0], 'nack')),
    deadLetter: (...args: [message: QueueMessage, reason: string, error?: unknown]) =>
      queue.deadLetter(...args).then(
        () => {
          settle(args[0], 'dead_letter');
          settledMessages([args[0]]);
        },
        (error: unknown) => {
          deadLetterFailed(args[0]);
          throw error;
        },
      ),
  });
}
