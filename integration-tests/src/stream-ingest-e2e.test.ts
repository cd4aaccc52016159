import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'chai';
import { useRealService, waitFor } from '@platform-host/test-kit';
import { batchEtlSummary } from './support/batch-etl.js';
import { REPO_ROOT, cliEnv, platformHost } from './support/cli.js';
import { freshDatabase, psql } from './support/psql.js';
import {
  IngestProcess,
  KafkaTopicFixture,
  MinioLake,
  generateIngestEvents,
  type LakeContents,
  type PublishedEvent,
} from './support/stream-ingest.js';

function ingestedRows(databaseUrl: string): number {
  return Number(psql(databaseUrl, 'SELECT count(*) FROM ingested_events'));
}

/** Zero lost, zero duplicated: the lake holds each valid published event exactly once, one per offset. */
function expectExactlyOnce(lake: LakeContents, events: readonly PublishedEvent[]): void {
  const wanted = events.flatMap((event) => (event.eventId === undefined ? [] : [event.eventId])).sort();
  const ids = lake.records.map((record) => record[3]).sort();
  const positions = new Set(lake.records.map((record) => `${record[1]}:${record[2]}`));
  expect(positions.size, 'distinct (partition, offset) in the lake').to.equal(lake.records.length);
  expect(ids.length, 'records in the lake').to.equal(wanted.length);
  expect(ids).to.deep.equal(wanted);
}

/**
 * stream_ingest end to end through the CLI on native PostgreSQL, Kafka and MinIO: events published
 * with kcat, the lake read back with pyarrow (its own S3 client and parquet reader), rows counted
 * with psql.
 */
