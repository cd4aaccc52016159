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

/** Lets a subclass constructor run on an existing object (see {@link DeliveryStamp}). */
class ReturnTarget {
  constructor(target: object) {
    // A constructor returning an object makes it the `this` of the subclass constructor.
    return target;
  }
}

/** Delivery times of messages not settled yet, as {@link deliveryStamps} keeps them. */
interface DeliveryStamps {
  /** Records that `message` was delivered at `deliveredAt` (`performance.now()`), not settled yet. */
  set(message: QueueMessage, deliveredAt: number): void;
  /** The delivery time of `message` if it is delivered and not settled yet; it is settled now. */
  take(message: QueueMessage): number | undefined;
}

/**
 * The time a delivered message's batch reached its handler, kept on the message itself as a
 * private field (the class-fields "return override": a private field can be added to any object;
 * it is invisible to reflection, spreading, JSON and deep equality, and the message's own fields
 * are untouched). A WeakMap entry per message costs several times more per message and grows an
 * ephemeron table the garbage collector has to walk (stream_ingest holds 100,000s of delivered
 * messages until their commit). Each call makes a new private name, so two instrumented queues
 * never see each other's stamps. Where a private field cannot be added, a WeakMap is used.
 */
function deliveryStamps(): DeliveryStamps {
  const fallback = new WeakMap<QueueMessage, number>();
  class Stamp extends ReturnTarget {
    #deliveredAt: number | undefined;

    constructor(message: QueueMessage, deliveredAt: number) {
      super(message);
      this.#deliveredAt = deliveredAt;
    }

    static set(message: QueueMessage, deliveredAt: number): void {
      if (#deliveredAt in message) {
        message.#deliveredAt = deliveredAt;
        return;
      }
      try {
        new Stamp(message, deliveredAt);
      } catch {
        fallback.set(message, deliveredAt);
      }
    }

    static take(message: QueueMessage): number | undefined {
      if (#deliveredAt in message) {
        const deliveredAt = message.#deliveredAt;
        message.#deliveredAt = undefined;
        return deliveredAt;
      }
      const deliveredAt = fallback.get(message);
      if (deliveredAt !== undefined) fallback.delete(message);
      return deliveredAt;
    }
  }
  return { set: (message, deliveredAt) => Stamp.set(message, deliveredAt), take: (message) => Stamp.take(message) };
}

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
  const base = scopeLabels(scope);
  const record = safeRecorder(scope);
  /** Delivered messages not settled yet, with the time their batch reached the handler. */
  const pending = deliveryStamps();

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
        const deliveredAt = pending.take(message);
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
  const countPublished = (topic: string, count: number): void =>
    record(() => published.inc(publishedLabelsOf(topic), count));

  const wrapHandler =
    (handler: BatchHandler, options: SubscribeOptions): BatchHandler =>
    (messages) => {
      const deliveredAt = performance.now();
      for (const message of messages) pending.set(message, deliveredAt);
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
      queue.subscribe(topic, wrapHandler(handler, options), options),
    ack: (messages: QueueMessage | readonly QueueMessage[]) =>
      queue.ack(messages).then(() => settleAll(Array.isArray(messages) ? messages : [messages as QueueMessage], 'ack')),
    nack: (...args: [message: QueueMessage, options?: NackOptions]) =>
      queue.nack(...args).then(() => settle(args[0], 'nack')),
    deadLetter: (...args: [message: QueueMessage, reason: string, error?: unknown]) =>
      queue.deadLetter(...args).then(() => settle(args[0], 'dead_letter')),
  });
}
