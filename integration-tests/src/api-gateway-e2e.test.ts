import { expect } from 'chai';
import { MESSAGE_HEADERS } from '@platform-host/contracts';
import {
  QUALITY_RUN_IDS,
  SEED_QUALITY_SQL,
  SEED_ROLLUPS_SQL,
  seedEventsSql,
} from '@platform-host/module-api-gateway/test-tables';
import { usePrivateRedis, useRealService, waitFor } from '@platform-host/test-kit';
import { cleanRedis, redisCli, startGateway, uniqueSuffix, type RunningGateway } from './support/api-gateway.js';
import { cliEnv, platformHost } from './support/cli.js';
import { freshDatabase, psql } from './support/psql.js';

/** The stream key prefix of --mq redis-stream (MQ_REDIS_STREAM_KEY_PREFIX default): topic t is stream mq:t. */
const STREAM_PREFIX = 'mq:';

/** Rows seeded into cleaned_events. */
const EVENTS = 250;

interface Page {
  readonly items: Array<Record<string, unknown>>;
  readonly next_cursor: string | null;
}

/**
 * A fresh database with every module's migrations applied through the CLI (batch_etl's
 * cleaned_events, metric_aggregator's metric_rollups, data_quality's dq_check_results), and seed rows.
 */
async function seededDatabase(adminUrl: string): Promise<{ url: string; drop(): void }> {
  const database = freshDatabase(adminUrl, 'it_api');
  const migrated = await platformHost(
    ['migrate', 'up', '--db', 'postgres', '--env', 'test'],
    cliEnv({ DB_POSTGRES_URL: database.url }),
  );
  expect(migrated.code, migrated.stderr + migrated.stdout).to.equal(0);
  psql(database.url, seedEventsSql(EVENTS));
  psql(database.url, SEED_ROLLUPS_SQL);
  psql(database.url, SEED_QUALITY_SQL);
  return database;
}

/** Scans of cleaned_events counted by the server (each query reading the table scans it once). */
function tableScans(url: string): number {
  return Number(
    psql(
      url,
      "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = 'cleaned_events'",
    ),
  );
}

/**
 * Issue 13 tests through the CLI on real PostgreSQL and Redis: every endpoint against seeded tables,
 * the cache, the ingestion endpoint landing on Redis Streams, single flight counted in the database,
 * Redis stopped mid-run, SIGTERM under load.
 */
