import { expect } from 'chai';
import type { Logger, MessageQueue, Subscription } from '@platform-host/contracts';
import { HostLifecycle } from './host-lifecycle.js';
import { runSteps } from './shutdown.js';

/** A subscription that records what the host did to it. */
class RecordingSubscription implements Subscription {
  paused = false;
  readonly calls: string[] = [];
  constructor(readonly topic: string) {}
  pause(): void {
    this.paused = true;
    this.calls.push('pause');
  }
  resume(): void {
    this.paused = false;
    this.calls.push('resume');
  }
  close(): Promise<void> {
    this.calls.push('close');
    return Promise.resolve();
  }
}

const silent: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silent,
  flush: () => Promise.resolve(),
};

/** Only what the tracker touches; the rest of the queue is not needed to prove the host's part. */
function queueMaking(made: RecordingSubscription[]): MessageQueue {
  const queue = {
    capabilities: { orderedByKey: true, partitioned: false, delayedRedelivery: false },
    subscribe: (topic: string) => {
      const subscription = new RecordingSubscription(topic);
      made.push(subscription);
      return Promise.resolve(subscription);
    },
    flush: () => Promise.resolve(),
  };
  return queue as unknown as MessageQueue;
}

describe('subscriptions made through ctx.mq', () => {
  it('are paused at stop-intake before the signal aborts, and the ones left open are closed after the drain', async () => {
    const lifecycle = new HostLifecycle();
    const made: RecordingSubscription[] = [];
    const mq = lifecycle.subscriptions.wrap(queueMaking(made));
    const events = await mq.subscribe('events', () => Promise.resolve(), { group: 'a' });
    const closedByModule = await mq.subscribe('orders', () => Promise.resolve(), { group: 'a' });
    await closedByModule.close();
    let pausedWhenAborted: boolean | undefined;
    lifecycle.signal.addEventListener('abort', () => (pausedWhenAborted = made[0]?.paused));
    await lifecycle.stopIntake('SIGTERM', silent, 1000);
    expect(pausedWhenAborted).to.equal(true);
    events.resume();
    expect(events.paused, 'resume after stop-intake is ignored').to.equal(true);
    const late = await mq.subscribe('late', () => Promise.resolve(), { group: 'a' });
    expect(late.paused, 'a subscription made after stop-intake starts paused').to.equal(true);
    expect(await runSteps(lifecycle.subscriptions.closeSteps(), 1000, silent, 'close-subscriptions')).to.equal(0);
    expect(made.map((s) => [s.topic, s.calls])).to.deep.equal([
      ['events', ['pause', 'close']],
      ['orders', ['close']],
      ['late', ['pause', 'close']],
    ]);
    expect(await mq.flush()).to.equal(undefined);
  });
});
