/**
 * A consumer process for the kill -9 test: it subscribes to CRASH_TOPIC as consumer `doomed` of
 * CRASH_GROUP, never acknowledges, prints one JSON line with the ids once it holds CRASH_EXPECT
 * messages, and then waits to be killed.
 */
import { RedisStreamQueue } from './redis-stream-queue.js';

const env = (key: string): string => {
  const value = process.env[key];
  if (value === undefined || value === '') throw new Error(`${key} is not set`);
  return value;
};

const expected = Number(env('CRASH_EXPECT'));
const queue = new RedisStreamQueue({
  url: env('MQ_REDIS_STREAM_URL'),
  keyPrefix: env('CRASH_PREFIX'),
  // Long enough that this process never claims back its own messages before it is killed.
  claimIdleMs: 600_000,
});
await queue.connect();
const held = new Set<string>();
await queue.subscribe(
  env('CRASH_TOPIC'),
  async (messages) => {
    for (const message of messages) held.add(message.id);
    if (held.size >= expected) process.stdout.write(`${JSON.stringify({ held: [...held] })}\n`);
  },
  { group: env('CRASH_GROUP'), consumer: 'doomed' },
);
setInterval(() => undefined, 60_000);
