/**
 * Test fixture (not part of the module): a stream_ingest service on the real adapters (`--db`,
 * `--fs`, `--mq` from FIXTURE_DB / FIXTURE_FS / FIXTURE_MQ) that stops itself with SIGSTOP at its
 * first commit, after staging its files and before the commit transaction: a stalled "zombie"
 * writer. The test moves its partitions to another service, then sends SIGCONT.
 *
 * Environment: the adapters' config keys plus FIXTURE_ARGS (module arguments, space-separated).
 */
import { fileURLToPath } from 'node:url';
import { startModuleForTest } from '@platform-host/test-kit';
import { StreamIngester } from './ingester.js';
import type { StreamIngestContext } from './main.js';
import { readSettings } from './settings.js';

const moduleDir = fileURLToPath(new URL('..', import.meta.url));
const args = (process.env.FIXTURE_ARGS ?? '').split(' ').filter(Boolean);
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
let stalled = false;
const ingester = new StreamIngester({
  db: ctx.db,
  fs: ctx.fs,
  mq: ctx.mq,
  log: ctx.log,
  metrics: ctx.metrics,
  lifecycle: ctx.lifecycle,
  settings: readSettings(ctx.config),
  beforeCommit: () => {
    if (!stalled) {
      stalled = true;
      process.stdout.write('staged, stalling before the commit\n');
      process.kill(process.pid, 'SIGSTOP');
    }
    return Promise.resolve();
  },
});
await ingester.start();
process.stdout.write('consuming\n');
setInterval(() => {
  if (ingester.totals.fenced > 0) process.stdout.write(`fenced ${ingester.totals.fenced}\n`);
}, 200);
