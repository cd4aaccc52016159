import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { DEAD_LETTER_HEADERS, type MessageQueue, type QueueMessage } from '@platform-host/contracts';
import { MemoryMetrics } from '@platform-host/adapter-metrics-memory';
import {
  interceptDeliveries,
  moduleConfigForTest,
  startModuleForTest,
  waitFor,
  type StartedModule,
} from '@platform-host/test-kit';
import { StreamIngester } from './ingester.js';
import { LakeStore } from './lake-store.js';
import type { StreamIngestContext } from './main.js';
import { readSettings } from './settings.js';

const MODULE_DIR = fileURLToPath(new URL('..', import.meta.url));
let counter = 0;

interface Harness {
  readonly module: StartedModule;
  readonly ctx: StreamIngestContext;
  readonly topic: string;
  readonly deadLetters: QueueMessage[];
  ingester: StreamIngester;
  close(): Promise<void>;
}

async function harness(
  args: readonly string[],
  beforeCommit?: (partition: number) => Promise<void>,
  partitions = 2,
  wrapQueue: (mq: MessageQueue) => MessageQueue = (mq) => mq,
  clock?: Pick<FakeClock, 'now' | 'setTimer'>,
): Promise<Harness> {
  counter += 1;
  const topic = `events-${counter}`;
  const module = await startModuleForTest({ moduleDir: MODULE_DIR, args: ['--topic', topic] });
  const ctx = module.ctx as unknown as StreamIngestContext;
  await ctx.mq.createTopic(topic, { partitions });
  const deadLetters: QueueMessage[] = [];
  const dlq = await ctx.mq.subscribe(
    `${topic}.dead-letter`,
    async (messages) => {
      deadLetters.push(...messages);
      await ctx.mq.ack(messages);
    },
    { group: 'test-reader' },
  );
  const settings = readSettings(moduleConfigForTest(MODULE_DIR, ['--topic', topic, ...args]));
  const ingester = new StreamIngester({
    db: ctx.db,
    fs: ctx.fs,
    mq: wrapQueue(ctx.mq),
    log: ctx.log,
    metrics: new MemoryMetrics(),
    lifecycle: ctx.lifecycle,
    settings,
    beforeCommit,
    now: clock?.now,
    setTimer: clock?.setTimer,
  });
  await ingester.start();
  const h: Harness = {
    module,
    ctx,
    topic,
    deadLetters,
    ingester,
    async close() {
      await h.ingester.stop();
      await dlq.close();
      await module.close();
    },
  };
  return h;
}

/** A wall clock and its timers, moved by hand: `advance` runs the timers that fall due, in order. */
interface FakeClock {
  now(): number;
  setTimer(callback: () => void, delayMs: number): () => void;
  advance(ms: number): void;
}

function fakeClock(): FakeClock {
  let now = Date.now();
  let nextId = 0;
  const timers = new Map<number, { readonly due: number; readonly callback: () => void }>();
  return {
    now: () => now,
    setTimer(callback, delayMs) {
      const id = nextId++;
      timers.set(id, { due: now + delayMs, callback });
      return () => timers.delete(id);
    },
    advance(ms) {
      const until = now + ms;
      for (;;) {
        let first: [number, { readonly due: number; readonly callback: () => void }] | undefined;
        for (const entry of timers)
          if (entry[1].due <= until && (first === undefined || entry[1].due < first[1].due)) first = entry;
        if (first === undefined) break;
        timers.delete(first[0]);
        now = Math.max(now, first[1].due);
        first[1].callback();
      }
      now = until;
    },
  };
}

/** Resolves after the microtasks queued now have run (a flush started by a timer has staged its files by then). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** `mq` whose subscriptions add the size of each batch to `handled` once its handler has resolved. */
function countingHandled(mq: MessageQueue, handled: { count: number }): MessageQueue {
  return interceptDeliveries(mq, async (messages, handler) => {
    await handler(messages);
    handled.count += messages.length;
  });
}

function events(count: number, day = '2026-01-15'): Array<Record<string, unknown>> {
  return Array.from({ length: count }, (_, i) => ({
    event_id: `e-${i}`,
    event_type: i % 2 === 0 ? 'click' : 'view',
    source: 'web',
    timestamp: `${day}T10:00:${String(i % 60).padStart(2, '0')}.000Z`,
    payload: { n: i, text: 'a "quoted", text\nwith a newline' },
  }));
}

