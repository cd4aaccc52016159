import type { BatchHandler, MessageQueue, SubscribeOptions, Subscription } from '@platform-host/contracts';
import type { ShutdownStep } from './shutdown.js';

/** A subscription made through `ctx.mq`, as the host tracks it. */
interface Tracked {
  readonly topic: string;
  readonly group: string;
  readonly inner: Subscription;
  closed: boolean;
}

/**
 * The subscriptions a module made through `ctx.mq`. At stop-intake the host pauses every one (no
 * new batches; running handlers go on and are drained), and after the drain it closes those the
 * module left open, so their partitions are revoked cleanly and unacknowledged messages go back to
 * the group.
 */
export class SubscriptionTracker {
  private readonly tracked: Tracked[] = [];
  private stopped = false;

  /** `queue` with `subscribe` recorded here; every other member is the queue's own. */
  wrap(queue: MessageQueue): MessageQueue {
    const subscribe = async (topic: string, handler: BatchHandler, options: SubscribeOptions): Promise<Subscription> =>
      this.track(topic, options.group, await queue.subscribe(topic, handler, options));
    return new Proxy(queue, {
      get: (target, property) => {
        if (property === 'subscribe') return subscribe;
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  /** Pauses every subscription, and any made from now on. Idempotent. */
  stopIntake(): void {
    this.stopped = true;
    for (const entry of this.tracked) if (!entry.closed) entry.inner.pause();
  }

  /** One close step per subscription still open, for the shutdown sequence. */
  closeSteps(): ShutdownStep[] {
    return this.tracked
      .filter((entry) => !entry.closed)
      .map((entry) => ({
        name: `closing subscription to ${entry.topic} (group ${entry.group})`,
        run: async () => {
          entry.closed = true;
          await entry.inner.close();
        },
      }));
  }

  private track(topic: string, group: string, inner: Subscription): Subscription {
    const entry: Tracked = { topic, group, inner, closed: false };
    this.tracked.push(entry);
    if (this.stopped) inner.pause();
    const stopped = (): boolean => this.stopped;
    return {
      pause: () => inner.pause(),
      // After stop-intake nothing takes new work again.
      resume: () => {
        if (!stopped()) inner.resume();
      },
      get paused() {
        return inner.paused;
      },
      close: async () => {
        entry.closed = true;
        await inner.close();
      },
    };
  }
}
