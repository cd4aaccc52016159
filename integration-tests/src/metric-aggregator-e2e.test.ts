import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { expect } from 'chai';
import { useRealService, waitFor } from '@platform-host/test-kit';
import { REPO_ROOT, cliEnv } from './support/cli.js';
import { freshDatabase, psql } from './support/psql.js';
import {
  StreamFixture,
  WorkerProcess,
  expectedRollups,
  generateEvents,
  storedRollups,
  type PublishedEvent,
} from './support/metric-aggregator.js';

const WINDOWS = [60, 3600];
const GROUP = 'metric_aggregator';

function appliedEvents(databaseUrl: string, source: string): number {
  const out = psql(
    databaseUrl,
    `SELECT coalesce(sum(event_count), 0) FROM metric_rollups WHERE window_seconds = 60 AND dimensions->>'source' = '${source}'`,
  );
  return Number(out);
}

/** Every stored row equals the independently computed one: exact counts, sums within 1e-9 relative. */
function expectRollupsToMatch(databaseUrl: string, source: string, events: readonly PublishedEvent[]): void {
  const expected = expectedRollups(events, WINDOWS);
  const stored = storedRollups(databaseUrl, source);
  expect([...stored.keys()].sort()).to.deep.equal([...expected.keys()].sort());
  const close = (actual: number | null, wanted: number | null, what: string): void => {
    if (wanted === null) {
      expect(actual, what).to.equal(null);
      return;
    }
    expect(actual, what).to.not.equal(null);
    expect(Math.abs((actual ?? 0) - wanted), what).to.be.at.most(1e-9 * Math.max(1, Math.abs(wanted)));
  };
  for (const [key, want] of expected) {
    const got = stored.get(key);
    expect(got?.events, `${key} event_count`).to.equal(want.events);
    expect(got?.values, `${key} value_count`).to.equal(want.values);
    close(got?.sum ?? null, want.sum, `${key} value_sum`);
    close(got?.min ?? null, want.min, `${key} value_min`);
    close(got?.max ?? null, want.max, `${key} value_max`);
    close(got?.avg ?? null, want.sum === null ? null : want.sum / want.values, `${key} value_avg`);
  }
}

/**
 * metric_aggregator end to end through the CLI on native PostgreSQL and Redis Streams: events
 * published with an independent client (raw ioredis XADD, the adapter's documented entry format),
 * workers killed with SIGKILL mid-way, and every rollup row compared with totals computed here.
 */