async function publish(h: Harness, values: ReadonlyArray<unknown>): Promise<void> {
  await h.ctx.mq.publishBatch(
    h.topic,
    values.map((value, i) => ({ key: `k${i}`, value: typeof value === 'string' ? value : JSON.stringify(value) })),
  );
}

/** `mq` with its `deadLetter` replaced. */
function withDeadLetter(mq: MessageQueue, deadLetter: MessageQueue['deadLetter']): MessageQueue {
  return new Proxy(mq, {
    get(target, property) {
      if (property === 'deadLetter') return deadLetter;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** `mq` whose subscriptions report each delivered message to `delivered` before its handler runs. */
function observingDeliveries(mq: MessageQueue, delivered: (message: QueueMessage) => void): MessageQueue {
  return new Proxy(mq, {
    get(target, property) {
      if (property === 'subscribe') {
        const subscribe: MessageQueue['subscribe'] = (topic, handler, options) =>
          target.subscribe(
            topic,
            (messages) => {
              for (const message of messages) delivered(message);
              return handler(messages);
            },
            options,
          );
        return subscribe;
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function count(h: Harness, sql: string): Promise<number> {
  const row = await h.ctx.db.fetchOne<{ n: number | string }>(sql);
  return Number(row?.n ?? 0);
}

describe('stream_ingest on the memory queue, file system and PGlite', function () {
  this.timeout(60_000);
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('a dead letter that cannot be published holds the commit of what follows it: retried, never skipped', async () => {
    let refuse = true;
    let attempts = 0;
    h = await harness(['--batch-size', '100', '--flush-interval', '1h'], undefined, 1, (mq) =>
      withDeadLetter(mq, async (message, reason, error) => {
        attempts += 1;
        if (refuse) throw new Error('injected: the dead-letter topic refused the message');
        await mq.deadLetter(message, reason, error);
      }),
    );
    const [first, , third] = events(3);
    // Offset 0 valid, 1 invalid (no event_id), 2 valid.
    await publish(h, [first, { event_type: 'click', payload: {} }, third]);
    await waitFor(() => attempts >= 2, 10_000, 'the batch taken in and the dead letter retried');
    await h.ingester.flushAll();
    expect(await count(h, 'SELECT count(*) AS n FROM ingested_events'), 'only the record below it').to.equal(1);
    expect(h.deadLetters).to.have.length(0);
    refuse = false;
    await waitFor(() => h?.deadLetters.length === 1, 10_000, 'the dead letter published by a retry');
    await h.ingester.flushAll();
    expect(await count(h, 'SELECT count(*) AS n FROM ingested_events')).to.equal(2);
    expect(await count(h, 'SELECT max("offset") AS n FROM ingested_events')).to.equal(2);
    expect(h.ingester.totals.deadLettered.invalid_event).to.equal(1);
    expect(h.deadLetters[0]?.headers[DEAD_LETTER_HEADERS.originalOffset]).to.equal('1');
  });

  it('backpressure while commits fail retries the commit and never hands buffered records back to the queue', async () => {
    let failing = true;
    let failures = 0;
    let mostDeliveries = 0;
    h = await harness(
      ['--batch-size', '10', '--output-format', 'json', '--flush-interval', '1h'],
      async () => {
        if (!failing) return;
        // Slow enough that the next batch finds this commit running (the backpressure path).
        await new Promise((resolve) => setTimeout(resolve, 50));
        failures += 1;
        throw new Error('injected: the database is down');
      },
      1,
      (mq) => observingDeliveries(mq, (message) => (mostDeliveries = Math.max(mostDeliveries, message.deliveryCount))),
    );
    await publish(h, events(40));
    // A handler that threw would have had its batch redelivered 50 ms later (memory queue backoff).
    await waitFor(() => failures >= 4, 20_000, 'four failed commits');
    expect(mostDeliveries, 'no message delivered twice while commits fail').to.equal(1);
    expect(h.ingester.totals.records).to.equal(0);
    failing = false;
    const harnessRef = h;
    await waitFor(
      async () => {
        await harnessRef.ingester.flushAll();
        return harnessRef.ingester.totals.records === 40;
      },
      20_000,
      'all 40 records committed',
    );
    expect(await count(h, 'SELECT count(DISTINCT "offset") AS n FROM ingested_events')).to.equal(40);
    expect(h.ingester.totals.duplicates).to.equal(0);
    expect(mostDeliveries, 'each message delivered once').to.equal(1);
    expect(h.deadLetters).to.have.length(0);
  });

  it('writes every valid event once in the fixed layout, dead-letters invalid ones, batch by --batch-size', async () => {
    h = await harness(['--batch-size', '50', '--output-format', 'json', '--flush-interval', '1h']);
    const valid = events(100);
    await publish(h, [
      ...valid,
      'not json',
      { event_type: 'x' },
      { event_id: 'z', event_type: 'x', timestamp: 'soon' },
    ]);
    const harnessRef = h;
    await waitFor(() => harnessRef.ingester.totals.deadLettered.invalid_event === 2, 10_000, 'dead letters');
    await h.ingester.flushAll();
    expect(await count(h, 'SELECT count(*) AS n FROM ingested_events')).to.equal(100);
    expect(await count(h, 'SELECT count(DISTINCT (partition, "offset")) AS n FROM ingested_events')).to.equal(100);
    const files = await h.ctx.fs.list(`data-lake/${h.topic}`);
    expect(files.length).to.be.greaterThan(0);
    for (const file of files) {
      expect(file).to.match(new RegExp(`^data-lake/${h.topic}/2026-01-15/${h.topic}-p[01]-\\d{20}\\.jsonl$`));
    }
    const lines = (await Promise.all(files.map(async (file) => new TextDecoder().decode(await h!.ctx.fs.read(file)))))
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { event_id: string; _offset: number; _partition: number; payload: unknown });
    expect(lines.map((line) => line.event_id).sort()).to.deep.equal(valid.map((e) => String(e.event_id)).sort());
    expect(lines[0]?.payload).to.have.property('text', 'a "quoted", text\nwith a newline');
    const rows = await h.ctx.db.fetchAll<{ path: string; record_count: number; format: string }>(
      'SELECT path, record_count, format FROM lake_files ORDER BY path',
    );
    expect(rows.map((row) => row.path)).to.deep.equal(files);
    expect(rows.every((row) => row.format === 'json')).to.equal(true);
    expect(await h.ctx.fs.list('data-lake/_staging')).to.deep.equal([]);
    await waitFor(() => harnessRef.deadLetters.length === 3, 10_000, 'three dead letters');
    expect(h.deadLetters.map((m) => m.headers[DEAD_LETTER_HEADERS.reason]).sort()).to.deep.equal([
      'invalid_event',
      'invalid_event',
      'malformed_json',
    ]);
  });

  it('closes a file by the wall clock (--flush-interval) when no new message arrives', async () => {
    h = await harness(['--batch-size', '1000', '--output-format', 'csv', '--flush-interval', '200ms'], undefined, 1);
    await publish(h, events(3));
    const harnessRef = h;
    await waitFor(() => harnessRef.ingester.totals.records === 3, 10_000, 'the interval flush');
    const files = await h.ctx.fs.list(`data-lake/${h.topic}`);
    expect(files).to.deep.equal([`data-lake/${h.topic}/2026-01-15/${h.topic}-p0-${'0'.padStart(20, '0')}.csv`]);
    const csv = new TextDecoder().decode(await h.ctx.fs.read(files[0] as string));
    expect(csv.split('\r\n')[0]).to.equal(
      'event_id,event_type,source,timestamp,payload,_topic,_partition,_offset,_ingested_at',
    );
    expect(csv).to.include('"{""n"":0,""text"":""a \\""quoted\\"", text\\nwith a newline""}"');
  });

  it('commits an open file once --flush-interval has passed since it opened: not before, not a timer tick later', async () => {
    const clock = fakeClock();
    const handled = { count: 0 };
    const commitsAt: number[] = [];
    h = await harness(
      ['--batch-size', '1000', '--output-format', 'json', '--flush-interval', '2s'],
      async () => {
        commitsAt.push(clock.now());
      },
      1,
      (mq) => countingHandled(mq, handled),
      clock,
    );
    // The file opens between two of any timer's ticks.
    clock.advance(300);
    const openedAt = clock.now();
    await publish(h, events(3));
    await waitFor(() => handled.count === 3, 10_000, 'the records taken in');
    clock.advance(1999);
    await nextTurn();
    expect(commitsAt, 'nothing committed before the interval').to.deep.equal([]);
    expect(await h.ctx.fs.list('data-lake/_staging'), 'nothing staged before the interval').to.deep.equal([]);
    clock.advance(1);
    const harnessRef = h;
    await waitFor(() => harnessRef.ingester.totals.records === 3, 10_000, 'the file committed at its interval');
    expect(commitsAt).to.deep.equal([openedAt + 2000]);
  });

  it('the flush interval counts from the open file: a file opened after a commit by size is not closed on the old one', async () => {
    const clock = fakeClock();
    const handled = { count: 0 };
    h = await harness(
      ['--batch-size', '3', '--output-format', 'json', '--flush-interval', '2s'],
      undefined,
      1,
      (mq) => countingHandled(mq, handled),
      clock,
    );
    const all = events(4);
    await publish(h, all.slice(0, 3));
    const harnessRef = h;
    await waitFor(() => harnessRef.ingester.totals.records === 3, 10_000, 'the file closed by --batch-size');
    clock.advance(1000);
    await publish(h, all.slice(3));
    await waitFor(() => handled.count === 4, 10_000, 'the next record taken in');
    clock.advance(1000);
    await nextTurn();
    expect(await h.ctx.fs.list('data-lake/_staging'), 'the new file is 1 s old: not staged').to.deep.equal([]);
    expect(h.ingester.totals.records).to.equal(3);
    clock.advance(1000);
    await waitFor(() => harnessRef.ingester.totals.records === 4, 10_000, 'the new file committed 2 s after it opened');
  });

  it('a flush by the interval that fails keeps its records open and is tried again an interval later', async () => {
    const clock = fakeClock();
    const handled = { count: 0 };
    let failures = 0;
    h = await harness(
      ['--batch-size', '1000', '--output-format', 'json', '--flush-interval', '2s'],
      async () => {
        if (failures > 0) return;
        failures += 1;
        throw new Error('injected: the database is down');
      },
      1,
      (mq) => countingHandled(mq, handled),
      clock,
    );
    await publish(h, events(3));
    await waitFor(() => handled.count === 3, 10_000, 'the records taken in');
    clock.advance(2000);
    await waitFor(() => failures === 1, 10_000, 'the first flush failed');
    await nextTurn();
    expect(h.ingester.totals.records).to.equal(0);
    clock.advance(2000);
    const harnessRef = h;
    await waitFor(() => harnessRef.ingester.totals.records === 3, 10_000, 'the records committed by the next try');
    expect(await count(h, 'SELECT count(DISTINCT "offset") AS n FROM ingested_events')).to.equal(3);
  });

  it('records past their flush interval that waited for a dead letter are committed once it is durable, with no new message', async () => {
    const clock = fakeClock();
    const handled = { count: 0 };
    let refuse = true;
    let attempts = 0;
    h = await harness(
      ['--batch-size', '100', '--output-format', 'json', '--flush-interval', '2s'],
      undefined,
      1,
      (mq) =>
        countingHandled(
          withDeadLetter(mq, async (message, reason, error) => {
            attempts += 1;
            if (refuse) throw new Error('injected: the dead-letter topic refused the message');
            await mq.deadLetter(message, reason, error);
          }),
          handled,
        ),
      clock,
    );
    const [first, , third] = events(3);
    // Offset 0 valid, 1 invalid (no event_id), 2 valid.
    await publish(h, [first, { event_type: 'click', payload: {} }, third]);
    await waitFor(() => handled.count === 3 && attempts >= 1, 10_000, 'the batch taken in');
    clock.advance(2000);
    const harnessRef = h;
    await waitFor(() => harnessRef.ingester.totals.records === 1, 10_000, 'the record below the dead letter committed');
    refuse = false;
    await waitFor(() => harnessRef.deadLetters.length === 1, 10_000, 'the dead letter published by a retry');
    await waitFor(() => harnessRef.ingester.totals.records === 2, 10_000, 'the record above it committed');
    expect(await count(h, 'SELECT max("offset") AS n FROM ingested_events')).to.equal(2);
  });

  it('a writer paused before its commit, resumed after its partition moved to a new owner, cannot commit or overwrite', async () => {
    let release: () => void = () => undefined;
    let paused: () => void = () => undefined;
    const reachedCommit = new Promise<void>((resolve) => (paused = resolve));
    const gate = new Promise<void>((resolve) => (release = resolve));
    h = await harness(
      ['--batch-size', '5', '--output-format', 'parquet', '--flush-interval', '1h'],
      async () => {
        paused();
        await gate;
      },
      1,
    );
    await publish(h, events(5));
    await reachedCommit;
    // The new owner: bumps the generation and commits the same offsets to the same path first.
    const store = new LakeStore(h.ctx.db, h.topic, 'parquet');
    const claimed = await store.claim(0, 'new-owner');
    const path = `data-lake/${h.topic}/2026-01-15/${h.topic}-p0-${'0'.padStart(20, '0')}.parquet`;
    await h.ctx.fs.write(path, 'the new owner');
    expect(claimed.committedOffset).to.equal(-1n);
    release();
    const harnessRef = h;
    await waitFor(() => harnessRef.ingester.totals.fenced === 1, 10_000, 'the zombie commit refused');
    expect(new TextDecoder().decode(await h.ctx.fs.read(path))).to.equal('the new owner');
    expect(await count(h, 'SELECT count(*) AS n FROM ingested_events')).to.equal(0);
    expect(await count(h, 'SELECT count(*) AS n FROM lake_files')).to.equal(0);
    expect(h.ingester.totals.records).to.equal(0);
    expect(await h.ctx.fs.list('data-lake/_staging')).to.deep.equal([]);
  });

  it('goes on taking messages in while a commit of the partition waits (the in-flight window is the backpressure)', async () => {
    let release: () => void = () => undefined;
    let paused: () => void = () => undefined;
    const reachedCommit = new Promise<void>((resolve) => (paused = resolve));
    const gate = new Promise<void>((resolve) => (release = resolve));
    let commits = 0;
    let delivered = 0;
    // Counts what the queue hands the service's handler.
    const countingDeliveries = (mq: MessageQueue): MessageQueue =>
      interceptDeliveries(mq, (messages, handler) => {
        delivered += messages.length;
        return handler(messages);
      });
    h = await harness(
      ['--batch-size', '5', '--output-format', 'json', '--flush-interval', '1h'],
      async () => {
        commits += 1;
        if (commits > 1) return;
        paused();
        await gate;
      },
      1,
      countingDeliveries,
    );
    const all = events(15);
    await publish(h, all.slice(0, 5));
    await reachedCommit;
    // The first commit is held before its transaction: the next two batches are still delivered
    // (the second one reaches --batch-size and queues the next commit behind the held one).
    await publish(h, all.slice(5, 10));
    await waitFor(() => delivered === 10, 10_000, 'the second batch delivered');
    await publish(h, all.slice(10, 15));
    await waitFor(() => delivered === 15, 10_000, 'the third batch delivered while the first commit waits');
    expect(h.ingester.totals.records, 'nothing committed yet').to.equal(0);
    expect(await count(h, 'SELECT count(*) AS n FROM ingested_events')).to.equal(0);
    release();
    const harnessRef = h;
    await waitFor(() => harnessRef.ingester.totals.records === 15, 10_000, 'every record committed');
    expect(await count(h, 'SELECT count(DISTINCT "offset") AS n FROM ingested_events')).to.equal(15);
  });

  it('skips what the database says was committed when the messages come again (restart after commit, before ack)', async () => {
    h = await harness(['--batch-size', '10', '--output-format', 'json', '--flush-interval', '1h'], undefined, 1);
    await publish(h, events(10));
    const harnessRef = h;
    await waitFor(() => harnessRef.ingester.totals.records === 10, 10_000, 'the first commit');
    // Make the database say 20 offsets were committed: a restarted owner skips offsets 0..19.
    await h.ctx.db.execute('UPDATE stream_ingest_partitions SET committed_offset = 19 WHERE topic = $1', [h.topic]);
    await h.ingester.stop();
    h.ingester = new StreamIngester({
      db: h.ctx.db,
      fs: h.ctx.fs,
      mq: h.ctx.mq,
      log: h.ctx.log,
      metrics: new MemoryMetrics(),
      lifecycle: { addReadinessCheck: () => undefined },
      settings: readSettings(moduleConfigForTest(MODULE_DIR, ['--topic', h.topic, '--batch-size', '5'])),
    });
    await h.ingester.start();
    await publish(h, events(15));
    await waitFor(() => harnessRef.ingester.totals.duplicates === 10, 10_000, 'offsets 10..19 skipped');
    await waitFor(() => harnessRef.ingester.totals.records === 5, 10_000, 'offsets 20..24 committed');
    expect(await count(h, 'SELECT min("offset") AS n FROM ingested_events WHERE "offset" >= 10')).to.equal(20);
  });
});