describe('api_gateway through the CLI (real PostgreSQL, Redis cache, Redis Streams)', function () {
  this.timeout(120_000);
  const postgres = useRealService('postgres');
  const redis = useRealService('redis');
  let database: { url: string; drop(): void };
  let gateway: RunningGateway | undefined;
  let prefix: string;
  let topic: string;

  before(async function () {
    database = await seededDatabase(postgres().DB_POSTGRES_URL ?? '');
  });
  after(() => database?.drop());
  beforeEach(() => {
    const suffix = uniqueSuffix();
    prefix = `it-api-${suffix}:`;
    topic = `it-api-events-${suffix}`;
  });
  afterEach(async () => {
    if (gateway) expect(await gateway.stop(), gateway.output()).to.equal(0);
    gateway = undefined;
    cleanRedis(redis().CACHE_REDIS_URL ?? '', `${prefix}*`);
    cleanRedis(redis().MQ_REDIS_STREAM_URL ?? '', `${STREAM_PREFIX}${topic}`);
  });

  const start = async (args: readonly string[] = []): Promise<RunningGateway> =>
    startGateway({
      databaseUrl: database.url,
      redisUrl: redis().CACHE_REDIS_URL ?? '',
      streamRedisUrl: redis().MQ_REDIS_STREAM_URL ?? '',
      cachePrefix: prefix,
      topic,
      args,
    });

  it('serves every endpoint from the seeded tables, with problems, X-Request-Id, X-Cache, ETag and 304', async () => {
    gateway = await start(['--max-page-size', '100']);
    const { url } = gateway;

    // Pagination across pages: every id once, in order.
    const ids: number[] = [];
    let next: string | null = '';
    while (next !== null) {
      const response: Response = await fetch(`${url}/v1/events?limit=40${next ? `&cursor=${next}` : ''}`);
      expect(response.status).to.equal(200);
      const page = (await response.json()) as Page;
      ids.push(...page.items.map((item) => Number(item.id)));
      next = page.next_cursor;
    }
    expect(ids).to.deep.equal(Array.from({ length: EVENTS }, (_, index) => index + 1));

    const filtered = (await (
      await fetch(`${url}/v1/events?event_type=click&source=app&date=2026-01-16&limit=100`)
    ).json()) as Page;
    expect(filtered.items.map((item) => item.id)).to.deep.equal(
      Array.from({ length: EVENTS }, (_, i) => i + 1).filter((n) => n > EVENTS / 2 && n % 6 === 0),
    );
    const one = await fetch(`${url}/v1/events/7`, { headers: { 'x-request-id': 'it-req-7' } });
    expect(one.headers.get('x-request-id')).to.equal('it-req-7');
    expect(await one.json()).to.include({ id: 7, event_type: 'view', source: 'web', event_date: '2026-01-15' });

    // Problems: 400 listing every bad parameter, 404 for an unknown id.
    const bad = await fetch(`${url}/v1/events?limit=0&date=yesterday`);
    expect(bad.status).to.equal(400);
    expect(bad.headers.get('content-type')).to.match(/^application\/problem\+json/);
    const problem = (await bad.json()) as { errors: Array<{ name: string }> };
    expect(problem.errors.map((error) => error.name).sort()).to.deep.equal(['query.date', 'query.limit']);
    expect((await fetch(`${url}/v1/events/999999`)).status).to.equal(404);
    expect((await fetch(`${url}/v1/events?limit=101`)).status).to.equal(400);

    // Rollups and quality runs.
    const rollups = (await (await fetch(`${url}/v1/rollups?window=60&event_type=view&limit=4`)).json()) as Page;
    expect(rollups.items).to.have.length(4);
    expect(rollups.next_cursor).to.be.a('string');
    const rest = (await (
      await fetch(`${url}/v1/rollups?window=60&event_type=view&limit=100&cursor=${rollups.next_cursor ?? ''}`)
    ).json()) as Page;
    expect(rollups.items.length + rest.items.length).to.equal(10);
    const runs = (await (await fetch(`${url}/v1/quality/runs`)).json()) as Page;
    expect(runs.items.map((run) => run.run_id)).to.deep.equal([QUALITY_RUN_IDS.newer, QUALITY_RUN_IDS.older]);
    const runB = (await (await fetch(`${url}/v1/quality/runs/${QUALITY_RUN_IDS.newer}`)).json()) as {
      results: unknown[];
    };
    expect(runB.results).to.have.length(2);

    // Cache transitions and conditional requests.
    const first = await fetch(`${url}/v1/events?source=web&limit=5`);
    const second = await fetch(`${url}/v1/events?limit=5&source=web`);
    expect([first.headers.get('x-cache'), second.headers.get('x-cache')]).to.deep.equal(['MISS', 'HIT']);
    const etag = first.headers.get('etag') ?? '';
    expect(second.headers.get('etag')).to.equal(etag);
    const conditional = await fetch(`${url}/v1/events?limit=5&source=web`, { headers: { 'if-none-match': etag } });
    expect(conditional.status).to.equal(304);
    expect(await conditional.text()).to.equal('');

    // The description and the metrics.
    const spec = (await (await fetch(`${url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(spec.paths)).to.include.members(['/v1/events', '/v1/rollups', '/v1/quality/runs/{run_id}']);
    const metrics = await (await fetch(`${gateway.metricsUrl ?? ''}/metrics`)).text();
    expect(metrics).to.match(
      /^api_gateway_request_duration_seconds_count\{route="\/v1\/events",method="GET",status="200"\} \d+/m,
    );
    expect(metrics).to.match(/^api_gateway_cache_lookups_total\{result="hit"\} [1-9]/m);
    expect(metrics).to.match(/^platform_db_query_duration_seconds_count\{/m);

    // Every request was logged with its request id as correlation id.
    const logged = gateway.logs().filter((line) => line.message === 'Request completed');
    expect(logged.some((line) => (line as { correlation_id?: string }).correlation_id === 'it-req-7')).to.equal(true);
  });

  it('publishes POST /v1/events to the Redis stream in one batch, each event with an event_id, the request id in the correlation header', async () => {
    gateway = await start();
    // Two events without event_id (the gateway assigns one) and one with its own (kept).
    const events: Array<Record<string, unknown>> = Array.from({ length: 3 }, (_, n) => ({
      ...(n === 2 ? { event_id: 'client-id-2' } : {}),
      event_type: 'click',
      source: 'web',
      timestamp: `2026-01-15T10:0${n}:00Z`,
      payload: { n },
    }));
    const accepted = await fetch(`${gateway.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'it-ingest-1' },
      body: JSON.stringify(events),
    });
    expect(accepted.status).to.equal(202);
    const answer = (await accepted.json()) as { accepted: number; event_ids: string[] };
    expect(answer.accepted).to.equal(3);
    expect(answer.event_ids).to.have.length(3);
    expect(answer.event_ids[2]).to.equal('client-id-2');
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    for (const id of answer.event_ids.slice(0, 2)) expect(id).to.match(uuid);
    expect(answer.event_ids[0]).to.not.equal(answer.event_ids[1]);
    const rejected = await fetch(`${gateway.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([...events, { ...events[0], timestamp: 'noon' }]),
    });
    expect(rejected.status).to.equal(400);
    expect(((await rejected.json()) as { errors: Array<{ name: string }> }).errors).to.deep.equal([
      { name: 'body[3].timestamp', reason: 'must be an ISO-8601 date-time with a time zone (2026-01-15T10:00:00Z)' },
    ]);
    const url = redis().MQ_REDIS_STREAM_URL ?? '';
    const stream = `${STREAM_PREFIX}${topic}`;
    expect(redisCli(url, ['XLEN', stream])).to.deep.equal(['3']);
    const entries = redisCli(url, ['XRANGE', stream, '-', '+']);
    const correlation = entries.filter((_, index) => entries[index - 1] === `h:${MESSAGE_HEADERS.correlationId}`);
    expect(correlation).to.deep.equal(['it-ingest-1', 'it-ingest-1', 'it-ingest-1']);
    const values = entries
      .filter((_, index) => entries[index - 1] === 'value')
      .map((value) => JSON.parse(value) as Record<string, unknown>);
    expect(values).to.deep.equal(events.map((event, n) => ({ ...event, event_id: answer.event_ids[n] })));
    for (const value of values) expect(value.event_id).to.be.a('string').and.not.equal('');
  });

  it('answers 50 concurrent requests for one uncached key, across two instances, with one database query', async () => {
    // A backend publishes its last table statistics when it exits, which can be after the earlier
    // tests' gateways stopped: wait until none of their connections is left before counting.
    await waitFor(
      () =>
        psql(
          database.url,
          'SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
        ) === '0',
      15_000,
      'the connections of the earlier gateways to close',
    );
    gateway = await start();
    const second = await start();
    try {
      const before = tableScans(database.url);
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, index) =>
          fetch(`${index % 2 === 0 ? gateway?.url : second.url}/v1/events?limit=17&event_type=view`).then(
            async (response) => ({
              status: response.status,
              body: await response.text(),
            }),
          ),
        ),
      );
      expect(answers.map((answer) => answer.status)).to.deep.equal(Array.from({ length: 50 }, () => 200));
      expect(new Set(answers.map((answer) => answer.body)).size).to.equal(1);
      // A control: two other keys are two more queries (the count does count queries).
      await fetch(`${second.url}/v1/events?limit=18&event_type=view`);
      await fetch(`${gateway.url}/v1/events?limit=19&event_type=view`);
      // A server process publishes its table statistics when its connection closes.
      expect(await second.stop(), second.output()).to.equal(0);
      expect(await gateway.stop(), gateway.output()).to.equal(0);
      gateway = undefined;
      let scans = 0;
      await waitFor(
        () => {
          scans = tableScans(database.url) - before;
          return scans >= 3;
        },
        15_000,
        'the table statistics of both instances',
      );
      expect(scans).to.equal(3);
    } finally {
      await second.stop();
    }
  });

  it('finishes every request accepted before SIGTERM under load: no 5xx, no reset of an accepted request, exit 0', async () => {
    const running = await start();
    gateway = running;
    interface Outcome {
      readonly id: string;
      readonly sentAt: number;
      readonly endedAt: number;
      readonly status?: number;
      readonly error?: string;
    }
    const outcomes: Outcome[] = [];
    let signalAt = Number.POSITIVE_INFINITY;
    let refused = false;
    let counter = 0;
    // 16 clients, each sending requests back to back on keep-alive connections until connections are
    // refused; the limits vary so that many requests miss the cache and query the database.
    const client = async (worker: number): Promise<void> => {
      while (!refused) {
        counter += 1;
        const id = `sigterm-${worker}-${counter}`;
        const sentAt = performance.now();
        try {
          const response = await fetch(`${running.url}/v1/events?limit=${1 + (counter % 100)}&source=web`, {
            headers: { 'x-request-id': id },
          });
          await response.arrayBuffer();
          outcomes.push({ id, sentAt, endedAt: performance.now(), status: response.status });
        } catch (error) {
          const cause = (error as { cause?: { code?: string } }).cause?.code ?? String(error);
          outcomes.push({ id, sentAt, endedAt: performance.now(), error: cause });
          if (cause === 'ECONNREFUSED') refused = true;
        }
      }
    };
    const clients = Array.from({ length: 16 }, (_, worker) => client(worker));
    await waitFor(() => outcomes.length >= 300, 60_000, '300 answered requests before the signal');
    signalAt = performance.now();
    running.child.kill('SIGTERM');
    const exitCode = await running.exited;
    refused = true;
    await Promise.all(clients);
    gateway = undefined;
    expect(exitCode, running.output()).to.equal(0);

    const completedByServer = new Set(
      running
        .logs()
        .filter((line) => line.message === 'Request completed')
        .map((line) => (line as { correlation_id?: string }).correlation_id),
    );
    const serverErrors = outcomes.filter((outcome) => (outcome.status ?? 0) >= 500);
    expect(serverErrors, JSON.stringify(serverErrors.slice(0, 5))).to.deep.equal([]);
    // A request the server read (it logged it) was answered, never reset.
    const resetAfterAccepting = outcomes.filter(
      (outcome) => outcome.error !== undefined && completedByServer.has(outcome.id),
    );
    expect(resetAfterAccepting).to.deep.equal([]);
    // Requests in flight when the signal came were answered 200 (the drain waited for them).
    const inFlightAtSignal = outcomes.filter((outcome) => outcome.sentAt < signalAt && outcome.endedAt > signalAt);
    expect(inFlightAtSignal.length).to.be.greaterThan(0);
    expect(
      inFlightAtSignal.filter((outcome) => outcome.status !== 200 && completedByServer.has(outcome.id)),
    ).to.deep.equal([]);
    const logged = running.logs().map((line) => line.message);
    expect(logged).to.include('API gateway stopped accepting requests; in-flight requests answered');
  });
});

describe('api_gateway with its Redis stopped mid-run', function () {
  this.timeout(120_000);
  const postgres = useRealService('postgres');
  const redis = useRealService('redis');
  const privateRedis = usePrivateRedis({ persistent: false });
  let database: { url: string; drop(): void };

  before(async function () {
    database = await seededDatabase(postgres().DB_POSTGRES_URL ?? '');
  });
  after(() => database?.drop());

  it('keeps answering 200 from the database, reports the cache degraded, and caches again once Redis is back', async () => {
    const server = privateRedis();
    const topic = `it-api-down-${uniqueSuffix()}`;
    const gateway = await startGateway({
      databaseUrl: database.url,
      redisUrl: server.url(0),
      // Only the cache is stopped: the queue stays on the shared server.
      streamRedisUrl: redis().MQ_REDIS_STREAM_URL ?? '',
      cachePrefix: 'it-api-down:',
      topic,
    });
    try {
      const get = async (): Promise<{ status: number; cache: string | null }> => {
        const response = await fetch(`${gateway.url}/v1/events?limit=3`);
        await response.arrayBuffer();
        return { status: response.status, cache: response.headers.get('x-cache') };
      };
      expect(await get()).to.deep.equal({ status: 200, cache: 'MISS' });
      expect(await get()).to.deep.equal({ status: 200, cache: 'HIT' });
      await server.stop();
      const whileDown = [];
      for (let index = 0; index < 10; index += 1) whileDown.push(await get());
      expect(whileDown).to.deep.equal(Array.from({ length: 10 }, () => ({ status: 200, cache: 'MISS' })));
      const ready = await fetch(`${gateway.healthUrl}/health/ready`);
      const report = (await ready.json()) as { status: string; checks: Record<string, string> };
      expect(ready.status, JSON.stringify(report)).to.equal(200);
      expect(report.checks.cache).to.equal('degraded');
      await server.start();
      await waitFor(async () => (await get()).cache === 'HIT', 30_000, 'the cache to serve hits again');
      const logged = gateway.logs().map((line) => line.message);
      expect(logged).to.include('Cache unavailable: answering from the database');
      expect(logged).to.include('Cache answers again: cache-aside resumed');
    } finally {
      expect(await gateway.stop(), gateway.output()).to.equal(0);
      cleanRedis(redis().MQ_REDIS_STREAM_URL ?? '', `${STREAM_PREFIX}${topic}`);
    }
  });
});
