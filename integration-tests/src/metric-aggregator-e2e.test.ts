import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { expect } from 'chai';
import { useRealService, waitFor } from '@platform-host/test-kit';
import { REPO_ROOT, cliEnv } from './support/cli.js';
import { freshDatabase, psql } from './support/psql.js';
import { KafkaTopicFixture } from './support/kafka-topic.js';
import { CassandraRollupsFixture } from './support/metric-aggregator-cassandra.js';
import {
  StreamFixture,
  WorkerPool,
  appliedEvents,
  e2eModuleArgs,
  expectRollupsToMatch,
  generateEvents,
  type PublishedEvent,
  type QueueFixture,
  type WorkerProcess,
} from './support/metric-aggregator.js';

const GROUP = 'metric_aggregator';

/** How a scenario reads metric_rollups back (psql on PostgreSQL, the raw driver on Cassandra). */
interface RollupsReader {
  applied(source: string): Promise<number>;
  expectMatch(source: string, events: readonly PublishedEvent[]): Promise<void>;
}

/** metric_rollups of a PostgreSQL database, read with psql. */
function postgresRollups(databaseUrl: string): RollupsReader {
  return {
    applied: async (source) => appliedEvents(databaseUrl, source),
    expectMatch: async (source, events) => expectRollupsToMatch(databaseUrl, source, events),
  };
}

/** The queue-specific checks of {@link killAndRestart}. */
interface KillAndRestartChecks {
  /** After the kill: what the killed worker left behind on the queue. */
  afterKill(): Promise<void>;
  /**
   * Whether a dead letter may be published twice: dead letters are at least once (a kill between
   * publishing one and the commit of the source message repeats it); each invalid event must be
   * there, and exactly once where the queue acknowledges at once (Redis: XACK after the XADD).
   */
  readonly deadLetterRepeats: boolean;
}

/**
 * Shared by both queues: one worker applies part of 6,000 events and is killed with SIGKILL, more
 * are published, a second worker drains the group to zero lag; every row matches, the invalid
 * events are dead letters with their reason, and SIGTERM exits 0.
 */
async function killAndRestart(
  rollups: RollupsReader,
  queue: QueueFixture,
  pool: WorkerPool,
  source: string,
  checks: KillAndRestartChecks,
): Promise<void> {
  const events = generateEvents(6000, source, Date.now() - 60_000, 90 * 60_000);
  const invalid = events.filter((event) => event.valid === undefined).length;
  const valid = events.length - invalid;
  const first = pool.start();
  await first.consuming();
  await queue.publish(events.slice(0, 3000));
  await waitFor(async () => (await rollups.applied(source)) > 0, 60_000, 'the first rollups');
  const killed = await first.kill9();
  expect(killed).to.equal(null);
  const applied = await rollups.applied(source);
  await checks.afterKill();
  await queue.publish(events.slice(3000));
  const second = pool.start();
  await second.consuming();
  await queue.waitForZeroLag(GROUP, 120_000);
  expect(applied, 'killed mid-way').to.be.below(valid);
  expect(await rollups.applied(source)).to.equal(valid);
  await rollups.expectMatch(source, events);
  const deadLetters = await queue.deadLetters();
  const originals = new Set(deadLetters.map((letter) => letter.originalId));
  expect(originals.size, 'invalid events dead-lettered').to.equal(invalid);
  if (checks.deadLetterRepeats) expect(deadLetters.length).to.be.at.least(invalid);
  else expect(deadLetters.length).to.equal(invalid);
  expect(new Set(deadLetters.map((letter) => letter.reason))).to.deep.equal(
    new Set(['malformed_json', 'invalid_event']),
  );
  expect(await second.terminate()).to.equal(0);
  expect(second.output).to.include('Metric aggregator stopped');
  // Cassandra: when the kill fell while the first worker held the flush lease with a batch
  // written, the second waited for the batchlog before applying anything; print what it cost.
  const takeover = second.output.split('\n').find((line) => line.includes('Took over the flush lease'));
  if (takeover !== undefined) console.log(`      ${takeover.trim()}`);
}

