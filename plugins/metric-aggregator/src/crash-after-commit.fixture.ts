/**
 * Test fixture (not part of the module): a metric_aggregator worker on the real adapters selected by
 * `--db` / `--mq` flags in the environment that SIGKILLs itself at the first acknowledgement after
 * a flush committed — the instant at which a worker without a ledger would count the batch twice
 * once it is redelivered. Started by the end-to-end tests as a child process.
 *
 * Environment: the adapters' config keys (DB_POSTGRES_URL, MQ_REDIS_STREAM_URL, ...) plus
 * FIXTURE_DB, FIXTURE_MQ and FIXTURE_ARGS (module arguments, space-separated).
 */
import { fileURLToPath } from 'node:url';
import type { MessageQueue } from '@platform-host/contracts';
import { startModuleForTest } from '@platform-host/test-kit';
import { MetricAggregator } from './aggregator.js';
import type { MetricAggregatorContext } from './main.js';
import { readSettings } from './settings.js';

const moduleDir = fileURLToPath(new URL('..', import.meta.url));
const args = (process.env.FIXTURE_ARGS ?? '').split(' ').filter(Boolean);
const started = await startModuleForTest({
  moduleDir,
  args,
  flags: { db: process.env.FIXTURE_DB ?? 'postgres', mq: process.env.FIXTURE_MQ ?? 'redis-stream', log: 'json' },
});
const ctx: MetricAggregatorContext = started.ctx;
const dying: MessageQueue = new Proxy(ctx.mq, {
  get(target, property) {
    if (property === 'ack') {
      return () => {
        process.stdout.write('committed, killing myself before the acknowledgement\n');
        process.kill(process.pid, 'SIGKILL');
        return new Promise(() => undefined);
      };
    }
    const value: unknown = Reflect.get(target, property, target);
    return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
  },
});
const aggregator = new MetricAggregator({
  db: ctx.db,
  mq: dying,
  log: ctx.log,
  metrics: ctx.metrics,
  lifecycle: ctx.lifecycle,
  settings: readSettings(ctx.config),
});
await aggregator.start();
process.stdout.write('consuming\n');
