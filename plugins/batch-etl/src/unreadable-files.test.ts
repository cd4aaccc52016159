import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import type { FileSystem, LogFields, Logger } from '@platform-host/contracts';
import {
  DAMAGED_GZIP_KINDS,
  damagedGzip,
  eventsToJsonl,
  makeEvents,
  moduleConfigForTest,
  runModuleForTest,
  startModuleForTest,
  type StartedModule,
} from '@platform-host/test-kit';
import { runBatchEtl, type BatchEtlContext, type BatchEtlReport } from './main.js';

const MODULE_DIR = fileURLToPath(new URL('..', import.meta.url));
const DATE = '2026-01-15';
const PARTITION = `raw/events/${DATE}`;
/** Rows of each healthy file of the eight-file partition. */
const ROWS_PER_FILE = 300;

interface LogEntry {
  level: string;
  message: string;
  fields: Record<string, unknown>;
}

function capturingLogger(target: Logger, entries: LogEntry[]): Logger {
  const record =
    (level: string, forward: (message: string, fields?: LogFields) => void) =>
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

/**
 * Eight files, `part-0` to `part-7`, alternately plain and gzipped, each with {@link ROWS_PER_FILE}
 * events whose source and payload name the file (no two alike across files: the dedup key covers
 * the payload, not the source); file 4 (`part-3.jsonl.gz`) holds `fourth`.
 */
function eightFiles(fourth: Uint8Array): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (let index = 0; index < 8; index += 1) {
    const jsonl = eventsToJsonl(makeEvents(ROWS_PER_FILE, { source: `file-${index}`, payload: { file: index } }));
    if (index === 3) files.set('part-3.jsonl.gz', fourth);
    else if (index % 2 === 0) files.set(`part-${index}.jsonl`, jsonl);
    else files.set(`part-${index}.jsonl.gz`, gzipSync(jsonl));
  }
  return files;
}

function fourthFile(kind: (typeof DAMAGED_GZIP_KINDS)[number]): Buffer {
  return damagedGzip(eventsToJsonl(makeEvents(ROWS_PER_FILE, { source: 'file-3', payload: { file: 3 } })), kind);
}

/** The seven healthy files' sources, each with all its rows. */
const SEVEN_FILES_LOADED = [0, 1, 2, 4, 5, 6, 7].map((index) => ({ source: `file-${index}`, rows: ROWS_PER_FILE }));

/** The summary (`Batch ETL complete`) of a `--log memory` run. */
function summaryOf(lines: readonly string[]): Record<string, unknown> | undefined {
  for (const line of lines) {
    const match = /^INFO Batch ETL complete (\{.*\})/.exec(line);
    if (match) return JSON.parse(match[1] as string) as Record<string, unknown>;
  }
  return undefined;
}

