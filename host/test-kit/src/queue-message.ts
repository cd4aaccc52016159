import type { QueueMessage } from '@platform-host/contracts';

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
