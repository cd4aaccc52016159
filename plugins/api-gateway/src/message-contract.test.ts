import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { expect } from 'chai';
import fc from 'fast-check';
import type { QueueMessage } from '@platform-host/contracts';
import { platformEventSchema } from '@platform-host/contracts/message-schemas';
import {
  arbitraryFromJsonSchema,
  messageArbitrary,
  startModuleForTest,
  waitFor,
  type JsonSchemaInput,
  type StartedModule,
} from '@platform-host/test-kit';
import { buildGateway, type Gateway } from './app.js';
import { declareGatewayMetrics } from './gateway-metrics.js';
import type { GatewayContext } from './main.js';
import { readSettings } from './settings.js';

// Producer contract test (seed 10.4) on the memory queue: every message POST /v1/events publishes
// validates against the schema module.json declares for the topic (schemas/published-event.schema.json:
// the platform event with event_id always present, in the years the lake files) and against what
// stream_ingest, a consumer of the topic, declares it accepts; every platform event in those years
// is accepted. The inputs are the request bodies of app.test.ts, events generated from the schema,
// and near misses of it (timestamps that are almost RFC 3339, extra fields).

const MODULE_DIR = fileURLToPath(new URL('..', import.meta.url));
const readJson = (path: string): unknown =>
  JSON.parse(readFileSync(new URL(path, new URL('../', import.meta.url)), 'utf8'));
const PLATFORM_EVENT = readJson('../../schemas/platform-event.schema.json') as JsonSchemaInput;
const PUBLISHED_EVENT = readJson('schemas/published-event.schema.json') as JsonSchemaInput & {
  properties: { timestamp: { pattern: string } };
};
// What stream_ingest promises to write to the lake (its module.json `messages.consumes`).
const STREAM_INGEST_CONSUMED = readJson('../stream-ingest/schemas/consumed-event.schema.json') as JsonSchemaInput;
const manifest = readJson('module.json') as { messages: { produces: Array<{ topic: unknown; schema: string }> } };

// ajv 8 (draft 2020-12) with ajv-formats: the validator of JSON Schema files, independent of the gateway's own.
// ajv-formats is CommonJS with its function as `default`.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const satisfiesDeclared = ajv.compile(PUBLISHED_EVENT);
const satisfiesStreamIngest = ajv.compile(STREAM_INGEST_CONSUMED);
const LAKE_TIMESTAMP = new RegExp(PUBLISHED_EVENT.properties.timestamp.pattern, 'u');
/** Whether the gateway must accept an event: a platform event whose timestamp the lake can file. */
const acceptable = (event: unknown): boolean => {
  const parsed = platformEventSchema.safeParse(event);
  return parsed.success && LAKE_TIMESTAMP.test(parsed.data.timestamp);
};
const TOPIC = `contract-events-${process.pid}`;
const RUNS = 150;

/** Timestamps a client may send that are close to RFC 3339 but not the platform event's. */
const nearMissTimestamp = fc.constantFrom(
  '2026-01-15t10:00:00z',
  '2026-01-15 10:00:00Z',
  '2026-01-15T10:00Z',
  '2026-01-15T23:59:60Z',
  '2026-01-15T10:00:00+0200',
  '2026-02-30T10:00:00Z',
  '2026-01-15T10:00:00',
  '2026-01-15',
);

/** Events as the gateway would publish them, and the same without their event_id (the gateway assigns one). */
const publishable = arbitraryFromJsonSchema(PUBLISHED_EVENT) as fc.Arbitrary<Record<string, unknown>>;
const withoutEventId = publishable.map(({ event_id: _, ...event }) => event);

const requestEvents: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  { weight: 3, arbitrary: withoutEventId },
  { weight: 1, arbitrary: publishable },
  { weight: 2, arbitrary: arbitraryFromJsonSchema(PLATFORM_EVENT) as fc.Arbitrary<Record<string, unknown>> },
  {
    weight: 1,
    arbitrary: fc
      .tuple(arbitraryFromJsonSchema(PLATFORM_EVENT) as fc.Arbitrary<Record<string, unknown>>, nearMissTimestamp)
      .map(([event, timestamp]) => ({ ...event, timestamp })),
  },
  {
    weight: 1,
    arbitrary: messageArbitrary(PLATFORM_EVENT, 0)
      .map((message) => {
        try {
          return JSON.parse(message.value as string) as unknown;
        } catch {
          return undefined;
        }
      })
      .filter((value): value is Record<string, unknown> => typeof value === 'object' && value !== null),
  },
);

