import { expect } from 'chai';
import fc from 'fast-check';
import { platformEventSchema } from '@platform-host/contracts/message-schemas';
import { MemoryMetrics } from '@platform-host/adapter-metrics-memory';
import {
  arbitraryFromJsonSchema,
  collectDeadLetters,
  consumerContractFiles,
  expectDocumentedDeadLetters,
  messageArbitrary,
  moduleConfigForTest,
  publishGeneratedBatches,
  startModuleForTest,
  waitFor,
  type GeneratedMessage,
} from '@platform-host/test-kit';
import { MetricAggregator } from './aggregator.js';
import { decodeEvent } from './event.js';
import type { MetricAggregatorContext } from './main.js';
import { readSettings } from './settings.js';

// Consumer contract tests (seed 10.4) on the memory queue: messages generated from the schema this
// module declares it consumes (the platform event, schemas/platform-event.schema.json), the
// negative arm included, are aggregated or dead-lettered with a reason the manifest documents.

const {
  moduleDir: MODULE_DIR,
  platformEvent: PLATFORM_EVENT,
  documentedReasons: DOCUMENTED_REASONS,
} = consumerContractFiles(import.meta.url);
const GROUP_BY = ['--group-by', 'event_type,source,payload.region'];
const T0 = Date.parse('2026-01-15T10:00:00Z');
const MINUTE = 60_000;
const DECODER_RUNS = 3000;
const QUEUE_RUNS = 25;

/** Platform events from the schema, half of them re-timed into the hour before the fake wall clock so they are aggregated. */
const messages: fc.Arbitrary<GeneratedMessage> = fc.oneof(
  messageArbitrary(PLATFORM_EVENT),
  fc
    .tuple(
      arbitraryFromJsonSchema(PLATFORM_EVENT) as fc.Arbitrary<Record<string, unknown>>,
      fc.integer({ min: 0, max: 59 * MINUTE }),
    )
    .map(([event, offset]): GeneratedMessage => {
      return { kind: 'valid', value: JSON.stringify({ ...event, timestamp: new Date(T0 + offset).toISOString() }) };
    }),
);

function textOf(value: string | Uint8Array): string | undefined {
  try {
    return typeof value === 'string' ? value : new TextDecoder('utf-8', { fatal: true }).decode(value);
  } catch {
    return undefined;
  }
}

describe('metric_aggregator message contract (property-based, from the platform event schema)', function () {
  this.timeout(120_000);
  const settings = readSettings(moduleConfigForTest(MODULE_DIR, GROUP_BY));

  it(`decodes every platform event, and dead-letters anything else with a documented reason (${DECODER_RUNS} cases)`, () => {
    const outcomes = { decoded: 0, deadLettered: 0 };
    fc.assert(
      fc.property(messages, (message) => {
        const bytes = typeof message.value === 'string' ? new TextEncoder().encode(message.value) : message.value;
        const decoded = decodeEvent(bytes, settings.dimensions, settings.valuePath);
        const text = textOf(message.value);
        let json: unknown;
        try {
          json = text === undefined ? undefined : JSON.parse(text);
        } catch {
          json = undefined;
        }
        if (json === undefined) expect(decoded.ok ? 'ok' : decoded.reason).to.equal('malformed_json');
        if (platformEventSchema.safeParse(json).success && !decoded.ok) {
          // The one documented refusal of a platform event: a dimension the table cannot store.
          expect(decoded.error, String(message.value)).to.match(
            /NUL character|dimensions of this event take more than/,
          );
        }
        if (decoded.ok) outcomes.decoded += 1;
        else {
          outcomes.deadLettered += 1;
          expect(DOCUMENTED_REASONS).to.include(decoded.reason);
        }
      }),
      { numRuns: DECODER_RUNS },
    );
    console.log(
      `      metric_aggregator decoder: ${DECODER_RUNS} cases, ${outcomes.decoded} decoded, ${outcomes.deadLettered} dead-lettered`,
    );
  });

  it(`on the memory queue: every generated message is counted once in its windows or dead-lettered with a documented reason (${QUEUE_RUNS} runs)`, async () => {
    const topic = `contract-events-${process.pid}`;
    const module = await startModuleForTest({ moduleDir: MODULE_DIR, args: ['--topic', topic] });
    const ctx = module.ctx as unknown as MetricAggregatorContext;
    const dlq = await collectDeadLetters(ctx.mq, topic);
    const deadLetters = dlq.letters;
    const now = T0 + 60 * MINUTE;
    const aggregator = new MetricAggregator({
      db: ctx.db,
      mq: ctx.mq,
      log: ctx.log,
      metrics: new MemoryMetrics(),
      lifecycle: ctx.lifecycle,
      settings: readSettings(
        moduleConfigForTest(MODULE_DIR, [
          '--topic',
          topic,
          '--windows',
          '1m',
          '--allowed-lateness',
          '2h',
          '--flush-interval',
          '1h',
          ...GROUP_BY,
        ]),
      ),
      now: () => now,
      monotonicNow: () => 0,
      idleAfterMs: 10_000,
    });
    try {
      await aggregator.start();
      const deadLettered = (): number => Object.values(aggregator.totals.deadLettered).reduce((sum, n) => sum + n, 0);
      const published = await publishGeneratedBatches(ctx.mq, topic, messages, {
        runs: QUEUE_RUNS,
        settle: async (_batch, publishedSoFar) => {
          await waitFor(
            () => aggregator.pendingEvents + deadLettered() + aggregator.totals.applied >= publishedSoFar,
            20_000,
            `${publishedSoFar} messages aggregated or dead-lettered`,
          );
          await aggregator.flush();
        },
      });
      await aggregator.flush();
      expect(aggregator.totals.applied + deadLettered()).to.equal(published);
      const row = await ctx.db.fetchOne<{ n: number | string | null }>(
        'SELECT sum(event_count)::int AS n FROM metric_rollups WHERE window_seconds = 60',
      );
      expect(Number(row?.n ?? 0)).to.equal(aggregator.totals.applied);
      await waitFor(() => deadLetters.length === deadLettered(), 20_000, 'every dead letter on the topic');
      expectDocumentedDeadLetters(deadLetters, topic, DOCUMENTED_REASONS);
      console.log(
        `      metric_aggregator on the memory queue: ${QUEUE_RUNS} runs, ${published} messages, ${aggregator.totals.applied} aggregated, ${deadLetters.length} dead-lettered (${JSON.stringify(aggregator.totals.deadLettered)})`,
      );
    } finally {
      await aggregator.stop();
      await dlq.close();
      await module.close();
    }
  });
});
