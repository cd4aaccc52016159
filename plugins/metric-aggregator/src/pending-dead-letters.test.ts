import { expect } from 'chai';
import type { QueueMessage } from '@platform-host/contracts';
import { queueMessageForTest, waitFor } from '@platform-host/test-kit';
import { PendingDeadLetters } from '@platform-host/contracts';

function message(partition: number, offset: number): QueueMessage {
  return queueMessageForTest({ id: `${partition}:${offset}`, partition, offset: String(offset) });
}

/** A publish the test settles by hand, one deferred promise per call. */
function manualPublish(): {
  calls: Array<{ id: string; resolve: () => void; reject: (error: Error) => void }>;
  publish: (message: QueueMessage) => Promise<void>;
} {
  const calls: Array<{ id: string; resolve: () => void; reject: (error: Error) => void }> = [];
  return {
    calls,
    publish: (m) => new Promise<void>((resolve, reject) => calls.push({ id: m.id, resolve, reject })),
  };
}

describe('PendingDeadLetters', () => {
  it('reports the lowest offset per partition whose dead letter is not durable, until it is', async () => {
    const manual = manualPublish();
    const durable: string[] = [];
    const pending = new PendingDeadLetters({ publish: manual.publish, onDurable: (m) => durable.push(m.id) });
    const first = pending.deadLetter(message(0, 7), 'invalid_event', 'no event_type');
    void pending.deadLetter(message(0, 4), 'invalid_event', 'no event_type');
    void pending.deadLetter(message(1, 9), 'malformed_json', 'not JSON');
    expect(pending.blockingOffsets()).to.deep.equal(
      new Map([
        [0, 4n],
        [1, 9n],
      ]),
    );
    let settled = false;
    const settling = pending.settle().then(() => (settled = true));
    manual.calls[0]?.resolve();
    expect(await first).to.equal(true);
    expect(settled, 'settle waits for every attempt in flight').to.equal(false);
    manual.calls[1]?.resolve();
    manual.calls[2]?.resolve();
    await settling;
    expect(pending.blockingOffsets().size).to.equal(0);
    expect(pending.size).to.equal(0);
    expect(durable).to.deep.equal(['0:7', '0:4', '1:9']);
  });

  it('retries a failed publish and keeps blocking its offset until one attempt succeeds', async () => {
    const manual = manualPublish();
    const failures: number[] = [];
    const pending = new PendingDeadLetters({
      publish: manual.publish,
      onFailure: (_m, _reason, _error, retryInMs) => failures.push(retryInMs),
      retryDelayMs: () => 1,
    });
    const first = pending.deadLetter(message(2, 3), 'invalid_event', 'bad');
    manual.calls[0]?.reject(new Error('broker said no'));
    expect(await first, 'the first attempt failed').to.equal(false);
    await pending.settle();
    expect(pending.blockingOffsets().get(2), 'a failed dead letter blocks its offset').to.equal(3n);
    await waitFor(() => manual.calls.length === 2, 5000, 'a second attempt');
    manual.calls[1]?.reject(new Error('broker said no again'));
    await waitFor(() => manual.calls.length === 3, 5000, 'a third attempt');
    expect(pending.blockingOffsets().get(2)).to.equal(3n);
    manual.calls[2]?.resolve();
    await pending.settle();
    expect(pending.blockingOffsets().size).to.equal(0);
    expect(failures).to.deep.equal([1, 1]);
  });

  it('publishes a message under way once, and stops retrying the partitions it abandons', async () => {
    const manual = manualPublish();
    const pending = new PendingDeadLetters({ publish: manual.publish, retryDelayMs: () => 1 });
    void pending.deadLetter(message(0, 1), 'invalid_event', 'bad');
    void pending.deadLetter(message(0, 1), 'invalid_event', 'bad');
    void pending.deadLetter(message(1, 1), 'invalid_event', 'bad');
    expect(manual.calls.map((call) => call.id)).to.deep.equal(['0:1', '1:1']);
    manual.calls[0]?.reject(new Error('no'));
    manual.calls[1]?.resolve();
    await pending.settle();
    expect([...pending.blockingOffsets().keys()]).to.deep.equal([0]);
    pending.abandon([0]);
    expect(pending.blockingOffsets().size).to.equal(0);
    // Long enough for a retry of the abandoned one to have been started, had it not been abandoned.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(manual.calls).to.have.length(2);
    expect(pending.size).to.equal(0);
  });
});
