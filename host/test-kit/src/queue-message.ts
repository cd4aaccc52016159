import type { BatchHandler, MessageQueue, QueueMessage } from '@platform-host/contracts';

/**
 * A delivered message for unit tests of consumers (stores, aggregators, dead-letter bookkeeping):
 * topic `events`, group `g`, no partition, offset or key, an empty value and headers, first
 * delivery, published at the epoch; `fields` override any of them.
 */
export function queueMessageForTest(fields: Partial<QueueMessage> & { readonly id: string }): QueueMessage {
  return {
    topic: 'events',
    group: 'g',
    partition: undefined,
    offset: undefined,
    key: undefined,
    value: new Uint8Array(),
    headers: {},
    deliveryCount: 1,
    publishedAt: new Date(0),
    ...fields,
  };
}

/**
 * `mq` whose subscriptions hand each delivered batch to `intercept` instead of the subscriber's
 * handler; `intercept` gets the batch and that handler, and may count the batch, deliver it twice,
 * change it or hold it. Every other member is `mq`'s own. For tests of consumers that need to see
 * or shape what a real queue delivers.
 */
export function interceptDeliveries(
  mq: MessageQueue,
  intercept: (messages: readonly QueueMessage[], handler: BatchHandler) => Promise<void>,
): MessageQueue {
  const subscribe: MessageQueue['subscribe'] = (topic, handler, options) =>
    mq.subscribe(topic, (messages) => intercept(messages, handler), options);
  return new Proxy(mq, {
    get(target, property) {
      if (property === 'subscribe') return subscribe;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