describe('metric_aggregator end to end (real PostgreSQL, Redis Streams, kill -9)', function () {
  this.timeout(240_000);
  const postgres = useRealService('postgres');
  const redis = useRealService('redis');
  let database: { url: string; drop(): void };
  let stream: StreamFixture;
  let workers: WorkerProcess[] = [];
  let source: string;

  beforeEach(() => {
    database = freshDatabase(postgres().DB_POSTGRES_URL ?? '', 'it_metric');
    const env = redis();
    const url = env.MQ_REDIS_STREAM_URL ?? (env.CACHE_REDIS_URL ?? '').replace(/\/\d*$/, '/1');
    stream = new StreamFixture(url);
    source = `it-${randomBytes(3).toString('hex')}`;
    workers = [];
  });
  afterEach(async () => {
    for (const worker of workers) if (worker.child.exitCode === null) await worker.kill9();
    await stream.cleanup();
    database.drop();
  });

  const moduleArgs = (flushInterval = '200ms', batchSize = '50'): string[] => [
    '--topic',
    stream.topic,
    '--group-by',
    'event_type,source',
    // Events of the last 90 minutes, redelivered out of order after a kill: none is late.
    '--allowed-lateness',
    '1d',
    '--flush-interval',
    flushInterval,
    '--batch-size',
    batchSize,
  ];
  const environment = (): Record<string, string> => ({
    DB_POSTGRES_URL: database.url,
    MQ_REDIS_STREAM_URL: stream.url,
    MQ_REDIS_STREAM_KEY_PREFIX: stream.prefix,
    MQ_REDIS_STREAM_CLAIM_IDLE_MS: '1000',
    PLATFORM_AUTO_MIGRATE: 'true',
  });
  const start = (...args: Parameters<typeof moduleArgs>): WorkerProcess => {
    const worker = new WorkerProcess(
      [
        '--db',
        'postgres',
        '--mq',
        'redis-stream',
        '--env',
        'test',
        '--log',
        'json',
        '--health-port',
        '0',
        ...moduleArgs(...args),
      ],
      environment(),
    );
    workers.push(worker);
    return worker;
  };

  it('applies every event exactly once across a kill -9 and a restart, and drains on SIGTERM with exit 0', async () => {
    const events = generateEvents(6000, source, Date.now() - 60_000, 90 * 60_000);
    const invalid = events.filter((event) => event.valid === undefined).length;
    const valid = events.length - invalid;
    const first = start();
    await first.consuming();
    await stream.publish(events.slice(0, 3000));
    await waitFor(() => appliedEvents(database.url, source) > 0, 60_000, 'the first rollups');
    const killed = await first.kill9();
    expect(killed).to.equal(null);
    const applied = appliedEvents(database.url, source);
    // The killed worker held delivered, unacknowledged entries: the restarted one claims them.
    expect((await stream.groupState(GROUP))?.pending, 'entries pending after the kill').to.be.above(0);
    await stream.publish(events.slice(3000));
    const second = start();
    await second.consuming();
    await stream.waitForZeroLag(GROUP, 120_000);
    expect(applied, 'killed mid-way').to.be.below(valid);
    expect(appliedEvents(database.url, source)).to.equal(valid);
    expectRollupsToMatch(database.url, source, events);
    const reasons = await stream.deadLetterReasons();
    expect(reasons.length).to.equal(invalid);
    expect(new Set(reasons)).to.deep.equal(new Set(['malformed_json', 'invalid_event']));
    expect(await second.terminate()).to.equal(0);
    expect(second.output).to.include('Metric aggregator stopped');
  });

  it('three workers in one group share the stream; one killed with kill -9 and not restarted loses nothing', async () => {
    const events = generateEvents(6000, source, Date.now() - 60_000, 90 * 60_000);
    const valid = events.filter((event) => event.valid !== undefined).length;
    const trio = [start(), start(), start()];
    await Promise.all(trio.map((worker) => worker.consuming()));
    await stream.publish(events.slice(0, 2000));
    await waitFor(() => appliedEvents(database.url, source) > 0, 60_000, 'the first rollups');
    await trio[1]?.kill9();
    await stream.publish(events.slice(2000));
    await stream.waitForZeroLag(GROUP, 120_000);
    expect(appliedEvents(database.url, source)).to.equal(valid);
    expectRollupsToMatch(database.url, source, events);
    const ledger = Number(
      psql(database.url, 'SELECT coalesce(sum(cardinality(message_ids)), 0) FROM metric_aggregator_applied_messages'),
    );
    expect(ledger, 'ledger rows kept at most until acknowledged + hold limit').to.be.at.most(events.length);
    expect(await trio[0]?.terminate()).to.equal(0);
    expect(await trio[2]?.terminate()).to.equal(0);
  });

  it('a worker killed between the commit and the acknowledgement: the redelivered batch is recognised and not counted twice', async () => {
    const events = generateEvents(3000, source, Date.now() - 60_000, 90 * 60_000);
    const valid = events.filter((event) => event.valid !== undefined).length;
    await stream.publish(events);
    const fixture = spawn(
      process.execPath,
      [join(REPO_ROOT, 'plugins', 'metric-aggregator', 'dist', 'crash-after-commit.fixture.js')],
      { cwd: REPO_ROOT, env: cliEnv({ ...environment(), FIXTURE_ARGS: moduleArgs().join(' ') }), stdio: 'ignore' },
    );
    const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
      fixture.on('exit', (_code, sig) => resolve(sig)),
    );
    expect(signal).to.equal('SIGKILL');
    const committed = appliedEvents(database.url, source);
    expect(committed, 'the first flush committed').to.be.above(0);
    expect(
      Number(
        psql(database.url, 'SELECT coalesce(sum(cardinality(message_ids)), 0) FROM metric_aggregator_applied_messages'),
      ),
    ).to.equal(committed);
    expect((await stream.groupState(GROUP))?.pending, 'its entries stayed pending').to.be.at.least(committed);
    const worker = start();
    await worker.consuming();
    await stream.waitForZeroLag(GROUP, 120_000);
    expect(appliedEvents(database.url, source)).to.equal(valid);
    expectRollupsToMatch(database.url, source, events);
    expect(await worker.terminate()).to.equal(0);
    const summary = worker.output.split('\n').find((line) => line.includes('Metric aggregator stopped')) ?? '{}';
    const totals = (JSON.parse(summary) as { context?: { duplicates?: number; applied?: number } }).context;
    expect(totals?.duplicates, 'redelivered and skipped').to.equal(committed);
    expect(totals?.applied).to.equal(valid - committed);
  });

  it('on SIGTERM writes the pending aggregates and acknowledges them, then exits 0', async () => {
    const events = generateEvents(1000, source, Date.now() - 60_000, 30 * 60_000);
    const valid = events.filter((event) => event.valid !== undefined).length;
    // A flush interval of an hour and room for 2,500 pending events: nothing is written before the signal.
    const worker = start('1h', '500');
    await worker.consuming();
    await stream.publish(events);
    await waitFor(
      async () => (await stream.groupState(GROUP))?.lag === 0,
      60_000,
      'every entry delivered to the worker',
    );
    expect(appliedEvents(database.url, source), 'nothing written before the signal').to.equal(0);
    expect((await stream.groupState(GROUP))?.pending).to.equal(valid);
    expect(await worker.terminate()).to.equal(0);
    expect(appliedEvents(database.url, source)).to.equal(valid);
    expectRollupsToMatch(database.url, source, events);
    expect((await stream.groupState(GROUP))?.pending, 'acknowledged before exit').to.equal(0);
  });
});
