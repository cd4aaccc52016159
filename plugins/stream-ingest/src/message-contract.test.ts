import { expect } from 'chai';
import fc from 'fast-check';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { DEAD_LETTER_HEADERS, type QueueMessage } from '@platform-host/contracts';
import { MemoryMetrics } from '@platform-host/adapter-metrics-memory';
import {
  arbitraryFromJsonSchema,
  collectDeadLetters,
  consumerContractFiles,
  expectDocumentedDeadLetters,
  messageArbitrary,
  moduleConfigForTest,
  publishGeneratedBatches,
  queueMessageForTest,
  startModuleForTest,
  waitFor,
  type GeneratedMessage,
  type JsonSchemaInput,
} from '@platform-host/test-kit';
import { StreamIngester } from './ingester.js';
import type { StreamIngestContext } from './main.js';
import { decodeMessage } from './record.js';
import { readSettings } from './settings.js';

// Consumer contract tests (seed 10.4) on the memory queue: messages generated from the schema this
// module declares it consumes (./schemas/consumed-event.schema.json) and from the schema the
// producer of the events topic declares (the platform event), including the negative arm, are
// written or dead-lettered with a reason the manifest documents; the service never stops.

const {
  moduleDir: MODULE_DIR,
  readJson,
  platformEvent: PLATFORM_EVENT,
  documentedReasons: DOCUMENTED_REASONS,
} = consumerContractFiles(import.meta.url);
const CONSUMED = readJson('schemas/consumed-event.schema.json') as JsonSchemaInput;
// What api_gateway, the producer of the events topic, declares it publishes (its module.json `messages.produces`).
const GATEWAY_PUBLISHED = readJson('../api-gateway/schemas/published-event.schema.json') as JsonSchemaInput;

// ajv 8 (draft 2020-12) with ajv-formats: the validator of JSON Schema files, independent of this module's decoder.
// ajv-formats is CommonJS with its function as `default`.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
const acceptsDeclared = ajv.compile(CONSUMED);

const messages = fc.oneof(
  messageArbitrary(CONSUMED),
  messageArbitrary(PLATFORM_EVENT),
  messageArbitrary(GATEWAY_PUBLISHED),
);
const GATEWAY_RUNS = 1000;
const DECODER_RUNS = 3000;

/** Edges written out, run before the generated cases: NUL, lone surrogates, numbers JSON cannot hold exactly. */
const EDGE_BATCH: GeneratedMessage[] = [
  {
    kind: 'valid',
    value: '{"event_id":"nul\\u0000id","event_type":"t\\u0000","source":"\\u0000","payload":{"k\\u0000":"\\u0000"}}',
  },
  { kind: 'valid', value: '{"event_id":"\\ud800","event_type":"\\udfff x","payload":{"v":"\\ud83d"}}' },
  {
    kind: 'valid',
    value: '{"event_id":"big","event_type":"t","payload":{"value":1e400,"n":9007199254740993,"m":-1e-400}}',
  },
  { kind: 'valid', value: '{"event_id":"ts","event_type":"t","timestamp":253402300799999.9}' },
  { kind: 'valid', value: `{"event_id":"long","event_type":"${'é'.repeat(3000)}","payload":{}}` },
];
const QUEUE_RUNS = 25;