describe('api_gateway producer contract: POST /v1/events publishes platform events (memory queue)', function () {
  this.timeout(120_000);
  let module: StartedModule;
  let gateway: Gateway;
  let received: QueueMessage[];
  let close: () => Promise<void>;

  before(async () => {
    module = await startModuleForTest({
      moduleDir: MODULE_DIR,
      args: ['--topic', TOPIC],
      flags: { db: 'memory', cache: 'memory', mq: 'memory', metrics: 'memory' },
    });
    const ctx = module.ctx as unknown as GatewayContext;
    gateway = await buildGateway({
      db: ctx.db,
      cache: ctx.cache,
      mq: ctx.mq,
      log: ctx.log,
      metrics: declareGatewayMetrics(ctx.metrics),
      settings: readSettings(ctx.config),
    });
    received = [];
    const subscription = await ctx.mq.subscribe(
      TOPIC,
      async (batch) => {
        received.push(...batch);
        await ctx.mq.ack(batch);
      },
      { group: 'contract-reader', startFrom: 'earliest' },
    );
    close = async () => {
      await subscription.close();
      await gateway.app.close();
      await module.close();
    };
  });
  after(async () => close());

  const postForIds = async (body: unknown): Promise<{ status: number; eventIds: readonly string[] }> => {
    const answer = await gateway.app.inject({
      method: 'POST',
      url: '/v1/events',
      payload: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });
    const eventIds = answer.statusCode === 202 ? answer.json<{ event_ids: string[] }>().event_ids : [];
    return { status: answer.statusCode, eventIds };
  };
  const post = async (body: unknown): Promise<number> => (await postForIds(body)).status;

  /** Every way a published event is checked: the platform event, the declared schema, stream_ingest's. */
  const expectPublishable = (event: unknown): void => {
    const result = platformEventSchema.safeParse(event);
    expect(result.success, `published ${JSON.stringify(event)}: ${JSON.stringify(result.error?.issues)}`).to.equal(
      true,
    );
    expect(satisfiesDeclared(event), `declared schema: ${JSON.stringify(satisfiesDeclared.errors)}`).to.equal(true);
    expect(
      satisfiesStreamIngest(event),
      `stream_ingest's consumed schema: ${JSON.stringify(satisfiesStreamIngest.errors)}`,
    ).to.equal(true);
  };

  const publishedEvents = (from: number): unknown[] =>
    received.slice(from).map((message) => JSON.parse(Buffer.from(message.value).toString('utf8')) as unknown);

  it('declares its own published-event schema for the topic it publishes to', () => {
    expect(manifest.messages.produces).to.deep.equal([
      {
        topic: { arg: 'topic' },
        schema: './schemas/published-event.schema.json',
        description:
          'Every event POST /v1/events accepted, one per message (JSON), keyed by source, published in one batch per request: a platform event whose event_id is always present (the gateway assigns one when the client sent none).',
      },
    ]);
  });

  it('declares the platform event with event_id required and the timestamp pattern narrowed to the lake years, nothing else changed', () => {
    type SchemaObject = Record<string, unknown> & {
      properties: Record<string, Record<string, unknown>>;
      required: string[];
    };
    // Annotations (ids, titles, descriptions) may differ; every other keyword is the platform event's.
    const withoutAnnotations = (schema: Record<string, unknown>): Record<string, unknown> =>
      Object.fromEntries(
        Object.entries(schema).filter(
          ([key]) => !['$id', 'title', 'description', 'x-platform-schema-version'].includes(key),
        ),
      );
    const { properties: platformProperties, required, ...platformRest } = PLATFORM_EVENT as unknown as SchemaObject;
    const { properties, required: publishedRequired, ...publishedRest } = PUBLISHED_EVENT as unknown as SchemaObject;
    expect(publishedRequired).to.have.members(['event_id', ...required]);
    expect(withoutAnnotations(publishedRest)).to.deep.equal(withoutAnnotations(platformRest));
    expect(Object.keys(properties)).to.deep.equal(Object.keys(platformProperties));
    for (const [name, schema] of Object.entries(properties)) {
      const platform = withoutAnnotations(platformProperties[name] ?? {});
      if (name === 'timestamp')
        expect(withoutAnnotations({ ...schema, pattern: platform.pattern })).to.deep.equal(platform);
      else expect(withoutAnnotations(schema), name).to.deep.equal(platform);
    }
  });

  it("narrows the platform event's timestamp pattern to exactly the years 1971 to 9989 (every year, every edge day)", () => {
    const platform = new RegExp(
      (PLATFORM_EVENT as { properties: { timestamp: { pattern: string } } }).properties.timestamp.pattern,
      'u',
    );
    let compared = 0;
    for (let year = 0; year <= 9999; year += 1) {
      for (const day of ['01-01', '02-28', '02-29', '02-30', '04-30', '04-31', '12-31']) {
        const timestamp = `${String(year).padStart(4, '0')}-${day}T00:00:00Z`;
        const expected = platform.test(timestamp) && year >= 1971 && year <= 9989;
        if (LAKE_TIMESTAMP.test(timestamp) !== expected) expect.fail(`${timestamp}: expected ${expected}`);
        compared += 1;
      }
    }
    for (const time of ['T23:59:59.5+23:59', 'T23:59:60Z', 'T24:00:00Z', 't10:00:00z', 'T10:00:00+0100'])
      expect(LAKE_TIMESTAMP.test(`2026-01-15${time}`), time).to.equal(platform.test(`2026-01-15${time}`));
    expect(compared).to.equal(70_000);
  });

  it('publishes the events of its own tests as valid platform events', async () => {
    const from = received.length;
    const bodies = [
      [0, 1, 2].map((n) => ({
        event_type: 'click',
        source: 'web',
        timestamp: `2026-01-15T10:0${n}:00Z`,
        payload: { n },
      })),
      { event_id: 'e-1', event_type: 'click', source: 'web', timestamp: '2026-01-15T10:00:00Z', payload: { n: 0 } },
      { event_type: 'purchase', source: 'shop', timestamp: '2026-01-15T12:00:00.250+02:00', payload: { value: 1.5 } },
    ];
    for (const body of bodies) expect(await post(body)).to.equal(202);
    await waitFor(() => received.length === from + 5, 10_000, 'five published events');
    for (const event of publishedEvents(from)) expectPublishable(event);
  });

  it(`publishes only events stream_ingest accepts, each with an event_id, and accepts every platform event the lake can file (${RUNS} generated requests)`, async () => {
    const counts = { accepted: 0, refused: 0, idsAssigned: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(requestEvents, { minLength: 1, maxLength: 5 }), async (events) => {
        const from = received.length;
        const { status, eventIds } = await postForIds(events);
        if (events.every(acceptable))
          expect(status, `a valid batch was refused: ${JSON.stringify(events)}`).to.equal(202);
        if (status !== 202) {
          expect(status).to.equal(400);
          counts.refused += 1;
          return;
        }
        counts.accepted += 1;
        await waitFor(() => received.length === from + events.length, 10_000, `${events.length} published events`);
        const published = publishedEvents(from);
        // An event keeps its own event_id (its JSON unchanged); one without gets the id the answer lists.
        expect(eventIds).to.have.length(events.length);
        const expected = events.map((event, index) =>
          typeof event.event_id === 'string' ? event : { event_id: eventIds[index], ...event },
        );
        counts.idsAssigned += events.filter((event) => event.event_id === undefined).length;
        for (const [index, event] of events.entries())
          if (typeof event.event_id === 'string') expect(eventIds[index]).to.equal(event.event_id);
        // Events with different sources (keys) may sit in different partitions: compared as a set.
        const sorted = (list: readonly unknown[]): string[] => list.map((event) => JSON.stringify(event)).sort();
        expect(sorted(published)).to.deep.equal(sorted(expected));
        for (const event of published) expectPublishable(event);
      }),
      { numRuns: RUNS },
    );
    expect(counts.idsAssigned, 'generated requests without an event_id').to.be.greaterThan(0);
    console.log(
      `      api_gateway producer: ${RUNS} generated requests, ${counts.accepted} published (${counts.idsAssigned} ids assigned), ${counts.refused} refused (400)`,
    );
  });
});
