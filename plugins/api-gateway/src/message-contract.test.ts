import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
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
// validates against the schema module.json declares for the topic (the platform event), and every
// platform event is accepted. The inputs are the request bodies of app.test.ts, events generated
// from the schema, and near misses of it (timestamps that are almost RFC 3339, extra fields).

const MODULE_DIR = fileURLToPath(new URL('..', import.meta.url));
const readJson = (path: string): unknown =>
  JSON.parse(readFileSync(new URL(path, new URL('../', import.meta.url)), 'utf8'));
const PLATFORM_EVENT = readJson('../../schemas/platform-event.schema.json') as JsonSchemaInput;
const manifest = readJson('module.json') as { messages: { produces: Array<{ topic: unknown; schema: string }> } };
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

const requestEvents = fc.oneof(
  { weight: 3, arbitrary: arbitraryFromJsonSchema(PLATFORM_EVENT) as fc.Arbitrary<Record<string, unknown>> },
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

  const post = async (body: unknown): Promise<number> =>
    (
      await gateway.app.inject({
        method: 'POST',
        url: '/v1/events',
        payload: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      })
    ).statusCode;

  const publishedEvents = (from: number): unknown[] =>
    received.slice(from).map((message) => JSON.parse(Buffer.from(message.value).toString('utf8')) as unknown);

  it('declares the platform event for the topic it publishes to', () => {
    expect(manifest.messages.produces).to.deep.equal([
      {
        topic: { arg: 'topic' },
        schema: 'platform-event',
        description:
          'Every event POST /v1/events accepted, one per message (JSON), keyed by source, published in one batch per request.',
      },
    ]);
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
    for (const event of publishedEvents(from)) {
      const result = platformEventSchema.safeParse(event);
      expect(result.success, `${JSON.stringify(event)}: ${JSON.stringify(result.error?.issues)}`).to.equal(true);
    }
  });

  it(`publishes only platform events, unchanged, and accepts every platform event (${RUNS} generated requests)`, async () => {
    const counts = { accepted: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(requestEvents, { minLength: 1, maxLength: 5 }), async (events) => {
        const from = received.length;
        const status = await post(events);
        const allValid = events.every((event) => platformEventSchema.safeParse(event).success);
        if (allValid) expect(status, `a valid batch was refused: ${JSON.stringify(events)}`).to.equal(202);
        if (status !== 202) {
          expect(status).to.equal(400);
          counts.refused += 1;
          return;
        }
        counts.accepted += 1;
        await waitFor(() => received.length === from + events.length, 10_000, `${events.length} published events`);
        const published = publishedEvents(from);
        // Events with different sources (keys) may sit in different partitions: compared as a set.
        const sorted = (list: readonly unknown[]): string[] => list.map((event) => JSON.stringify(event)).sort();
        expect(sorted(published)).to.deep.equal(sorted(events));
        for (const event of published) {
          const result = platformEventSchema.safeParse(event);
          expect(
            result.success,
            `published ${JSON.stringify(event)}: ${JSON.stringify(result.error?.issues)}`,
          ).to.equal(true);
        }
      }),
      { numRuns: RUNS },
    );
    console.log(
      `      api_gateway producer: ${RUNS} generated requests, ${counts.accepted} published, ${counts.refused} refused (400)`,
    );
  });
});
