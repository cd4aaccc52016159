import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { LogFields, Logger, ModuleConfig } from '@platform-host/contracts';
import {
  eventsToJsonl,
  makeEvent,
  makeEvents,
  makeInvalidEvent,
  moduleConfigForTest,
  runModuleForTest,
  startModuleForTest,
  type StartedModule,
} from '@platform-host/test-kit';
import { runBatchEtl, type BatchEtlContext, type BatchEtlOptions, type BatchEtlReport } from './main.js';

const MODULE_DIR = fileURLToPath(new URL('..', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../test-fixtures/', import.meta.url));
const DATE = '2026-01-15';
const PARTITION = `raw/events/${DATE}`;

function fixture(name: string): Buffer {
  return readFileSync(`${FIXTURES}${name}`);
}

interface RunArgs {
  readonly date?: string;
  readonly sourcePath?: string;
  readonly targetTable?: string;
  readonly batchSize?: number;
  readonly dryRun?: boolean;
}

/** Module arguments as the host hands them over after validation (defaults of module.json applied). */
function moduleConfig(args: RunArgs): ModuleConfig {
  return moduleConfigForTest(MODULE_DIR, [
    '--date',
    args.date ?? DATE,
    '--source-path',
    args.sourcePath ?? 'raw/events',
    '--target-table',
    args.targetTable ?? 'cleaned_events',
    '--batch-size',
    String(args.batchSize ?? 500),
    `--dry-run=${String(args.dryRun ?? false)}`,
  ]);
}

interface LogEntry {
  level: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  message: string;
  fields: Record<string, unknown>;
}

/** A logger that records structured entries of one run and forwards them to the host's logger. */
function capturingLogger(target: Logger, entries: LogEntry[]): Logger {
  const record =
    (level: LogEntry['level'], forward: (message: string, fields?: LogFields) => void) =>
    (message: string, fields?: LogFields): void => {
      entries.push({ level, message, fields: { ...fields } });
      forward(message, fields);
    };
  return {
    debug: record('DEBUG', (message, fields) => target.debug(message, fields)),
    info: record('INFO', (message, fields) => target.info(message, fields)),
    warn: record('WARN', (message, fields) => target.warn(message, fields)),
    error: record('ERROR', (message, fields) => target.error(message, fields)),
    child: () => capturingLogger(target, entries),
    flush: () => target.flush(),
  };
}

/** A `--log memory` line (`LEVEL message {fields}`, maybe followed by more), parsed. */
function parseLine(line: string): LogEntry | undefined {
  const match = /^(DEBUG|INFO|WARN|ERROR) (.*?) (\{.*\})(?: [a-z_]+=\S+)*$/.exec(line);
  if (!match) return undefined;
  return {
    level: match[1] as LogEntry['level'],
    message: match[2] as string,
    fields: JSON.parse(match[3] as string) as Record<string, unknown>,
  };
}

describe('batch_etl', function () {
  // One embedded database for the whole file: PGlite takes seconds to start.
  this.timeout(120_000);
  let started: StartedModule;
  let ctx: BatchEtlContext;

  before(async () => {
    started = await startModuleForTest({
      moduleDir: MODULE_DIR,
      args: ['--date', DATE, '--source-path', 'raw/events'],
    });
    ctx = started.ctx;
  });

  after(async () => {
    await started?.close();
  });

  beforeEach(async () => {
    await ctx.db.execute('TRUNCATE cleaned_events');
    for (const file of await ctx.fs.list('')) await ctx.fs.delete(file);
  });

  /** Runs the job on the shared context with other arguments; returns its outcome and what it logged. */
  async function runWith(
    args: RunArgs = {},
    options: BatchEtlOptions = {},
  ): Promise<{ exitCode: number; report: BatchEtlReport; logs: LogEntry[] }> {
    const logs: LogEntry[] = [];
    const outcome = await runBatchEtl(
      { ...ctx, config: moduleConfig(args), log: capturingLogger(ctx.log, logs) },
      options,
    );
    return { ...outcome, logs };
  }

  async function storedRows(): Promise<
    Array<{
      event_type: string;
      payload: Record<string, unknown>;
      source: string;
      event_date: string;
      dedup_key: string;
    }>
  > {
    return ctx.db.fetchAll(
      `SELECT event_type, payload, source, to_char(event_date, 'YYYY-MM-DD') AS event_date, dedup_key FROM cleaned_events ORDER BY id`,
    );
  }

  async function rowCount(table = 'cleaned_events'): Promise<number> {
    const row = await ctx.db.fetchOne<{ count: number }>(`SELECT count(*)::int AS count FROM ${table}`);
    return row?.count ?? -1;
  }

  it('loads valid events into cleaned_events, normalized, and reports the counts', async () => {
    await ctx.fs.write(`${PARTITION}/valid_events.jsonl`, fixture('valid_events.jsonl'));
    const { exitCode, report, logs } = await runWith();
    expect(exitCode).to.equal(0);
    expect(report).to.deep.include({
      files: 1,
      raw: 10,
      valid: 10,
      invalid: 0,
      duplicates: 0,
      unique: 10,
      inserted: 10,
      alreadyPresent: 0,
    });
    const rows = await storedRows();
    expect(rows).to.have.length(10);
    expect(rows.map((row) => row.event_type).sort()).to.deep.equal([
      'click',
      'click',
      'logout',
      'page_view',
      'page_view',
      'page_view',
      'purchase',
      'purchase',
      'search',
      'signup',
    ]);
    expect(rows.every((row) => row.event_date === DATE)).to.equal(true);
    expect(rows.find((row) => row.payload.item_id === 'p100')).to.deep.include({
      payload: { item_id: 'p100', amount: 29.99, user_id: 'u1' },
      source: 'mobile',
    });
    const search = rows.find((row) => row.event_type === 'search');
    expect(search?.payload, 'a payload given as a JSON string is stored as an object').to.deep.equal({
      query: 'café au lait',
      user_id: 'u5',
    });
    expect(rows.every((row) => /^[0-9a-f]{64}$/.test(row.dedup_key))).to.equal(true);
    const summary = logs.find((entry) => entry.message === 'Batch ETL complete');
    expect(summary?.fields).to.deep.include({
      raw: 10,
      valid: 10,
      unique: 10,
      inserted: 10,
      invalid: 0,
      duplicates: 0,
      already_present: 0,
    });
  });

  it('reads .parquet and .csv files of the partition as well as JSON Lines; a corrupt parquet file is unreadable', async () => {
    const parquet = parquetWriteBuffer({
      columnData: [
        { name: 'event_type', data: ['click', 'purchase'], type: 'STRING' },
        { name: 'source', data: ['web', 'ios'], type: 'STRING' },
        { name: 'payload', data: ['{"user_id":"u1"}', '{"amount":2.5}'], type: 'STRING' },
        { name: 'timestamp', data: [new Date(`${DATE}T10:00:00Z`), new Date(`${DATE}T11:00:00Z`)], type: 'TIMESTAMP' },
        { name: '_offset', data: [7n, 8n], type: 'INT64' },
      ],
    });
    await ctx.fs.write(`${PARTITION}/part-0.parquet`, new Uint8Array(parquet));
    await ctx.fs.write(
      `${PARTITION}/part-1.csv`,
      'event_type,source,payload\r\nsearch,web,"{""query"":""a, \\""b\\""""}"\r\n',
    );
    await ctx.fs.write(`${PARTITION}/broken.parquet`, 'PAR1 not really');
    const { exitCode, report } = await runWith();
    expect(exitCode, 'one unreadable file').to.equal(1);
    expect(report).to.deep.include({ files: 2, raw: 3, valid: 3, inserted: 3 });
    expect(report.unreadableFiles.map((entry) => entry.file)).to.deep.equal([`${PARTITION}/broken.parquet`]);
    const rows = await storedRows();
    expect(rows.map((row) => row.event_type).sort()).to.deep.equal(['click', 'purchase', 'search']);
    expect(rows.find((row) => row.event_type === 'search')?.payload).to.deep.equal({ query: 'a, "b"' });
    expect(rows.find((row) => row.event_type === 'purchase')).to.deep.include({
      source: 'ios',
      payload: { amount: 2.5 },
    });
  });

  it('exits 0 with a warning when the partition has no files', async () => {
    await ctx.fs.write('raw/events/2026-01-14/other_day.jsonl', fixture('valid_events.jsonl'));
    const { exitCode, report, logs } = await runWith();
    expect(exitCode).to.equal(0);
    expect(report.raw).to.equal(0);
    expect(logs.some((entry) => entry.level === 'WARN' && entry.message === 'No raw data found')).to.equal(true);
    expect(await rowCount()).to.equal(0);
  });

  it('exits 0 with a warning when the partition holds only an empty file', async () => {
    await ctx.fs.write(`${PARTITION}/empty.jsonl`, fixture('empty.jsonl'));
    const { exitCode, report, logs } = await runWith();
    expect(exitCode).to.equal(0);
    expect(report).to.deep.include({ files: 1, raw: 0, inserted: 0 });
    expect(logs.some((entry) => entry.level === 'WARN' && entry.message === 'No raw data found')).to.equal(true);
  });

  it('writes nothing in a dry run, and does not need the target table', async () => {
    await ctx.fs.write(`${PARTITION}/mixed_events.jsonl`, fixture('mixed_events.jsonl'));
    const { exitCode, report } = await runWith({ dryRun: true, targetTable: 'no_such_table' });
    expect(exitCode).to.equal(0);
    expect(report).to.deep.include({ dryRun: true, raw: 10, valid: 7, invalid: 3, unique: 7, inserted: 0 });
    expect(await rowCount()).to.equal(0);
  });

  it('stores each duplicate once and counts the duplicates', async () => {
    await ctx.fs.write(`${PARTITION}/duplicate_events.jsonl`, fixture('duplicate_events.jsonl'));
    const { exitCode, report } = await runWith();
    expect(exitCode).to.equal(0);
    expect(report).to.deep.include({ raw: 5, valid: 5, duplicates: 2, unique: 3, inserted: 3, alreadyPresent: 0 });
    expect(await rowCount()).to.equal(3);
  });

  it('adds no rows when run twice on the same data, and reports them as already present', async () => {
    await ctx.fs.write(`${PARTITION}/valid_events.jsonl`, fixture('valid_events.jsonl'));
    expect((await runWith()).report.inserted).to.equal(10);
    const second = await runWith();
    expect(second.exitCode).to.equal(0);
    expect(second.report).to.deep.include({ valid: 10, duplicates: 0, unique: 10, inserted: 0, alreadyPresent: 10 });
    expect(await rowCount()).to.equal(10);
  });

  it('processes the valid events of a mixed file and counts invalid ones by reason', async () => {
    await ctx.fs.write(`${PARTITION}/mixed_events.jsonl`, fixture('mixed_events.jsonl'));
    const { exitCode, report, logs } = await runWith();
    expect(exitCode).to.equal(0);
    expect(report.invalidByReason).to.deep.equal({
      empty_event_type: 1,
      missing_event_type: 1,
      payload_malformed_json: 1,
    });
    expect(report).to.deep.include({ raw: 10, valid: 7, invalid: 3, inserted: 7 });
    const invalidLogs = logs.filter((entry) => entry.message.startsWith('Invalid event'));
    expect(invalidLogs.map((entry) => [entry.level, entry.fields.line, entry.fields.reason])).to.deep.equal([
      ['WARN', 2, 'empty_event_type'],
      ['WARN', 3, 'missing_event_type'],
      ['ERROR', 4, 'payload_malformed_json'],
    ]);
  });

  it('reads the partition folder recursively but not a sibling such as {date}-backup', async () => {
    await ctx.fs.write(`${PARTITION}/part-0.jsonl`, eventsToJsonl(makeEvents(2)));
    await ctx.fs.write(`${PARTITION}/hour=01/part-1.jsonl`, eventsToJsonl([makeEvent({ payload: { nested: true } })]));
    await ctx.fs.write(`raw/events/${DATE}-backup/part-0.jsonl`, eventsToJsonl(makeEvents(5, { eventType: 'backup' })));
    await ctx.fs.write(`raw/events/${DATE}.jsonl`, eventsToJsonl(makeEvents(5, { eventType: 'sibling_file' })));
    await ctx.fs.write(`${PARTITION}/_SUCCESS`, '');
    const { exitCode, report } = await runWith();
    expect(exitCode).to.equal(0);
    expect(report).to.deep.include({ files: 2, skippedFiles: 1, raw: 3, inserted: 3 });
    const types = (await storedRows()).map((row) => row.event_type);
    expect(types).to.deep.equal(['page_view', 'page_view', 'page_view']);
  });

  it('accepts CRLF line endings, a byte order mark and blank lines', async () => {
    const lines = makeEvents(3).map((event) => JSON.stringify(event));
    const text = `\uFEFF${lines[0]}\r\n\r\n${lines[1]}\r\n   \r\n${lines[2]}\r\n\r\n`;
    await ctx.fs.write(`${PARTITION}/windows.jsonl`, Buffer.from(text, 'utf8'));
    const { exitCode, report } = await runWith();
    expect(exitCode).to.equal(0);
    expect(report).to.deep.include({ raw: 3, valid: 3, invalid: 0, inserted: 3 });
  });

  it('decompresses .jsonl.gz files while reading them', async () => {
    await ctx.fs.write(`${PARTITION}/part-0.jsonl.gz`, gzipSync(eventsToJsonl(makeEvents(4))));
    await ctx.fs.write(`${PARTITION}/part-1.jsonl`, eventsToJsonl(makeEvents(6, { eventType: 'click' })));
    const { exitCode, report } = await runWith();
    expect(exitCode).to.equal(0);
    expect(report).to.deep.include({ files: 2, raw: 10, valid: 10, inserted: 10 });
  });

  it('counts a malformed line as invalid and goes on with the next lines', async () => {
    const good = makeEvents(3).map((event) => JSON.stringify(event));
    const bytes = Buffer.concat([
      Buffer.from(`${good[0]}\n{"event_type": "click", "payload": {\n`),
      Buffer.from([0xc3, 0x28, 0x0a]),
      Buffer.from(`${good[1]}\nnot json at all\n${good[2]}\n`),
    ]);
    await ctx.fs.write(`${PARTITION}/broken.jsonl`, bytes);
    const { exitCode, report, logs } = await runWith();
    expect(exitCode).to.equal(0);
    expect(report.invalidByReason).to.deep.equal({ malformed_json: 2, invalid_utf8: 1 });
    expect(report).to.deep.include({ raw: 6, valid: 3, invalid: 3, inserted: 3 });
    const errors = logs.filter((entry) => entry.level === 'ERROR');
    expect(errors.map((entry) => [entry.fields.line, entry.fields.reason])).to.deep.equal([
      [2, 'malformed_json'],
      [3, 'invalid_utf8'],
      [5, 'malformed_json'],
    ]);
  });

  it('stores a 10 kB payload and deduplicates it, also against a later run', async () => {
    const big = { text: 'lorem ipsum '.repeat(850), numbers: Array.from({ length: 50 }, (_unused, index) => index) };
    const reordered = { numbers: big.numbers, text: big.text };
    expect(JSON.stringify(big).length).to.be.greaterThan(10_000);
    await ctx.fs.write(
      `${PARTITION}/big.jsonl`,
      eventsToJsonl([makeEvent({ payload: big }), makeEvent({ payload: reordered })]),
    );
    const first = await runWith();
    expect(first.exitCode).to.equal(0);
    expect(first.report).to.deep.include({ valid: 2, duplicates: 1, inserted: 1 });
    const second = await runWith();
    expect(second.report).to.deep.include({ inserted: 0, alreadyPresent: 1 });
    const [row] = await storedRows();
    expect(row?.payload).to.deep.equal({ ...big, url: '/home', user_id: 'u1' });
  });

  it('loads a line of several megabytes and skips one beyond the 8 MB line limit', async () => {
    const big = JSON.stringify(makeEvent({ payload: { blob: 'x'.repeat(7_000_000) } }));
    const huge = JSON.stringify(makeEvent({ payload: { blob: 'y'.repeat(9_000_000) } }));
    await ctx.fs.write(`${PARTITION}/big.jsonl`, `${big}\n${huge}\n${JSON.stringify(makeEvent())}\n`);
    const { exitCode, report } = await runWith();
    expect(exitCode).to.equal(0);
    expect(report).to.deep.include({ raw: 3, valid: 2, invalid: 1, inserted: 2 });
    expect(report.invalidByReason).to.deep.equal({ line_too_long: 1 });
    const row = await ctx.db.fetchOne<{ length: number }>(
      `SELECT length(payload->>'blob') AS length FROM cleaned_events WHERE payload ? 'blob'`,
    );
    expect(row?.length).to.equal(7_000_000);
  });

  it('stores non-ASCII text, tabs and newlines in event type, source and payload exactly', async () => {
    const event = {
      event_type: ' Ünïcödé\tType ',
      payload: { text: 'line one\nline\ttwo \u{1F600} 日本', clé: 'valeur' },
      source: 'wéb\napp',
    };
    await ctx.fs.write(`${PARTITION}/unicode.jsonl`, eventsToJsonl([event]));
    const { report } = await runWith();
    expect(report.inserted).to.equal(1);
    const [row] = await storedRows();
    expect(row).to.deep.include({ event_type: 'ünïcödé\ttype', source: 'wéb\napp', payload: event.payload });
  });

  it('loads a batch large enough to be sent padded (512 kB to 1 MB of text)', async () => {
    await ctx.fs.write(
      `${PARTITION}/wide.jsonl`,
      eventsToJsonl(makeEvents(300, { payload: { text: 'z'.repeat(2_000) } })),
    );
    const { report } = await runWith();
    expect(report).to.deep.include({ valid: 300, inserted: 300 });
    const row = await ctx.db.fetchOne<{ count: number }>(
      `SELECT count(*)::int AS count FROM cleaned_events WHERE length(payload->>'text') = 2000`,
    );
    expect(row?.count).to.equal(300);
  });

  it('stops at a shutdown request and exits 1, keeping what was written', async () => {
    await ctx.fs.write(`${PARTITION}/a.jsonl`, eventsToJsonl(makeEvents(5)));
    const logs: LogEntry[] = [];
    const outcome = await runBatchEtl({
      ...ctx,
      config: moduleConfig({}),
      log: capturingLogger(ctx.log, logs),
      lifecycle: { ...ctx.lifecycle, signal: AbortSignal.abort() },
    });
    expect(outcome.exitCode).to.equal(1);
    expect(outcome.report.interrupted).to.equal(true);
    expect(
      logs.some((entry) => entry.level === 'WARN' && entry.message.startsWith('Batch ETL interrupted by shutdown')),
    ).to.equal(true);
  });

  it('treats payloads that differ only in key order or number spelling as one event', async () => {
    const lines = [
      '{"event_type":"purchase","payload":{"order":{"id":7,"lines":[{"sku":"a","qty":1}]},"total":10},"source":"web"}',
      '{"source":"web","payload":{"total":10.0,"order":{"lines":[{"qty":1,"sku":"a"}],"id":7}},"event_type":"PURCHASE"}',
      '{"event_type":"purchase","payload":{"order":{"id":7,"lines":[{"sku":"a","qty":2}]},"total":10},"source":"web"}',
    ];
    await ctx.fs.write(`${PARTITION}/orders.jsonl`, `${lines.join('\n')}\n`);
    const { report } = await runWith();
    expect(report).to.deep.include({ valid: 3, duplicates: 1, inserted: 2 });
  });

  it('keeps an integer beyond 2^53 exactly in the stored payload', async () => {
    await ctx.fs.write(
      `${PARTITION}/ids.jsonl`,
      '{"event_type":"e","payload":{"id":12345678901234567891},"source":"s"}\n',
    );
    await runWith();
    const row = await ctx.db.fetchOne<{ id: string }>(`SELECT payload->>'id' AS id FROM cleaned_events`);
    expect(row?.id).to.equal('12345678901234567891');
  });

  it('reports exact counts across batches and runs: duplicates within the input apart from rows already present', async () => {
    // 12 distinct events; 4 of them repeated in later batches; batch size 3. Only the last 3 to 6
    // distinct events are remembered, so most repeats are found by the database, not in memory.
    const events = makeEvents(12);
    const input = [...events, events[0], events[5], events[11], events[5], makeInvalidEvent('missing_source')];
    await ctx.fs.write(`${PARTITION}/a.jsonl`, eventsToJsonl(input.slice(0, 9)));
    await ctx.fs.write(`${PARTITION}/b.jsonl`, eventsToJsonl(input.slice(9)));
    const first = await runWith({ batchSize: 3 }, { recentKeys: 3 });
    expect(first.report).to.deep.include({
      raw: 17,
      valid: 16,
      invalid: 1,
      duplicates: 4,
      unique: 12,
      inserted: 12,
      alreadyPresent: 0,
    });
    // A later run: 3 new events, then 5 stored by the first run, one of them twice in a batch.
    await ctx.fs.write(
      `${PARTITION}/b.jsonl`,
      eventsToJsonl([
        ...makeEvents(3, { eventType: 'late' }),
        events[1],
        events[2],
        events[1],
        events[3],
        events[4],
        events[6],
      ]),
    );
    await ctx.fs.delete(`${PARTITION}/a.jsonl`);
    const second = await runWith({ batchSize: 3 }, { recentKeys: 3 });
    expect(second.report).to.deep.include({
      raw: 9,
      valid: 9,
      duplicates: 1,
      unique: 8,
      inserted: 3,
      alreadyPresent: 5,
    });
    expect(await rowCount()).to.equal(15);
  });

  it('leaves --target-table, --date, --batch-size and --source-path to the host: a bad value is a usage error (exit 2)', () => {
    const refusals: Array<[RunArgs, string]> = [
      [{ targetTable: 'cleaned_events; DROP TABLE events' }, '--target-table must match'],
      [{ date: '2026-02-30' }, '--date must be a calendar date YYYY-MM-DD that exists; got "2026-02-30"'],
      [{ batchSize: 0 }, '--batch-size must be from 1 to 100000, got 0'],
      [{ sourcePath: '../outside' }, '--source-path must stay inside the root (no .. segments)'],
    ];
    for (const [args, message] of refusals) {
      try {
        moduleConfig(args);
        expect.fail(`the host must refuse ${JSON.stringify(args)}`);
      } catch (error) {
        expect((error as { code: string }).code).to.equal('PH_ERR_ARGS_INVALID');
        expect((error as { exitCode: number }).exitCode).to.equal(2);
        expect((error as Error).message).to.contain(message);
      }
    }
  });

  it('exits 1 with a clear message when the target table does not exist', async () => {
    await ctx.fs.write(`${PARTITION}/valid_events.jsonl`, fixture('valid_events.jsonl'));
    const { exitCode, logs } = await runWith({ targetTable: 'missing_table' });
    expect(exitCode).to.equal(1);
    expect(
      logs.some((entry) => entry.level === 'ERROR' && /Target table missing_table does not exist/.test(entry.message)),
    ).to.equal(true);
  });

  /** The counters of a report reconcile (issue rule 10). */
  function expectReportAddsUp(report: BatchEtlReport): void {
    const byReason = Object.values(report.invalidByReason).reduce((sum, count) => sum + (count ?? 0), 0);
    expect(report.raw, 'raw = valid + invalid').to.equal(report.valid + report.invalid);
    expect(report.invalid, 'invalid = sum of invalid by reason').to.equal(byReason);
    expect(report.valid, 'valid = unique + duplicates').to.equal(report.unique + report.duplicates);
    if (!report.dryRun)
      expect(report.unique, 'unique = inserted + already present').to.equal(report.inserted + report.alreadyPresent);
  }

  /** `count` valid lines of a file, with `poison` lines inserted in the middle. */
  function fileWithPoison(events: readonly unknown[], poison: readonly string[] = []): string {
    const lines = events.map((event) => JSON.stringify(event));
    lines.splice(Math.floor(lines.length / 2), 0, ...poison);
    return `${lines.join('\n')}\n`;
  }

  it('rule: one bad record never stops a run; it is counted invalid with its file, line and reason', async () => {
    // The database refuses what validation cannot know: here a CHECK constraint of the target table.
    await ctx.db.execute(`CREATE TABLE guarded_events (LIKE cleaned_events INCLUDING DEFAULTS)`);
    await ctx.db.execute('CREATE UNIQUE INDEX ON guarded_events (dedup_key)');
    await ctx.db.execute(`ALTER TABLE guarded_events ADD CONSTRAINT no_poison CHECK (payload->>'poison' IS NULL)`);
    const deep = `{"event_type":"deep","source":"s","payload":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`;
    const deepArray = `{"event_type":"deep","source":"s","payload":{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`;
    const overflow = '{"event_type":"big","source":"s","payload":{"v": 1e200000}}';
    const lowercasesLonger = JSON.stringify({ event_type: 'İ'.repeat(200), source: 's', payload: {} });
    const refused = JSON.stringify({ event_type: 'e', source: 's', payload: { poison: 'yes' } });
    const events = makeEvents(200);
    await ctx.fs.write(`${PARTITION}/part-1.jsonl`, fileWithPoison(events.slice(0, 50)));
    await ctx.fs.write(`${PARTITION}/part-2.jsonl`, fileWithPoison(events.slice(50, 100), [deep, overflow]));
    await ctx.fs.write(
      `${PARTITION}/part-3.jsonl`,
      fileWithPoison(events.slice(100, 150), [lowercasesLonger, refused]),
    );
    await ctx.fs.write(`${PARTITION}/part-4.jsonl`, fileWithPoison(events.slice(150), [deepArray]));

    const { exitCode, report, logs } = await runWith({ targetTable: 'guarded_events', batchSize: 16 });
    expect(exitCode).to.equal(0);
    expect(report).to.deep.include({ raw: 205, valid: 200, invalid: 5, unique: 200, inserted: 200, duplicates: 0 });
    expect(report.invalidByReason).to.deep.equal({
      too_deep: 2,
      number_out_of_range: 1,
      event_type_too_long: 1,
      db_rejected: 1,
    });
    expectReportAddsUp(report);
    expect(await rowCount('guarded_events')).to.equal(200);
    const invalid = logs
      .filter((entry) => entry.message === 'Invalid event skipped')
      .map((entry) => `${String(entry.fields.file)}:${String(entry.fields.line)} ${String(entry.fields.reason)}`);
    expect(invalid).to.have.members([
      `${PARTITION}/part-2.jsonl:26 too_deep`,
      `${PARTITION}/part-2.jsonl:27 number_out_of_range`,
      `${PARTITION}/part-3.jsonl:26 event_type_too_long`,
      `${PARTITION}/part-3.jsonl:27 db_rejected`,
      `${PARTITION}/part-4.jsonl:26 too_deep`,
    ]);
    const rejected = logs.find((entry) => entry.fields.reason === 'db_rejected');
    expect(rejected?.fields.error)
      .to.be.a('string')
      .and.match(/violates check constraint .*\(SQLSTATE 23514\)$/);
    expect(String(rejected?.fields.error)).not.to.contain('\n').and.not.to.contain('poison');
  });

  it('rule: a row the database refuses is isolated, in every position of a batch', async () => {
    await ctx.db.execute(`CREATE TABLE narrow_events (LIKE cleaned_events INCLUDING DEFAULTS)`);
    await ctx.db.execute('CREATE UNIQUE INDEX ON narrow_events (dedup_key)');
    await ctx.db.execute('ALTER TABLE narrow_events ALTER COLUMN source TYPE VARCHAR(3)');
    // 7 refused rows among 40, several in one batch, at its ends too (rows are sorted by key).
    const events = makeEvents(40).map((event, index) => (index % 6 === 0 ? { ...event, source: 'mobile' } : event));
    await ctx.fs.write(`${PARTITION}/a.jsonl`, eventsToJsonl(events));
    const { exitCode, report } = await runWith({ targetTable: 'narrow_events', batchSize: 10 });
    expect(exitCode).to.equal(0);
    expect(report).to.deep.include({ raw: 40, valid: 33, invalid: 7, inserted: 33 });
    expect(report.invalidByReason).to.deep.equal({ db_rejected: 7 });
    expectReportAddsUp(report);
    expect(await rowCount('narrow_events')).to.equal(33);
  });

  it('rule: batches are cut by bytes as well as by rows', async () => {
    // 20 events of about 20 kB; batches of at most 64 kB hold 3 of them, whatever --batch-size.
    const events = makeEvents(20, { payload: { blob: 'x'.repeat(20_000) } });
    await ctx.fs.write(`${PARTITION}/a.jsonl`, eventsToJsonl(events));
    const logs: LogEntry[] = [];
    const config = moduleConfigForTest(MODULE_DIR, [
      '--date',
      DATE,
      '--source-path',
      'raw/events',
      '--batch-bytes',
      '65536',
    ]);
    const { exitCode, report } = await runBatchEtl({ ...ctx, config, log: capturingLogger(ctx.log, logs) });
    expect(exitCode).to.equal(0);
    expect(report.inserted).to.equal(20);
    expect(await rowCount()).to.equal(20);
    // One statement (one transaction) per batch: 7 batches of at most 3 rows.
    const batches = await ctx.db.fetchOne<{ count: number }>(
      'SELECT count(DISTINCT xmin::text)::int AS count FROM cleaned_events',
    );
    expect(batches?.count).to.equal(7);
  });

  it('rule: reports add up on a rerun over a complete table, however far apart the input repeats a key', async () => {
    // Every event twice, the repeats farther apart than the events remembered in memory: the
    // database finds them, in other batches than the first occurrence.
    const events = makeEvents(30);
    await ctx.fs.write(`${PARTITION}/a.jsonl`, eventsToJsonl(events));
    await ctx.fs.write(`${PARTITION}/b.jsonl`, eventsToJsonl([...events].reverse()));
    const first = await runWith({ batchSize: 4 }, { recentKeys: 4 });
    expect(first.report).to.deep.include({ raw: 60, valid: 60, unique: 30, duplicates: 30, inserted: 30 });
    expectReportAddsUp(first.report);
    const rerun = await runWith({ batchSize: 4 }, { recentKeys: 4 });
    expectReportAddsUp(rerun.report);
    expect(rerun.report).to.deep.include({ raw: 60, valid: 60, unique: 30, duplicates: 30, inserted: 0 });
    expect(rerun.report.alreadyPresent).to.equal(await rowCount());
    expect(rerun.report.alreadyPresent).to.equal(30);
  });
  it('exits 1 when a file cannot be read (a corrupt .gz)', async () => {
    await ctx.fs.write(`${PARTITION}/a.jsonl`, eventsToJsonl(makeEvents(2)));
    await ctx.fs.write(`${PARTITION}/b.jsonl.gz`, gzipSync(eventsToJsonl(makeEvents(50))).subarray(0, 40));
    const { exitCode, logs } = await runWith();
    expect(exitCode).to.equal(1);
    expect(
      logs.some(
        (entry) =>
          entry.level === 'ERROR' &&
          entry.message === 'Unreadable file skipped' &&
          entry.fields.file === `${PARTITION}/b.jsonl.gz`,
      ),
    ).to.equal(true);
    expect(await rowCount(), 'the other file is loaded').to.equal(2);
  });
});

describe('batch_etl through the host lifecycle', function () {
  this.timeout(120_000);
  let root: string;

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'batch-etl-test-'));
    mkdirSync(join(root, PARTITION), { recursive: true });
    writeFileSync(join(root, PARTITION, 'mixed_events.jsonl'), fixture('mixed_events.jsonl'));
    writeFileSync(join(root, PARTITION, 'valid_events.jsonl.gz'), gzipSync(fixture('valid_events.jsonl')));
  });

  after(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('runs as `platform-host run batch_etl --fs local` does: migrations, run, exit 0', async () => {
    const { exitCode, logs } = await runModuleForTest({
      moduleDir: MODULE_DIR,
      args: ['--date', DATE, '--source-path', 'raw/events', '--batch-size', '4'],
      flags: { fs: 'local' },
      env: { FS_LOCAL_ROOT: root },
    });
    expect(exitCode).to.equal(0);
    const summary = logs.map(parseLine).find((entry) => entry?.message === 'Batch ETL complete');
    expect(summary?.fields).to.deep.include({ files: 2, raw: 20, valid: 17, invalid: 3, duplicates: 0, inserted: 17 });
  });
});