/**
 * Shared by both queues: three workers in one group, one killed with SIGKILL after the first
 * rollups and not restarted; the other two drain the group and every row matches.
 */
async function threeWorkersOneKilled(
  rollups: RollupsReader,
  queue: QueueFixture,
  pool: WorkerPool,
  source: string,
): Promise<WorkerProcess[]> {
  const events = generateEvents(6000, source, Date.now() - 60_000, 90 * 60_000);
  const valid = events.filter((event) => event.valid !== undefined).length;
  const trio = [pool.start(), pool.start(), pool.start()];
  await Promise.all(trio.map((worker) => worker.consuming()));
  await queue.publish(events.slice(0, 2000));
  await waitFor(async () => (await rollups.applied(source)) > 0, 60_000, 'the first rollups');
  await trio[1]?.kill9();
  await queue.publish(events.slice(2000));
  await queue.waitForZeroLag(GROUP, 120_000);
  expect(await rollups.applied(source)).to.equal(valid);
  await rollups.expectMatch(source, events);
  return trio;
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
  let pool: WorkerPool;
  let source: string;

  beforeEach(() => {
    database = freshDatabase(postgres().DB_POSTGRES_URL ?? '', 'it_metric');
    const env = redis();
    const url = env.MQ_REDIS_STREAM_URL ?? (env.CACHE_REDIS_URL ?? '').replace(/\/\d*$/, '/1');
    stream = new StreamFixture(url);
    pool = new WorkerPool(database.url, stream);
    source = `it-${randomBytes(3).toString('hex')}`;
  });
  afterEach(async () => {
    await pool.killAll();
    await stream.cleanup();
    database.drop();
  });
  const start = (flushInterval?: string, batchSize?: string): WorkerProcess => pool.start(flushInterval, batchSize);

  it('applies every event exactly once across a kill -9 and a restart, and drains on SIGTERM with exit 0', async () => {
    await killAndRestart(postgresRollups(database.url), stream, pool, source, {
      deadLetterRepeats: false,
      // The killed worker held delivered, unacknowledged entries: the restarted one claims them.
      afterKill: async () => {
        expect((await stream.groupState(GROUP))?.pending, 'entries pending after the kill').to.be.above(0);
      },
    });
  });

  it('three workers in one group share the stream; one killed with kill -9 and not restarted loses nothing', async () => {
    const trio = await threeWorkersOneKilled(postgresRollups(database.url), stream, pool, source);
    const ledger = Number(
      psql(database.url, 'SELECT coalesce(sum(cardinality(message_ids)), 0) FROM metric_aggregator_applied_messages'),
    );
    expect(ledger, 'ledger rows kept at most until acknowledged + hold limit').to.be.at.most(6000);
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
      {
        cwd: REPO_ROOT,
        env: cliEnv({ ...pool.environment(), FIXTURE_ARGS: e2eModuleArgs(stream.topic).join(' ') }),
        stdio: 'ignore',
      },
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
    // A flush interval of an hour and room for 2,000 pending events (2 × --batch-size): nothing is
    // written before the signal.
    const worker = start('1h', '1000');
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

/**
 * metric_aggregator end to end through the CLI on native PostgreSQL and Kafka (`--mq kafka`, six
 * partitions, per-partition high-water offsets): events published with kcat, zero lag read as the
 * group's committed offsets against the end offsets with raw node-rdkafka, workers killed with SIGKILL.
 */
describe('metric_aggregator end to end (real PostgreSQL, Kafka, kill -9)', function () {
  this.timeout(240_000);
  const postgres = useRealService('postgres');
  const kafka = useRealService('kafka');
  let database: { url: string; drop(): void };
  let topic: KafkaTopicFixture;
  let pool: WorkerPool;
  let source: string;

  beforeEach(async () => {
    database = freshDatabase(postgres().DB_POSTGRES_URL ?? '', 'it_metric');
    topic = new KafkaTopicFixture(kafka().MQ_KAFKA_BOOTSTRAP_SERVERS ?? '');
    await topic.create();
    pool = new WorkerPool(database.url, topic);
    source = `it-${randomBytes(3).toString('hex')}`;
  });
  afterEach(async () => {
    await pool.killAll();
    await topic.cleanup();
    database.drop();
  });

  const committedTotal = async (): Promise<number> =>
    (await topic.groupOffsets(GROUP)).reduce((sum, entry) => sum + entry.committed, 0);
  const highWaterTotal = (): number =>
    Number(
      psql(
        database.url,
        `SELECT coalesce(sum(applied_offset + 1), 0) FROM metric_aggregator_partition_offsets WHERE topic = '${topic.topic}'`,
      ),
    );

  it('applies every event exactly once across a kill -9 and a restart, and drains on SIGTERM with exit 0', async () => {
    await killAndRestart(postgresRollups(database.url), topic, pool, source, {
      deadLetterRepeats: true,
      // Offsets applied are recorded with the rollups; the killed worker left messages uncommitted,
      // which the restarted one reads again and recognises by those offsets.
      afterKill: async () => {
        expect(highWaterTotal(), 'high-water offsets recorded with the rollups').to.be.above(0);
        expect(await committedTotal(), 'messages committed to Kafka before the kill').to.be.below(3000);
      },
    });
    const ledger = Number(psql(database.url, 'SELECT count(*) FROM metric_aggregator_applied_messages'));
    expect(ledger, 'partitioned queue: no ledger rows').to.equal(0);
  });

  it('three workers in one group share the partitions; one killed with kill -9 and not restarted loses nothing', async () => {
    const trio = await threeWorkersOneKilled(postgresRollups(database.url), topic, pool, source);
    for (const worker of [trio[0], trio[2]]) {
      expect(worker?.output, 'assigned partitions').to.include('Partitions assigned');
      expect(await worker?.terminate()).to.equal(0);
    }
  });

  it("a revoked partition's pending aggregates are written and acknowledged before the partition moves", async () => {
    const events = generateEvents(3000, source, Date.now() - 60_000, 90 * 60_000);
    const valid = events.filter((event) => event.valid !== undefined).length;
    await topic.publish(events);
    // A flush interval of an hour and room for 4,000 pending events (2 × --batch-size): only a
    // revocation (or SIGTERM) writes.
    const holder = pool.start('1h', '2000');
    await holder.consuming();
    await waitFor(() => holder.pendingEvents() === valid, 60_000, 'every valid event pending in the first worker');
    expect(appliedEvents(database.url, source), 'nothing written before the rebalance').to.equal(0);
    const joiner = pool.start();
    await joiner.consuming();
    await waitFor(
      () => holder.output.includes('Partitions revoked: writing their pending aggregates'),
      60_000,
      'a revocation in the first worker',
    );
    // The revocation flush wrote everything the holder had and acknowledged it: the group reaches
    // zero lag although the holder never flushes on its timer.
    await topic.waitForZeroLag(GROUP, 60_000);
    expect(appliedEvents(database.url, source)).to.equal(valid);
    expectRollupsToMatch(database.url, source, events);
    expect(holder.output).to.match(/"Partitions revoked: writing their pending aggregates[^\n]*"pending_events":[1-9]/);
    expect(await joiner.terminate()).to.equal(0);
    expect(await holder.terminate()).to.equal(0);
  });
});

/**
 * metric_aggregator end to end through the CLI on native Cassandra (`--db cassandra`, a keyspace
 * per suite, tables created by the module's cql migrations) and Redis Streams: the same kill -9
 * scenarios, every rollup row read back with the raw cassandra-driver and compared with totals
 * computed here.
 */
describe('metric_aggregator end to end (real Cassandra, Redis Streams, kill -9)', function () {
  this.timeout(240_000);
  const cassandraService = useRealService('cassandra');
  const redis = useRealService('redis');
  let keyspace: CassandraRollupsFixture;
  let rollups: RollupsReader;
  let stream: StreamFixture;
  let pool: WorkerPool;
  let source: string;

  before(() => {
    keyspace = new CassandraRollupsFixture(cassandraService().DB_CASSANDRA_HOSTS ?? '');
    rollups = {
      applied: (src) => keyspace.appliedEvents(src),
      expectMatch: (src, events) => keyspace.expectRollupsToMatch(src, events),
    };
  });
  after(async () => {
    await keyspace?.cleanup();
  });
  beforeEach(() => {
    const env = redis();
    const url = env.MQ_REDIS_STREAM_URL ?? (env.CACHE_REDIS_URL ?? '').replace(/\/\d*$/, '/1');
    stream = new StreamFixture(url);
    pool = new WorkerPool({ flag: 'cassandra', environment: keyspace.environment() }, stream);
    source = `it-${randomBytes(3).toString('hex')}`;
  });
  afterEach(async () => {
    await pool.killAll();
    await stream.cleanup();
  });

  it('applies every event exactly once across a kill -9 and a restart, and drains on SIGTERM with exit 0', async () => {
    await killAndRestart(rollups, stream, pool, source, {
      deadLetterRepeats: false,
      afterKill: async () => {
        expect((await stream.groupState(GROUP))?.pending, 'entries pending after the kill').to.be.above(0);
      },
    });
  });

  it('a worker killed between its writes and the acknowledgement: the redelivered batch is recognised and not counted twice', async () => {
    const events = generateEvents(3000, source, Date.now() - 60_000, 90 * 60_000);
    const valid = events.filter((event) => event.valid !== undefined).length;
    await stream.publish(events);
    const fixture = spawn(
      process.execPath,
      [join(REPO_ROOT, 'plugins', 'metric-aggregator', 'dist', 'crash-after-commit.fixture.js')],
      {
        cwd: REPO_ROOT,
        env: cliEnv({
          ...pool.environment(),
          FIXTURE_DB: 'cassandra',
          FIXTURE_ARGS: e2eModuleArgs(stream.topic).join(' '),
        }),
        stdio: 'ignore',
      },
    );
    const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
      fixture.on('exit', (_code, sig) => resolve(sig)),
    );
    expect(signal).to.equal('SIGKILL');
    const committed = await keyspace.appliedEvents(source);
    expect(committed, 'the first flush was written').to.be.above(0);
    const ids = (await stream.redis.xrange(stream.streamKey, '-', '+')).map(([id]) => id);
    expect(await keyspace.ledgerRowsOf(ids), 'its ids are in the ledger').to.equal(committed);
    expect((await stream.groupState(GROUP))?.pending, 'its entries stayed pending').to.be.at.least(committed);
    const worker = pool.start();
    await worker.consuming();
    await stream.waitForZeroLag(GROUP, 120_000);
    expect(await keyspace.appliedEvents(source)).to.equal(valid);
    await keyspace.expectRollupsToMatch(source, events);
    expect(await worker.terminate()).to.equal(0);
    const summary = worker.output.split('\n').find((line) => line.includes('Metric aggregator stopped')) ?? '{}';
    const totals = (JSON.parse(summary) as { context?: { duplicates?: number; applied?: number } }).context;
    expect(totals?.duplicates, 'redelivered and skipped').to.equal(committed);
    expect(totals?.applied).to.equal(valid - committed);
  });

  it('three workers in one group share the stream and one flush lease; one killed with kill -9 and not restarted loses nothing', async () => {
    const trio = await threeWorkersOneKilled(rollups, stream, pool, source);
    expect(await trio[0]?.terminate()).to.equal(0);
    expect(await trio[2]?.terminate()).to.equal(0);
  });
});
