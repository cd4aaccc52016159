/**
 * Test fixture (not part of the module): a stream_ingest service on the real adapters (`--db`,
 * `--fs`, `--mq` from FIXTURE_DB / FIXTURE_FS / FIXTURE_MQ, default postgres, minio, kafka) whose
 * dead letters of messages holding FIXTURE_MARKER take FIXTURE_DEAD_LETTER_DELAY_MS (default 2000)
 * to publish, and that SIGKILLs itself at the first acknowledgement of a valid message holding the
 * marker: the commit that covers it is in the database, and a dead letter not published by then
 * never is. The end-to-end test publishes an invalid message and a valid one after it, in one
 * partition (only the valid one has an `event_id`), so that the flush timer commits while the
 * dead letter is in flight.
 *
 * Lines on stdout: `consuming`, `race batch <n> invalid=<bool> valid=<bool>`,
 * `dead letter published <id>`, `committed, killing myself`.
 *
 * Environment: the adapters' config keys plus FIXTURE_ARGS (module arguments, space-separated),
 * FIXTURE_MARKER and FIXTURE_DEAD_LETTER_DELAY_MS.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { BatchHandler, MessageQueue, QueueMessage, SubscribeOptions } from '@platform-host/contracts';
import { startModuleForTest } from '@platform-host/test-kit';
import { StreamIngester } from './ingester.js';
import type { StreamIngestContext } from './main.js';
import { readSettings } from './settings.js';

const moduleDir = fileURLToPath(new URL('..', import.meta.url));
const args = (process.env.FIXTURE_ARGS ?? '').split(' ').filter(Boolean);
const marker = process.env.FIXTURE_MARKER ?? 'dead-letter-race';
const deadLetterDelayMs = Number(process.env.FIXTURE_DEAD_LETTER_DELAY_MS ?? '2000');
const started = await startModuleForTest({
  moduleDir,
  args,
  flags: {
    db: process.env.FIXTURE_DB ?? 'postgres',
    fs: process.env.FIXTURE_FS ?? 'minio',
    mq: process.env.FIXTURE_MQ ?? 'kafka',
    log: 'json',
  },
});
const ctx = started.ctx as unknown as StreamIngestContext;
const decoder = new TextDecoder();
const isRace = (message: QueueMessage): boolean => decoder.decode(message.value).includes(marker);
const isValidRace = (message: QueueMessage): boolean =>
  isRace(message) && decoder.decode(message.value).includes('"event_id"');
const say = (line: string): void => void process.stdout.write(`${line}\n`);

const mq: MessageQueue = new Proxy(ctx.mq, {
  get(target, property) {
    if (property === 'subscribe') {
      return (topic: string, handler: BatchHandler, options: SubscribeOptions) =>
        target.subscribe(
          topic,
          (messages) => {
            if (messages.some(isRace)) {
              const invalid = messages.some((message) => isRace(message) && !isValidRace(message));
              say(
                `race batch ${messages.length} invalid=${String(invalid)} valid=${String(messages.some(isValidRace))}`,
              );
            }
            return handler(messages);
          },
          options,
        );
    }
    if (property === 'deadLetter') {
      return async (message: QueueMessage, reason: string, error?: unknown) => {
        if (isRace(message)) await sleep(deadLetterDelayMs);
        await target.deadLetter(message, reason, error);
        if (isRace(message)) say(`dead letter published ${message.id}`);
      };
    }
    if (property === 'ack') {
      return async (messages: QueueMessage | readonly QueueMessage[]) => {
        const list: readonly QueueMessage[] = Array.isArray(messages) ? messages : [messages as QueueMessage];
        if (list.some(isValidRace)) {
          say('committed, killing myself');
          process.kill(process.pid, 'SIGKILL');
          return new Promise(() => undefined);
        }
        return target.ack(messages);
      };
    }
    const value: unknown = Reflect.get(target, property, target);
    return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
  },
});

const ingester = new StreamIngester({
  db: ctx.db,
  fs: ctx.fs,
  mq,
  log: ctx.log,
  metrics: ctx.metrics,
  lifecycle: ctx.lifecycle,
  settings: readSettings(ctx.config),
});
await ingester.start();
say('consuming');