describe('stream_ingest end to end (real PostgreSQL, Kafka, MinIO, kill -9, SIGTERM)', function () {
  this.timeout(180_000);
  const postgres = useRealService('postgres');
  const kafka = useRealService('kafka');
  const objectStore = useRealService('object-store');
  let database: { url: string; drop(): void };
  let topic: KafkaTopicFixture;
  let lake: MinioLake;
  let services: IngestProcess[] = [];

  beforeEach(() => {
    database = freshDatabase(postgres().DB_POSTGRES_URL ?? '', 'it_ingest');
    topic = new KafkaTopicFixture(kafka().MQ_KAFKA_BOOTSTRAP_SERVERS ?? '');
    topic.create();
    lake = new MinioLake(objectStore());
    services = [];
  });
  afterEach(async () => {
    for (const service of services) if (service.child.exitCode === null) await service.kill9();
    lake.cleanup();
    topic.delete();
    database.drop();
  });

  const start = (...args: string[]): IngestProcess => {
    const service = new IngestProcess(
      [
        '--db',
        'postgres',
        '--fs',
        'minio',
        '--mq',
        'kafka',
        '--env',
        'test',
        '--log',
        'json',
        '--health-port',
        '0',
        '--topic',
        topic.topic,
        ...args,
      ],
      {
        DB_POSTGRES_URL: database.url,
        MQ_KAFKA_BOOTSTRAP_SERVERS: topic.brokers,
        MQ_KAFKA_SESSION_TIMEOUT_MS: '6000',
        ...lake.adapterEnv(),
        PLATFORM_AUTO_MIGRATE: 'true',
      },
    );
    services.push(service);
    return service;
  };

  it('seed e2e: 100 events with --batch-size 50 land as 100 ingested_events rows and parquet files in MinIO', async () => {
    const events = generateIngestEvents(100, topic.topic, 0);
    expect(events.every((event) => event.eventId !== undefined)).to.equal(true);
    topic.publish(events);
    const service = start('--batch-size', '50', '--flush-interval', '1s');
    await service.consuming();
    await waitFor(() => ingestedRows(database.url) === 100, 60_000, '100 ingested_events rows');
    expect(await service.terminate()).to.equal(0);
    expect(service.output).to.match(/Stream ingest drained.*drain_ms/);
    const contents = lake.read(`data-lake/${topic.topic}`);
    expectExactlyOnce(contents, events);
    for (const file of contents.files) {
      expect(file).to.match(new RegExp(`^2026-01-15/${topic.topic}-p[0-2]-\\d{20}\\.parquet `));
      const schema = JSON.parse(file.slice(file.indexOf(' ') + 1)) as Record<string, string>;
      expect(schema).to.deep.equal({
        _ingested_at: 'timestamp[ms, tz=UTC]',
        _offset: 'int64',
        _partition: 'int32',
        _topic: 'string',
        event_id: 'string',
        event_type: 'string',
        payload: 'string',
        source: 'string',
        timestamp: 'timestamp[ms, tz=UTC]',
      });
    }
    expect(Number(psql(database.url, 'SELECT count(*) FROM lake_files'))).to.equal(contents.files.length);
    expect(Number(psql(database.url, 'SELECT sum(record_count) FROM lake_files'))).to.equal(100);
  });

  it('kill -9 mid-stream and a restart: every valid event in the lake exactly once, invalid ones dead-lettered', async () => {
    const events = generateIngestEvents(3000, topic.topic);
    const valid = events.filter((event) => event.eventId !== undefined).length;
    topic.publish(events.slice(0, 1500));
    const first = start('--batch-size', '100', '--flush-interval', '200ms', '--output-format', 'json');
    await first.consuming();
    await waitFor(() => ingestedRows(database.url) > 0, 60_000, 'the first commits');
    expect(await first.kill9()).to.equal(null);
    const committedAtKill = ingestedRows(database.url);
    topic.publish(events.slice(1500));
    const second = start('--batch-size', '100', '--flush-interval', '200ms', '--output-format', 'json');
    await second.consuming();
    await waitFor(() => ingestedRows(database.url) === valid, 120_000, `${valid} ingested_events rows`);
    expect(await second.terminate()).to.equal(0);
    expect(committedAtKill, 'killed mid-way').to.be.below(valid);
    expectExactlyOnce(lake.read(`data-lake/${topic.topic}`), events);
    expect(Number(psql(database.url, 'SELECT count(DISTINCT (partition, "offset")) FROM ingested_events'))).to.equal(
      valid,
    );
    // Dead letters are at-least-once: a kill can repeat some, never lose one.
    expect(topic.deadLetters()).to.be.at.least(events.length - valid);
  });

  it('SIGTERM commits the open files (nothing reached --batch-size or --flush-interval) and exits 0', async () => {
    const events = generateIngestEvents(500, topic.topic);
    const valid = events.filter((event) => event.eventId !== undefined).length;
    topic.publish(events);
    const service = start('--batch-size', '100000', '--flush-interval', '1h', '--output-format', 'csv');
    await service.consuming();
    await waitFor(
      () => /"partition":2/.test(service.output) && service.output.includes('Partition assigned'),
      60_000,
      'partitions assigned',
    );
    // Every message delivered (the service logs nothing per message; the dead letters show progress).
    await waitFor(() => topic.deadLetters() === events.length - valid, 60_000, 'the invalid events dead-lettered');
    expect(ingestedRows(database.url), 'nothing committed before SIGTERM').to.equal(0);
    expect(await service.terminate()).to.equal(0);
    expect(ingestedRows(database.url)).to.equal(valid);
    expectExactlyOnce(lake.read(`data-lake/${topic.topic}`), events);
    expect(service.output).to.match(/Stream ingest drained.*drain_ms/);
  });
});

/** stream_ingest's output read by batch_etl (`--source-path data-lake/<topic> --date <date>`) in each format. */
describe('stream_ingest → batch_etl on PostgreSQL, Kafka and MinIO', function () {
  this.timeout(120_000);
  const postgres = useRealService('postgres');
  const kafka = useRealService('kafka');
  const objectStore = useRealService('object-store');

  for (const format of ['parquet', 'json', 'csv'] as const) {
    it(`--output-format ${format}: every event lands in cleaned_events`, async () => {
      const database = freshDatabase(postgres().DB_POSTGRES_URL ?? '', 'it_ingest_etl');
      const topic = new KafkaTopicFixture(kafka().MQ_KAFKA_BOOTSTRAP_SERVERS ?? '', 2);
      const lake = new MinioLake(objectStore());
      let service: IngestProcess | undefined;
      try {
        topic.create();
        const events = generateIngestEvents(120, topic.topic, 0);
        topic.publish(events);
        const env = {
          DB_POSTGRES_URL: database.url,
          MQ_KAFKA_BOOTSTRAP_SERVERS: topic.brokers,
          MQ_KAFKA_SESSION_TIMEOUT_MS: '6000',
          ...lake.adapterEnv(),
          PLATFORM_AUTO_MIGRATE: 'true',
        };
        service = new IngestProcess(
          [
            ...['--db', 'postgres', '--fs', 'minio', '--mq', 'kafka', '--env', 'test', '--log', 'json'],
            ...[
              '--health-port',
              '0',
              '--topic',
              topic.topic,
              '--batch-size',
              '50',
              '--output-format',
              format,
              '--flush-interval',
              '500ms',
            ],
          ],
          env,
        );
        await service.consuming();
        await waitFor(() => ingestedRows(database.url) === 120, 60_000, '120 ingested_events rows');
        expect(await service.terminate()).to.equal(0);
        const run = await platformHost(
          [
            ...['run', 'batch_etl', '--db', 'postgres', '--fs', 'minio', '--env', 'test', '--log', 'json'],
            ...['--date', '2026-01-15', '--source-path', `data-lake/${topic.topic}`],
          ],
          cliEnv(env),
        );
        expect(run.code, run.stderr + run.stdout).to.equal(0);
        expect(batchEtlSummary(run)).to.deep.include({ raw: 120, valid: 120, invalid: 0, inserted: 120 });
        expect(psql(database.url, 'SELECT count(*) FROM cleaned_events')).to.equal('120');
      } finally {
        if (service !== undefined && service.child.exitCode === null) await service.kill9();
        lake.cleanup();
        topic.delete();
        database.drop();
      }
    });
  }
});

