import { expect } from 'chai';
import { Redis } from 'ioredis';
import type { QueueMessage } from '@platform-host/contracts';
import { RecordingLogger, usePrivateRedis, waitFor } from '@platform-host/test-kit';
import type { PrivateRedis } from '@platform-host/test-kit';
import { RedisStreamQueue } from './index.js';

const KEY_PREFIX = 'restart:';

/** Publishes `values` on `topic` and returns them, for the deliveries to be compared with. */
async function publish(queue: RedisStreamQueue, topic: string, values: readonly string[]): Promise<readonly string[]> {
  await queue.publishBatch(
    topic,
    values.map((value) => ({ value })),
  );
  return values;
}

async function pendingCount(server: PrivateRedis, topic: string, group: string): Promise<number> {
  const raw = new Redis(server.url(1), { protocol: 2 });
  try {
    const summary = (await raw.xpending(`${KEY_PREFIX}${topic}`, group)) as [number, ...unknown[]];
    return summary[0];
  } finally {
    raw.disconnect();
  }
}

/**
 * Stops a subscription's Redis server under it and starts it again: the queue reports itself
 * unhealthy while the server is gone and goes on delivering after it is back, without being
 * recreated. Each suite runs its own redis-server, never the shared one.
 */
describe('RedisStreamQueue when its server is stopped and restarted under a running subscription', function () {
  this.timeout(60_000);

  describe('a server that keeps its data (append-only file)', function () {
    const server = usePrivateRedis({ persistent: true });

    it('turns unhealthy while the server is down, then delivers what is published after the restart and takes the acknowledgement held across it', async function () {
      const queue = new RedisStreamQueue({ url: server().url(1), keyPrefix: KEY_PREFIX, healthCheckTimeoutMs: 500 });
      await queue.connect();
      const received: string[] = [];
      let held: QueueMessage | undefined;
      const subscription = await queue.subscribe(
        'orders',
        async (messages) => {
          for (const message of messages) {
            const value = message.value.toString();
            received.push(value);
            // The last message before the outage is acknowledged only after the restart.
            if (value === 'before-3') held = message;
            else await queue.ack(message);
          }
        },
        { group: 'billing' },
      );
      try {
        await publish(queue, 'orders', ['before-1', 'before-2', 'before-3']);
        await waitFor(() => received.length === 3, 10_000, 'the three messages published before the outage');

        await server().stop();
        await waitFor(async () => !(await queue.healthCheck()).ok, 10_000, 'the health check to fail');
        const down = await queue.healthCheck();
        expect(down.detail).to.match(/127\.0\.0\.1/);

        await server().start();
        await waitFor(async () => (await queue.healthCheck()).ok, 15_000, 'the health check to pass again');
        if (held !== undefined) await queue.ack(held);
        await publish(queue, 'orders', ['after-1', 'after-2']);
        await waitFor(() => received.length === 5, 15_000, 'the two messages published after the restart');

        expect(received).to.deep.equal(['before-1', 'before-2', 'before-3', 'after-1', 'after-2']);
        expect(await pendingCount(server(), 'orders', 'billing')).to.equal(0);
      } finally {
        await subscription.close();
        await queue.disconnect();
      }
    });
  });

  describe('a server that lost its data (no persistence)', function () {
    const server = usePrivateRedis({ persistent: false });

    it('creates its consumer group again, says so in the log, and delivers what is published after the restart', async function () {
      const logger = new RecordingLogger();
      const queue = new RedisStreamQueue({
        url: server().url(1),
        keyPrefix: KEY_PREFIX,
        logger,
        healthCheckTimeoutMs: 500,
      });
      await queue.connect();
      const received: string[] = [];
      const subscription = await queue.subscribe(
        'clicks',
        async (messages) => {
          received.push(...messages.map((message) => message.value.toString()));
          await queue.ack(messages);
        },
        { group: 'counter' },
      );
      try {
        await publish(queue, 'clicks', ['before-1']);
        await waitFor(() => received.length === 1, 10_000, 'the message published before the outage');

        await server().stop();
        await waitFor(async () => !(await queue.healthCheck()).ok, 10_000, 'the health check to fail');
        await server().start();
        await waitFor(async () => (await queue.healthCheck()).ok, 15_000, 'the health check to pass again');

        await publish(queue, 'clicks', ['after-1', 'after-2']);
        await waitFor(() => received.length === 3, 15_000, 'the messages published after the restart');
        expect(received).to.deep.equal(['before-1', 'after-1', 'after-2']);
        const warning = logger.at('warn').find((record) => /created again/.test(record.message));
        expect(warning, 'a warning that the consumer group was created again').to.not.equal(undefined);
        expect(warning?.fields).to.include({ topic: 'clicks', group: 'counter' });
      } finally {
        await subscription.close();
        await queue.disconnect();
      }
    });
  });
});
