import * as crypto from 'node:crypto';
import { once } from 'node:events';
import { connect, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import {
  currentCorrelationId,
  eachMessage,
  MESSAGE_HEADERS,
  type Cache,
  type GetOrSetOptions,
  type LogFields,
  type Logger,
  type QueueMessage,
} from '@platform-host/contracts';
import { startModuleForTest, waitFor, type StartedModule } from '@platform-host/test-kit';
import { buildGateway, type Gateway } from './app.js';
import { declareGatewayMetrics, type GatewayMetrics } from './gateway-metrics.js';
import { GATEWAY_INTERFACES, type GatewayContext } from './main.js';
import { readSettings } from './settings.js';
import { createSeededTables, QUALITY_RUN_IDS } from './test-support/tables.js';

const MODULE_DIR = fileURLToPath(new URL('..', import.meta.url));

interface Answer {
  readonly status: number;
  readonly headers: Record<string, unknown>;
  readonly json: () => unknown;
  readonly body: string;
}

interface PageBody {
  readonly items: Array<Record<string, unknown>>;
  readonly next_cursor: string | null;
}

interface ProblemBody {
  readonly status: number;
  readonly type: string;
  readonly detail: string;
  readonly errors?: Array<{ name: string; reason: string }>;
}

async function started(
  args: readonly string[],
): Promise<{ module: StartedModule; gateway: Gateway; ctx: GatewayContext }> {
  const module = await startModuleForTest({
    moduleDir: MODULE_DIR,
    args,
    flags: { db: 'memory', cache: 'memory', mq: 'memory', metrics: 'memory' },
  });
  const ctx = module.ctx as unknown as GatewayContext;
  expect(
    GATEWAY_INTERFACES.every(
      (name) => name in ctx || name === 'database' || name === 'message_queue' || name === 'logging',
    ),
  ).to.equal(true);
  const gateway = await buildGateway({
    db: ctx.db,
    cache: ctx.cache,
    mq: ctx.mq,
    log: ctx.log,
    metrics: declareGatewayMetrics(ctx.metrics),
    settings: readSettings(ctx.config),
  });
  return { module, gateway, ctx };
}

describe('api_gateway on embedded adapters (PGlite, memory cache and queue)', function () {
  this.timeout(60_000);
  let module: StartedModule;
  let gateway: Gateway;
  let ctx: GatewayContext;

  const get = async (url: string, headers: Record<string, string> = {}): Promise<Answer> => {
    const response = await gateway.app.inject({ method: 'GET', url, headers });
    return { status: response.statusCode, headers: response.headers, json: () => response.json(), body: response.body };
  };
  const post = async (payload: unknown, headers: Record<string, string> = {}): Promise<Answer> => {
    const response = await gateway.app.inject({
      method: 'POST',
      url: '/v1/events',
      payload: JSON.stringify(payload),
      headers: { 'content-type': 'application/json', ...headers },
    });
    return { status: response.statusCode, headers: response.headers, json: () => response.json(), body: response.body };
  };

  before(async function () {
    ({ module, gateway, ctx } = await started(['--max-page-size', '50', '--topic', 'events-test']));
    await createSeededTables(ctx.db, 95);
  });
  after(async function () {
    await gateway.app.close();
    await module.close();
  });

  it('pages through every event by keyset cursor: no row lost or repeated, in id order', async function () {
    const seen: number[] = [];
    let url = '/v1/events?limit=7';
    for (let pages = 0; pages < 100; pages += 1) {
      const answer = await get(url);
      expect(answer.status).to.equal(200);
      const page = answer.json() as PageBody;
      seen.push(...page.items.map((item) => Number(item.id)));
      if (page.next_cursor === null) break;
      url = `/v1/events?limit=7&cursor=${page.next_cursor}`;
    }
    expect(seen).to.deep.equal(Array.from({ length: 95 }, (_, index) => index + 1));
  });

  it('filters by event_type, source and date, and by a from/to date range', async function () {
    const page = (await get('/v1/events?event_type=click&source=app&date=2026-01-15&limit=50')).json() as PageBody;
    const expected = Array.from({ length: 47 }, (_, i) => i + 1).filter((n) => n % 2 === 0 && n % 3 === 0);
    expect(page.items.map((item) => item.id)).to.deep.equal(expected);
    expect(page.items.every((item) => item.event_date === '2026-01-15' && item.source === 'app')).to.equal(true);
    const range = (await get('/v1/events?from=2026-01-16&to=2026-01-16&limit=50')).json() as PageBody;
    expect(range.items).to.have.length(48);
    expect(range.items[0]?.id).to.equal(48);
  });

  it('answers one event by id, and a 404 problem for an id that does not exist', async function () {
    const one = await get('/v1/events/5');
    expect(one.status).to.equal(200);
    expect(one.json()).to.include({ id: 5, event_type: 'view', source: 'web', event_date: '2026-01-15' });
    const missing = await get('/v1/events/100000');
    expect(missing.status).to.equal(404);
    expect(missing.headers['content-type']).to.match(/^application\/problem\+json/);
    expect((missing.json() as ProblemBody).detail).to.equal('No event with id 100000');
  });

  it('lists every problem of bad query parameters in one 400 problem+json', async function () {
    const answer = await get('/v1/events?limit=500&date=2026-02-30&colour=red&event_type=');
    expect(answer.status).to.equal(400);
    expect(answer.headers['content-type']).to.match(/^application\/problem\+json/);
    const problem = answer.json() as ProblemBody;
    expect(problem.status).to.equal(400);
    expect(problem.errors?.map((error) => error.name).sort()).to.deep.equal([
      'query.colour',
      'query.date',
      'query.event_type',
      'query.limit',
    ]);
    const combined = (await get('/v1/events?date=2026-01-15&from=2026-01-17&to=2026-01-16')).json() as ProblemBody;
    expect(combined.errors?.map((error) => error.name)).to.deep.equal(['query.date', 'query.to']);
  });

  it('refuses a cursor that was altered or belongs to other filters, naming query.cursor', async function () {
    const first = (await get('/v1/events?limit=5&source=web')).json() as PageBody;
    const cursor = first.next_cursor ?? '';
    const altered = `${cursor.slice(0, -2)}${cursor.endsWith('A') ? 'B' : 'A'}`;
    for (const url of [
      `/v1/events?limit=5&source=web&cursor=${altered}`,
      `/v1/events?limit=5&source=app&cursor=${cursor}`,
      '/v1/events?cursor=!!',
    ]) {
      const answer = await get(url);
      expect(answer.status, url).to.equal(400);
      expect((answer.json() as ProblemBody).errors?.[0]?.name).to.equal('query.cursor');
    }
    expect((await get(`/v1/events?limit=9&source=web&cursor=${cursor}`)).status).to.equal(200);
  });

  it('goes MISS then HIT through the cache, with the same strong ETag, and 304 for If-None-Match', async function () {
    const first = await get('/v1/events?limit=3&source=app');
    const second = await get('/v1/events?source=app&limit=3');
    expect([first.headers['x-cache'], second.headers['x-cache']]).to.deep.equal(['MISS', 'HIT']);
    expect(first.headers.etag).to.match(/^"[A-Za-z0-9_-]{27}"$/);
    expect(second.headers.etag).to.equal(first.headers.etag);
    expect(second.body).to.equal(first.body);
    const notModified = await get('/v1/events?limit=3&source=app', { 'if-none-match': String(first.headers.etag) });
    expect(notModified.status).to.equal(304);
    expect(notModified.body).to.equal('');
    expect(notModified.headers.etag).to.equal(first.headers.etag);
    const changed = await get('/v1/events?limit=3&source=app', { 'if-none-match': '"something-else"' });
    expect(changed.status).to.equal(200);
  });

  it('echoes a sane X-Request-Id and replaces one that is not a sane token', async function () {
    const echoed = await get('/v1/events/1', { 'x-request-id': 'client-req.42' });
    expect(echoed.headers['x-request-id']).to.equal('client-req.42');
    const replaced = await get('/v1/events/1', { 'x-request-id': 'bad id with spaces' });
    expect(replaced.headers['x-request-id']).to.match(/^[0-9a-f-]{36}$/);
    const generated = await get('/nowhere');
    expect(generated.status).to.equal(404);
    expect(generated.headers['x-request-id']).to.match(/^[0-9a-f-]{36}$/);
    expect((generated.json() as { request_id: string }).request_id).to.equal(generated.headers['x-request-id']);
  });

  it('serves rollups by window and dimension, paged by keyset, with from inclusive and to exclusive', async function () {
    const all: Array<Record<string, unknown>> = [];
    let url = '/v1/rollups?window=60&limit=3';
    for (;;) {
      const page = (await get(url)).json() as PageBody;
      all.push(...page.items);
      if (page.next_cursor === null) break;
      url = `/v1/rollups?window=60&limit=3&cursor=${page.next_cursor}`;
    }
    expect(all).to.have.length(20);
    expect(new Set(all.map((item) => `${String(item.window_start)}|${JSON.stringify(item.dimensions)}`)).size).to.equal(
      20,
    );
    const clicks = (
      await get('/v1/rollups?window=60&event_type=click&from=2026-01-15T10:02:00Z&to=2026-01-15T10:05:00Z')
    ).json() as PageBody;
    expect(clicks.items.map((item) => item.window_start)).to.deep.equal([
      '2026-01-15T10:02:00.000000Z',
      '2026-01-15T10:03:00.000000Z',
      '2026-01-15T10:04:00.000000Z',
    ]);
    expect(clicks.items[0]).to.include({ event_count: 3, value_count: 2, value_sum: 5 });
    const sameByDim = (
      await get('/v1/rollups?window=60&dim.event_type=click&from=2026-01-15T10:02:00Z&to=2026-01-15T10:05:00Z')
    ).json() as PageBody;
    expect(sameByDim.items).to.deep.equal(clicks.items);
    const missingWindow = await get('/v1/rollups');
    expect((missingWindow.json() as ProblemBody).errors).to.deep.equal([
      { name: 'query.window', reason: 'is required' },
    ]);
  });

  it('lists data quality runs newest first and answers one run with its results', async function () {
    const runs = (await get('/v1/quality/runs')).json() as PageBody;
    expect(runs.items.map((run) => run.run_id)).to.deep.equal([QUALITY_RUN_IDS.newer, QUALITY_RUN_IDS.older]);
    expect(runs.items[0]).to.deep.include({ checks: 2, outcomes: { fail: 1, pass: 1 } });
    const paged = (await get('/v1/quality/runs?limit=1')).json() as PageBody;
    const next = (await get(`/v1/quality/runs?limit=1&cursor=${paged.next_cursor ?? ''}`)).json() as PageBody;
    expect([...paged.items, ...next.items].map((run) => run.run_id)).to.deep.equal([
      QUALITY_RUN_IDS.newer,
      QUALITY_RUN_IDS.older,
    ]);
    expect(next.next_cursor).to.equal(null);
    const run = (await get(`/v1/quality/runs/${QUALITY_RUN_IDS.older}`)).json() as {
      results: Array<Record<string, unknown>>;
      outcomes: unknown;
    };
    expect(run.results.map((result) => result.check_name)).to.deep.equal(['null_rate_source', 'freshness']);
    expect(run.outcomes).to.deep.equal({ pass: 1, warn: 1 });
    expect((await get('/v1/quality/runs/run-zz')).status).to.equal(404);
  });

  it('publishes valid events to --topic in one batch with the request id as correlation header', async function () {
    const received: QueueMessage[] = [];
    const subscription = await ctx.mq.subscribe('events-test', async (batch) => void received.push(...batch), {
      group: 'test-reader',
      startFrom: 'earliest',
    });
    const events = [0, 1, 2].map((n) => ({
      event_type: 'click',
      source: 'web',
      timestamp: `2026-01-15T10:0${n}:00Z`,
      payload: { n },
    }));
    const answer = await post(events, { 'x-request-id': 'ingest-1' });
    expect(answer.status).to.equal(202);
    const { accepted, event_ids: assigned } = answer.json() as { accepted: number; event_ids: string[] };
    expect(accepted).to.equal(3);
    // Version 7 where node:crypto has randomUUIDv7 (Node >= 24.16), else version 4.
    const version = 'randomUUIDv7' in crypto ? '7' : '4';
    expect(assigned).to.have.length(3);
    for (const id of assigned)
      expect(id).to.match(new RegExp(`^[0-9a-f]{8}-[0-9a-f]{4}-${version}[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`));
    expect(new Set(assigned).size).to.equal(3);
    const single = await post({ ...events[0], event_id: 'e-1' }, { 'x-request-id': 'ingest-2' });
    expect(single.json()).to.deep.equal({ accepted: 1, event_ids: ['e-1'] });
    await waitFor(() => received.length === 4, 10_000, 'four published events');
    await subscription.close();
    expect(received.map((message) => message.headers[MESSAGE_HEADERS.correlationId])).to.deep.equal([
      'ingest-1',
      'ingest-1',
      'ingest-1',
      'ingest-2',
    ]);
    expect(
      JSON.parse(
        String(
          received[3]?.value instanceof Uint8Array ? Buffer.from(received[3].value).toString() : received[3]?.value,
        ),
      ),
    ).to.deep.equal({ ...events[0], event_id: 'e-1' });
    // The events without an id were published with the ids the answer lists, in the request's order.
    const published = received
      .slice(0, 3)
      .map((message) => JSON.parse(Buffer.from(message.value).toString()) as Record<string, unknown>);
    expect(published).to.deep.equal(events.map((event, index) => ({ ...event, event_id: assigned[index] })));
  });

  it('refuses a platform event whose timestamp the data lake cannot file (before 1971 or after 9989), naming the field', async function () {
    const received: QueueMessage[] = [];
    const subscription = await ctx.mq.subscribe('events-test', async (batch) => void received.push(...batch), {
      group: 'test-lake-years',
      startFrom: 'latest',
    });
    const event = { event_type: 'click', source: 'web', payload: {} };
    const answer = await post([
      { ...event, timestamp: '1971-01-01T00:00:00+23:59' },
      { ...event, timestamp: '1969-12-31T23:59:59Z' },
      { ...event, timestamp: '0001-01-01T00:00:00Z' },
      { ...event, timestamp: '9990-01-01T00:00:00Z' },
      { ...event, timestamp: '9989-12-31T23:59:59.999-23:59' },
    ]);
    expect(answer.status).to.equal(400);
    expect((answer.json() as ProblemBody).errors).to.deep.equal(
      [1, 2, 3].map((index) => ({ name: `body[${index}].timestamp`, reason: 'must be in the years 1971 to 9989' })),
    );
    expect(
      (
        await post([
          { ...event, timestamp: '1971-01-01T00:00:00+23:59' },
          { ...event, timestamp: '9989-12-31T23:59:59.999-23:59' },
        ])
      ).status,
    ).to.equal(202);
    await waitFor(() => received.length === 2, 10_000, 'the two events of the accepted request');
    await subscription.close();
  });

  it("runs a consumer's handler, and so its log lines, under the request id of the POST", async function () {
    const handled: string[] = [];
    const subscription = await ctx.mq.subscribe(
      'events-test',
      eachMessage(ctx.mq, async () => {
        handled.push(currentCorrelationId() ?? 'none');
        ctx.log.info('consumer handled an ingested event');
      }),
      { group: 'test-consumer-logs', startFrom: 'latest' },
    );
    const answer = await post(
      { event_type: 'view', source: 'app', timestamp: '2026-01-15T11:00:00Z', payload: {} },
      { 'x-request-id': 'ingest-consumer-7' },
    );
    expect(answer.status).to.equal(202);
    await waitFor(() => handled.length === 1, 10_000, 'the consumer to handle the event');
    await subscription.close();
    expect(handled).to.deep.equal(['ingest-consumer-7']);
    const consumerLines = module.logs().filter((line) => line.includes('consumer handled an ingested event'));
    expect(consumerLines).to.have.length(1);
    expect(consumerLines[0]).to.contain('ingest-consumer-7');
    expect(
      module.logs().some((line) => line.includes('Request completed') && line.includes('ingest-consumer-7')),
    ).to.equal(true);
  });

  it('publishes nothing when one event is invalid, naming each index and field', async function () {
    const received: QueueMessage[] = [];
    const subscription = await ctx.mq.subscribe('events-test', async (batch) => void received.push(...batch), {
      group: 'test-invalid',
      startFrom: 'latest',
    });
    const answer = await post([
      { event_type: 'click', source: 'web', timestamp: '2026-01-15T10:00:00Z', payload: {} },
      { event_type: '', source: 'web', timestamp: '2026-01-15T10:00:00', payload: [] },
      { source: 'web', timestamp: '2026-01-15T10:00:00Z', payload: {}, extra: 1 },
    ]);
    expect(answer.status).to.equal(400);
    const problem = answer.json() as ProblemBody;
    expect(problem.errors?.map((error) => error.name).sort()).to.deep.equal([
      'body[1].event_type',
      'body[1].event_type',
      'body[1].payload',
      'body[1].timestamp',
      'body[2].event_type',
      'body[2].extra',
    ]);
    const tooMany = await post(Array.from({ length: 1001 }, () => ({})));
    expect((tooMany.json() as ProblemBody).errors?.[0]).to.deep.include({ name: 'body' });
    const notJson = await gateway.app.inject({
      method: 'POST',
      url: '/v1/events',
      payload: '{nope',
      headers: { 'content-type': 'application/json' },
    });
    expect(notJson.statusCode).to.equal(400);
    expect(notJson.headers['content-type']).to.match(/^application\/problem\+json/);
    await subscription.close();
    expect(received).to.have.length(0);
  });

  it('describes every route with its schemas in /openapi.json', async function () {
    const spec = (await get('/openapi.json')).json() as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    expect(spec.openapi).to.equal('3.1.0');
    expect(Object.keys(spec.paths).sort()).to.deep.equal([
      '/v1/events',
      '/v1/events/{id}',
      '/v1/quality/runs',
      '/v1/quality/runs/{run_id}',
      '/v1/rollups',
    ]);
    expect(Object.keys(spec.paths['/v1/events'] ?? {}).sort()).to.deep.equal(['get', 'post']);
    const accepted = (
      spec.paths['/v1/events']?.post as {
        responses: Record<
          string,
          { content: Record<string, { schema: { required: string[]; properties: Record<string, unknown> } }> }
        >;
      }
    ).responses['202']?.content['application/json']?.schema;
    expect(accepted?.required).to.deep.equal(['accepted', 'event_ids']);
    expect(accepted?.properties.event_ids).to.deep.include({ type: 'array', items: { type: 'string' } });
  });
});

describe('api_gateway without the tables of other modules', function () {
  this.timeout(60_000);

  it('answers 404 problems naming the missing table and its owner, not 500', async function () {
    const { module, gateway } = await started([]);
    try {
      for (const [url, table, owner] of [
        ['/v1/events', 'cleaned_events', 'batch_etl'],
        ['/v1/rollups?window=60', 'metric_rollups', 'metric_aggregator'],
        ['/v1/quality/runs', 'dq_check_results', 'data_quality'],
        ['/v1/quality/runs/r1', 'dq_check_results', 'data_quality'],
      ] as const) {
        const answer = await gateway.app.inject({ method: 'GET', url });
        expect(answer.statusCode, url).to.equal(404);
        expect(answer.headers['content-type']).to.match(/^application\/problem\+json/);
        expect(answer.json<ProblemBody>().detail)
          .to.contain(`The table ${table} does not exist yet`)
          .and.to.contain(owner);
      }
    } finally {
      await gateway.app.close();
      await module.close();
    }
  });

  it('serves a stale answer past --cache-ttl while it refreshes', async function () {
    const { module, gateway, ctx } = await started(['--cache-ttl', '200ms', '--stale-ttl', '5m']);
    try {
      await createSeededTables(ctx.db, 4);
      const url = '/v1/events/1';
      expect((await gateway.app.inject({ url })).headers['x-cache']).to.equal('MISS');
      let status: unknown;
      await waitFor(
        async () => {
          status = (await gateway.app.inject({ url })).headers['x-cache'];
          return status === 'STALE';
        },
        10_000,
        'a STALE answer after the TTL',
      );
      expect(status).to.equal('STALE');
    } finally {
      await gateway.app.close();
      await module.close();
    }
  });
});

/** GatewayMetrics that keep every call, to check what the gateway records per request. */
function recordingMetrics(): GatewayMetrics & {
  readonly durations: Array<{ labels: Record<string, string>; seconds: number }>;
  readonly lookups: string[];
  readonly shed: string[];
  inFlightNow: number;
  inFlightMax: number;
} {
  const durations: Array<{ labels: Record<string, string>; seconds: number }> = [];
  const lookups: string[] = [];
  const shed: string[] = [];
  const recorded = {
    durations,
    lookups,
    shed,
    inFlightNow: 0,
    inFlightMax: 0,
    requestDuration: {
      observe: (labels: Record<string, string>, seconds: number) => void durations.push({ labels, seconds }),
      startTimer: () => () => 0,
    },
    inFlight: {
      set: (_labels: object, value: number) => void (recorded.inFlightNow = value),
      inc: () => {
        recorded.inFlightNow += 1;
        recorded.inFlightMax = Math.max(recorded.inFlightMax, recorded.inFlightNow);
      },
      dec: () => void (recorded.inFlightNow -= 1),
    },
    cacheLookups: { inc: (labels: { result: string }) => void lookups.push(labels.result) },
    eventsPublished: { inc: () => undefined },
    requestsShed: { inc: (labels: { reason: string }) => void shed.push(labels.reason) },
  };
  return recorded;
}

/** A logger that keeps each entry with the correlation id it was logged under. */
function correlatedLogger(): Logger & {
  readonly entries: Array<{ message: string; fields: Record<string, unknown>; correlationId?: string }>;
} {
  const entries: Array<{ message: string; fields: Record<string, unknown>; correlationId?: string }> = [];
  const keep = (message: string, fields?: LogFields): void =>
    void entries.push({ message, fields: { ...fields }, correlationId: currentCorrelationId() });
  const logger = {
    entries,
    debug: keep,
    info: keep,
    warn: keep,
    error: keep,
    child: () => logger,
    flush: () => Promise.resolve(),
  };
  return logger;
}

/** A cache whose getOrSet waits, for keys containing `hold`, until `release()` (requests kept in flight). */
function holdingCache(cache: Cache): Cache & { release(): void } {
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  return new Proxy(cache, {
    get(target, property) {
      if (property === 'release') return release;
      if (property === 'getOrSet') {
        return async (key: string, loader: () => Promise<string>, options: GetOrSetOptions) => {
          if (key.includes('hold')) await released;
          return target.getOrSet(key, loader, options);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  }) as Cache & { release(): void };
}

/** A cache whose getOrSet waits while `hold()` is in force, until `release()` (may be repeated). */
function gatedCache(cache: Cache): Cache & { hold(): void; release(): void } {
  let gate: Promise<void> | undefined;
  let open: () => void = () => undefined;
  return new Proxy(cache, {
    get(target, property) {
      if (property === 'hold') return () => void (gate ??= new Promise<void>((resolve) => (open = resolve)));
      if (property === 'release') {
        return () => {
          gate = undefined;
          open();
        };
      }
      if (property === 'getOrSet') {
        return async (key: string, loader: () => Promise<string>, options: GetOrSetOptions) => {
          if (gate !== undefined) await gate;
          return target.getOrSet(key, loader, options);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  }) as Cache & { hold(): void; release(): void };
}

describe('api_gateway request bookkeeping and load shedding', function () {
  this.timeout(60_000);
  let module: StartedModule;
  let ctx: GatewayContext;

  before(async function () {
    module = await startModuleForTest({
      moduleDir: MODULE_DIR,
      args: [],
      flags: { db: 'memory', cache: 'memory', mq: 'memory', metrics: 'memory' },
    });
    ctx = module.ctx;
    await createSeededTables(ctx.db, 4);
  });
  after(async function () {
    await module.close();
  });

  /** Runs `test` with a gateway of its own (its own metrics, logger and holding cache) on the shared module. */
  const withGateway = async (
    options: { maxInFlight?: number; maxEventLoopDelayMs?: number; handlerTimeoutMs?: number },
    test: (parts: {
      gateway: Gateway;
      metrics: ReturnType<typeof recordingMetrics>;
      log: ReturnType<typeof correlatedLogger>;
      cache: ReturnType<typeof holdingCache>;
    }) => Promise<void>,
  ): Promise<void> => {
    const metrics = recordingMetrics();
    const log = correlatedLogger();
    const cache = holdingCache(ctx.cache);
    const gateway = await buildGateway({
      db: ctx.db,
      cache,
      mq: ctx.mq,
      log,
      metrics,
      settings: readSettings(ctx.config),
      ...options,
    });
    try {
      await test({ gateway, metrics, log, cache });
    } finally {
      cache.release();
      await gateway.app.close();
    }
  };

  it('logs one Request completed line per request under its request id, observes its duration by route, method and status, and counts it in flight until it closes', async function () {
    await withGateway({}, async ({ gateway, metrics, log }) => {
      const inject = (url: string, id: string, headers: Record<string, string> = {}) =>
        gateway.app.inject({ url, headers: { 'x-request-id': id, ...headers } });
      const miss = await inject('/v1/events/2', 'book-1');
      const hit = await inject('/v1/events/2', 'book-2');
      const notModified = await inject('/v1/events/2', 'book-3', { 'if-none-match': String(hit.headers.etag) });
      const unmatched = await inject('/nowhere', 'book-4');
      const invalid = await inject('/v1/events?limit=0', 'book-5');
      expect([miss, hit, notModified, unmatched, invalid].map((answer) => answer.statusCode)).to.deep.equal([
        200, 200, 304, 404, 400,
      ]);
      expect([miss, hit, notModified].map((answer) => answer.headers['x-cache'])).to.deep.equal(['MISS', 'HIT', 'HIT']);
      expect(hit.headers['content-type']).to.equal('application/json; charset=utf-8');
      expect(hit.headers['cache-control']).to.equal('no-cache');
      expect(Number(hit.headers['content-length'])).to.equal(Buffer.byteLength(hit.body));
      expect(notModified.body).to.equal('');
      await waitFor(
        () => log.entries.filter((entry) => entry.message === 'Request completed').length === 5,
        5_000,
        'five request lines',
      );
      const lines = log.entries.filter((entry) => entry.message === 'Request completed');
      expect(lines.map((line) => line.correlationId)).to.deep.equal(['book-1', 'book-2', 'book-3', 'book-4', 'book-5']);
      expect(
        lines.map(({ fields: { durationMs, ...rest } }) => (typeof durationMs === 'number' ? rest : {})),
      ).to.deep.equal([
        { method: 'GET', route: '/v1/events/:id', status: 200, cache: 'MISS' },
        { method: 'GET', route: '/v1/events/:id', status: 200, cache: 'HIT' },
        { method: 'GET', route: '/v1/events/:id', status: 304, cache: 'HIT' },
        { method: 'GET', route: 'unmatched', status: 404 },
        { method: 'GET', route: '/v1/events', status: 400 },
      ]);
      expect(metrics.durations.map((duration) => duration.labels)).to.deep.equal([
        { route: '/v1/events/:id', method: 'GET', status: '200' },
        { route: '/v1/events/:id', method: 'GET', status: '200' },
        { route: '/v1/events/:id', method: 'GET', status: '304' },
        { route: 'unmatched', method: 'GET', status: '404' },
        { route: '/v1/events', method: 'GET', status: '400' },
      ]);
      expect(metrics.durations.every((duration) => duration.seconds >= 0 && duration.seconds < 10)).to.equal(true);
      expect(metrics.lookups).to.deep.equal(['miss', 'hit', 'hit']);
      expect(metrics.inFlightMax).to.equal(1);
      expect(metrics.inFlightNow).to.equal(0);
    });
  });

  /** GETs over HTTP (the fast path is in front of fastify's handler: `inject` does not reach it). */
  const listening = async (gateway: Gateway) => {
    await gateway.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = gateway.app.server.address() as AddressInfo;
    return async (url: string, id: string, headers: Record<string, string> = {}) => {
      const response = await fetch(`http://127.0.0.1:${port}${url}`, { headers: { 'x-request-id': id, ...headers } });
      const body = await response.text();
      const all = Object.fromEntries(response.headers.entries());
      // Everything but the date: the same server answers both ways.
      const { date: _date, ...rest } = all;
      return { status: response.status, headers: rest, body };
    };
  };
  const requestLines = (log: ReturnType<typeof correlatedLogger>): Array<Record<string, unknown>> =>
    log.entries
      .filter((entry) => entry.message === 'Request completed')
      .map(({ correlationId, fields: { durationMs, ...rest } }) => ({
        correlationId,
        ...rest,
        timed: typeof durationMs === 'number',
      }));

  it('answers a GET of a URL that passed validation before on the fast path, with the headers, log line, histogram and cache metrics of the route', async function () {
    await withGateway({}, async ({ gateway, metrics, log }) => {
      const get = await listening(gateway);
      // Two URLs of one cache key: the second is answered by the route (HIT), then the first again by the fast path.
      const first = await get('/v1/events?source=web&limit=3', 'fast-1');
      const byRoute = await get('/v1/events?limit=3&source=web', 'fast-2');
      expect(gateway.fastPathAnswers()).to.equal(0);
      const fast = await get('/v1/events?source=web&limit=3', 'fast-3');
      expect(gateway.fastPathAnswers()).to.equal(1);
      const notModified = await get('/v1/events?source=web&limit=3', 'fast-4', {
        'if-none-match': byRoute.headers.etag!,
      });
      expect(gateway.fastPathAnswers()).to.equal(2);
      expect([first, byRoute, fast, notModified].map((answer) => answer.status)).to.deep.equal([200, 200, 200, 304]);
      expect(first.headers['x-cache']).to.equal('MISS');
      expect(fast.body).to.equal(byRoute.body);
      expect(fast.headers).to.deep.equal({ ...byRoute.headers, 'x-request-id': 'fast-3' });
      expect(fast.headers['x-cache']).to.equal('HIT');
      expect(notModified.headers['x-request-id']).to.equal('fast-4');
      expect(notModified.headers.etag).to.equal(byRoute.headers.etag);
      expect(notModified.body).to.equal('');
      await waitFor(() => requestLines(log).length === 4 && metrics.inFlightNow === 0, 5_000, 'four request lines');
      const line = { method: 'GET', route: '/v1/events', timed: true };
      expect(requestLines(log)).to.deep.equal([
        { correlationId: 'fast-1', ...line, status: 200, cache: 'MISS' },
        { correlationId: 'fast-2', ...line, status: 200, cache: 'HIT' },
        { correlationId: 'fast-3', ...line, status: 200, cache: 'HIT' },
        { correlationId: 'fast-4', ...line, status: 304, cache: 'HIT' },
      ]);
      expect(metrics.durations.map((duration) => duration.labels)).to.deep.equal([
        { route: '/v1/events', method: 'GET', status: '200' },
        { route: '/v1/events', method: 'GET', status: '200' },
        { route: '/v1/events', method: 'GET', status: '200' },
        { route: '/v1/events', method: 'GET', status: '304' },
      ]);
      expect(metrics.lookups).to.deep.equal(['miss', 'hit', 'hit', 'hit']);
      expect(metrics.inFlightMax).to.equal(1);
    });
  });

  it('never takes the fast path for a changed query, an invalid one or another method', async function () {
    await withGateway({}, async ({ gateway, log }) => {
      const get = await listening(gateway);
      expect((await get('/v1/events/2', 'other-1')).status).to.equal(200);
      expect((await get('/v1/events/3', 'other-2')).status).to.equal(200);
      expect((await get('/v1/events/2?', 'other-3')).status).to.equal(200);
      for (const id of ['other-4', 'other-5']) {
        const invalid = await get('/v1/events?limit=0', id);
        expect(invalid.status).to.equal(400);
        expect(invalid.headers['x-request-id']).to.equal(id);
      }
      expect((await get('/v1/events/0', 'other-6')).status).to.equal(400);
      expect((await get('/v1/events/999', 'other-7')).status).to.equal(404);
      expect((await get('/v1/events/999', 'other-8')).status).to.equal(404);
      const { port } = gateway.app.server.address() as AddressInfo;
      const head = await fetch(`http://127.0.0.1:${port}/v1/events/2`, { method: 'HEAD' });
      expect(head.status).to.equal(200);
      expect(gateway.fastPathAnswers()).to.equal(0);
      const again = await get('/v1/events/2', 'other-9');
      expect(again.headers['x-cache']).to.equal('HIT');
      expect(gateway.fastPathAnswers()).to.equal(1);
      await waitFor(() => requestLines(log).length === 10, 5_000, 'ten request lines');
      expect(requestLines(log).map((line) => [line.correlationId, line.route, line.status])).to.deep.include.members([
        ['other-4', '/v1/events', 400],
        ['other-7', '/v1/events/:id', 404],
        ['other-9', '/v1/events/:id', 200],
      ]);
    });
  });

  it('answers a fast-path GET past the handler deadline with the 504 problem of the route, and sends the next one to the route', async function () {
    const gate = gatedCache(ctx.cache);
    const metrics = recordingMetrics();
    const log = correlatedLogger();
    const gateway = await buildGateway({
      db: ctx.db,
      cache: gate,
      mq: ctx.mq,
      log,
      metrics,
      settings: readSettings(ctx.config),
      handlerTimeoutMs: 200,
    });
    try {
      const get = await listening(gateway);
      expect((await get('/v1/events/4', 'late-1')).status).to.equal(200);
      gate.hold();
      const fast = await get('/v1/events/4', 'late-2');
      expect(gateway.fastPathAnswers()).to.equal(1);
      const byRoute = await get('/v1/events/4', 'late-3');
      expect(gateway.fastPathAnswers()).to.equal(1);
      expect([fast.status, byRoute.status]).to.deep.equal([504, 504]);
      expect(fast.headers).to.deep.equal({ ...byRoute.headers, 'x-request-id': 'late-2' });
      expect(fast.headers['content-type']).to.equal('application/problem+json; charset=utf-8');
      expect(JSON.parse(fast.body)).to.deep.equal({ ...(JSON.parse(byRoute.body) as object), request_id: 'late-2' });
      expect((JSON.parse(fast.body) as ProblemBody).detail).to.equal('GET /v1/events/:id did not finish within 0.2 s');
      gate.release();
      await waitFor(() => requestLines(log).length === 3, 5_000, 'three request lines');
      expect(requestLines(log).map((line) => [line.correlationId, line.status])).to.deep.equal([
        ['late-1', 200],
        ['late-2', 504],
        ['late-3', 504],
      ]);
    } finally {
      gate.release();
      await gateway.app.close();
    }
  });

  it('answers fast-path and routed GETs that arrive on an open connection during shutdown with Connection: close', async function () {
    const gate = gatedCache(ctx.cache);
    const metrics = recordingMetrics();
    const gateway = await buildGateway({
      db: ctx.db,
      cache: gate,
      mq: ctx.mq,
      log: correlatedLogger(),
      metrics,
      settings: readSettings(ctx.config),
    });
    let closed: Promise<void> | undefined;
    try {
      const get = await listening(gateway);
      expect((await get('/v1/events/1', 'bye-0')).status).to.equal(200);
      const { port } = gateway.app.server.address() as AddressInfo;
      const request = (url: string, id: string) =>
        `GET ${url} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: ${id}\r\n\r\n`;
      /** A keep-alive connection: everything it received by the time the server closed it. */
      const connection = async () => {
        const socket = connect(port, '127.0.0.1');
        await once(socket, 'connect');
        let received = '';
        socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
        const ended = once(socket, 'close').then(() => received);
        return { socket, ended };
      };
      gate.hold();
      const [first, second] = [await connection(), await connection()];
      // One request in flight on each connection (held by the cache), then the shutdown begins.
      first.socket.write(request('/v1/events/1', 'bye-1'));
      second.socket.write(request('/v1/events/1', 'bye-2'));
      await waitFor(() => metrics.inFlightNow === 2, 5_000, 'two requests in flight');
      const fastBefore = gateway.fastPathAnswers();
      closed = gateway.app.close();
      // A second request on each busy connection: a remembered URL (the fast path) and a new one (the route).
      first.socket.write(request('/v1/events/1', 'bye-3'));
      second.socket.write(request('/v1/events/2', 'bye-4'));
      await waitFor(() => metrics.inFlightNow === 4, 5_000, 'four requests in flight');
      expect(gateway.fastPathAnswers()).to.equal(fastBefore + 1);
      gate.release();
      const answers = await Promise.all([first.ended, second.ended]);
      await closed;
      for (const [index, text] of answers.entries()) {
        // The head of each answer (the bodies are JSON, without a blank line).
        const heads = text.match(/HTTP\/1\.1 \d{3}[\s\S]*?\r\n\r\n/g) ?? [];
        expect(heads, `connection ${index + 1}`).to.have.length(2);
        expect(heads.map((head) => head.split('\r\n')[0])).to.deep.equal(['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
        expect(heads[1]).to.match(/\r\nconnection: close(\r\n|$)/i);
        expect(heads[1]).to.match(new RegExp(`\\r\\nx-request-id: bye-${index + 3}(\\r\\n|$)`, 'i'));
      }
    } finally {
      gate.release();
      await (closed ?? gateway.app.close());
    }
  });

  it('sheds requests above the in-flight limit with 503 and Retry-After, and answers the ones in flight', async function () {
    await withGateway({ maxInFlight: 2 }, async ({ gateway, metrics, cache }) => {
      // Held in flight: their cache keys contain "hold".
      const held = [
        gateway.app.inject({ url: '/v1/events?event_type=hold-a' }),
        gateway.app.inject({ url: '/v1/events?event_type=hold-b' }),
      ];
      await waitFor(() => metrics.inFlightNow === 2, 5_000, 'two requests in flight');
      const refused = await gateway.app.inject({ url: '/v1/events/3' });
      expect(refused.statusCode).to.equal(503);
      expect(refused.headers['retry-after']).to.equal('1');
      expect(refused.headers['content-type']).to.match(/^application\/problem\+json/);
      expect(refused.json<ProblemBody>().detail).to.equal('The service is handling 2 requests; retry after 1 s');
      expect(metrics.shed).to.deep.equal(['in_flight']);
      cache.release();
      expect((await Promise.all(held)).map((answer) => answer.statusCode)).to.deep.equal([200, 200]);
    });
  });

  it('sheds requests with 503 while the event loop delay is above the limit', async function () {
    await withGateway({ maxEventLoopDelayMs: 1 }, async ({ gateway, metrics }) => {
      let status = 0;
      let retryAfter: unknown;
      await waitFor(
        async () => {
          const until = performance.now() + 250;
          while (performance.now() < until); // block the event loop, as an overloaded process does
          const answer = await gateway.app.inject({ url: '/v1/events/1' });
          status = answer.statusCode;
          retryAfter = answer.headers['retry-after'];
          return status === 503;
        },
        20_000,
        'a 503 for the event loop delay',
      );
      expect(retryAfter).to.equal('1');
      expect(metrics.shed).to.include('eventLoopDelay');
    });
  });

  it('sheds a remembered (fast-path) URL above the in-flight limit with the 503 problem, Retry-After and metric of the route', async function () {
    await withGateway({ maxInFlight: 2 }, async ({ gateway, metrics, cache }) => {
      const get = await listening(gateway);
      // Remembered: the second GET of the URL is answered by the fast path.
      expect((await get('/v1/events/3', 'limit-0')).status).to.equal(200);
      expect((await get('/v1/events/3', 'limit-1')).status).to.equal(200);
      expect(gateway.fastPathAnswers()).to.equal(1);
      // Held in flight: their cache keys contain "hold".
      const held = [get('/v1/events?event_type=hold-a', 'held-a'), get('/v1/events?event_type=hold-b', 'held-b')];
      await waitFor(() => metrics.inFlightNow === 2, 5_000, 'two requests in flight');
      const remembered = await get('/v1/events/3', 'limit-2');
      const byRoute = await get('/v1/events/4', 'limit-3');
      expect(gateway.fastPathAnswers()).to.equal(1);
      expect([remembered.status, byRoute.status]).to.deep.equal([503, 503]);
      expect(remembered.headers['retry-after']).to.equal('1');
      expect(remembered.headers['content-type']).to.equal('application/problem+json; charset=utf-8');
      expect(remembered.headers).to.deep.equal({ ...byRoute.headers, 'x-request-id': 'limit-2' });
      expect(JSON.parse(remembered.body)).to.deep.equal({
        ...(JSON.parse(byRoute.body) as object),
        instance: '/v1/events/3',
        request_id: 'limit-2',
      });
      expect((JSON.parse(remembered.body) as ProblemBody).detail).to.equal(
        'The service is handling 2 requests; retry after 1 s',
      );
      expect(metrics.shed).to.deep.equal(['in_flight', 'in_flight']);
      cache.release();
      expect((await Promise.all(held)).map((answer) => answer.status)).to.deep.equal([200, 200]);
      // Below the limit again, the URL is still answered by the fast path.
      expect((await get('/v1/events/3', 'limit-4')).status).to.equal(200);
      expect(gateway.fastPathAnswers()).to.equal(2);
    });
  });

  it('sheds a remembered (fast-path) URL while the event loop delay is above the limit, with the 503 problem, Retry-After and metric of the route', async function () {
    await withGateway({ maxEventLoopDelayMs: 1 }, async ({ gateway, metrics }) => {
      const get = await listening(gateway);
      // Remembered (answered once by the route), then answered by the fast path while the loop is idle.
      await waitFor(
        async () => (await get('/v1/events/1', 'delay-0')).status === 200 && gateway.fastPathAnswers() > 0,
        20_000,
        'a GET answered by the fast path',
      );
      let shed: Awaited<ReturnType<typeof get>> | undefined;
      let fastBefore = 0;
      await waitFor(
        async () => {
          const until = performance.now() + 250;
          while (performance.now() < until); // block the event loop, as an overloaded process does
          fastBefore = gateway.fastPathAnswers();
          const answer = await get('/v1/events/1', 'delay-1');
          if (answer.status !== 503) return false;
          shed = answer;
          return true;
        },
        20_000,
        'a 503 for the event loop delay',
      );
      expect(gateway.fastPathAnswers()).to.equal(fastBefore);
      expect(shed!.headers['retry-after']).to.equal('1');
      expect(shed!.headers['content-type']).to.equal('application/problem+json; charset=utf-8');
      expect(shed!.headers['x-request-id']).to.equal('delay-1');
      const problem = JSON.parse(shed!.body) as ProblemBody & { instance: string; request_id: string };
      expect(problem.status).to.equal(503);
      expect(problem.detail).to.equal('The service is overloaded (eventLoopDelay); retry after 1 s');
      expect([problem.instance, problem.request_id]).to.deep.equal(['/v1/events/1', 'delay-1']);
      expect(metrics.shed).to.include('eventLoopDelay');
      expect(metrics.shed.every((reason) => reason === 'eventLoopDelay')).to.equal(true);
    });
  });

  it('answers 504 when the answer takes longer than the handler timeout', async function () {
    await withGateway({ handlerTimeoutMs: 100 }, async ({ gateway }) => {
      const answer = await gateway.app.inject({ url: '/v1/events?event_type=hold' });
      expect(answer.statusCode).to.equal(504);
      expect(answer.json<ProblemBody>().detail).to.equal('GET /v1/events did not finish within 0.1 s');
    });
  });
});