describe('stream_ingest zombie writer (real PostgreSQL, Kafka, MinIO)', function () {
  this.timeout(120_000);
  const postgres = useRealService('postgres');
  const kafka = useRealService('kafka');
  const objectStore = useRealService('object-store');

  it('a writer stalled before its commit and resumed after its partitions moved cannot commit: the lake holds each event once', async () => {
    const database = freshDatabase(postgres().DB_POSTGRES_URL ?? '', 'it_ingest_zombie');
    const topic = new KafkaTopicFixture(kafka().MQ_KAFKA_BOOTSTRAP_SERVERS ?? '', 3);
    const lake = new MinioLake(objectStore());
    const processes: ChildProcess[] = [];
    let owner: IngestProcess | undefined;
    try {
      topic.create();
      const events = generateIngestEvents(300, topic.topic, 0);
      topic.publish(events);
      const env = {
        DB_POSTGRES_URL: database.url,
        MQ_KAFKA_BOOTSTRAP_SERVERS: topic.brokers,
        MQ_KAFKA_SESSION_TIMEOUT_MS: '6000',
        ...lake.adapterEnv(),
        PLATFORM_AUTO_MIGRATE: 'true',
      };
      const moduleArgs = ['--topic', topic.topic, '--batch-size', '50', '--flush-interval', '500ms'];
      const zombie = spawn(
        process.execPath,
        [join(REPO_ROOT, 'plugins/stream-ingest/dist/stall-before-commit.fixture.js')],
        {
          cwd: REPO_ROOT,
          env: cliEnv({ ...env, FIXTURE_ARGS: moduleArgs.join(' ') }),
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      processes.push(zombie);
      let zombieOutput = '';
      zombie.stdout?.on('data', (chunk: Buffer) => (zombieOutput += chunk.toString()));
      zombie.stderr?.on('data', (chunk: Buffer) => (zombieOutput += chunk.toString()));
      await waitFor(() => zombieOutput.includes('stalling before the commit'), 60_000, 'the zombie to stall');
      expect(ingestedRows(database.url)).to.equal(0);
      owner = new IngestProcess(
        [
          ...['--db', 'postgres', '--fs', 'minio', '--mq', 'kafka', '--env', 'test', '--log', 'json'],
          ...['--health-port', '0', ...moduleArgs],
        ],
        env,
      );
      await owner.consuming();
      // The stalled consumer's session times out, its partitions move, the new owner commits all.
      await waitFor(() => ingestedRows(database.url) === 300, 60_000, '300 rows committed by the new owner');
      zombie.kill('SIGCONT');
      await waitFor(() => zombieOutput.includes('fenced'), 30_000, 'the zombie commit refused');
      expect(zombieOutput).to.include('Commit refused: the partition moved to a newer owner');
      expect(ingestedRows(database.url)).to.equal(300);
      expectExactlyOnce(lake.read(`data-lake/${topic.topic}`), events);
      expect(lake.read('data-lake/_staging').files, 'no staging leftovers').to.deep.equal([]);
      expect(await owner.terminate()).to.equal(0);
    } finally {
      for (const child of processes) if (child.exitCode === null) child.kill('SIGKILL');
      if (owner !== undefined && owner.child.exitCode === null) await owner.kill9();
      lake.cleanup();
      topic.delete();
      database.drop();
    }
  });
});