describe('batch_etl: corrupt and unreadable files', function () {
  this.timeout(180_000);
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

  async function runWith(batchSize = 100): Promise<{ exitCode: number; report: BatchEtlReport; logs: LogEntry[] }> {
    const logs: LogEntry[] = [];
    const config = moduleConfigForTest(MODULE_DIR, [
      '--date',
      DATE,
      '--source-path',
      'raw/events',
      '--batch-size',
      String(batchSize),
    ]);
    const outcome = await runBatchEtl({ ...ctx, config, log: capturingLogger(ctx.log, logs) });
    return { ...outcome, logs };
  }

  async function rowsBySource(): Promise<Array<{ source: string; rows: number }>> {
    return ctx.db.fetchAll('SELECT source, count(*)::int AS rows FROM cleaned_events GROUP BY source ORDER BY source');
  }

  it('corrupt input never reaches the warehouse: no row of a 20,000-line .jsonl.gz that fails its CRC', async () => {
    const jsonl = eventsToJsonl(makeEvents(20_000, { source: 'corrupt-middle', payload: { file: 'a' } }));
    // One byte flipped in the middle of the compressed data, and (the hardest case for a
    // streaming reader: every line decompresses) one flipped in the stored CRC-32 at the end.
    await ctx.fs.write(`${PARTITION}/a-flipped-middle.jsonl.gz`, damagedGzip(jsonl, 'corrupt'));
    const crcDamaged = gzipSync(eventsToJsonl(makeEvents(20_000, { source: 'corrupt-crc', payload: { file: 'b' } })));
    crcDamaged[crcDamaged.length - 8] = (crcDamaged[crcDamaged.length - 8] as number) ^ 0xff;
    await ctx.fs.write(`${PARTITION}/b-flipped-crc.jsonl.gz`, crcDamaged);
    await ctx.fs.write(
      `${PARTITION}/c-healthy.jsonl.gz`,
      gzipSync(eventsToJsonl(makeEvents(500, { source: 'ok', payload: { file: 'c' } }))),
    );

    const { exitCode, report, logs } = await runWith(500);

    expect(exitCode).to.equal(1);
    expect(await rowsBySource()).to.deep.equal([{ source: 'ok', rows: 500 }]);
    expect(report).to.deep.include({ files: 1, raw: 500, valid: 500, inserted: 500 });
    expect(report.unreadableFiles.map(({ file, partlyRead }) => ({ file, partlyRead }))).to.deep.equal([
      { file: `${PARTITION}/a-flipped-middle.jsonl.gz`, partlyRead: false },
      { file: `${PARTITION}/b-flipped-crc.jsonl.gz`, partlyRead: false },
    ]);
    expect(report.unreadableFiles[1]?.cause).to.match(
      /^corrupt gzip data: a CRC-32 or length mismatch.*incorrect data check/,
    );
    const skipped = logs.filter((entry) => entry.message === 'Unreadable file skipped');
    expect(skipped.map((entry) => [entry.level, entry.fields.file, entry.fields.rows_of_it_loaded])).to.deep.equal([
      ['ERROR', `${PARTITION}/a-flipped-middle.jsonl.gz`, 'none'],
      ['ERROR', `${PARTITION}/b-flipped-crc.jsonl.gz`, 'none'],
    ]);
    expect(logs.filter((entry) => /rerunning is safe/i.test(entry.message))).to.deep.equal([]);
  });

  for (const kind of DAMAGED_GZIP_KINDS) {
    it(`one unreadable file does not hide the others: file 4 of 8 ${kind}, the 7 others load, exit 1`, async () => {
      for (const [name, bytes] of eightFiles(fourthFile(kind))) await ctx.fs.write(`${PARTITION}/${name}`, bytes);

      const { exitCode, report, logs } = await runWith();

      expect(exitCode).to.equal(1);
      expect(await rowsBySource()).to.deep.equal(SEVEN_FILES_LOADED);
      expect(report).to.deep.include({ files: 7, raw: 7 * ROWS_PER_FILE, inserted: 7 * ROWS_PER_FILE });
      expect(report.unreadableFiles).to.have.length(1);
      expect(report.unreadableFiles[0]).to.include({ file: `${PARTITION}/part-3.jsonl.gz`, partlyRead: false });
      const summary = logs.find((entry) => entry.message === 'Batch ETL complete');
      expect(summary?.fields).to.deep.include({
        files: 7,
        unreadable_files: 1,
        unreadable: [`${PARTITION}/part-3.jsonl.gz`],
        inserted: 7 * ROWS_PER_FILE,
      });
      const last = logs.at(-1);
      expect(last?.level).to.equal('ERROR');
      expect(last?.message).to.equal(
        'Batch ETL skipped 1 unreadable file(s); every other file of the partition was read',
      );
    });
  }

  it('names the cause of each kind of damaged .gz', async () => {
    for (const kind of DAMAGED_GZIP_KINDS) await ctx.fs.write(`${PARTITION}/${kind}.jsonl.gz`, fourthFile(kind));
    const { exitCode, report } = await runWith();
    expect(exitCode).to.equal(1);
    const causes = Object.fromEntries(
      report.unreadableFiles.map(({ file, cause }) => [file.slice(PARTITION.length + 1, -'.jsonl.gz'.length), cause]),
    );
    expect(causes.empty).to.match(/^empty file: no gzip data/);
    expect(causes.not_gzip).to.match(/^not gzip data \(it does not start with the gzip signature 1f 8b\)/);
    expect(causes.truncated).to.match(/^truncated gzip data/);
    expect(causes.corrupt).to.match(/^corrupt gzip data/);
    expect(causes.trailing_garbage).to.match(/^corrupt gzip data: .*bytes after the end of the gzip data/);
    expect(await rowsBySource()).to.deep.equal([]);
  });

  it('reports a .gz that changed between its verification and its reading as partly read', async () => {
    const path = `${PARTITION}/changing.jsonl.gz`;
    const intact = gzipSync(eventsToJsonl(makeEvents(2_000, { source: 'changing', payload: { file: 'x' } })));
    await ctx.fs.write(path, intact);
    await ctx.fs.write(`${PARTITION}/other.jsonl`, eventsToJsonl(makeEvents(10, { source: 'other' })));
    // The first read (the verification) sees the intact file, the second one a corrupted copy.
    const corrupted = damagedGzip(
      eventsToJsonl(makeEvents(2_000, { source: 'changing', payload: { file: 'x' } })),
      'corrupt',
    );
    let reads = 0;
    const real = ctx.fs;
    const fs: FileSystem = {
      read: (file) => real.read(file),
      write: (file, data) => real.write(file, data),
      readStream: async (file) => {
        reads += file === path ? 1 : 0;
        return file === path && reads === 2 ? Readable.from([corrupted]) : real.readStream(file);
      },
      writeStream: (file, source) => real.writeStream(file, source),
      list: (prefix) => real.list(prefix),
      listFiles: (prefix, options) => real.listFiles(prefix, options),
      stat: (file) => real.stat(file),
      writeIfAbsent: (file, data) => real.writeIfAbsent(file, data),
      delete: (file) => real.delete(file),
      exists: (file) => real.exists(file),
      getSignedUrl: (file, expirySeconds) => real.getSignedUrl(file, expirySeconds),
      healthCheck: () => real.healthCheck(),
    };
    const logs: LogEntry[] = [];
    const config = moduleConfigForTest(MODULE_DIR, ['--date', DATE, '--source-path', 'raw/events']);
    const { exitCode, report } = await runBatchEtl({ ...ctx, fs, config, log: capturingLogger(ctx.log, logs) });
    expect(exitCode).to.equal(1);
    expect(report.unreadableFiles.map(({ file, partlyRead }) => ({ file, partlyRead }))).to.deep.equal([
      { file: path, partlyRead: true },
    ]);
    expect(report.unreadableFiles[0]?.cause).to.match(/changed during the run/);
    const skipped = logs.find((entry) => entry.message === 'Unreadable file skipped');
    expect(skipped?.fields.rows_of_it_loaded).to.equal('those read before the failure');
    expect(report.files).to.equal(1);
  });

  it('reads concatenated gzip members and zero padding after the last one as one file', async () => {
    const first = gzipSync(eventsToJsonl(makeEvents(200, { source: 'member-1', payload: { member: 1 } })));
    const second = gzipSync(eventsToJsonl(makeEvents(100, { source: 'member-2', payload: { member: 2 } })));
    await ctx.fs.write(`${PARTITION}/members.jsonl.gz`, Buffer.concat([first, second, Buffer.alloc(512)]));
    const { exitCode, report } = await runWith();
    expect(exitCode).to.equal(0);
    expect(report.unreadableFiles).to.deep.equal([]);
    expect(await rowsBySource()).to.deep.equal([
      { source: 'member-1', rows: 200 },
      { source: 'member-2', rows: 100 },
    ]);
  });
});

