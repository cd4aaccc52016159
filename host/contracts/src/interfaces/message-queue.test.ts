import { expect } from 'chai';
import { currentCorrelationId } from '../correlation.js';
import { MESSAGE_HEADERS, eachMessage } from './message-queue.js';
import type { QueueMessage } from './message-queue.js';

function message(id: string, headers: Record<string, string> = {}): QueueMessage {
  return {
    id,
    topic: 't',
    group: 'g',
    partition: 0,
    offset: id,
    key: undefined,
    value: new Uint8Array(),
    headers,
    deliveryCount: 1,
    publishedAt: new Date(0),
  };
}

describe('eachMessage', function () {
  it("runs each message's handler with that message's own correlation id bound, a new one when it has none", async function () {
    const outcomes: string[] = [];
    const bound: Array<string | undefined> = [];
    const queue = {
      ack: async (acked: QueueMessage | readonly QueueMessage[]) => {
        for (const one of Array.isArray(acked) ? acked : [acked]) outcomes.push(`ack ${(one as QueueMessage).id}`);
      },
      nack: async (nacked: QueueMessage, options?: { readonly delayMs?: number }) =>
        void outcomes.push(`nack ${nacked.id} after ${options?.delayMs}`),
    };
    const handler = eachMessage(
      queue,
      async (delivered) => {
        bound.push(currentCorrelationId());
        if (delivered.id === '2') throw new Error('fails');
      },
      { retryDelayMs: 25 },
    );
    await handler([
      message('1', { [MESSAGE_HEADERS.correlationId]: 'first' }),
      message('2', { [MESSAGE_HEADERS.correlationId]: 'second' }),
      message('3'),
      message('4'),
    ]);
    expect(bound.slice(0, 2)).to.deep.equal(['first', 'second']);
    expect(bound[2]).to.be.a('string').and.not.equal(bound[3]);
    expect(bound[3]).to.be.a('string');
    expect(outcomes).to.deep.equal(['ack 1', 'nack 2 after 25', 'ack 3', 'ack 4']);
  });
});