function parsed(message: GeneratedMessage): { ok: true; value: unknown } | { ok: false } {
  try {
    const text =
      typeof message.value === 'string'
        ? message.value
        : new TextDecoder('utf-8', { fatal: true }).decode(message.value);
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

function delivered(value: string | Uint8Array, offset: number): QueueMessage {
  return queueMessageForTest({
    id: `m-${offset}`,
    group: 'stream_ingest',
    partition: 0,
    offset: String(offset),
    value: typeof value === 'string' ? new TextEncoder().encode(value) : value,
  });
}

describe('stream_ingest message contract (property-based, from the declared schemas)', function () {
  this.timeout(120_000);

  it(`decodes every value its declared schema accepts and dead-letters the rest with a documented reason (${DECODER_RUNS} cases)`, () => {
    const outcomes = { written: 0, deadLettered: 0 };
    fc.assert(
      fc.property(messages, (message) => {
        const decoded = decodeMessage(delivered(message.value, 7), Date.UTC(2026, 0, 15));
        const json = parsed(message);
        if (json.ok && acceptsDeclared(json.value))
          expect(decoded.ok, `declared valid: ${String(message.value)}`).to.equal(true);
        if (!json.ok) expect(decoded.ok ? 'ok' : decoded.reason).to.equal('malformed_json');
        if (decoded.ok) outcomes.written += 1;
        else {
          outcomes.deadLettered += 1;
          expect(DOCUMENTED_REASONS).to.include(decoded.reason);
        }
      }),
      { numRuns: DECODER_RUNS },
    );
    console.log(
      `      stream_ingest decoder: ${DECODER_RUNS} cases, ${outcomes.written} written, ${outcomes.deadLettered} dead-lettered`,
    );
  });

  it(`writes every event api_gateway declares it publishes, none dead-lettered (${GATEWAY_RUNS} generated events)`, () => {
    fc.assert(
      fc.property(arbitraryFromJsonSchema(GATEWAY_PUBLISHED), (event) => {
        const decoded = decodeMessage(delivered(JSON.stringify(event), 3), Date.UTC(2026, 0, 15));
        expect(decoded.ok, `${JSON.stringify(event)}: ${decoded.ok ? '' : decoded.error}`).to.equal(true);
      }),
      { numRuns: GATEWAY_RUNS },
    );
  });

  it('promises exactly the edges the decoder keeps: years up to 9989 at any offset, no leap second', () => {
    const event = (timestamp: string): Record<string, unknown> => ({ event_id: 'e', event_type: 't', timestamp });
    for (const timestamp of ['9989-12-31T23:59:59.999-23:59', '9900-06-01T00:00:00Z', '1971-01-01T00:00:00+23:59']) {
      expect(acceptsDeclared(event(timestamp)), timestamp).to.equal(true);
      expect(decodeMessage(delivered(JSON.stringify(event(timestamp)), 1), 0).ok, timestamp).to.equal(true);
    }
    const leapSecond = event('2016-12-31T23:59:60Z');
    expect(decodeMessage(delivered(JSON.stringify(leapSecond), 1), 0).ok).to.equal(false);
    expect(acceptsDeclared(leapSecond)).to.equal(false);
  });

  it('refuses a timestamp whose day does not exist instead of moving it to another day (2026-02-30 is not March 2)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1970, max: 2100 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 31 }),
        (year, month, day) => {
          const text = `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}T10:00:00Z`;
          const exists = new Date(Date.UTC(year, month - 1, day)).getUTCDate() === day;
          const decoded = decodeMessage(
            delivered(JSON.stringify({ event_id: 'e', event_type: 't', timestamp: text }), 1),
            Date.UTC(2026, 0, 15),
          );
          expect(decoded.ok, text).to.equal(exists);
          if (decoded.ok) expect(new Date(decoded.record.timestamp).toISOString()).to.equal(text.replace('Z', '.000Z'));
        },
      ),
      { numRuns: 500 },
    );
  });

  it(`on the memory queue: every generated message is written once or dead-lettered with a documented reason, and the service keeps running (${QUEUE_RUNS} runs)`, async () => {
    const topic = `contract-events-${process.pid}`;
    await withIngester(topic, ['--output-format', 'parquet'], async (running, ctx, deadLetters) => {
      let expectedWritten = 0;
      const handled = (): number =>
        running.totals.records + running.totals.deadLettered.malformed_json + running.totals.deadLettered.invalid_event;
      const published = await publishGeneratedBatches(ctx.mq, topic, messages, {
        runs: QUEUE_RUNS,
        examples: EDGE_BATCH.map((message) => [message]),
        settle: async (batch, publishedSoFar) => {
          expectedWritten += batch.filter((message) => decodeMessage(delivered(message.value, 0), 0).ok).length;
          await waitFor(
            () => handled() === publishedSoFar,
            20_000,
            `${publishedSoFar} messages written or dead-lettered`,
          );
        },
      });
      expect(running.totals.records).to.equal(expectedWritten);
      const row = await ctx.db.fetchOne<{ n: number | string }>(
        'SELECT count(*) AS n FROM ingested_events WHERE topic = $1',
        [topic],
      );
      expect(Number(row?.n)).to.equal(expectedWritten);
      await waitFor(() => deadLetters.length === published - expectedWritten, 20_000, 'every dead letter on the topic');
      expectDocumentedDeadLetters(deadLetters, topic, DOCUMENTED_REASONS);
      console.log(
        `      stream_ingest on the memory queue: ${QUEUE_RUNS} runs, ${published} messages, ${expectedWritten} written, ${deadLetters.length} dead-lettered`,
      );
    });
  });

  it('on the memory queue: writes an event api_gateway published for a client that sent no event_id (it assigned one), and dead-letters the same event without event_id from another producer (invalid_event)', async () => {
    const topic = `contract-gateway-${process.pid}`;
    await withIngester(topic, [], async (running, ctx, deadLetters) => {
      // As POST /v1/events publishes a client's event without event_id: a UUID v7 put first.
      const sent = { event_type: 'click', source: 'web', timestamp: '2026-01-15T10:00:00Z', payload: { n: 1 } };
      const gatewayId = '019dc5a8-6a3e-7c2d-9f41-3b5e8d2a7c10';
      await ctx.mq.publishBatch(topic, [
        { key: 'web', value: JSON.stringify({ event_id: gatewayId, ...sent }) },
        { key: 'web', value: JSON.stringify(sent) },
      ]);
      await waitFor(
        () => running.totals.records + running.totals.deadLettered.invalid_event === 2,
        20_000,
        'both messages written or dead-lettered',
      );
      expect(running.totals.records).to.equal(1);
      const rows = await ctx.db.fetchAll<{ event_id: string }>(
        'SELECT event_id FROM ingested_events WHERE topic = $1',
        [topic],
      );
      expect(rows.map((row) => row.event_id)).to.deep.equal([gatewayId]);
      await waitFor(() => deadLetters.length === 1, 20_000, 'the dead letter of the event without event_id');
      expect(deadLetters[0]?.headers[DEAD_LETTER_HEADERS.reason]).to.equal('invalid_event');
      expect(deadLetters[0]?.headers[DEAD_LETTER_HEADERS.error]).to.equal('event_id must be a non-empty string');
      expect(Buffer.from(deadLetters[0]?.value ?? new Uint8Array()).toString()).to.equal(JSON.stringify(sent));
    });
  });
});