describe('batch_etl: unreadable files on local files through the host lifecycle', function () {
  this.timeout(180_000);
  let root: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'batch-etl-unreadable-'));
    mkdirSync(join(root, PARTITION), { recursive: true });
  });

  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  for (const kind of ['corrupt', 'trailing_garbage'] as const) {
    it(`loads the 7 other files of the partition when file 4 is ${kind}, and exits 1 naming it`, async () => {
      for (const [name, bytes] of eightFiles(fourthFile(kind))) writeFileSync(join(root, PARTITION, name), bytes);
      const { exitCode, logs } = await runModuleForTest({
        moduleDir: MODULE_DIR,
        args: ['--date', DATE, '--source-path', 'raw/events', '--batch-size', '100'],
        flags: { fs: 'local' },
        env: { FS_LOCAL_ROOT: root },
      });
      expect(exitCode).to.equal(1);
      expect(summaryOf(logs)).to.deep.include({
        files: 7,
        raw: 7 * ROWS_PER_FILE,
        inserted: 7 * ROWS_PER_FILE,
        unreadable_files: 1,
        unreadable: [`${PARTITION}/part-3.jsonl.gz`],
      });
      expect(
        logs.some((line) => line.startsWith('ERROR Unreadable file skipped') && line.includes('part-3.jsonl.gz')),
      ).to.equal(true);
    });
  }
});
