/**
 * A consumer process for the kill -9 test: it subscribes to CRASH_TOPIC in CRASH_GROUP, never
 * acknowledges, prints one JSON line with the ids once it holds CRASH_EXPECT messages, and then
 * waits to be killed.
 */
import { KafkaQueue } from './kafka-queue.js';

const env = (key: string): string => {
  const value = process.env[key];
  if (value === undefined || value === '') throw new Error(`${key} is not set`);
  return value;
};

const expected = Number(env('CRASH_EXPECT'));
const queue = new KafkaQueue({
  bootstrapServers: env('MQ_KAFKA_BOOTSTRAP_SERVERS'),
  sessionTimeoutMs: Number(env('CRASH_SESSION_TIMEOUT_MS')),
  commitIntervalMs: 100,
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