/**
 * Runs `body` with a started StreamIngester on `topic` of a module on the memory queue (flushing
 * every 50 ms, plus `args`), and the dead letters of `topic` collected; stops everything after.
 */
async function withIngester(
  topic: string,
  args: readonly string[],
  body: (running: StreamIngester, ctx: StreamIngestContext, deadLetters: readonly QueueMessage[]) => Promise<void>,
): Promise<void> {
  const module = await startModuleForTest({ moduleDir: MODULE_DIR, args: ['--topic', topic] });
  const ctx = module.ctx as unknown as StreamIngestContext;
  let ingester: StreamIngester | undefined;
  const dlq = await collectDeadLetters(ctx.mq, topic);
  try {
    await ctx.mq.createTopic(topic, { partitions: 1 });
    ingester = new StreamIngester({
      db: ctx.db,
      fs: ctx.fs,
      mq: ctx.mq,
      log: ctx.log,
      metrics: new MemoryMetrics(),
      lifecycle: ctx.lifecycle,
      settings: readSettings(moduleConfigForTest(MODULE_DIR, ['--topic', topic, '--flush-interval', '50ms', ...args])),
    });
    await ingester.start();
    await body(ingester, ctx, dlq.letters);
  } finally {
    await ingester?.stop();
    await dlq.close();
    await module.close();
  }
}
