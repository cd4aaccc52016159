import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { useRealService, waitFor } from '@platform-host/test-kit';
import { cleanRedis, startGateway, uniqueSuffix, type RunningGateway } from './support/api-gateway.js';
import { freshDatabase, psql } from './support/psql.js';
import { IngestProcess, KafkaTopicFixture } from './support/stream-ingest.js';

/** Every file under `dir`, as paths relative to it. */
function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(dir, join(prefix, entry.name)) : [join(prefix, entry.name)],
  );
}

/**
 * The ingestion path of DESIGN.md through the CLI on real servers: a client posts events without
 * event_id to api_gateway (--mq kafka), stream_ingest reads the topic and writes the lake (local
 * files, JSON Lines) and ingested_events. Before the gateway assigned ids, such an event was
 * accepted with 202 and dead-lettered by stream_ingest (invalid_event), never reaching the lake.
 */
describe('api_gateway -> Kafka -> stream_ingest: an event posted without event_id lands in the lake', function () {
  this.timeout(120_000);
  const postgres = useRealService('postgres');
  const redis = useRealService('redis');
  const kafka = useRealService('kafka');
  let database: { url: string; drop(): void };
  let topic: KafkaTopicFixture;
  let lakeRoot: string;
  let cachePrefix: string;
  let gateway: RunningGateway | undefined;
  let ingest: IngestProcess | undefined;

  beforeEach(() => {
    database = freshDatabase(postgres().DB_POSTGRES_URL ?? '', 'it_chain');
    topic = new KafkaTopicFixture(kafka().MQ_KAFKA_BOOTSTRAP_SERVERS ?? '', 2);
    topic.create();
    lakeRoot = mkdtempSync(join(tmpdir(), 'it-chain-lake-'));
    cachePrefix = `it-chain-${uniqueSuffix()}:`;
  });
  afterEach(async () => {
    if (gateway) expect(await gateway.stop(), gateway.output()).to.equal(0);
    if (ingest && ingest.child.exitCode === null) await ingest.kill9();
    gateway = undefined;
    ingest = undefined;
    cleanRedis(redis().CACHE_REDIS_URL ?? '', `${cachePrefix}*`);
    topic.delete();
    rmSync(lakeRoot, { recursive: true, force: true });
    database.drop();
  });

  it('writes each posted event once, with the event_id the gateway answered (assigned or the client’s own), and dead-letters none', async () => {
    gateway = await startGateway({
      databaseUrl: database.url,
      redisUrl: redis().CACHE_REDIS_URL ?? '',
      cachePrefix,
      topic: topic.topic,
      kafkaBootstrapServers: topic.brokers,
    });
    ingest = new IngestProcess(
      [
        '--db',
        'postgres',
        '--fs',
        'local',
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
        '--output-format',
        'json',
        '--flush-interval',
        '500ms',
      ],
      {
        DB_POSTGRES_URL: database.url,
        MQ_KAFKA_BOOTSTRAP_SERVERS: topic.brokers,
        MQ_KAFKA_SESSION_TIMEOUT_MS: '6000',
        FS_LOCAL_ROOT: lakeRoot,
        PLATFORM_AUTO_MIGRATE: 'true',
      },
    );
    await ingest.consuming();
    const events = Array.from({ length: 6 }, (_, n) => ({
      ...(n === 5 ? { event_id: `client-${uniqueSuffix()}` } : {}),
      event_type: 'click',
      source: n % 2 === 0 ? 'web' : 'app',
      timestamp: `2026-01-15T10:0${n}:00Z`,
      payload: { n },
    }));
    const answer = await fetch(`${gateway.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'it-chain-1' },
      body: JSON.stringify(events),
    });
    expect(answer.status).to.equal(202);
    const { accepted, event_ids: eventIds } = (await answer.json()) as { accepted: number; event_ids: string[] };
    expect(accepted).to.equal(6);
    expect(eventIds[5]).to.equal(events[5]?.event_id);
    expect(new Set(eventIds).size).to.equal(6);

    const rows = (): string[] =>
      psql(database.url, `SELECT event_id FROM ingested_events WHERE topic = '${topic.topic}' ORDER BY event_id`)
        .split('\n')
        .filter(Boolean);
    await waitFor(() => rows().length === 6, 60_000, 'six ingested_events rows');
    expect(rows()).to.deep.equal([...eventIds].sort());
    expect(await ingest.terminate()).to.equal(0);
    const stopped = ingest.output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { message?: string; context?: Record<string, unknown> })
      .find((line) => line.message === 'Stream ingest stopped');
    expect(stopped?.context, ingest.output).to.deep.include({
      records: 6,
      dead_lettered: { malformed_json: 0, invalid_event: 0 },
    });

    // The lake files (JSON Lines under data-lake/<topic>/2026-01-15/) hold the same ids, once each.
    const files = filesUnder(join(lakeRoot, 'data-lake', topic.topic));
    expect(files.length).to.be.greaterThan(0);
    for (const file of files) expect(file).to.match(new RegExp(`^2026-01-15/${topic.topic}-p[01]-\\d{20}\\.jsonl$`));
    const lakeIds = files
      .flatMap((file) => readFileSync(join(lakeRoot, 'data-lake', topic.topic, file), 'utf8').split('\n'))
      .filter(Boolean)
      .map((line) => (JSON.parse(line) as { event_id: string }).event_id)
      .sort();
    expect(lakeIds).to.deep.equal([...eventIds].sort());
  });
});
